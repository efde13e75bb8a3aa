"""Calibration: fit a model's parameters to observed data, on the sweep runner.

``mesa_nb.calibrate(Model, priors, observed, method="abc" | "optimize")``
runs batches of parameter sets through :func:`mesa_nb.sweep` (worker
processes or Dask, per-run seeds, a store that resumes): ABC-SMC for a
posterior (:mod:`.abc`), Optuna for the best parameters (:mod:`.optimize`).
``mesa_nb.load_calibration(store)`` reads a stored one back.

Modules: :mod:`.priors` (what a parameter may be), :mod:`.observed` (data,
summaries, distance), :mod:`.options` (declared once), :mod:`.spec` (what a
calibration is, written and read back), :mod:`.record` (its store),
:mod:`.runner` (the loop), :mod:`.result`, :mod:`.live` (background),
:mod:`.plots`, :mod:`.api`.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public names and the module each lives in (imported on first use, so that
#: ``import mesa_nb`` stays quick and a module's tests need only that module).
_PUBLIC = {
    "calibrate": "api",
    "load_calibration": "api",
    "LiveCalibration": "live",
    "Observed": "observed",
    "CALIBRATION_OPTIONS": "options",
    "CalibrationOptions": "options",
    "Priors": "priors",
    "Calibration": "result",
    "CalibrationProgress": "runner",
    "CalibrationSpec": "spec",
}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)


__all__ = sorted(_PUBLIC)
