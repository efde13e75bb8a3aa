"""The options of a calibration, declared once.

A calibration has options of its own (:data:`OWN`: method, budget, ABC and
optimiser settings) and takes the sweep options that say how its runs run
(:data:`SHARED`, the very :class:`~mesa_nb.core.options.Option` objects of
:data:`mesa_nb.core.options.OPTIONS`). :func:`mesa_nb.calibrate`'s signature
and docstring, the ``%%calibrate`` flags, the experiment file's
``[calibrate]`` keys and the record in a calibration's store are derived
from :data:`CALIBRATION_OPTIONS`.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from ..core.errors import SweepOptionError
from ..core.options import (
    BY_NAME,
    CELL,
    CODE,
    CONFIG,
    FILE,
    FORM,
    RUN,
    SHOW,
    SPEC,
    Option,
    SweepOptions,
)

ABC, OPTIMIZE = "abc", "optimize"
METHODS = (ABC, OPTIMIZE)
SAMPLERS = ("tpe", "cmaes", "random")
_CODE_ONLY = "a Python function: only code can pass it"
_NO_FORM = {
    FORM: "calibrations have no form yet; write a %%calibrate cell",
    CONFIG: "belongs to one calibration, not to every sweep of the session",
}

OWN: tuple[Option, ...] = (
    Option(
        "method",
        "choice",
        ABC,
        "abc: a posterior by ABC-SMC (Beaumont et al. 2009, adaptive tolerance); "
        "optimize: the best parameters by Optuna (ask and tell, in batches).",
        SPEC,
        short="-m",
        choices=METHODS,
        absent=_NO_FORM,
    ),
    Option(
        "runs",
        "count",
        None,
        "Model runs at most (the budget); none: until another stop.",
        SPEC,
        minimum=1,
        absent=_NO_FORM,
    ),
    Option(
        "replicates",
        "count",
        None,
        "Runs per particle or trial, their distances averaged (none: 1 for abc, "
        "3 for optimize).",
        SPEC,
        minimum=1,
        absent=_NO_FORM,
    ),
    Option(
        "population",
        "count",
        200,
        "abc: accepted particles per generation.",
        SPEC,
        minimum=10,
        absent=_NO_FORM,
    ),
    Option(
        "generations",
        "count",
        10,
        "abc: generations at most (the first samples the priors).",
        SPEC,
        minimum=1,
        absent=_NO_FORM,
    ),
    Option(
        "quantile",
        "fraction",
        0.5,
        "abc: each generation's tolerance is this weighted quantile of the last "
        "generation's distances.",
        SPEC,
        absent=_NO_FORM,
    ),
    Option(
        "min_tolerance",
        "number",
        0.0,
        "abc: stop after a generation whose tolerance is this small.",
        SPEC,
        absent=_NO_FORM,
    ),
    Option(
        "min_acceptance",
        "fraction",
        0.02,
        "abc: stop after a generation that accepted fewer than this share of its runs.",
        SPEC,
        absent=_NO_FORM,
    ),
    Option(
        "trials",
        "count",
        100,
        "optimize: parameter sets tried at most.",
        SPEC,
        minimum=1,
        absent=_NO_FORM,
    ),
    Option(
        "batch",
        "count",
        8,
        "optimize: trials run at once (asked together, told together).",
        SPEC,
        minimum=1,
        absent=_NO_FORM,
    ),
    Option(
        "sampler",
        "choice",
        "tpe",
        "optimize: Optuna's sampler (tpe, cmaes or random).",
        SPEC,
        choices=SAMPLERS,
        absent=_NO_FORM,
    ),
    Option(
        "summaries",
        "object",
        None,
        "f(model table of one run) -> {name: value} for every observed name "
        "(none: the observed reporters' final values or series).",
        SPEC,
        absent={CELL: _CODE_ONLY, CONFIG: _CODE_ONLY, FILE: _CODE_ONLY, **_NO_FORM},
    ),
    Option(
        "distance",
        "object",
        None,
        "f(simulated, observed) -> float on {name: value} dicts (none: the "
        "Euclidean distance of summaries scaled by their spread).",
        SPEC,
        absent={CELL: _CODE_ONLY, CONFIG: _CODE_ONLY, FILE: _CODE_ONLY, **_NO_FORM},
    ),
)

# An experiment file holds a calibration's own options in its [calibrate] table.
OWN = tuple(dataclasses.replace(o, file_key=f"calibrate.{o.name}") for o in OWN)

#: Sweep options a calibration takes as they are.
SHARED_NAMES = (
    "max_steps",
    "until",
    "timeout",
    "scenario",
    "seed",
    "processes",
    "executor",
    "store",
    "force",
    "background",
    "cancel",
)
SHARED: tuple[Option, ...] = tuple(BY_NAME[name] for name in SHARED_NAMES)
#: Sweep options a calibration takes with its own default or help.
ADAPTED: tuple[Option, ...] = (
    dataclasses.replace(
        BY_NAME["on_progress"],
        help="Called with a mesa_nb.calibration.CalibrationProgress at the start "
        "and as each run finishes.",
    ),
    dataclasses.replace(
        BY_NAME["output"],
        default="cal",
        help="The name the calibration is bound to in the notebook.",
    ),
    dataclasses.replace(
        BY_NAME["quiet"],
        help="No progress bar (a calibration shows one unless on_progress is given).",
        absent={k: v for k, v in BY_NAME["quiet"].absent.items() if k != CODE},
    ),
)
CALIBRATION_OPTIONS: tuple[Option, ...] = (*OWN, *SHARED, *ADAPTED)
BY_CALIBRATION_NAME: Mapping[str, Option] = MappingProxyType(
    {o.name: o for o in CALIBRATION_OPTIONS}
)
#: Options that decide what a calibration is (recorded; a store resumes only
#: the same): the calibration's own and the sweep options of stage spec.
DEFINING = tuple(o.name for o in CALIBRATION_OPTIONS if o.stage == SPEC)


def calibration_option(name: str) -> Option:
    """The calibration option ``name``, or an error naming the closest."""
    try:
        return BY_CALIBRATION_NAME[name]
    except KeyError:
        close = difflib.get_close_matches(name, BY_CALIBRATION_NAME, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise SweepOptionError(
            f"There is no calibration option {name!r}.{hint} Options: "
            f"{', '.join(BY_CALIBRATION_NAME)}.",
            field=name,
        ) from None


class CalibrationOptions(SweepOptions):
    """Every calibration option, checked (build with :meth:`of`)."""

    declaration: ClassVar[tuple[Option, ...]] = CALIBRATION_OPTIONS
    find: ClassVar[Callable[[str], Option]] = staticmethod(calibration_option)

    @property
    def replicates_per_point(self) -> int:
        """Replicates: as given, else 1 (abc) or 3 (optimize)."""
        if self.replicates is not None:
            return int(self.replicates)
        return 1 if self.method == ABC else 3

    def defining(self) -> dict[str, Any]:
        """The options that decide the calibration's runs, as plain data
        (functions by name: a store records that one was given)."""
        out: dict[str, Any] = {}
        for name in DEFINING:
            value = self.values[name]
            if callable(value):
                value = f"{getattr(value, '__module__', '?')}:" + getattr(
                    value, "__qualname__", type(value).__name__
                )
            elif isinstance(value, type):
                value = f"{value.__module__}:{value.__qualname__}"
            out[name] = value
        return out

    def given(self, stages: Iterable[str] = (SPEC, RUN, SHOW)) -> dict[str, Any]:
        """Options of ``stages`` that differ from their defaults."""
        wanted = {o.name for o in CALIBRATION_OPTIONS if o.stage in set(stages)}
        return {k: v for k, v in super().given().items() if k in wanted}


__all__ = [
    "ABC",
    "CALIBRATION_OPTIONS",
    "DEFINING",
    "METHODS",
    "OPTIMIZE",
    "OWN",
    "SHARED",
    "CalibrationOptions",
    "calibration_option",
]
