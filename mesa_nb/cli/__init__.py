"""``mesa-nb``: run experiment files headless, and look into stores.

::

    mesa-nb run EXP.toml [--set key=value ...]   run (or resume) into the store
    mesa-nb dry-run EXP.toml                      the planned runs, nothing run
    mesa-nb status STORE                          done / failed / pending / total
    mesa-nb export STORE --to DIR [--format csv|parquet]
    mesa-nb compact STORE                         merge small parts

Exit codes of ``run``: 0 every run ok, 1 some runs failed (a summary is
printed), 130 stopped by Ctrl-C (finished runs kept), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..api import compact, load_store, session
from ..api.experiment import ExperimentError, load_experiment
from ..api.progress import TqdmProgress
from ..api.reports import dry_run, outcome_report
from ..core.errors import MesaNbError
from ..core.options import FILE, offered


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mesa-nb",
        description="Run Mesa parameter sweeps from experiment files, headless.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run an experiment file (resumes when its store has runs)",
        description="Run the sweep of an experiment file into its store; run it "
        "again to resume. Exit 0: all ok; 1: some runs failed; 130: stopped.",
    )
    run.add_argument("experiment", help="the experiment file (TOML)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key, e.g. --set seed=7 --set parameters.n=[10,20]",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    for opt in offered(FILE):  # the file's switches, also on the command line
        if opt.kind == "flag":
            run.add_argument(
                opt.flag,
                dest=opt.name,
                action="store_const",
                const=not opt.inverted,
                default=None,
                help=f"{opt.help} (file key: {opt.file_key})",
            )
    dry = commands.add_parser(
        "dry-run", help="show the planned runs of an experiment file; run nothing"
    )
    dry.add_argument("experiment", help="the experiment file (TOML)")
    dry.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    status = commands.add_parser("status", help="how far a store's sweep got")
    status.add_argument("store", help="the results store directory")
    compact = commands.add_parser(
        "compact", help="merge a store's small parts into one per table"
    )
    compact.add_argument("store", help="the results store directory")
    export = commands.add_parser("export", help="write a store's tables as files")
    export.add_argument("store", help="the results store directory")
    export.add_argument("--to", required=True, help="the folder to write into")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    return parser


def _switches(args: argparse.Namespace) -> dict[str, Any]:
    """The file's switches given on the command line."""
    return {
        o.name: getattr(args, o.name)
        for o in offered(FILE)
        if o.kind == "flag" and getattr(args, o.name, None) is not None
    }


def _run(args: argparse.Namespace) -> int:
    experiment = load_experiment(args.experiment, args.set)
    prepared = session.prepare(experiment.spec)
    bar = None if args.quiet else TqdmProgress(file=sys.stderr)
    try:
        result = session.run(prepared, on_progress=bar, **_switches(args))
    finally:
        if bar is not None:
            bar.close()
    print(outcome_report(result, "the store"))
    if result.interrupted:
        return 130
    return 1 if result.n_failed else 0


def _dry_run(args: argparse.Namespace) -> int:
    experiment = load_experiment(args.experiment, args.set)
    text, points = dry_run(session.prepare(experiment.spec).plan, shown=10)
    print(f"{text}\nstore: {experiment.spec.options.store or '(none: nothing kept)'}")
    print(points.to_string(index=False))
    return 0


def _status(args: argparse.Namespace) -> int:
    result = load_store(args.store)
    statuses = result.runs["status"].value_counts().to_dict()
    done = statuses.get("ok", 0)
    failed = sum(statuses.get(s, 0) for s in ("failed", "crashed", "timeout"))
    pending = statuses.get("pending", 0)
    print(
        f"{args.store}: {done} done, {failed} failed, {pending} pending, "
        f"{len(result.runs)} total"
    )
    meta = result.metadata
    print(
        f"  {meta['model_module']}.{meta['model']}: {meta['n_points']} points x "
        f"{meta['iterations']} iterations, max_steps {meta['max_steps']}, "
        f"parameters {', '.join(meta['parameters'])}"
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    result = load_store(args.store)
    folder = Path(args.to)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"runs": result.runs, "model": result.model}
    for name in ("agents", "agenttypes"):
        if not getattr(result, name).empty:
            tables[name] = getattr(result, name)
    tables.update({f"table-{k}": v for k, v in result.tables.items()})
    tables.update({f"dataset-{k}": v for k, v in result.datasets.items()})
    for name, frame in tables.items():
        target = folder / f"{name}.{args.format}"
        if args.format == "csv":
            frame.to_csv(target, index=False)
        else:
            frame.to_parquet(target, index=False)
        print(f"wrote {target} ({len(frame)} rows)")
    return 0


def _compact(args: argparse.Namespace) -> int:
    counts = compact(args.store)
    print(
        f"{args.store}: {counts['parts_before']} batches of parts merged into "
        f"{counts['parts_after']}."
    )
    return 0


COMMANDS = {
    "run": _run,
    "dry-run": _dry_run,
    "status": _status,
    "export": _export,
    "compact": _compact,
}


def main(argv: list[str] | None = None) -> int:
    """The ``mesa-nb`` command; returns its exit code."""
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ExperimentError, MesaNbError) as exc:
        print(f"mesa-nb: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mesa-nb: stopped; finished runs are in the store.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
