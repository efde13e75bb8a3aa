"""``mesa_nb.calibrate(...)`` and ``mesa_nb.load_calibration(path)``."""

from __future__ import annotations

import importlib
import inspect
import os
from typing import Any

from ..core.options import CODE
from .live import LiveCalibration
from .observed import Observed
from .options import CALIBRATION_OPTIONS, CalibrationOptions
from .record import CalibrationStore
from .result import Calibration
from .runner import CalibrationProgress, Calibrator, Outcome
from .spec import CalibrationSpec


class CalibrationBar:
    """A ``tqdm.auto`` bar of a calibration's runs (total: the budget, if
    any), its line saying where the calibration stands."""

    def __init__(self, tqdm_cls: Any = None) -> None:
        if tqdm_cls is None:
            from tqdm.auto import tqdm as tqdm_cls
        self.tqdm_cls = tqdm_cls
        self.bar: Any = None

    def start(self, total: int | None) -> None:
        """Show the bar now (a background calibration's first event comes
        from another thread and must not decide where the bar appears)."""
        if self.bar is None:
            self.bar = self.tqdm_cls(total=total, unit="run", desc="calibration")

    def __call__(self, event: CalibrationProgress) -> None:
        self.start(event.budget)
        self.bar.set_postfix_str(event.text(), refresh=False)
        self.bar.update(event.runs - self.bar.n)  # redrawn at most every mininterval
        if event.finished:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run(spec: CalibrationSpec, bar: Any = None) -> Calibration | LiveCalibration:
    """Run ``spec``: its :class:`Calibration`, or with ``background`` a
    :class:`LiveCalibration` at once. ``bar``: a progress callback drawn
    unless ``quiet`` or ``on_progress`` is given (default: ``tqdm.auto``)."""
    options = spec.options
    if options.on_progress is None and not options.quiet:
        bar = bar if bar is not None else CalibrationBar()
    else:
        bar = None
    if options.background:
        return LiveCalibration(spec, on_progress=bar)
    try:
        outcome = Calibrator(spec, on_progress=bar).run()
    finally:
        if isinstance(bar, CalibrationBar):
            bar.close()
    return Calibration(spec, outcome)


def calibrate(
    model_cls: Any, priors: Any, observed: Any, parameters: Any = None, **options: Any
) -> Calibration | LiveCalibration:
    """Fit a model's parameters to observed data (see the signature's options)."""
    return run(CalibrationSpec.of(model_cls, priors, observed, parameters, **options))


def load_calibration(path: str | os.PathLike, model_cls: Any = None) -> Calibration:
    """A calibration read from its store, without running anything: its
    finished generations (batches), posterior and history. Give ``model_cls``
    to run follow-up sweeps (``cal.sweep()``)."""
    store = CalibrationStore(path)
    definition = store.definition()
    options = {
        k: v
        for k, v in definition["options"].items()
        if k not in ("summaries", "distance")  # functions, written by name
    }
    document = {**definition, "options": options}
    spec = CalibrationSpec.from_dict(
        document, model=model_cls, resolve=_importable, store=os.fspath(path)
    )
    outcome: Outcome = Calibrator(spec).run(replay_only=True)
    return Calibration(spec, outcome)


def _importable(reference: Any, what: str) -> Any:
    """The scenario class a ``module:Class`` reference names, when it can be
    imported (a notebook's own classes are in ``__main__``); else the
    reference (the model: ``model_cls=`` gives it)."""
    if what != "scenario" or not isinstance(reference, str):
        return reference
    module, _, name = reference.rpartition(":")
    try:
        found: Any = importlib.import_module(module)
        for part in name.split("."):
            found = getattr(found, part)
    except Exception:  # not importable here: cal.sweep(scenario=) gives it
        return reference
    return found


def _signature() -> inspect.Signature:
    positional = [
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for n in ("model_cls", "priors", "observed")
    ]
    positional.append(
        inspect.Parameter(
            "parameters", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None
        )
    )
    keywords = [
        inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default)
        for o in CALIBRATION_OPTIONS
        if o.offered(CODE)
    ]
    return inspect.Signature(positional + keywords)


calibrate.__signature__ = _signature()  # type: ignore[attr-defined]
calibrate.__doc__ = """Fit a model's parameters to observed data.

    Args:
        model_cls: a ``mesa.Model`` subclass (may be defined in a notebook).
        priors: ``{name: prior}``: ``between(low, high)``, ``integers(low,
            high)``, ``one_of(...)``, or a frozen ``scipy.stats`` distribution.
        observed: ``{reporter: value}`` (matched with each run's final value)
            or a DataFrame with a ``Step`` column and reporter columns (a time
            series, matched step by step).
        parameters: ``{name: value}`` held fixed in every run.
OPTIONS

    Returns:
        A :class:`~mesa_nb.calibration.Calibration` (``.posterior``, ``.best``,
        ``.summary()``, ``.history``, ``.plot``, ``.sweep()``); with
        ``background``, a :class:`~mesa_nb.calibration.LiveCalibration`.
    """.replace(
    "OPTIONS",
    "\n".join(
        f"        {o.name}: {o.help}" for o in CALIBRATION_OPTIONS if o.offered(CODE)
    ),
)

__all__ = [
    "CalibrationBar",
    "CalibrationOptions",
    "Observed",
    "calibrate",
    "load_calibration",
    "run",
]
