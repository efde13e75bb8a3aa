"""The manifest: what a store holds, and the plan it was made from.

A sweep's definition (model, points and the types of their values, options,
seeds) decides whether a store can be resumed, and the model's fingerprint
(:mod:`.fingerprint`) whether the code that made the stored runs is still
the code that would make the others. :func:`plan_from_manifest` numbers the
stored sweep's runs with the planner's own
:class:`~mesa_nb.core.plan.Runs` (laid out in the store's blocks).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np

from ..core.designs import Design
from ..core.errors import StoreError
from ..core.parameters import ParameterSpace, Sampler
from ..core.plan import Block, RunSettings, Seeding, SweepPlan
from ..core.precision import PrecisionRule
from ..core.scenarios import scenario_spec
from ..core.spec import SweepSpec
from .encoding import POINT_VALUES, class_path, decode_points, decode_value, to_json
from .fingerprint import fingerprint_change as fingerprint_change
from .fingerprint import model_fingerprint as model_fingerprint
from .reader import manifest_limits_problem

#: Written into new stores. Version 2: table names encoded as path
#: components, tagged-JSON values, checksummed batches.
FORMAT = "mesa_nb-store/2"
#: Formats this version reads (and resumes).
READABLE_FORMATS = ("mesa_nb-store/1", FORMAT)

#: Keys of the definition added after the first stores: compared only when
#: the stored definition has them.
_OPTIONAL_KEYS = ("point_types",)


def sweep_definition(plan: SweepPlan) -> dict[str, Any]:
    """What makes two sweeps the same sweep (model, points, options, seeds)."""
    cls = plan.settings.model_cls
    if plan.seed_source == "rng":
        seeding: dict[str, Any] = {
            "kind": "rng",
            "seeds": to_json(list(plan.seeding.per_iteration)),
        }
    elif plan.seed_source == "parameter":
        seeding = {"kind": "parameter"}
    else:
        seeding = {"kind": "master", "master_seed": str(plan.master_seed)}
        if plan.seeding.scheme != "run":  # stores before 0.2 seeded by RunId
            seeding["scheme"] = plan.seeding.scheme
    points = list(plan.space.points)
    layout = {}
    if plan.blocks is not None:
        layout["layout"] = [
            [b.points.start, b.points.stop, b.iterations.start, b.iterations.stop]
            for b in plan.blocks
        ]
    adaptive = {"adaptive": plan.rule.definition()} if plan.rule is not None else {}
    return {
        "model": f"{cls.__module__}.{cls.__qualname__}",
        "parameters": list(plan.space.names),
        "points": to_json(points),
        "point_types": point_types(plan.space.names, points),
        "iterations": plan.iterations,
        "max_steps": plan.settings.max_steps,
        "data_collection_period": plan.settings.data_collection_period,
        "seed_kwarg": plan.settings.seed_kwarg,
        "seeding": seeding,
        **_event_settings(plan),
        **layout,
        **adaptive,
    }


def _event_settings(plan: SweepPlan) -> dict[str, Any]:
    """Scenario and ``until``, recorded only when used (older stores match)."""
    settings = plan.settings
    extra: dict[str, Any] = {}
    if settings.scenario is not None:
        extra["scenario"] = settings.scenario.name
        extra["scenario_fields"] = list(settings.scenario_fields)
    if settings.until is not None:
        extra["until"] = settings.until
    return extra


# -- the types of parameter values ----------------------------------------------------
_NUMPY_KINDS = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}


def type_name(value: Any) -> str:
    """The type of a parameter value, as the definition records it.

    JSON makes ``1 == 1.0`` and ``(1, 2) == [1, 2]``; this tells them apart.
    Numpy numbers count as the Python number of their kind; containers name
    the types of their items (``list[float,int]``).
    """
    if isinstance(value, Sampler):
        return "callable"
    if isinstance(value, np.generic):
        return _NUMPY_KINDS.get(value.dtype.kind, f"numpy.{type(value).__name__}")
    kind = type(value)
    if value is None:
        return "None"
    if kind in (bool, int, float, complex, str, bytes):
        return kind.__name__
    if kind in (list, tuple, set, frozenset):
        inner = sorted({type_name(v) for v in value})
        return f"{kind.__name__}[{','.join(inner)}]"
    if kind is dict:
        keys = sorted({type_name(k) for k in value})
        values = sorted({type_name(v) for v in value.values()})
        return f"dict[{','.join(keys)}:{','.join(values)}]"
    if isinstance(value, type):
        return "class"
    if callable(value):
        return "callable"
    return class_path(kind)


def point_types(
    names: tuple[str, ...] | list[str], points: list[dict[str, Any]]
) -> dict[str, Any]:
    """``{name: type}`` when every point has one type for it, else
    ``{name: [type of each point]}``."""
    recorded: dict[str, Any] = {}
    for name in names:
        types = [type_name(point[name]) for point in points if name in point]
        unique = set(types)
        recorded[name] = types[0] if len(unique) == 1 else types
    return recorded


def _type_change(stored: dict[str, Any], wanted: dict[str, Any]) -> str:
    for name, now in wanted.items():
        before = stored.get(name)
        if before != now:
            return f"{name}: {_types_text(before)} in the store, {_types_text(now)} now"
    return ", ".join(sorted(set(stored) - set(wanted)))


def _types_text(types: Any) -> str:
    if isinstance(types, list):
        return "/".join(dict.fromkeys(str(t) for t in types))
    return str(types)


#: What may grow between a store and the sweep that resumes it.
_GROWING = ("points", "point_types", "iterations", "layout", "seeding", "adaptive")


def differences(
    stored: dict[str, Any], wanted: dict[str, Any], skip: tuple[str, ...] = ()
) -> list[str]:
    """The keys of the definition that differ, described (``skip``: keys
    compared elsewhere)."""
    changed = []
    for key, value in wanted.items():
        if key in skip:
            continue
        if key in _OPTIONAL_KEYS and key not in stored:
            continue  # a store made before the key existed
        if stored.get(key) == value:
            continue
        if key == "point_types" and isinstance(stored.get(key), dict):
            changed.append(f"point_types ({_type_change(stored[key], value)})")
        else:
            changed.append(key)
    return changed


# -- reading a manifest --------------------------------------------------------------
_NONE = type(None)
_DEFINITION_KEYS: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "parameters": (list,),
    "points": (list,),
    "iterations": (int,),
    "max_steps": (int,),
    "data_collection_period": (int,),
    "seed_kwarg": (str, _NONE),
    "seeding": (dict,),
}
_OPTIONAL_DEFINITION_KEYS: dict[str, tuple[type, ...]] = {
    "point_types": (dict,),
    "scenario": (str,),
    "scenario_fields": (list,),
    "until": (int, float, _NONE),
    "adaptive": (dict,),
}
_METADATA_KEYS: dict[str, tuple[type, ...]] = {"swept": (list,), "sampled": (list,)}
_OPTIONAL_METADATA_KEYS: dict[str, tuple[type, ...]] = {
    "seed_source": (str, _NONE),
    "model_fingerprint": (dict, _NONE),
}
_TYPE_NAMES = {
    str: "a string",
    list: "a list",
    dict: "an object",
    int: "an integer",
    float: "a number",
    _NONE: "null",
}


def _check_keys(
    where: str,
    data: dict[str, Any],
    required: dict[str, tuple[type, ...]],
    optional: dict[str, tuple[type, ...]],
) -> str | None:
    for key, kinds in (*required.items(), *optional.items()):
        if key not in data:
            if key in required:
                return f"{where}{key} is missing"
            continue
        value = data[key]
        if type(value) is bool or not isinstance(value, kinds):
            expected = " or ".join(_TYPE_NAMES[k] for k in kinds)
            return (
                f"{where}{key} should be {expected}, not {type(value).__name__} "
                f"{str(value)[:40]!r}"
            )
    return None


def manifest_problem(manifest: Any) -> str | None:
    """What is wrong with a manifest's layout (a missing or mistyped key), or
    None if it can be used."""
    if not isinstance(manifest, dict):
        return "it is not a JSON object"
    problem = _check_keys(
        "", manifest, {"definition": (dict,), "metadata": (dict,)}, {}
    )
    if problem:
        return problem
    definition, metadata = manifest["definition"], manifest["metadata"]
    problem = _check_keys(
        "definition.", definition, _DEFINITION_KEYS, _OPTIONAL_DEFINITION_KEYS
    ) or _check_keys("metadata.", metadata, _METADATA_KEYS, _OPTIONAL_METADATA_KEYS)
    if problem:
        return problem
    if not all(isinstance(n, str) for n in definition["parameters"]):
        return "definition.parameters should be a list of strings"
    if not all(isinstance(p, dict) for p in definition["points"]):
        return "definition.points should be a list of objects"
    if definition["iterations"] < 1:
        return "definition.iterations should be at least 1"
    seeding = definition["seeding"]
    kind = seeding.get("kind")
    if kind not in ("rng", "master", "parameter"):
        return (
            f"definition.seeding.kind should be 'rng', 'master' or 'parameter', "
            f"not {kind!r}"
        )
    if kind == "master":
        seed = seeding.get("master_seed")
        if not (isinstance(seed, int) or (isinstance(seed, str) and seed.isdigit())):
            return "definition.seeding.master_seed should be a string of digits"
    if kind == "rng" and not isinstance(seeding.get("seeds"), list):
        return "definition.seeding.seeds should be a list"
    return manifest_limits_problem(manifest)


def seeding_of(definition: dict[str, Any], seed_source: str | None) -> Seeding:
    """The :class:`Seeding` a stored definition describes."""
    seeding = definition["seeding"]
    if seeding["kind"] == "rng":
        return Seeding("rng", per_iteration=tuple(seeding["seeds"]))
    if seeding["kind"] == "master":
        return Seeding(
            seed_source or "seed",
            master_seed=int(seeding["master_seed"]),
            scheme=seeding.get("scheme", "run"),
        )
    names = definition["parameters"]
    return Seeding("parameter", parameter="rng" if "rng" in names else "seed")


def stored_master_seed(manifest: dict[str, Any]) -> int | None:
    """The master seed of the stored sweep, if it used one."""
    seeding = manifest["definition"]["seeding"]
    return int(seeding["master_seed"]) if seeding["kind"] == "master" else None


def plan_from_manifest(manifest: dict[str, Any], model_cls: type | None) -> SweepPlan:
    """The plan of a stored sweep (for loading it without running anything).

    Callable parameters are stood for by samplers that are never drawn: the
    stored runs carry their drawn values.
    """
    definition, meta = manifest["definition"], manifest["metadata"]
    sampled = set(meta["sampled"])
    values = meta.get(POINT_VALUES)  # the points as they were (tagged JSON)
    exact = (
        decode_points(values)
        if isinstance(values, list) and len(values) == len(definition["points"])
        else None
    )
    points = tuple(
        {
            n: Sampler(None, takes_rng=False)
            if n in sampled and isinstance(v, dict) and "callable" in v
            else (exact[i][n] if exact is not None and n in exact[i] else v)
            for n, v in point.items()
        }
        for i, point in enumerate(definition["points"])
    )
    stored = meta.get("spec")
    sweep_spec = decode_value(stored) if isinstance(stored, dict) else None
    space = ParameterSpace(
        tuple(definition["parameters"]),
        points,
        tuple(meta["swept"]),
        tuple(sampled),
        stored_design(sweep_spec),
    )
    spec = scenario_spec(model_cls) if model_cls and "scenario" in definition else None
    settings = RunSettings(
        model_cls or _Named(definition["model"]),
        definition["max_steps"],
        definition["data_collection_period"],
        definition["seed_kwarg"],
        spec,
        tuple(definition.get("scenario_fields", ())),
        definition.get("until"),
    )
    seeding = seeding_of(definition, meta.get("seed_source"))
    return SweepPlan(
        settings,
        space,
        definition["iterations"],
        seeding,
        sweep_spec,
        stored_blocks(definition),
        stored_rule(definition),
    )


def stored_rule(definition: dict[str, Any]) -> PrecisionRule | None:
    """The rule of a stored ``iterations="auto"`` sweep (None: fixed
    iterations); a damaged one is refused, naming it."""
    written = definition.get("adaptive")
    if written is None:
        return None
    try:
        return PrecisionRule.from_definition(written)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StoreError(
            f"manifest.json is damaged: definition.adaptive cannot be read ({exc!r}); "
            "restore manifest.json from a backup or use a new store directory."
        ) from None


# -- growing a store -------------------------------------------------------------------
def stored_blocks(definition: dict[str, Any]) -> tuple[Block, ...] | None:
    """How a stored sweep numbers its runs (None: one block, never grown)."""
    layout = definition.get("layout")
    if not layout:
        return None
    return tuple(Block(range(a, b), range(c, d)) for a, b, c, d in layout)


def _texts(points: list[Any]) -> list[str]:
    """Each stored point as text, with how many equal points stand before it."""
    seen: dict[str, int] = {}
    texts = []
    for point in points:
        text = json.dumps(point, sort_keys=True)
        texts.append(f"{text}#{seen.get(text, 0)}")
        seen[text] = seen.get(text, 0) + 1
    return texts


def _seeds_grow(stored: dict[str, Any], wanted: dict[str, Any]) -> bool:
    if stored.get("kind") != wanted.get("kind"):
        return False
    if stored["kind"] == "rng":  # more iterations: more seeds, the first kept
        return wanted["seeds"][: len(stored["seeds"])] == stored["seeds"]
    return stored == wanted


def align_with_store(stored: dict[str, Any], plan: SweepPlan) -> tuple[SweepPlan, bool]:
    """``plan`` laid out as the store at hand numbers its runs, and whether
    it grows the store (more points, more iterations).

    Stored runs keep their RunIds; new ones are numbered after them. A plan
    that changes anything else, or drops points or iterations the store
    holds, is refused (:class:`StoreError` naming it).
    """
    seeding = stored["seeding"]
    if plan.seeding.source in ("seed", "entropy"):
        plan = replace(
            plan, seeding=replace(plan.seeding, scheme=seeding.get("scheme", "run"))
        )
    wanted = sweep_definition(plan)
    changed = differences(stored, wanted, skip=_GROWING)
    if not _seeds_grow(seeding, wanted["seeding"]):
        changed.append("seeding")
    held, asked = _texts(stored["points"]), _texts(wanted["points"])
    where = {text: i for i, text in enumerate(asked)}
    missing = [t for t in held if t not in where]
    types = stored.get("point_types"), wanted.get("point_types")
    if missing and isinstance(types[0], dict) and types[0] != types[1]:
        changed.append(f"point_types ({_type_change(types[0], types[1])})")
    elif missing:
        shown = missing[0].rpartition("#")[0]
        changed.append(
            f"points (the store holds {len(missing)} this sweep lacks, e.g. {shown})"
        )
    auto = _adaptive_change(stored, wanted)
    if auto is not None:
        changed.append(auto)
    elif plan.rule is None and plan.iterations < stored["iterations"]:
        changed.append(
            f"iterations (the store holds {stored['iterations']}, this sweep "
            f"asks {plan.iterations}: load_store reads them all)"
        )
    if changed:
        raise StoreError(
            f"The store holds a different sweep (it differs in: {', '.join(changed)})."
            " A store grows only by more values, more points or more iterations of "
            "the same sweep. Use a new store directory for this sweep, or run the "
            "stored definition again to resume it."
        )
    taken = set(where[t] for t in held)
    order = [where[t] for t in held] + [i for i in range(len(asked)) if i not in taken]
    n_held, n_all = len(held), len(asked)
    before, after = stored["iterations"], plan.iterations
    if plan.rule is not None:  # an auto sweep goes on from the rounds stored
        return _align_rounds(stored, plan, order, n_held, n_all)
    blocks = list(stored_blocks(stored) or (Block(range(n_held), range(before)),))
    blocks += [
        block
        for block in (
            Block(range(n_held, n_all), range(before)),
            Block(range(n_all), range(before, after)),
        )
        if len(block)
    ]
    grows = n_all > n_held or after > before
    if grows and seeding["kind"] == "master" and "scheme" not in seeding:
        raise StoreError(
            "This store was made by mesa_nb before 0.2, which seeded runs by their "
            "position: it can be resumed as it is but not grown. Use a new store "
            "for the larger sweep."
        )
    return plan.aligned(order, blocks), grows


def _adaptive_change(stored: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    """Why a store of fixed iterations cannot be resumed by an auto sweep
    (or the other way round), or None."""
    held, asked = stored.get("adaptive"), wanted.get("adaptive")
    if (held is None) == (asked is None):
        return None
    if held is not None:
        rule = PrecisionRule.from_definition(held)
        return (
            f"iterations (the store holds an iterations='auto' sweep with precision "
            f"{rule.text()}: resume it with iterations='auto' and a precision)"
        )
    return (
        f"iterations (the store holds {stored['iterations']} iterations of every "
        "point; iterations='auto' starts a store of its own)"
    )


def _align_rounds(
    stored: dict[str, Any], plan: SweepPlan, order: list[int], n_held: int, n_all: int
) -> tuple[SweepPlan, bool]:
    """An auto sweep laid out as the store of its earlier rounds numbers its
    runs; new points get a first round after them. Its rule may differ from
    the stored one (a tighter precision goes on from the runs stored)."""
    blocks = list(
        stored_blocks(stored) or (Block(range(n_held), range(stored["iterations"])),)
    )
    if n_all > n_held:
        blocks.append(Block(range(n_held, n_all), range(plan.rule.first)))
    most = max(stored["iterations"], plan.rule.first if n_all > n_held else 0)
    grows = n_all > n_held or stored["adaptive"] != plan.rule.definition()
    return plan.aligned(order, blocks, most), grows


def stored_design(sweep_spec: dict[str, Any] | None) -> Design | None:
    """The design a stored spec was drawn from, drawn again (same method,
    ranges and seed: the same points), so a loaded store can be analysed."""
    if not sweep_spec or "design" not in sweep_spec.get("options", {}):
        return None
    spec = SweepSpec.from_dict(sweep_spec)
    design = spec.planner_parameters(spec.options.seed)
    return design if isinstance(design, Design) else None


class _Named:
    """Stands for a model class that was not given when loading a store."""

    def __init__(self, dotted: str) -> None:
        self.__module__, _, self.__qualname__ = dotted.rpartition(".")
