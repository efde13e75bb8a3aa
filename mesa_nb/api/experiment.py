"""Experiment files: a sweep spec written down in TOML, to run anywhere.

::

    model = "models.py:Money"      # a file (relative to here) or package.module:Class
    max_steps = 100
    iterations = 5                 # or "auto", with [precision] below
    seed = 42
    processes = 2
    store = "runs/money"           # relative to this file

    [parameters]
    n = [10, 20, 30]               # swept
    bonus = 0.5                    # constant
    width = {start = 5, stop = 20, step = 5}   # 5, 10, 15, 20 (stop included)
    x = {between = [0.1, 0.9]}     # a range, sampled by the design
    k = {integers = [1, 5]}
    kind = {one_of = ["a", "b"]}

    [design]                       # instead of a grid: a sampling design
    method = "sobol"
    samples = 512                  # none: the design's own default

    [precision]                    # iterations = "auto": replicates until the
    Gini = 0.01                    # 95% interval of Gini is ±0.01 at every point

Instead of ``[parameters]``, ``[[points]]`` tables give one point each. The
keys are those of :data:`mesa_nb.core.options.OPTIONS` offered to files
(``mesa-nb run --set KEY=VALUE`` overrides them); the file is read into a
:class:`~mesa_nb.core.spec.SweepSpec` and written from one
(:func:`save_experiment`), so what is written is what is read. A bad file gets
one :class:`ExperimentError` line naming the key and the fix.

``module:Class`` references are imported with the experiment file's folder
and the working directory on the import path, whichever command runs it
(``mesa-nb`` or ``python -m mesa_nb``).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import math
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import cloudpickle

from ..core.errors import MesaNbError
from ..core.options import FILE, RUN, SPEC, SweepOptions, offered
from ..core.spec import (
    SweepSpec,
    is_range_dict,
    is_scenario_dict,
    range_of,
    scenario_from_dict,
)
from .session import Prepared, resolved_spec

#: The file keys of the options, and the option each stands for.
OPTION_KEYS = {o.file_key: o for o in offered(FILE)}
#: Keys that are not options.
SPEC_KEYS = ("model", "parameters", "points", "design")
#: Keys of the ``[design]`` table that are not options.
DESIGN_KEYS = ("method", "samples", "ranges", "seed", "options")


class ExperimentError(MesaNbError, ValueError):
    """The experiment file cannot be run as written."""


class Experiment(NamedTuple):
    """A sweep read from an experiment file: where it came from, and its spec
    (paths in it made relative to the file's folder)."""

    path: Path
    spec: SweepSpec


def _where(file: str, key: str) -> str:
    return f"{file}: {key}"


def _value(name: str, spec: Any, file: str) -> Any:
    if is_range_dict(spec):
        try:
            return range_of(spec)
        except MesaNbError as exc:
            raise ExperimentError(
                f"{_where(file, 'parameters.' + name)}: {exc}"
            ) from None
    if isinstance(spec, dict):
        if set(spec) <= {"start", "stop", "step"} and {"start", "stop"} <= set(spec):
            return _range(name, spec, file)
        raise ExperimentError(
            f"{_where(file, 'parameters.' + name)} is a table {spec!r}: give a value, "
            "a list of values, {start = .., stop = .., step = ..}, or a range "
            "{between = [low, high]}, {integers = [low, high]}, {one_of = [...]}."
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


def _flatten(settings: dict[str, Any]) -> dict[str, Any]:
    """The file's keys, a table's keys dotted (``design.samples``)."""
    flat = {}
    for key, value in settings.items():
        if key == "design" and isinstance(value, dict):
            for inner, item in value.items():
                flat[f"design.{inner}"] = item
        else:
            flat[key] = value
    return flat


def _check_key(key: str, file: str) -> None:
    known = [*SPEC_KEYS, *OPTION_KEYS, *(f"design.{k}" for k in DESIGN_KEYS)]
    if key in known:
        return
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    shown = [k for k in known if not k.startswith("design.")]
    raise ExperimentError(
        f"{_where(file, key)} is not an experiment key.{hint} Keys: "
        f"{', '.join(shown)}, and [design] with "
        f"{', '.join(DESIGN_KEYS)}."
    )


def default_store(path: Path) -> Path:
    """Where a headless run of the file at ``path`` keeps its runs when the
    file names no store: beside it, named after it (``exp.toml`` ->
    ``exp-runs/``)."""
    return path.parent / f"{path.stem}-runs"


def _options(flat: dict[str, Any], folder: Path, file: str) -> SweepOptions:
    return SweepOptions.of(**option_values(flat, OPTION_KEYS, folder, file))


def option_values(
    flat: Mapping[str, Any], keys: Mapping[str, Any], folder: Path, file: str
) -> dict[str, Any]:
    """``{option name: checked value}`` of a file's keys that are options
    (``keys``: file key -> :class:`Option`); a store path is taken relative
    to the file's folder and a scenario reference is imported."""
    values = {}
    for key, value in flat.items():
        opt = keys.get(key)
        if opt is None:
            continue
        try:
            values[opt.name] = opt.check(value)
        except MesaNbError as exc:
            raise ExperimentError(f"{_where(file, key)} = {value!r}: {exc}") from None
    if values.get("store") is not None:
        values["store"] = folder / Path(values["store"]).expanduser()
    if isinstance(values.get("scenario"), str):
        values["scenario"] = import_model(values["scenario"], folder, file, "scenario")
    return values


def read_spec(settings: dict[str, Any], folder: Path, file: str) -> SweepSpec:
    """The sweep spec of an experiment file's settings (``folder``: where
    relative paths start)."""
    flat = _flatten(settings)
    for key in flat:
        _check_key(key, file)
    if "model" not in flat or not isinstance(flat["model"], str):
        raise ExperimentError(
            f'{file}: model is missing: add model = "models.py:MyModel".'
        )
    model = import_model(flat["model"], folder, file)
    options = _options(flat, folder, file)
    raw = flat.get("parameters", {})
    if not isinstance(raw, dict):
        raise ExperimentError(f"{_where(file, 'parameters')} should be a table.")
    parameters: Any = {name: _value(name, v, file) for name, v in raw.items()}
    for name, value in parameters.items():  # Mesa scenarios, as the spec writes them
        if isinstance(value, list) and value and all(map(is_scenario_dict, value)):
            parameters[name] = [
                scenario_from_dict(
                    v, lambda ref, what: import_model(ref, folder, file, what)
                )
                for v in value
            ]
    for name, spec in (flat.get("design.ranges") or {}).items():  # older files
        if not is_range_dict(spec):
            raise ExperimentError(
                f"{_where(file, 'design.ranges.' + name)} = {spec!r}: write "
                "{between = [low, high]}, {integers = [low, high]} or "
                "{one_of = [...]}."
            )
        parameters[name] = _value(name, spec, file)
    if "points" in flat:
        if parameters or not isinstance(flat["points"], list):
            raise ExperimentError(
                f"{_where(file, 'points')}: give [[points]] tables, one per point, "
                "instead of [parameters]."
            )
        parameters = [dict(point) for point in flat["points"]]
    return SweepSpec(
        model,
        parameters,
        options,
        design_seed=flat.get("design.seed"),
        design_options=dict(flat.get("design.options", {})),
    )


def load_experiment(path: str | Path, overrides: list[str] = ()) -> Experiment:
    """Read and check an experiment file; ``overrides`` are ``key=value``
    strings (TOML values, dotted keys into tables: ``design.samples=64``)."""
    path = Path(path).expanduser().resolve()
    try:
        settings = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExperimentError(f"{path}: no such experiment file.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"{path.name}: not valid TOML ({exc}).") from None
    for override in overrides:
        _override(settings, override, path.name)
    spec = read_spec(settings, path.parent, path.name)
    if spec.options.store is None:  # a headless run always keeps its runs
        spec = replace(spec, options=spec.options.replace(store=default_store(path)))
    return Experiment(path, spec)


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
    for depth, table in enumerate(tables):
        target = target.setdefault(table, {})
        if not isinstance(target, dict):
            dotted = ".".join(tables[: depth + 1])
            raise ExperimentError(
                f"--set {override!r}: {dotted} is a value, not a table: write "
                f"{dotted}=VALUE."
            )
    target[last] = value


def _add_to_path(*folders: Path) -> None:
    for folder in folders:
        text = str(folder)
        if text not in sys.path:
            sys.path.insert(0, text)


def import_model(
    reference: str, folder: Path, file: str = "experiment", what: str = "model"
) -> type:
    """``models.py:Money`` (a file, relative to ``folder``) or ``pkg.mod:Money``.

    A class from a file is shipped to worker processes by value (cloudpickle),
    so workers need not find the file on their path. A module is imported
    with ``folder`` and the working directory on the import path.
    """
    module_part, sep, name = reference.rpartition(":")
    if not sep or not module_part or not name:
        raise ExperimentError(
            f'{_where(file, what)} = {reference!r}: write "models.py:MyModel" '
            'or "package.module:MyModel".'
        )
    if module_part.endswith(".py"):
        source = (folder / module_part).expanduser()
        if not source.is_file():
            raise ExperimentError(
                f"{_where(file, what)}: no file {source} (paths are relative to the "
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
                f"{_where(file, what)}: running {source.name} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        cloudpickle.register_pickle_by_value(module)
    else:
        _add_to_path(Path.cwd(), folder)
        try:
            module = importlib.import_module(module_part)
        except ImportError as exc:
            raise ExperimentError(
                f"{_where(file, what)}: cannot import {module_part!r}: {exc} (the "
                "experiment file's folder and the working directory are on the "
                "import path)"
            ) from None
    found: Any = module
    for part in name.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise ExperimentError(
                f"{_where(file, what)}: {module_part} defines no {name!r}."
            )
    return found


def _importable(cls: type, what: str) -> str:
    module = cls.__module__
    if module == "__main__" or "<locals>" in cls.__qualname__:
        raise ExperimentError(
            f"{cls.__name__} is defined in the notebook (or a script's __main__), "
            "which a headless run cannot import: move the class into a file, e.g. "
            f"models.py next to the notebook, then `from models import "
            f"{cls.__name__}` and save again.",
            field=what,
        )
    return f"{module}:{cls.__qualname__}"


def spec_document(spec: SweepSpec, folder: Path) -> dict[str, Any]:
    """The TOML document of ``spec`` for a file in ``folder`` (read back by
    :func:`read_spec`)."""
    written = spec.to_dict(stages=(SPEC, RUN))
    model = spec.model
    document: dict[str, Any] = {
        "model": model if isinstance(model, str) else _importable(model, "model")
    }
    design: dict[str, Any] = {}
    for name, value in written["options"].items():
        opt = next(o for o in offered(FILE) if o.name == name)
        if name == "store":
            value = os.path.relpath(Path(value).expanduser().resolve(), folder)
        if name == "scenario" and not isinstance(spec.options.scenario, str):
            value = _importable(spec.options.scenario, "scenario")
        if name == "processes" and value is None:
            value = "all"
        table, _, key = opt.file_key.rpartition(".")
        (design if table == "design" else document)[key] = value
    if "design_seed" in written:
        design["seed"] = written["design_seed"]
    if "design_options" in written:
        design["options"] = written["design_options"]
    if "parameters" in written:
        document["parameters"] = written["parameters"]
    else:
        document["points"] = written["points"]
    if design:
        document["design"] = design
    return document


def save_experiment(path: str | Path, sweep: SweepSpec | Prepared) -> Path:
    """Write the experiment file that reruns a sweep: a prepared sweep (its
    drawn master seed written, so the file reruns exactly that sweep) or a
    spec. The folder is made if needed. The model must be importable: a
    class defined in a notebook cell is refused, with how to move it.
    """
    import tomli_w

    spec = resolved_spec(sweep) if isinstance(sweep, Prepared) else sweep
    path = Path(path).expanduser().resolve()
    document = spec_document(spec, path.parent)
    try:
        text = tomli_w.dumps(document)
    except TypeError as exc:
        raise ExperimentError(
            f"Cannot write {path.name}: a value TOML cannot hold ({exc}); give plain "
            "numbers, strings, booleans and lists."
        ) from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ExperimentError(
            f"Cannot write {path}: {exc.strerror or exc}. Choose a folder you can "
            "write to."
        ) from None
    return path


def save_result_experiment(result: Any, path: str | Path) -> Path:
    """The experiment file that reruns the sweep of ``result``."""
    if result.model_cls is None:
        raise ExperimentError("This result does not know its model class.")
    spec = result.metadata.get("spec")
    if spec is None:
        raise ExperimentError(
            "This result does not record its sweep spec (a store written by an "
            "older mesa_nb): write the experiment file by hand."
        )
    return save_experiment(
        path, SweepSpec.from_dict(spec, model=result.model_cls, resolve=_resolve)
    )


def _resolve(reference: str, what: str) -> Any:
    return import_model(reference, Path.cwd(), "the result", what)


__all__ = [
    "Experiment",
    "ExperimentError",
    "import_model",
    "load_experiment",
    "option_values",
    "read_spec",
    "save_experiment",
    "save_result_experiment",
    "spec_document",
]


#: For other readers of experiment files (calibrations): ``--set`` overrides
#: and the ``module:Class`` a file names a class by.
apply_override = _override
importable_name = _importable
