"""The manifest: what a store holds, and the plan it was made from.

A sweep's definition (model, points and the types of their values, options,
seeds) decides whether a store can be resumed, and the model's fingerprint
(a hash of its source) whether the code that made the stored runs is still
the code that would make the others. :func:`plan_from_manifest` numbers the
stored sweep's runs with the planner's own
:func:`~mesa_nb.core.plan.number_runs`.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from typing import Any

import numpy as np

from ..core.designs import Design
from ..core.parameters import ParameterSpace, Sampler
from ..core.plan import RunSettings, Seeding, SweepPlan
from ..core.scenarios import scenario_spec
from ..core.spec import SweepSpec
from .encoding import class_path, decode_value, to_json

#: Written into new stores. Version 2: table names encoded as path
#: components, tagged-JSON values, checksummed batches.
FORMAT = "mesa_nb-store/2"
#: Formats this version reads (and resumes).
READABLE_FORMATS = ("mesa_nb-store/1", FORMAT)

#: Modules whose source is the user's script or notebook, not the model's:
#: only the class itself is fingerprinted there.
_SCRIPT_MODULES = ("__main__", "__mp_main__")
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
    points = list(plan.space.points)
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


def differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The keys of the definition that differ, described."""
    changed = []
    for key, value in wanted.items():
        if key in _OPTIONAL_KEYS and key not in stored:
            continue  # a store made before the key existed
        if stored.get(key) == value:
            continue
        if key == "point_types" and isinstance(stored.get(key), dict):
            changed.append(f"point_types ({_type_change(stored[key], value)})")
        else:
            changed.append(key)
    return changed


# -- the model's fingerprint ---------------------------------------------------------
def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _user_classes(cls: type) -> list[type]:
    """``cls`` and the classes it inherits from outside Mesa."""
    found = [cls]
    for each in cls.__mro__[1:]:
        root = each.__module__.partition(".")[0]
        if root not in ("mesa", "builtins", "abc", "typing"):
            found.append(each)
    return found


def _code_text(code: Any) -> str:
    """A code object's instructions, names and constants (no file or line)."""
    consts = [_code_text(c) if inspect.iscode(c) else repr(c) for c in code.co_consts]
    return repr((code.co_code, code.co_names, code.co_varnames, consts))


def _function_text(function: Any) -> tuple[str, bool]:
    """A function's source, or (False) its bytecode where it has none."""
    try:
        return inspect.getsource(function), True
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        return (_code_text(code) if code is not None else repr(function)), False


def _members_text(cls: type) -> tuple[str, bool]:
    """A class without a source file (defined in a notebook): the source of
    each of its functions and its plain class attributes."""
    parts = [cls.__qualname__, ",".join(class_path(b) for b in cls.__bases__)]
    exact = True
    for name, value in sorted(vars(cls).items()):
        target = getattr(value, "__func__", value)
        functions = (
            [target.fget, target.fset, target.fdel]
            if isinstance(target, property)
            else [target]
        )
        if any(inspect.isfunction(f) for f in functions):
            for function in functions:
                if inspect.isfunction(function):
                    text, from_source = _function_text(function)
                    exact = exact and from_source
                    parts.append(f"{name}: {text}")
        elif not name.startswith("__") and isinstance(
            value, (bool, int, float, complex, str, bytes, tuple, type(None))
        ):
            parts.append(f"{name} = {value!r}")
    return "\n".join(parts), exact


def model_fingerprint(cls: type) -> dict[str, Any]:
    """Hashes of the model's code: its class (and the classes it inherits
    from, outside Mesa) and, unless it lives in a script or notebook, its
    module.

    ``how`` says how the class was read: ``source`` (its source file),
    ``members`` (the source of its methods, for a class defined in a
    notebook) or ``bytecode-3.x`` (no source at all; comparable only on the
    same Python). Fingerprints read in different ways are not compared.
    """
    texts, how = [], "source"
    for each in _user_classes(cls):
        try:
            texts.append(inspect.getsource(each))
        except (OSError, TypeError):
            text, from_source = _members_text(each)
            texts.append(text)
            if how == "source":
                how = "members"
            if not from_source:
                how = f"bytecode-{sys.version_info[0]}.{sys.version_info[1]}"
    module_sha = None
    module = sys.modules.get(cls.__module__)
    if module is not None and cls.__module__ not in _SCRIPT_MODULES:
        try:
            module_sha = _sha256(inspect.getsource(module))
        except (OSError, TypeError):
            module_sha = None
    return {
        "class": class_path(cls),
        "how": how,
        "class_sha256": _sha256("\n\n".join(texts)),
        "module_sha256": module_sha,
    }


def fingerprint_change(stored: Any, current: dict[str, Any]) -> str | None:
    """What changed in the model's code since ``stored`` was taken, or None
    (also when the store has no fingerprint, or one not comparable)."""
    if not isinstance(stored, dict) or stored.get("how") != current["how"]:
        return None
    name = current["class"]
    if stored.get("class_sha256") != current["class_sha256"]:
        return f"the code of {name} (or of a class it inherits from) changed"
    before, now = stored.get("module_sha256"), current["module_sha256"]
    if before and now and before != now:
        module = name.rpartition(".")[0]
        return f"the module {module} that defines {name.rpartition('.')[2]} changed"
    return None


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
    return None


def seeding_of(definition: dict[str, Any], seed_source: str | None) -> Seeding:
    """The :class:`Seeding` a stored definition describes."""
    seeding = definition["seeding"]
    if seeding["kind"] == "rng":
        return Seeding("rng", per_iteration=tuple(seeding["seeds"]))
    if seeding["kind"] == "master":
        return Seeding(seed_source or "seed", master_seed=int(seeding["master_seed"]))
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
    points = tuple(
        {
            n: Sampler(None, takes_rng=False)
            if n in sampled and isinstance(v, dict) and "callable" in v
            else v
            for n, v in point.items()
        }
        for point in definition["points"]
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
    return SweepPlan(settings, space, definition["iterations"], seeding, sweep_spec)


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
