"""``%load_ext mesa_nb``: the ``%%batchrun`` cell magic.

Thin by design: parse the options, read the cell into parameters, call
:func:`mesa_nb.sweep`, bind the result. Defaults are traitlets, so
``%config BatchRun.processes = 2`` works like every IPython setting.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import pandas as pd
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Bool, Int, Unicode
from traitlets.config import Configurable

from ._mesa import Model
from .cellparams import parse_parameter_cell
from .engine import sweep
from .errors import MesaNbError
from .executors import executor_by_name
from .parameters import Sampler
from .plan import plan_sweep
from .progress import progress_bar


def _processes(value: str) -> int | None:
    if value == "all":
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(
            f"--processes takes a number or 'all', not {value!r}."
        ) from None


def resolve_model(name: str, namespace: dict[str, Any]) -> type:
    """Find MODEL: a name in the notebook, an attribute path, or module.Class."""
    head, *rest = name.split(".")
    if head in namespace:
        obj = namespace[head]
        try:
            for part in rest:
                obj = getattr(obj, part)
        except AttributeError:
            pass
        else:
            return obj
    if rest:
        module_name, _, attr = name.rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            pass
    models = [
        k
        for k, v in namespace.items()
        if isinstance(v, type) and issubclass(v, Model) and v is not Model
    ]
    close = difflib.get_close_matches(name, models, n=1)
    hint = (
        f" Did you mean {close[0]}?"
        if close
        else (f" Models defined here: {', '.join(sorted(models))}." if models else "")
    )
    raise UsageError(
        f"No model named {name!r}: define the class in a cell above and run that "
        f"cell, or give an importable path like package.module.Class.{hint}"
    )


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

    def _options(self, args: Any) -> dict[str, Any]:
        def given(value: Any, default: Any) -> Any:
            return default if value is None else value

        return {
            "iterations": given(args.iterations, self.iterations),
            "max_steps": given(args.max_steps, self.max_steps),
            "data_collection_period": given(args.period, self.data_collection_period),
            "processes": given(args.processes, self.processes),
            "seed": args.seed,
            "store": args.store,
            "executor": self._executor(args.client),
        }

    def _executor(self, client: str | None) -> Any:
        if client is None:
            return None
        try:
            return executor_by_name(client, self.shell.user_ns)
        except MesaNbError as exc:
            raise UsageError(f"--client: {exc}") from None

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
    @argument("-q", "--quiet", action="store_true", help="No progress bar.")
    @argument(
        "-n",
        "--dry-run",
        action="store_true",
        help="Show the planned runs and parameter table; run nothing.",
    )
    @cell_magic
    def batchrun(self, line: str, cell: str) -> Any:
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
        """
        try:
            args = parse_argstring(self.batchrun, line)
        except UsageError:
            raise
        except SystemExit:  # pragma: no cover - argparse's own exit
            raise UsageError(f"Bad options: {line!r}. See %%batchrun?") from None
        namespace = self.shell.user_ns
        model_cls = resolve_model(args.model, namespace)
        options = self._options(args)
        output = args.out or self.output
        if not output.isidentifier():
            raise UsageError(f"--out must be a Python name, not {output!r}.")
        try:
            parameters = parse_parameter_cell(cell, namespace)
            if args.dry_run:
                return self._dry_run(model_cls, parameters, options)
            quiet = args.quiet or self.quiet
            with progress_bar(not quiet) as bar:
                result = sweep(model_cls, parameters, on_progress=bar, **options)
                if bar is not None:
                    bar.finish(failed=bool(result.n_failed or result.interrupted))
        except MesaNbError as exc:
            raise UsageError(str(exc)) from None
        namespace[output] = result
        if result.metadata["resumed_runs"]:
            print(
                f"Resumed from {args.store}: {result.metadata['resumed_runs']} runs "
                "were already stored; only the others ran."
            )
        if result.interrupted:
            print(
                f"Interrupted: kept {result.n_ok} finished runs in {output!r}; "
                f"{result.n_cancelled} runs were cancelled."
            )
        if result.n_failed:
            print(
                f"{result.n_failed} runs failed: see {output}.failures "
                "for their errors and tracebacks."
            )
        return result

    @line_magic
    def batchrun_form(self, line: str) -> None:
        """Show a widget form to pick and run a sweep of MODEL.

        Example::

            %batchrun_form BoltzmannWealth

        Run options default to the ``%config BatchRun.*`` values.
        """
        from .form_fields import config_options
        from .sweep_form import SweepForm

        name = line.strip()
        if not name:
            raise UsageError("Give the model: %batchrun_form MODEL")
        namespace = self.shell.user_ns
        model_cls = resolve_model(name, namespace)
        display(
            SweepForm(
                model_cls,
                namespace=namespace,
                model_name=name,
                options=config_options(self.shell),
            )
        )

    def _dry_run(self, model_cls: type, parameters: dict, options: dict) -> None:
        plan = plan_sweep(
            model_cls,
            parameters,
            iterations=options["iterations"],
            max_steps=options["max_steps"],
            data_collection_period=options["data_collection_period"],
            seed=options["seed"],
        )
        points = pd.DataFrame(
            [
                {
                    k: "<drawn per run>" if isinstance(v, Sampler) else v
                    for k, v in point.items()
                }
                for point in plan.space.points
            ],
            columns=list(plan.space.names),
        )
        print(
            f"Dry run: {len(plan.runs)} runs of {model_cls.__name__} = "
            f"{len(plan.space)} parameter points x {plan.iterations} iterations, "
            f"up to {options['max_steps']} steps each. Nothing was run."
        )
        display(points)


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics (``%load_ext mesa_nb``)."""
    ipython.register_magics(BatchRun)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics (``%unload_ext mesa_nb``)."""
    ipython.magics_manager.registry.pop("BatchRun", None)
    ipython.magics_manager.magics["cell"].pop("batchrun", None)
    ipython.magics_manager.magics["line"].pop("batchrun_form", None)
    ipython.configurables[:] = [
        c for c in ipython.configurables if not isinstance(c, BatchRun)
    ]
