"""``%%calibrate MODEL``: fit a model's parameters to observed data from a cell.

::

    %%calibrate SIR --population 200 --generations 8 --max-steps 60 -p 4
    beta = between(0.1, 1.0)       # a range or a scipy.stats distribution: a prior
    gamma = stats.uniform(0.05, 0.5)
    population = 1000              # any other value: held fixed
    observed = curve               # required: {reporter: value} or a DataFrame
                                   # with Step and reporter columns

The flags are derived from :data:`mesa_nb.calibration.CALIBRATION_OPTIONS`
(the options a cell offers); the sweep options a calibration shares with
``%%batchrun`` take their ``%config BatchRun.<name>`` defaults. The result, a
:class:`~mesa_nb.calibration.Calibration` (with ``--background`` a
:class:`~mesa_nb.calibration.LiveCalibration`, its line kept up to date), is
bound to ``cal`` (or ``--out``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument

from ..calibration.api import CalibrationBar
from ..calibration.api import run as run_calibration
from ..calibration.experiment import save_calibration_experiment
from ..calibration.live import LiveCalibration
from ..calibration.options import CALIBRATION_OPTIONS
from ..calibration.spec import CalibrationSpec
from ..core.designs import Range
from ..core.errors import MesaNbError
from ..core.options import (
    BY_NAME,
    CELL,
    CONFIG,
    FILE,
    FRONT_ENDS,
    Option,
    spelling,
)
from ..core.plan import model_parameter_names
from .cellparams import CellError, parse_parameter_cell
from .flags import option_flags, parse_line
from .names import executor_by_name, resolve_model, resolve_name

#: The name of the cell's observed data (required; not a model parameter).
OBSERVED = "observed"

#: Options whose default is the ``%config BatchRun`` setting: the sweep options
#: a calibration shares, with the sweep's default (not ``--out``: "cal").
CONFIGURED = tuple(
    o.name
    for o in CALIBRATION_OPTIONS
    if o.offered(CONFIG) and o.name in BY_NAME and o.default == BY_NAME[o.name].default
)

calibrate_flags = option_flags(
    CALIBRATION_OPTIONS,
    (
        argument(
            "--save",
            metavar="FILE",
            help="Also write the experiment file (TOML) that reruns this "
            "calibration headless: mesa-nb run FILE (an observed series is "
            "written beside it as CSV).",
        ),
    ),
)


def is_prior(value: Any) -> bool:
    """Whether a cell's value is a prior: a range (``between``, ``integers``,
    ``one_of``) or a frozen ``scipy.stats`` distribution."""
    if isinstance(value, Range):
        return True
    dist = getattr(value, "dist", None)
    if dist is None or not hasattr(value, "rvs"):
        return False
    from scipy import stats

    return isinstance(dist, stats.rv_continuous | stats.rv_discrete)


def split_cell(values: Mapping[str, Any]) -> tuple[dict, Any, dict]:
    """``(priors, observed, fixed)`` of a cell's assignments, or a
    :class:`CellError` naming what is missing."""
    if OBSERVED not in values:
        raise CellError(
            "The cell gives no observed data: add `observed = {'Reporter': value}` "
            "(final values) or `observed = frame` (a DataFrame with a Step column "
            "and one column per reporter)."
        )
    priors = {k: v for k, v in values.items() if k != OBSERVED and is_prior(v)}
    if not priors:
        raise CellError(
            "The cell gives no prior: assign each parameter to calibrate a range "
            "or a distribution, e.g. `beta = between(0.1, 1.0)` or "
            "`gamma = stats.norm(0.2, 0.05)`; other assignments are held fixed."
        )
    fixed = {k: v for k, v in values.items() if k != OBSERVED and k not in priors}
    return priors, values[OBSERVED], fixed


@magics_class
class Calibrate(Magics):
    """``%%calibrate MODEL [flags]``: a calibration from a cell."""

    def _settings(self) -> Any:
        """The ``%%batchrun`` magics, whose ``%config`` values are defaults."""
        return self.shell.magics_manager.registry.get("BatchRun")

    def options(self, args: Any) -> dict[str, Any]:
        """The calibration's options: the cell's flags over the ``%config
        BatchRun`` defaults, names (``--scenario``, ``--client``) looked up in
        the notebook."""
        namespace = self.shell.user_ns
        settings = self._settings()
        values = {
            name: getattr(settings, name)
            for name in CONFIGURED
            if settings is not None and hasattr(settings, name)
        }
        given = vars(args)  # a flag not written is not there (SUPPRESS)
        values.update(
            {o.name: given[o.name] for o in CALIBRATION_OPTIONS if o.name in given}
        )
        if isinstance(values.get("scenario"), str):
            values["scenario"] = resolve_name(
                values["scenario"], namespace, what="scenario class"
            )
        if isinstance(values.get("executor"), str):
            values["executor"] = executor_by_name(values["executor"], namespace)
        return values

    def spec(self, line: str, cell: str) -> tuple[CalibrationSpec, Any]:
        """The calibration a cell describes, and its parsed line."""
        args = parse_line(self.calibrate.parser, line, "calibrate")
        namespace = self.shell.user_ns
        model_cls = resolve_model(args.model, namespace)
        options = self.options(args)
        values = parse_parameter_cell(cell, namespace, model_parameter_names(model_cls))
        priors, observed, fixed = split_cell(values)
        return CalibrationSpec.of(model_cls, priors, observed, fixed, **options), args

    @calibrate_flags
    @no_var_expand
    @cell_magic
    def calibrate(self, line: str, cell: str) -> Any:
        """Calibrate MODEL: fit the parameters given priors in the cell to its
        ``observed`` data (ABC-SMC, or ``--method optimize``).

        In the cell body, each top-level assignment whose value is a range
        (``between(0, 1)``, ``integers(1, 5)``, ``one_of('a', 'b')``) or a
        frozen ``scipy.stats`` distribution is a prior; ``observed = ...``
        (required) is the data: ``{reporter: value}`` (final values) or a
        DataFrame with a Step column and reporter columns (a series); any other
        assignment is held fixed. Names from earlier cells can be used; names
        starting with ``_`` are helpers. The line is taken as written.

        Example::

            %%calibrate NormalMean --population 200 --generations 8 --seed 1
            mu = between(-5, 5)
            observed = {"Mean": 1.3}

        The result (a Calibration: ``.posterior``, ``.summary()``, ``.best``,
        ``.history``, ``.plot``, ``.sweep()``) is bound to ``cal`` (or
        ``--out``); with ``--background``, a LiveCalibration (``.wait()``,
        ``.cancel()``, ``.snapshot()``, ``.live('history')``).
        """
        try:
            spec, args = self.spec(line, cell)
            if args.save:
                path = save_calibration_experiment(args.save, spec)
                print(f"Saved {path}: run it headless with `mesa-nb run {path}`.")
            if spec.options.background:
                return self._background(spec)
            cal = run_calibration(spec, bar=notebook_bar())
        except MesaNbError as exc:
            raise UsageError(str(exc)) from None
        name = spec.options.output
        self.shell.user_ns[name] = cal
        print(cal.text())
        print(f"(bound to {name}: {hint(name, spec)})")
        return None

    def _background(self, spec: CalibrationSpec) -> LiveCalibration:
        """Start the calibration on a thread (it is checked first, in this
        cell) and bind it at once."""
        bar = None if spec.options.quiet else notebook_bar(start=spec)
        try:
            live = run_calibration(spec, bar=bar)
        except BaseException:
            if bar is not None and bar.bar is not None:
                bar.bar.leave = False  # a refused calibration leaves no bar
            if bar is not None:
                bar.close()
            raise
        name = spec.options.output
        self.shell.user_ns[name] = live
        print(
            f"Calibrating in the background: {name}.snapshot() is the result so "
            f"far, {name}.live('history') a plot redrawn as generations end, "
            f"{name}.wait() the final result, {name}.cancel() stops it."
        )
        return live


def notebook_bar(start: CalibrationSpec | None = None) -> CalibrationBar:
    """A ``tqdm.notebook`` bar of a calibration; with ``start``, shown now (a
    background calibration's first event comes from its thread, and must not
    decide where the bar appears)."""
    from tqdm.notebook import tqdm

    bar = CalibrationBar(tqdm_cls=tqdm)
    if start is not None:
        bar.start(start.options.runs)
    return bar


def hint(name: str, spec: CalibrationSpec) -> str:
    """What to read on the result, by method."""
    if spec.options.method == "abc":
        return (
            f"{name}.posterior, {name}.summary(), {name}.plot.posterior(), "
            f"{name}.sweep()"
        )
    return f"{name}.best, {name}.trials, {name}.plot.history(), {name}.sweep()"


def _config_spelling(opt: Option) -> str:
    if opt.name in CONFIGURED:
        return f"`BatchRun.{opt.name}`"
    if opt.offered(CONFIG):
        return f"— (the calibration's own default, {opt.default!r})"
    return spelling(opt, CONFIG)


def options_table() -> str:
    """The calibration options as a Markdown table: default, help, the
    ``%%calibrate`` flag, the ``%config`` default and the experiment-file key.
    docs/magic.md holds this table (a test keeps them equal)."""
    head = [
        "option",
        "default",
        "what it does",
        "%%calibrate flag",
        FRONT_ENDS[CONFIG],
        FRONT_ENDS[FILE],
    ]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for opt in CALIBRATION_OPTIONS:
        default = "—" if opt.default is None else f"`{opt.default!r}`"
        cells = [f"`{opt.name}`", default, opt.help.replace("|", "\\|")]
        cells += [spelling(opt, CELL), _config_spelling(opt), spelling(opt, FILE)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def register(ipython: Any) -> None:
    """Register ``%%calibrate`` and the live display of a LiveCalibration."""
    from .live import show_live_calibration

    ipython.register_magics(Calibrate)
    formatter = ipython.display_formatter.ipython_display_formatter
    formatter.for_type(LiveCalibration, show_live_calibration)


def unregister(ipython: Any) -> None:
    """Remove what :func:`register` added."""
    ipython.magics_manager.registry.pop("Calibrate", None)
    ipython.magics_manager.magics["cell"].pop("calibrate", None)
    formatter = ipython.display_formatter.ipython_display_formatter
    formatter.type_printers.pop(LiveCalibration, None)


__all__ = [
    "Calibrate",
    "is_prior",
    "options_table",
    "register",
    "split_cell",
    "unregister",
]
