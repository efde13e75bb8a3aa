"""Experiment files of calibrations: a ``[calibrate]`` table for ``mesa-nb run``.

::

    model = "models.py:SIR"        # a file (relative to here) or package.module:Class
    max_steps = 100                # the sweep options a calibration takes
    seed = 7
    processes = 2
    store = "runs/sir-fit"         # relative to this file (none: sir-fit-runs/)

    [parameters]                   # held fixed in every run
    population = 1000

    [calibrate]                    # the calibration's own options
    method = "abc"
    population = 200
    generations = 10
    observed = "observed.csv"      # Step and reporter columns, relative to here;
                                   # or final values: {AttackRate = 0.42}

    [calibrate.priors]
    beta = {between = [0.1, 1.0]}
    gamma = {scipy = "uniform", args = [0.05, 0.5]}
    k = {integers = [1, 5]}
    kind = {one_of = ["a", "b"]}

The top-level keys and the ``[calibrate]`` keys are those of
:data:`~.options.CALIBRATION_OPTIONS` offered to files (their ``file_key``;
``mesa-nb run --set KEY=VALUE`` overrides them, ``--set
calibrate.population=50`` too). The file is read into a
:class:`~.spec.CalibrationSpec` and written from one
(:func:`save_calibration_experiment`), so what is written is what is read. A
bad file gets one :class:`~mesa_nb.api.experiment.ExperimentError` line
naming the key and the fix.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from ..api.experiment import (
    ExperimentError,
    apply_override,
    default_store,
    import_model,
    importable_name,
    option_values,
)
from ..core.errors import MesaNbError
from ..core.options import FILE, SPEC
from ..core.spec import is_range_dict, model_reference, to_plain
from .options import CALIBRATION_OPTIONS, calibration_option
from .priors import Priors
from .spec import CalibrationSpec

#: The file keys of the options (``calibrate.population``), and the option
#: each stands for.
OPTION_KEYS = {o.file_key: o for o in CALIBRATION_OPTIONS if o.offered(FILE)}
#: The table of a calibration, and its keys that are not options.
TABLE = "calibrate"
PRIORS, OBSERVED = f"{TABLE}.priors", f"{TABLE}.observed"
#: Keys that are not options.
SPEC_KEYS = ("model", "parameters", PRIORS, OBSERVED)
#: How a prior is written: ``{between = [lo, hi]}`` and the others; a scipy
#: distribution as ``{scipy = "norm", args = [0, 1]}`` (``kwds`` if any).
_PRIOR_HELP = (
    "{between = [low, high]}, {integers = [low, high]}, {one_of = [...]} or "
    '{scipy = "norm", args = [0, 1]}'
)


class CalibrationExperiment(NamedTuple):
    """A calibration read from an experiment file: where it came from, and its
    spec (paths in it made relative to the file's folder)."""

    path: Path
    spec: CalibrationSpec


def read_settings(path: str | Path, overrides: list[str] = ()) -> dict[str, Any]:
    """The TOML of an experiment file, with ``key=value`` overrides applied."""
    path = Path(path).expanduser().resolve()
    try:
        settings = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExperimentError(f"{path}: no such experiment file.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"{path.name}: not valid TOML ({exc}).") from None
    for override in overrides:
        apply_override(settings, override, path.name)
    return settings


def is_calibration(settings: Mapping[str, Any]) -> bool:
    """Whether an experiment file's settings describe a calibration."""
    return TABLE in settings


def _where(file: str, key: str) -> str:
    return f"{file}: {key}"


def _flatten(settings: Mapping[str, Any], file: str) -> dict[str, Any]:
    """The file's keys, the ``[calibrate]`` table's dotted, each one checked."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if key == TABLE:
            if not isinstance(value, dict):
                raise ExperimentError(
                    f"{_where(file, TABLE)} should be a table: [calibrate]."
                )
            flat.update({f"{TABLE}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    for key in flat:
        _check_key(key, file)
    return flat


def _check_key(key: str, file: str) -> None:
    known = [*SPEC_KEYS, *OPTION_KEYS]
    if key in known:
        return
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    top = [k for k in known if not k.startswith(f"{TABLE}.")]
    inner = [k.split(".", 1)[1] for k in known if k.startswith(f"{TABLE}.")]
    raise ExperimentError(
        f"{_where(file, key)} is not a calibration key.{hint} Keys: "
        f"{', '.join(top)}, and [calibrate] with {', '.join(inner)}."
    )


def _options(flat: Mapping[str, Any], folder: Path, file: str) -> dict[str, Any]:
    return option_values(flat, OPTION_KEYS, folder, file)


def prior_record(name: str, written: Any, file: str = "experiment") -> dict[str, Any]:
    """The :meth:`Priors.to_dict` record of a prior as a file writes it."""
    key = _where(file, f"{PRIORS}.{name}")
    if is_range_dict(written):
        ((kind, args),) = written.items()
        if kind == "one_of":
            return {"kind": kind, "choices": list(args)}
        if len(args) != 2:
            raise ExperimentError(f"{key} = {written!r}: give [low, high].")
        return {"kind": kind, "low": args[0], "high": args[1]}
    if isinstance(written, Mapping) and "scipy" in written:
        extra = set(written) - {"scipy", "args", "kwds"}
        if extra or not isinstance(written["scipy"], str):
            raise ExperimentError(
                f'{key} = {written!r}: write {{scipy = "norm", args = [0, 1]}} '
                "(and kwds = {...} if any)."
            )
        return {
            "kind": "scipy",
            "dist": written["scipy"],
            "args": list(written.get("args", [])),
            "kwds": dict(written.get("kwds", {})),
        }
    if isinstance(written, Mapping) and "kind" in written:  # Priors.to_dict()
        return dict(written)
    raise ExperimentError(f"{key} = {written!r}: write {_PRIOR_HELP}.")


def written_prior(record: Mapping[str, Any]) -> dict[str, Any]:
    """A :meth:`Priors.to_dict` record as a file writes it (see
    :func:`prior_record`)."""
    kind = record["kind"]
    if kind == "one_of":
        return {"one_of": list(record["choices"])}
    if kind == "scipy":
        written = {"scipy": record["dist"], "args": list(record["args"])}
        if record.get("kwds"):
            written["kwds"] = dict(record["kwds"])
        return written
    return {kind: [record["low"], record["high"]]}


def _priors(flat: Mapping[str, Any], file: str) -> Priors:
    table = flat.get(PRIORS)
    if not isinstance(table, dict) or not table:
        raise ExperimentError(
            f"{file}: {PRIORS} is missing: add a [calibrate.priors] table with one "
            f"prior per calibrated parameter, e.g. beta = {{between = [0.1, 1.0]}}."
        )
    records = {}
    for name, written in table.items():
        records[name] = prior_record(name, written, file)
        try:
            Priors.from_dict({name: records[name]})
        except MesaNbError as exc:
            raise ExperimentError(
                f"{_where(file, f'{PRIORS}.{name}')}: {exc}"
            ) from None
    return Priors.from_dict(records)


def _observed(flat: Mapping[str, Any], folder: Path, file: str) -> Any:
    written = flat.get(OBSERVED)
    if written is None:
        raise ExperimentError(
            f'{file}: {OBSERVED} is missing: add observed = "observed.csv" (a Step '
            "column and one column per reporter) or observed = {Reporter = value} "
            "to the [calibrate] table."
        )
    if isinstance(written, str):
        source = (folder / written).expanduser()
        try:
            return pd.read_csv(source)
        except FileNotFoundError:
            raise ExperimentError(
                f"{_where(file, OBSERVED)}: no file {source} (paths are relative to "
                "the experiment file)."
            ) from None
        except (ValueError, pd.errors.ParserError) as exc:
            raise ExperimentError(
                f"{_where(file, OBSERVED)}: {source.name} is not a CSV table ({exc})."
            ) from None
    if isinstance(written, dict):
        if "Step" in written:  # an inline series: {Step = [...], Infected = [...]}
            try:
                return pd.DataFrame(written)
            except ValueError as exc:
                raise ExperimentError(f"{_where(file, OBSERVED)}: {exc}") from None
        return written
    raise ExperimentError(
        f"{_where(file, OBSERVED)} = {written!r}: give a CSV file name or an "
        "inline table {Reporter = value}."
    )


def _parameters(flat: Mapping[str, Any], file: str) -> dict[str, Any]:
    raw = flat.get("parameters", {})
    if not isinstance(raw, dict):
        raise ExperimentError(f"{_where(file, 'parameters')} should be a table.")
    for name, value in raw.items():
        if is_range_dict(value):
            raise ExperimentError(
                f"{_where(file, 'parameters.' + name)} is a range, but a "
                "calibration's [parameters] are held fixed: move it to "
                f"[calibrate.priors] to calibrate it, or give one value."
            )
    return dict(raw)


def read_calibration_spec(
    settings: Mapping[str, Any], folder: Path, file: str
) -> CalibrationSpec:
    """The calibration spec of an experiment file's settings (``folder``:
    where relative paths start)."""
    flat = _flatten(settings, file)
    if not isinstance(flat.get("model"), str):
        raise ExperimentError(
            f'{file}: model is missing: add model = "models.py:MyModel".'
        )
    model = import_model(flat["model"], folder, file)
    options = _options(flat, folder, file)
    priors = _priors(flat, file)
    observed = _observed(flat, folder, file)
    parameters = _parameters(flat, file)
    try:
        return CalibrationSpec.of(model, priors, observed, parameters, **options)
    except MesaNbError as exc:
        raise ExperimentError(f"{file}: {exc}") from None


def load_calibration_experiment(
    path: str | Path, overrides: list[str] = ()
) -> CalibrationExperiment:
    """Read and check a calibration's experiment file; ``overrides`` are
    ``key=value`` strings (TOML values; ``calibrate.population=50``). Without
    a store, it keeps its runs beside the file (``exp.toml`` -> ``exp-runs/``)."""
    path = Path(path).expanduser().resolve()
    settings = read_settings(path, overrides)
    spec = read_calibration_spec(settings, path.parent, path.name)
    if spec.options.store is None:  # a headless run always keeps its runs
        spec = _with_options(spec, store=default_store(path))
    return CalibrationExperiment(path, spec)


def _with_options(spec: CalibrationSpec, **changes: Any) -> CalibrationSpec:
    return CalibrationSpec(
        spec.model,
        spec.priors,
        spec.observed,
        spec.parameters,
        spec.options.replace(**changes),
    )


# -- writing ---------------------------------------------------------------------
def observed_file(path: Path) -> Path:
    """Where :func:`save_calibration_experiment` writes an observed series:
    beside the file, named after it (``fit.toml`` -> ``fit-observed.csv``)."""
    return path.parent / f"{path.stem}-observed.csv"


def calibration_document(spec: CalibrationSpec, path: Path) -> dict[str, Any]:
    """The TOML document of ``spec`` for the file at ``path`` (read back by
    :func:`read_calibration_spec`); an observed series is referred to as
    :func:`observed_file`, which the caller writes."""
    for name in ("summaries", "distance"):
        if spec.options.values[name] is not None:
            raise ExperimentError(
                f"{name} is a Python function, which an experiment file cannot "
                f"hold: calibrate from Python, or leave {name} out to save the file."
            )
    model = spec.model
    document: dict[str, Any] = {
        "model": model if isinstance(model, str) else importable_name(model, "model")
    }
    table: dict[str, Any] = {}
    for name, value in spec.to_file_dict()["options"].items():
        opt = calibration_option(name)
        if not opt.offered(FILE):
            continue
        if name == "executor" and not isinstance(value, str):
            continue  # a client of the session: the file runs on processes
        if name == "store":
            value = os.path.relpath(Path(value).expanduser().resolve(), path.parent)
        if name == "scenario" and not isinstance(spec.options.scenario, str):
            value = importable_name(spec.options.scenario, "scenario")
        if name == "processes" and value is None:
            value = "all"
        where, _, key = opt.file_key.rpartition(".")
        (table if where == TABLE else document)[key] = value
    if spec.parameters:
        document["parameters"] = {n: to_plain(v) for n, v in spec.parameters.items()}
    if spec.observed.series is None:
        table["observed"] = dict(spec.observed.values)
    else:
        table["observed"] = observed_file(path).name
    table["priors"] = {
        name: written_prior(record) for name, record in spec.priors.to_dict().items()
    }
    document[TABLE] = table
    return document


def save_calibration_experiment(path: str | Path, spec: CalibrationSpec) -> Path:
    """Write the experiment file that reruns a calibration headless (``mesa-nb
    run FILE``), and an observed series beside it (:func:`observed_file`).
    The folder is made if needed. The model must be importable: a class
    defined in a notebook cell is refused, with how to move it."""
    import tomli_w

    path = Path(path).expanduser().resolve()
    document = calibration_document(spec, path)
    try:
        text = tomli_w.dumps(document)
    except TypeError as exc:
        raise ExperimentError(
            f"Cannot write {path.name}: a value TOML cannot hold ({exc}); give plain "
            "numbers, strings, booleans and lists."
        ) from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if spec.observed.series is not None:
            spec.observed.series.to_csv(observed_file(path), index=False)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ExperimentError(
            f"Cannot write {path}: {exc.strerror or exc}. Choose a folder you can "
            "write to."
        ) from None
    return path


def describe(spec: CalibrationSpec) -> str:
    """A calibration's plan in a few lines (``mesa-nb dry-run``)."""
    options = spec.options
    name = model_reference(spec.model).split(":")[-1]
    observed = spec.observed
    what = (
        f"final values of {', '.join(observed.reporters)}"
        if observed.steps is None
        else f"{', '.join(observed.reporters)} at {len(observed.steps)} steps"
    )
    given = {
        k: v
        for k, v in options.given((SPEC,)).items()
        if k not in ("method", "summaries", "distance")
    }
    lines = [
        f"Dry run: a calibration of {name} by {options.method}; nothing run.",
        f"priors: {spec.priors!r}",
        f"observed: {what}",
        f"fixed: {dict(spec.parameters) or 'none'}",
        f"options: {', '.join(f'{k}={v!r}' for k, v in given.items()) or 'defaults'}",
        f"store: {options.store or '(none: nothing kept)'}",
    ]
    return "\n".join(lines)


__all__ = [
    "OPTION_KEYS",
    "CalibrationExperiment",
    "calibration_document",
    "describe",
    "is_calibration",
    "load_calibration_experiment",
    "observed_file",
    "prior_record",
    "read_calibration_spec",
    "read_settings",
    "save_calibration_experiment",
    "written_prior",
]
