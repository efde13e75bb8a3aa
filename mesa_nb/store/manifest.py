"""The manifest: what a store holds, and the plan it was made from.

A sweep's definition (model, points, options, seeds) decides whether a store
can be resumed; :func:`plan_from_manifest` numbers the stored sweep's runs
with the planner's own :func:`~mesa_nb.core.plan.number_runs`.
"""

from __future__ import annotations

from typing import Any

from ..core.parameters import ParameterSpace, Sampler
from ..core.plan import RunSettings, Seeding, SweepPlan
from ..core.scenarios import scenario_spec
from .encoding import to_json

FORMAT = "mesa_nb-store/1"


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
    return {
        "model": f"{cls.__module__}.{cls.__qualname__}",
        "parameters": list(plan.space.names),
        "points": to_json(list(plan.space.points)),
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


def differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    return [key for key in wanted if stored.get(key) != wanted[key]]


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
    space = ParameterSpace(
        tuple(definition["parameters"]), points, tuple(meta["swept"]), tuple(sampled)
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
    return SweepPlan(settings, space, definition["iterations"], seeding)


class _Named:
    """Stands for a model class that was not given when loading a store."""

    def __init__(self, dotted: str) -> None:
        self.__module__, _, self.__qualname__ = dotted.rpartition(".")
