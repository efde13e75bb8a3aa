"""Experiment files: a sweep written down in TOML, to run anywhere.

::

    model = "models.py:Money"      # a file (relative to here) or package.module:Class
    max_steps = 100
    iterations = 5
    seed = 42
    processes = 2
    store = "runs/money"           # relative to this file

    [parameters]
    n = [10, 20, 30]               # swept
    bonus = 0.5                    # constant
    width = {start = 5, stop = 20, step = 5}   # 5, 10, 15, 20 (stop included)

    [design]                       # instead of a grid: a sampling design
    method = "sobol"
    samples = 512
    [design.ranges]
    x = {between = [0.1, 0.9]}
    k = {integers = [1, 5]}
    kind = {one_of = ["a", "b"]}

A bad file gets one :class:`ExperimentError` line naming the key and the fix.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import math
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle

from ..core.designs import DESIGNS, between, integers, make_design, one_of
from ..core.errors import MesaNbError

#: The keys an experiment file may have at its top level, and their types.
OPTIONS: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "max_steps": (int,),
    "iterations": (int,),
    "seed": (int,),
    "processes": (int, str),
    "data_collection_period": (int,),
    "until": (int, float),
    "timeout": (int, float),
    "store": (str,),
    "client": (str,),
    "in_memory": (bool,),
    "parameters": (dict,),
    "design": (dict,),
}


class ExperimentError(MesaNbError, ValueError):
    """The experiment file cannot be run as written."""


@dataclass
class Experiment:
    """A sweep read from an experiment file (``path``: where it came from)."""

    path: Path
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def model_class(self) -> type:
        """The model class, imported from its file or module."""
        return import_model(self.settings["model"], self.folder, self.path.name)

    def store(self) -> Path | None:
        """The store directory, relative to the experiment file."""
        store = self.settings.get("store")
        return None if store is None else (self.folder / Path(store).expanduser())

    def parameters(self) -> Any:
        """The sweep definition: a dict of values, or a design."""
        raw = self.settings.get("parameters", {})
        values = {
            name: _value(name, spec, self.path.name) for name, spec in raw.items()
        }
        design = self.settings.get("design")
        if design is None:
            return values
        return _design(design, values, self.settings.get("seed"), self.path.name)

    def plan_options(self) -> dict[str, Any]:
        """What :func:`mesa_nb.api.plan` takes besides the model and parameters."""
        keys = ("max_steps", "iterations", "seed", "data_collection_period")
        options = {k: self.settings[k] for k in keys if k in self.settings}
        options.update(
            {k: self.settings[k] for k in ("until", "timeout") if k in self.settings}
        )
        options["store"] = self.store()
        return options

    def run_options(self) -> dict[str, Any]:
        """What :func:`mesa_nb.api.run_plan` takes (processes, store, executor)."""
        processes = self.settings.get("processes", 1)
        return {
            "processes": None if processes == "all" else processes,
            "store": self.store(),
            "executor": self.settings.get("client"),
            "in_memory": self.settings.get("in_memory", True),
        }


def _where(file: str, key: str) -> str:
    return f"{file}: {key}"


def _value(name: str, spec: Any, file: str) -> Any:
    if isinstance(spec, dict):
        if set(spec) <= {"start", "stop", "step"} and {"start", "stop"} <= set(spec):
            return _range(name, spec, file)
        raise ExperimentError(
            f"{_where(file, 'parameters.' + name)} is a table {spec!r}: give a value, "
            "a list of values, or {start = .., stop = .., step = ..}."
        )
    return spec


def _range(name: str, spec: dict[str, Any], file: str) -> list[Any]:
    start, stop, step = spec["start"], spec["stop"], spec.get("step", 1)
    numbers = (start, stop, step)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
        raise ExperimentError(
            f"{_where(file, 'parameters.' + name)}: start, stop, step must be numbers."
        )
    if step == 0 or (stop - start) / step < 0:
        raise ExperimentError(
            f"{_where(file, 'parameters.' + name)}: from {start} to {stop} never steps "
            f"by {step}: fix the step's sign or size."
        )
    count = math.floor((stop - start) / step + 1e-9) + 1
    if all(isinstance(v, int) for v in numbers):
        return [start + i * step for i in range(count)]
    return [float(f"{start + i * step:.12g}") for i in range(count)]


RANGE_MAKERS = {"between": between, "integers": integers, "one_of": one_of}


def _design(design: dict[str, Any], constants: dict[str, Any], seed: Any, file: str):
    unknown = set(design) - {"method", "samples", "ranges"}
    if unknown:
        raise ExperimentError(
            f"{_where(file, 'design.' + sorted(unknown)[0])} is not a design key: "
            "use method, samples and [design.ranges]."
        )
    method = design.get("method")
    if method not in DESIGNS:
        raise ExperimentError(
            f"{_where(file, 'design.method')} = {method!r}: choose one of "
            f"{', '.join(DESIGNS)}."
        )
    ranges = {}
    for name, spec in design.get("ranges", {}).items():
        if not (
            isinstance(spec, dict) and len(spec) == 1 and set(spec) <= set(RANGE_MAKERS)
        ):
            raise ExperimentError(
                f"{_where(file, 'design.ranges.' + name)} = {spec!r}: write "
                "{between = [low, high]}, {integers = [low, high]} or "
                "{one_of = [...]}."
            )
        ((kind, args),) = spec.items()
        ranges[name] = RANGE_MAKERS[kind](*args)
    if not ranges:
        raise ExperimentError(
            f"{_where(file, 'design.ranges')}: give at least one range."
        )
    samples = design.get("samples", 128)
    return make_design(method, ranges, samples, seed, constants)


def load_experiment(path: str | Path, overrides: list[str] = ()) -> Experiment:
    """Read and check an experiment file; ``overrides`` are ``key=value``
    strings (TOML values, dotted keys into tables: ``parameters.n=[1, 2]``)."""
    path = Path(path).expanduser().resolve()
    try:
        settings = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExperimentError(f"{path}: no such experiment file.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{path.name}: not valid TOML ({exc}).") from None
    for override in overrides:
        _override(settings, override, path.name)
    for key, value in settings.items():
        if key not in OPTIONS:
            close = difflib.get_close_matches(key, OPTIONS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ExperimentError(
                f"{_where(path.name, key)} is not an experiment key.{hint} Keys: "
                f"{', '.join(OPTIONS)}."
            )
        if not isinstance(value, OPTIONS[key]) or (
            isinstance(value, bool) and bool not in OPTIONS[key]
        ):
            kinds = " or ".join(t.__name__ for t in OPTIONS[key])
            raise ExperimentError(
                f"{_where(path.name, key)} = {value!r} should be {kinds}."
            )
    if "model" not in settings:
        raise ExperimentError(
            f'{path.name}: model is missing: add model = "models.py:MyModel".'
        )
    return Experiment(path, settings)


def _override(settings: dict[str, Any], override: str, file: str) -> None:
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise ExperimentError(f"--set {override!r}: write key=value, e.g. seed=7.")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word: a string
    *tables, last = key.strip().split(".")
    target = settings
    for table in tables:
        target = target.setdefault(table, {})
    target[last] = value


def import_model(reference: str, folder: Path, file: str = "experiment") -> type:
    """``models.py:Money`` (a file, relative to ``folder``) or ``pkg.mod:Money``.

    A class from a file is shipped to worker processes by value (cloudpickle),
    so workers need not find the file on their path.
    """
    module_part, sep, name = reference.rpartition(":")
    if not sep or not module_part or not name:
        raise ExperimentError(
            f'{_where(file, "model")} = {reference!r}: write "models.py:MyModel" '
            'or "package.module:MyModel".'
        )
    if module_part.endswith(".py"):
        source = (folder / module_part).expanduser()
        if not source.is_file():
            raise ExperimentError(
                f"{_where(file, 'model')}: no file {source} (paths are relative to the "
                "experiment file)."
            )
        module_name = f"mesa_nb_experiment_{source.stem}"
        spec = importlib.util.spec_from_file_location(module_name, source)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ExperimentError(
                f"{_where(file, 'model')}: running {source.name} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        cloudpickle.register_pickle_by_value(module)
    else:
        try:
            module = importlib.import_module(module_part)
        except ImportError as exc:
            raise ExperimentError(
                f"{_where(file, 'model')}: cannot import {module_part!r}: {exc}"
            ) from None
    if not hasattr(module, name):
        raise ExperimentError(
            f"{_where(file, 'model')}: {module_part} defines no {name!r}."
        )
    return getattr(module, name)


def save_experiment(
    path: str | Path,
    model_cls: type,
    parameters: Any,
    options: dict[str, Any],
) -> Path:
    """Write the experiment file that reruns a sweep (``options``: max_steps,
    iterations, seed, processes, store, client, ...; None values left out).

    The model must be importable: a class defined in a notebook cell or a
    script's ``__main__`` is refused, with how to move it into a module.
    """
    import tomli_w

    module = model_cls.__module__
    if module == "__main__" or "<locals>" in model_cls.__qualname__:
        raise ExperimentError(
            f"{model_cls.__name__} is defined in the notebook (or a script's "
            "__main__), which a headless run cannot import: move the class into a "
            f"file, e.g. models.py next to the notebook, then `from models import "
            f"{model_cls.__name__}` and save again."
        )
    document: dict[str, Any] = {"model": f"{module}:{model_cls.__qualname__}"}
    document.update({k: v for k, v in options.items() if v is not None})
    if hasattr(parameters, "describe") and hasattr(parameters, "ranges"):
        description = parameters.describe()
        document["parameters"] = dict(parameters.fixed)
        document["design"] = {
            "method": description["method"],
            "samples": description["options"].get(
                "n", description["options"].get("trajectories")
            ),
            "ranges": {
                name: _range_toml(rng) for name, rng in parameters.ranges.items()
            },
        }
    else:
        document["parameters"] = {
            name: list(value) if isinstance(value, tuple | range) else value
            for name, value in dict(parameters).items()
        }
    path = Path(path).expanduser()
    try:
        path.write_text(tomli_w.dumps(document))
    except TypeError as exc:
        raise ExperimentError(
            f"Cannot write {path.name}: a value TOML cannot hold ({exc}); give plain "
            "numbers, strings, booleans and lists."
        ) from None
    return path


def _range_toml(rng: Any) -> dict[str, Any]:
    if rng.kind == "float":
        return {"between": [rng.low, rng.high]}
    if rng.kind == "int":
        return {"integers": [rng.low, rng.high]}
    return {"one_of": list(rng.choices)}


def save_result_experiment(result: Any, path: str | Path) -> Path:
    """The experiment file that reruns the sweep of ``result``."""
    if result.model_cls is None:
        raise ExperimentError("This result does not know its model class.")
    if result.design is not None:
        parameters: Any = result.design
    elif result.grid is not None:
        parameters = {
            name: values[0] if len(values) == 1 else values
            for name, values in result.grid.items()
        }
    else:
        raise ExperimentError(
            "This sweep's points were given as a list or a DataFrame, which an "
            "experiment file cannot hold yet: give the parameters as a dict of "
            "values (a grid) or a design."
        )
    meta = result.metadata
    options = {
        "max_steps": meta.get("max_steps"),
        "iterations": meta.get("iterations"),
        "seed": meta.get("master_seed")
        if meta.get("seed_source") in ("seed", "entropy")
        else None,
        "data_collection_period": meta.get("data_collection_period"),
        "until": meta.get("until"),
        "timeout": meta.get("timeout"),
        "store": meta.get("store"),
    }
    return save_experiment(path, result.model_cls, parameters, options)
