"""What a calibration is, as one object written and read by the same code.

A :class:`CalibrationSpec` holds the model, the priors, the observed data,
the fixed parameters and the options. Its :meth:`~CalibrationSpec.to_dict`
is what a calibration's store records (and compares when resuming) and what
an experiment file's ``[calibrate]`` section holds; :meth:`from_dict` reads
both back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..core.errors import ParameterError, SweepOptionError
from ..core.options import SPEC
from ..core.spec import from_plain, model_reference, to_plain
from .observed import Observed, ObservedError
from .options import ABC, OPTIMIZE, CalibrationOptions, calibration_option
from .priors import Priors
from .record import FORMAT as CALIBRATION_FORMAT


@dataclass(frozen=True)
class CalibrationSpec:
    """A calibration: model, priors, observed data, fixed parameters, options."""

    model: Any
    priors: Priors
    observed: Observed
    parameters: Mapping[str, Any]
    options: CalibrationOptions

    @classmethod
    def of(
        cls,
        model: Any,
        priors: Any,
        observed: Any,
        parameters: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> CalibrationSpec:
        """Read and check every part (errors name the part and the fix)."""
        priors = priors if isinstance(priors, Priors) else Priors.of(priors)
        fixed = dict(parameters or {})
        both = sorted(set(fixed) & set(priors.names))
        if both:
            raise ParameterError(
                f"{', '.join(both)} has a prior and a fixed value: give it in "
                "one of priors (calibrated) or parameters (held fixed)."
            )
        observed = Observed.of(observed)
        checked = CalibrationOptions.of(**options)
        _check_names(priors.names, fixed, checked.method)
        _check_budget(checked)
        return cls(model, priors, observed, fixed, checked)

    @property
    def model_name(self) -> str:
        return model_reference(self.model)

    def to_dict(self, stages: tuple[str, ...] = (SPEC,)) -> dict[str, Any]:
        """Plain data (read back by :meth:`from_dict`): the options of
        ``stages`` that differ from their defaults and can be written."""
        options = {}
        for name, value in self.options.given(stages).items():
            if name == "scenario":
                value = model_reference(value)
            if callable(value) and not isinstance(value, type):
                continue  # a function: recorded by name in definition()
            if name == "store":
                value = str(value)
            options[name] = value
        document: dict[str, Any] = {
            "format": CALIBRATION_FORMAT,
            "model": self.model_name,
            "priors": self.priors.to_dict(),
            "observed": self.observed.to_dict(),
            "options": options,
        }
        if self.parameters:
            document["parameters"] = {
                n: to_plain(v) for n, v in self.parameters.items()
            }
        return document

    def definition(self, seed: int) -> dict[str, Any]:
        """What decides the runs, for a store to compare: the spec with every
        defining option (functions by their names) and the master seed."""
        document = self.to_dict()
        document["options"] = self.options.defining()
        document["options"]["seed"] = seed
        return document

    @classmethod
    def from_dict(
        cls,
        document: Mapping[str, Any],
        model: Any = None,
        resolve: Callable[[str, str], Any] | None = None,
        **options: Any,
    ) -> CalibrationSpec:
        """The spec of :meth:`to_dict`'s output; ``model`` (a class) wins over
        the written reference, ``options`` over the written options."""
        if document.get("format") != CALIBRATION_FORMAT:
            raise ParameterError(
                f"Not a calibration of format {CALIBRATION_FORMAT!r}: "
                f"{document.get('format')!r}."
            )
        resolve = resolve or (lambda reference, what: reference)
        if model is None:
            model = resolve(document["model"], "model")
        written = dict(document.get("options", {}))
        for name in written:
            calibration_option(name)  # an unknown key is refused by name
        if "scenario" in written:
            written["scenario"] = resolve(written["scenario"], "scenario")
        observed = document["observed"]
        if isinstance(observed, Mapping) and "series" in observed:
            observed = pd.DataFrame(observed["series"])
        elif isinstance(observed, Mapping) and "values" in observed:
            observed = dict(observed["values"])
        parameters = {
            n: from_plain(v, resolve)
            for n, v in dict(document.get("parameters", {})).items()
        }
        return cls.of(
            model,
            Priors.from_dict(document["priors"]),
            observed,
            parameters,
            **{**written, **options},
        )

    def to_file_dict(self) -> dict[str, Any]:
        """The spec as an experiment file's tables hold it (options of every
        stage but show)."""
        return self.to_dict(stages=(SPEC, "run"))


#: Columns a calibration's results add next to the parameters: the posterior
#: (abc), the trials (optimize) and the predictive runs (both).
RESULT_COLUMNS = {
    ABC: ("weight", "distance"),
    OPTIMIZE: ("trial", "batch", "value", "state"),
}
PREDICTIVE_COLUMNS = ("particle", "batch", "batch_run", "weight")


def _check_names(names: tuple[str, ...], fixed: Mapping[str, Any], method: str) -> None:
    """A parameter named as a column of the results would be overwritten there."""
    for name, taken in (
        *((n, (*RESULT_COLUMNS[method], *PREDICTIVE_COLUMNS)) for n in names),
        *((n, PREDICTIVE_COLUMNS) for n in fixed),
    ):
        if name in taken:
            raise ParameterError(
                f"Parameter {name!r} has the name of a column a calibration's "
                f"results add ({', '.join(dict.fromkeys(taken))}), which would "
                "overwrite its values there: rename the model's parameter.",
                field=name,
            )


def _check_budget(options: CalibrationOptions) -> None:
    """A ``runs`` budget too small for one generation (abc) or one trial
    (optimize) would make runs and end with nothing."""
    if options.runs is None:
        return
    per = options.replicates_per_point
    if options.method == ABC:
        least = options.population * per
        what = (
            f"the first generation: population={options.population} particles"
            + (f" x replicates={per}" if per > 1 else "")
            + f" = {least} runs (more if some fail)"
        )
        fix = "a smaller population="
    else:
        least = per
        what = f"one trial of replicates={per} runs"
        fix = "fewer replicates="
    if options.runs < least:
        raise SweepOptionError(
            f"runs={options.runs} is too small a budget for {what}: give "
            f"runs={least} or more, or {fix}.",
            field="runs",
        )


def check_steps(observed: Observed, options: CalibrationOptions) -> None:
    """Observed steps after ``max_steps`` would be compared with the runs' last
    values (a run has no values after max_steps)."""
    if observed.steps is None or options.until is not None or options.summaries:
        return
    later = [s for s in observed.steps if s > options.max_steps]
    if later:
        shown = ", ".join(map(str, later[:5])) + (", ..." if len(later) > 5 else "")
        raise ObservedError(
            f"The observed series has steps after max_steps={options.max_steps} "
            f"({shown}), where the runs have no values: give max_steps="
            f"{max(later)} or more, or leave those steps out of observed."
        )


__all__ = ["CALIBRATION_FORMAT", "CalibrationSpec", "check_steps"]
