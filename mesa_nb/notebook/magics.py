"""``%load_ext mesa_nb``: the ``%%batchrun`` cell magic.

Thin by design: parse the options, read the cell into parameters, plan the
sweep once (a dry run shows that plan), run it, bind the result. Defaults
are traitlets, so ``%config BatchRun.processes = 2`` works like every
IPython setting.
"""

from __future__ import annotations

import builtins
import contextlib
import difflib
import keyword
import shlex
import sys
from typing import Any

import pandas as pd
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from traitlets import Bool, Int, Unicode, observe
from traitlets.config import Configurable

from ..api import plan, run_plan
from ..api.experiment import save_experiment
from ..api.live import LiveSweep
from ..api.progress import TqdmProgress, progress_bar
from ..backends import start_workers
from ..core.designs import DESIGNS, Range, between, integers, make_design, one_of
from ..core.errors import MesaNbError
from ..core.parameters import Sampler
from ..core.plan import SweepPlan, model_parameter_names
from ..core.result import describe_outcome
from .cellparams import parse_parameter_cell
from .names import executor_by_name, resolve_model, resolve_name


def _processes(value: str) -> int | None:
    if value == "all":
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise UsageError(
            f"--processes takes a number of processes, 1 or more, or 'all' (every "
            f"core), not {value!r}."
        )
    return number


@magics_class
class BatchRun(Magics, Configurable):
    """Run a Mesa parameter sweep from a cell. Options' defaults are configurable."""

    processes = Int(1, help="Worker processes (1 = in the kernel).").tag(config=True)
    iterations = Int(1, help="Replicates of every parameter point.").tag(config=True)
    max_steps = Int(1000, help="Steps per run at most.").tag(config=True)
    data_collection_period = Int(
        -1, help="-1: last record only; n: every n-th step and the last."
    ).tag(config=True)
    output = Unicode("results", help="Name the result is bound to.").tag(config=True)
    quiet = Bool(False, help="No progress bar.").tag(config=True)

    def __init__(self, shell: Any) -> None:
        Configurable.__init__(self, config=shell.config)
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
        """The options of ``line``, split as a shell splits them (so quoted
        paths with spaces work), or a UsageError naming what is wrong."""
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"Cannot read the options ({exc}): {line!r}.") from None
        try:
            return self.batchrun.parser.parse_args(argv)
        except UsageError as exc:
            raise UsageError(self._suggest(str(exc))) from None
        except SystemExit:  # pragma: no cover - argparse's own exit
            raise UsageError(f"Bad options: {line!r}. See %%batchrun?") from None

    def _suggest(self, message: str) -> str:
        """An argparse complaint, with the options closest to a mistyped one."""
        if "unrecognized arguments:" not in message:
            return message
        known = [
            option
            for action in self.batchrun.parser._actions
            for option in action.option_strings
            if option.startswith("--")
        ]
        typed = message.split("unrecognized arguments:")[1].split()
        hints = []
        for word in typed:
            close = difflib.get_close_matches(word.split("=")[0], known, n=1)
            if close:
                hints.append(f"{word}: did you mean {close[0]}?")
        return message + (" " + " ".join(hints) if hints else "") + " See %batchrun?"

    def _save(
        self, args: Any, model_cls: type, parameters: Any, execution: dict
    ) -> None:
        """``--save FILE``: the experiment file that reruns this cell headless."""
        definition = self._definition(args)
        client = args.client if args.client and "://" in args.client else None
        options = {
            "max_steps": definition["max_steps"],
            "iterations": definition["iterations"],
            "seed": definition["seed"],
            "data_collection_period": definition["data_collection_period"],
            "until": definition["until"],
            "timeout": definition["timeout"],
            "processes": "all"
            if execution["processes"] is None
            else execution["processes"],
            "store": definition["store"],
            "client": client,
        }
        path = save_experiment(args.save, model_cls, parameters, options)
        print(f"Saved {path}: run it headless with `mesa-nb run {path}`.")

    @staticmethod
    def _design(args: Any, parameters: dict[str, Any]) -> Any:
        """With ``--design``, the cell's ranges become a design of its points."""
        ranges = {n: v for n, v in parameters.items() if isinstance(v, Range)}
        if args.design is None:
            if ranges:
                names = ", ".join(ranges)
                raise UsageError(
                    f"{names}: a range needs a design to sample it, e.g. --design "
                    f"lhs --samples 100 (or sobol, morris, halton, sobol_sequence)."
                )
            return parameters
        if not ranges:
            raise UsageError(
                f"--design {args.design}: give the sampled parameters as ranges in "
                "the cell, e.g. x = between(0.1, 0.9), k = integers(1, 5), "
                "kind = one_of('a', 'b')."
            )
        constants = {n: v for n, v in parameters.items() if n not in ranges}
        return make_design(args.design, ranges, args.samples, args.seed, constants)

    def _definition(self, args: Any) -> dict[str, Any]:
        """What the sweep is: the options that :func:`mesa_nb.api.plan` takes."""

        def given(value: Any, default: Any) -> Any:
            return default if value is None else value

        return {
            "iterations": given(args.iterations, self.iterations),
            "max_steps": given(args.max_steps, self.max_steps),
            "data_collection_period": given(args.period, self.data_collection_period),
            "seed": args.seed,
            "store": args.store,
            "scenario": self._scenario(args.scenario),
            "until": args.until,
            "timeout": args.timeout,
        }

    def _scenario(self, name: str | None) -> Any:
        if name is None:
            return None
        try:
            return resolve_name(name, self.shell.user_ns, what="scenario class")
        except MesaNbError as exc:
            raise UsageError(f"--scenario: {exc}") from None

    def _execution(self, args: Any) -> dict[str, Any]:
        """Where it runs: the options :func:`mesa_nb.api.run_plan` adds."""
        executor = None
        if args.client is not None:
            try:
                executor = executor_by_name(args.client, self.shell.user_ns)
            except MesaNbError as exc:
                raise UsageError(f"--client: {exc}") from None
        processes = self.processes if args.processes is None else args.processes
        return {
            "processes": processes,
            "executor": executor,
            "store": args.store,
            "retry_failed": args.retry_failed,
            "force": args.force,
            "in_memory": not args.no_memory,
        }

    @magic_arguments()
    @argument(
        "model",
        help="The Mesa model class: a name from the notebook or "
        "an importable path such as mesa_nb.examples.BoltzmannWealth.",
    )
    @argument(
        "-i",
        "--iterations",
        type=int,
        help="Replicates of every point (default: BatchRun.iterations).",
    )
    @argument("-s", "--max-steps", type=int, help="Steps per run at most.")
    @argument(
        "-c",
        "--collect-every",
        dest="period",
        type=int,
        help="Keep records every N steps (and the last); -1 = last only.",
    )
    @argument(
        "-p",
        "--processes",
        type=_processes,
        help="Worker processes, or 'all' (default: BatchRun.processes).",
    )
    @argument("--seed", type=int, help="Master seed: one seed is derived per run.")
    @argument(
        "--until",
        type=float,
        help="End each run at this model time (Mesa 3.5 event time, "
        "model.run_until) instead of after --max-steps steps.",
    )
    @argument(
        "--scenario",
        help="The Scenario class of a model that takes scenario= (Mesa 3.5), "
        "where it cannot be found from the model; the cell may then set its "
        "fields.",
    )
    @argument(
        "-o",
        "--out",
        help="Bind the result to this name (default: BatchRun.output = 'results').",
    )
    @argument(
        "--client",
        help="Run on Dask: the name of a distributed.Client (or any "
        "concurrent.futures executor) in the notebook, a scheduler address such as "
        "tcp://host:8786, or 'dask' for a local cluster of --processes workers.",
    )
    @argument(
        "--store",
        help="Write finished runs to this directory (Parquet) as "
        "they finish; run the same cell again to resume after a crash.",
    )
    @argument(
        "--design",
        choices=sorted(DESIGNS),
        help="Sample the ranges in the cell (x = between(0, 1), k = integers(1, "
        "5), kind = one_of('a', 'b')) with this design instead of a grid.",
    )
    @argument(
        "--samples",
        type=int,
        help="Size of the design: n (lhs, halton, sobol_sequence: points; sobol: "
        "base samples) or trajectories (morris).",
    )
    @argument(
        "--no-memory",
        action="store_true",
        help="With --store: workers write the data into the store and the "
        "result reads it from there when asked (results.scan(table) queries "
        "it in place): for sweeps bigger than memory.",
    )
    @argument(
        "--save",
        metavar="FILE",
        help="Also write the experiment file (TOML) that reruns this sweep "
        "headless: mesa-nb run FILE.",
    )
    @argument(
        "--background",
        action="store_true",
        help="Return at once and run the sweep in the background: the result "
        "name holds the runs finished so far; .wait() gives the final result.",
    )
    @argument(
        "--timeout",
        type=float,
        help="Seconds a run may take; a longer run is stopped and recorded "
        "with status 'timeout'.",
    )
    @argument(
        "--retry-failed",
        action="store_true",
        help="With --store: run the stored sweep's failed and crashed runs again.",
    )
    @argument(
        "--force",
        action="store_true",
        help="With --store: resume even though the model's code changed.",
    )
    @argument("-q", "--quiet", action="store_true", help="No progress bar.")
    @argument(
        "-n",
        "--dry-run",
        action="store_true",
        help="Show the planned runs and parameter table; run nothing.",
    )
    @line_cell_magic
    def batchrun(self, line: str, cell: str | None = None) -> Any:
        """Sweep MODEL over the parameters assigned in the cell body.

        Each top-level assignment in the cell is one parameter: a single
        value is constant, a list / range / array is swept (full factorial),
        ``lambda rng: ...`` is drawn once per run. Names from earlier cells
        can be used; names starting with ``_`` are helpers.

        Example::

            %%batchrun BoltzmannWealth --iterations 5 --max-steps 100 -p 2
            n = range(10, 101, 10)
            width = height = 10

        The result (a SweepResult) is bound to ``results`` (or ``--out``)
        with ``.runs``, ``.model``, ``.agents`` and ``.plot`` helpers.

        As a line magic (``%batchrun``), it prints this help.
        """
        if cell is None:
            print(self.batchrun.__doc__)
            self.batchrun.parser.print_help()
            return None
        args = self._parse(line)
        namespace = self.shell.user_ns
        try:
            model_cls = resolve_model(args.model, namespace)
        except MesaNbError as exc:
            raise UsageError(str(exc)) from None
        output = args.out or self.output
        check_output_name(output, "--out")
        execution = self._execution(args)
        if execution["executor"] is None:
            self._start_workers(execution["processes"])
        try:
            parameters = parse_parameter_cell(
                cell, namespace, model_parameter_names(model_cls)
            )
            parameters = self._design(args, parameters)
            if args.save:
                self._save(args, model_cls, parameters, execution)
            the_plan = plan(model_cls, parameters, **self._definition(args))
            if args.dry_run:
                return self._dry_run(the_plan)
            quiet = args.quiet or self.quiet
            if args.background:
                return self._background(the_plan, execution, output, quiet)
            with progress_bar(not quiet) as bar:
                result = run_plan(the_plan, on_progress=bar, **execution)
                if bar is not None:
                    bar.finish(failed=bool(result.n_failed or result.interrupted))
        except MesaNbError as exc:
            raise UsageError(str(exc)) from None
        namespace[output] = result
        for line in describe_outcome(result, output):
            print(line)
        return result

    def _background(
        self, the_plan: SweepPlan, execution: dict[str, Any], output: str, quiet: bool
    ) -> LiveSweep:
        """Start the sweep on a thread; bind the live sweep at once."""
        bar = None if quiet else TqdmProgress()
        if bar is not None:
            bar.start(the_plan.n_runs)  # in this cell's output, now

        def run(**kwargs: Any) -> Any:
            try:
                result = run_plan(the_plan, on_progress=bar, **execution, **kwargs)
                if bar is not None:
                    bar.finish(failed=bool(result.n_failed or result.interrupted))
                return result
            finally:
                if bar is not None:
                    bar.close()

        live = LiveSweep(the_plan, run)
        self.shell.user_ns[output] = live
        print(
            f"Running {the_plan.n_runs} runs in the background: {output}.model (and "
            f"the other tables, plots) show the runs finished so far; "
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

    def _dry_run(self, the_plan: SweepPlan, shown: int = 20) -> None:
        points = pd.DataFrame(
            [
                {
                    k: "<drawn per run>" if isinstance(v, Sampler) else v
                    for k, v in point.items()
                }
                for point in the_plan.space.points[:shown]
            ],
            columns=list(the_plan.space.names),
        )
        more = len(the_plan.space) - len(points)
        print(
            f"Dry run: {the_plan.n_runs:,} runs of "
            f"{the_plan.settings.model_cls.__name__} = {len(the_plan.space):,} "
            f"parameter points x {the_plan.iterations} iterations, up to "
            f"{the_plan.settings.max_steps} steps each. Nothing was run."
            + (f" The first {len(points)} points:" if more > 0 else "")
        )
        display(points)


def check_output_name(name: str, option: str) -> None:
    """Refuse a result name that is not a Python name, or that would hide a
    keyword or a builtin (``print``, ``None``)."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise UsageError(f"{option} must be a Python name, not {name!r}.")
    if hasattr(builtins, name):
        raise UsageError(
            f"{option} {name}: that would hide Python's built-in {name!r}; "
            "choose another name, e.g. results."
        )


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics (``%load_ext mesa_nb``), live plots, and the range
    helpers of ``--design`` cells (``between``, ``integers``, ``one_of``)."""
    from . import live  # noqa: F401  (registers result.live)

    for helper in (between, integers, one_of):
        ipython.user_ns.setdefault(helper.__name__, helper)
    ipython.set_custom_exc((MesaNbError,), _show_error)
    ipython.register_magics(BatchRun)


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
    ipython.set_custom_exc((), None)
    ipython.configurables[:] = [
        c for c in ipython.configurables if not isinstance(c, BatchRun)
    ]
