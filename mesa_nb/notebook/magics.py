"""``%load_ext mesa_nb``: the ``%%batchrun`` cell magic.

Thin by design: parse the options, read the cell into parameters, plan the
sweep once (a dry run shows that plan), run it, bind the result. Defaults
are traitlets, so ``%config BatchRun.processes = 2`` works like every
IPython setting.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)
from IPython.core.magic_arguments import argument
from IPython.display import display
from traitlets import TraitError, TraitType, observe
from traitlets.config import Configurable

from ..api import session
from ..api.engine import run_plan
from ..api.experiment import save_experiment
from ..api.live import LiveSweep
from ..api.progress import TqdmProgress, progress_bar
from ..api.reports import dry_run, outcome_report
from ..backends import start_workers
from ..core.designs import between, integers, one_of
from ..core.errors import MesaNbError
from ..core.options import CELL, CONFIG, KINDS, Option, SweepOptions, offered
from ..core.plan import model_parameter_names
from .cellparams import parse_parameter_cell
from .flags import option_flags, parse_line
from .model_help import model_help, options_help
from .names import executor_by_name, resolve_model, resolve_name


class OptionTrait(TraitType):
    """A ``%config BatchRun`` setting checked as the option it stands for."""

    def __init__(self, opt: Option) -> None:
        self.option = opt
        super().__init__(default_value=opt.default, allow_none=True, help=opt.help)
        self.info_text = KINDS[opt.kind]

    def validate(self, obj: Any, value: Any) -> Any:
        try:
            return self.option.check(value)
        except MesaNbError as exc:
            raise TraitError(f"BatchRun.{self.option.name}: {exc}") from None


#: The configurable defaults of the magic: one trait per option offered to
#: ``%config`` (``%config BatchRun.processes = 2``).
BatchRunSettings = type(
    "BatchRunSettings",
    (Configurable,),
    {
        "__doc__": "The %%batchrun options' defaults, set with %config BatchRun.X.",
        **{o.name: OptionTrait(o).tag(config=True) for o in offered(CONFIG)},
    },
)


#: ``%%batchrun``'s arguments: MODEL, the options offered to cells, then
#: ``--save`` and ``--dry-run``.
with_option_flags = option_flags(
    offered(CELL),
    (
        argument(
            "--save",
            metavar="FILE",
            help="Also write the experiment file (TOML) that reruns this sweep "
            "headless: mesa-nb run FILE.",
        ),
        argument(
            "-n",
            "--dry-run",
            action="store_true",
            help="Show the planned runs and parameter table; run nothing.",
        ),
    ),
)


@magics_class
class BatchRun(Magics, BatchRunSettings):
    """Run a Mesa parameter sweep from a cell. Options' defaults are configurable."""

    def __init__(self, shell: Any) -> None:
        BatchRunSettings.__init__(self, config=shell.config)
        Magics.__init__(self, shell=shell)  # registers self in shell.configurables
        self._start_workers(self.processes)

    @observe("processes")
    def _processes_changed(self, change: Any) -> None:
        self._start_workers(change["new"])

    @staticmethod
    def _start_workers(processes: int | None) -> None:
        """With ``BatchRun.processes`` above 1, workers start now, in the
        background: the first sweep does not wait for them to import Mesa."""
        if processes is None or processes > 1:
            with contextlib.suppress(MesaNbError):  # a bad value is told at run
                start_workers(processes)

    def _parse(self, line: str) -> Any:
        """The options of ``line``, or a UsageError naming what is wrong."""
        return parse_line(self.batchrun.parser, line, "batchrun")

    def options(self, args: Any) -> SweepOptions:
        """The sweep's options: the cell's flags over the ``%config`` defaults,
        names (``--scenario``, ``--client``) looked up in the notebook."""
        namespace = self.shell.user_ns
        values = {o.name: getattr(self, o.name) for o in offered(CONFIG)}
        given = vars(args)  # a flag not written is not there (SUPPRESS)
        values.update({o.name: given[o.name] for o in offered(CELL) if o.name in given})
        if isinstance(values.get("scenario"), str):
            values["scenario"] = resolve_name(
                values["scenario"], namespace, what="scenario class"
            )
        if isinstance(values.get("executor"), str):
            values["executor"] = executor_by_name(values["executor"], namespace)
        return SweepOptions.of(**values)

    @with_option_flags
    @no_var_expand
    @line_cell_magic
    def batchrun(self, line: str, cell: str | None = None) -> Any:
        """Sweep MODEL over the parameters assigned in the cell body.

        Each top-level assignment in the cell is one parameter: a single
        value is constant, a list / range / array is swept (full factorial),
        ``lambda rng: ...`` is drawn once per run, ``between(0, 1)``,
        ``integers(1, 5)``, ``one_of('a', 'b')`` are sampled by ``--design``.
        Names from earlier cells can be used; names starting with ``_`` are
        helpers. The line is taken as written: ``{...}`` and ``$name`` are
        not expanded.

        Example::

            %%batchrun BoltzmannWealth --iterations 5 --max-steps 100 -p 2
            n = range(10, 101, 10)
            width = height = 10

        The result (a SweepResult) is bound to ``results`` (or ``--out``)
        with ``.runs``, ``.model``, ``.agents`` and ``.plot`` helpers.

        As a line magic, ``%batchrun MODEL`` lists the model's parameters and
        the options; ``%%batchrun?`` shows this help.
        """
        if cell is None:
            return self._line_help(line)
        args = self._parse(line)
        namespace = self.shell.user_ns
        try:
            model_cls = resolve_model(args.model, namespace)
            options = self.options(args)
        except MesaNbError as exc:
            raise UsageError(str(exc)) from None
        if options.executor is None:
            self._start_workers(options.processes)
        try:
            parameters = parse_parameter_cell(
                cell, namespace, model_parameter_names(model_cls)
            )
            prepared = session.prepare(session.spec_of(model_cls, parameters, options))
            if args.save:
                path = save_experiment(args.save, prepared)
                print(f"Saved {path}: run it headless with `mesa-nb run {path}`.")
            if args.dry_run:
                text, points = dry_run(prepared.plan)
                print(text)
                display(points)
                return None
            if options.background:
                return self._background(prepared)
            with progress_bar(not options.quiet) as bar:
                result = session.run(prepared, on_progress=bar)
                if bar is not None:
                    bar.finish(failed=bool(result.n_failed or result.interrupted))
        except MesaNbError as exc:
            raise UsageError(str(exc)) from None
        namespace[options.output] = result
        report = outcome_report(result, options.output, summary=False)
        if report:
            print(report)
        return result

    def _line_help(self, line: str) -> None:
        """``%batchrun``: how to use it; ``%batchrun MODEL``: its parameters."""
        name = line.strip()
        if not name:
            print(
                "%%batchrun MODEL [options] runs a sweep of MODEL over the "
                "parameters assigned in the cell; %batchrun MODEL lists MODEL's "
                "parameters.\n"
            )
            print("\n".join(options_help(self)))
            return
        try:
            model_cls = resolve_model(name.split()[0], self.shell.user_ns)
        except MesaNbError as exc:
            raise UsageError(str(exc)) from None
        print(model_help(model_cls, name.split()[0], self))

    def _background(self, prepared: session.Prepared) -> LiveSweep:
        """Start the sweep on a thread; bind the live sweep at once."""
        options = prepared.options
        bar = None if options.quiet else TqdmProgress()
        if bar is not None:
            bar.start(prepared.plan.n_runs)  # in this cell's output, now

        def run(**kwargs: Any) -> Any:
            try:
                result = run_plan(
                    prepared.plan, options.replace(on_progress=bar), **kwargs
                )
                if bar is not None:
                    bar.finish(failed=bool(result.n_failed or result.interrupted))
                return result
            finally:
                if bar is not None:
                    bar.close()

        live = LiveSweep(prepared.plan, run)
        output = options.output
        self.shell.user_ns[output] = live
        runs = f"{prepared.plan.n_runs} runs"
        if prepared.plan.rule is not None:
            runs += " (a first round; more until precise)"
        print(
            f"Running {runs} in the background: {output}.model "
            f"(and the other tables, plots) show the runs finished so far; "
            f"{output}.wait() gives the final result, {output}.cancel() stops it."
        )
        return live

    @line_magic
    def batchrun_form(self, line: str) -> None:
        """Show a widget form to pick and run a sweep of MODEL.

        Example::

            %batchrun_form BoltzmannWealth

        Run options default to the ``%config BatchRun.*`` values.
        """
        from .form_state import config_options
        from .form_view import SweepForm

        name = line.strip()
        if not name:
            raise UsageError("Give the model: %batchrun_form MODEL")
        namespace = self.shell.user_ns
        try:
            model_cls = resolve_model(name, namespace)
        except MesaNbError as exc:
            raise UsageError(str(exc)) from None
        display(
            SweepForm(
                model_cls,
                namespace=namespace,
                model_name=name,
                options=config_options(self.shell),
            )
        )


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics (``%load_ext mesa_nb``: ``%%batchrun`` and
    ``%%calibrate``), live plots, and the range helpers of ``--design`` and
    calibration cells (``between``, ``integers``, ``one_of``)."""
    from . import calibrate_magic, live  # noqa: F401  (live registers result.live)

    for helper in (between, integers, one_of):
        ipython.user_ns.setdefault(helper.__name__, helper)
    ipython.set_custom_exc((MesaNbError,), _show_error)
    ipython.register_magics(BatchRun)
    calibrate_magic.register(ipython)


def _show_error(
    shell: Any, etype: type, value: BaseException, tb: Any, **_: Any
) -> None:
    """A mesa_nb error in a cell (``results.stats("label")``, ...): its one
    line, which names the fix, not a traceback through mesa_nb."""
    print(f"{etype.__name__}: {value}", file=sys.stderr)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics (``%unload_ext mesa_nb``)."""
    ipython.magics_manager.registry.pop("BatchRun", None)
    ipython.magics_manager.magics["cell"].pop("batchrun", None)
    ipython.magics_manager.magics["line"].pop("batchrun", None)
    ipython.magics_manager.magics["line"].pop("batchrun_form", None)
    from . import calibrate_magic

    calibrate_magic.unregister(ipython)
    ipython.set_custom_exc((), None)
    ipython.configurables[:] = [
        c for c in ipython.configurables if not isinstance(c, BatchRun)
    ]
