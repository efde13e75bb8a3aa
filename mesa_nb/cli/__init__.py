"""``mesa-nb``: run experiment files headless, and look into stores.

::

    mesa-nb run EXP.toml [--set key=value ...]   run (or resume) into the store
    mesa-nb dry-run EXP.toml                      the planned runs, nothing run
    mesa-nb status STORE                          done / failed / pending / total,
                                                  and where the runs came from
                                                  (a calibration: its result so far)
    mesa-nb export STORE --to DIR [--format csv|parquet] [--overwrite]
    mesa-nb compact STORE                         merge small parts

Exit codes of ``run``: 0 every run ok, 1 some runs failed (a summary is
printed), 130 stopped by Ctrl-C and 143 stopped by SIGTERM (finished runs
kept in the store either way), 2 bad input, 3 the store could not keep every
finished run (the message says why). Every command says what is wrong with
its input in one line and exits 2.

An experiment file with a ``[calibrate]`` table is a calibration
(:mod:`mesa_nb.calibration.experiment`): ``run`` runs it (or resumes it from
its store) and prints its result, exit 0 once it has ended (failed runs are
rejected particles, counted in the text) and 130 / 143 when stopped (finished
batches are kept: run it again to resume).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from ..api import compact, load_store, session
from ..api.experiment import ExperimentError, load_experiment
from ..api.progress import TqdmProgress
from ..api.reports import dry_run, outcome_report, precision_note
from ..calibration.api import CalibrationBar, load_calibration
from ..calibration.api import run as run_calibration
from ..calibration.experiment import (
    describe,
    is_calibration,
    load_calibration_experiment,
    read_settings,
)
from ..calibration.options import BY_CALIBRATION_NAME
from ..calibration.record import DEFINITION
from ..core.errors import MesaNbError
from ..core.options import FILE, offered

#: Exit codes of a command stopped by Ctrl-C (SIGINT) and by SIGTERM.
STOPPED, TERMINATED = 130, 128 + signal.SIGTERM


class CommandError(MesaNbError, ValueError):
    """What a command was asked cannot be done (one line, exit 2)."""


class _Parser(argparse.ArgumentParser):
    """Says what is wrong with the command line in one line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mesa-nb",
        description="Run Mesa parameter sweeps and calibrations from experiment "
        "files, headless.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run an experiment file (resumes when its store has runs)",
        description="Run the sweep of an experiment file into its store (or its "
        "calibration, with a [calibrate] table); run it again to resume. Exit 0: "
        "all ok (a calibration: it ended); 1: some runs failed; 2: bad input; "
        "130 / 143: stopped by Ctrl-C / SIGTERM (finished runs are kept).",
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
                help=f"{opt.help} (file key: {opt.file_key})".replace("%", "%%"),
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
    export.add_argument(
        "--overwrite", action="store_true", help="replace files already in the folder"
    )
    return parser


def _switches(args: argparse.Namespace) -> dict[str, Any]:
    """The file's switches given on the command line."""
    return {
        o.name: getattr(args, o.name)
        for o in offered(FILE)
        if o.kind == "flag" and getattr(args, o.name, None) is not None
    }


def _run(args: argparse.Namespace) -> int:
    if is_calibration(read_settings(args.experiment, args.set)):
        return _run_calibration(args)
    experiment = load_experiment(args.experiment, args.set)
    prepared = session.prepare(experiment.spec)
    print(f"store: {experiment.spec.options.store}", file=sys.stderr)
    bar = None if args.quiet else TqdmProgress(file=sys.stderr)
    try:
        result = session.run(prepared, on_progress=bar, **_switches(args))
    finally:
        if bar is not None:
            bar.close()
    print(outcome_report(result, "the store"))
    if result.metadata.get("store_error") or (
        result.n_cancelled and not result.interrupted
    ):
        return STORE_FAILED
    if result.interrupted:
        return 130
    return 1 if result.n_failed else 0


#: ``run``'s exit code when runs finished but could not all be stored.
STORE_FAILED = 3


def _calibration_switches(args: argparse.Namespace) -> dict[str, Any]:
    """The file's switches given on the command line, as calibration options
    (a switch a calibration does not take is refused)."""
    switches = _switches(args)
    for name in switches:
        if name not in BY_CALIBRATION_NAME:
            flag = next(o.flag for o in offered(FILE) if o.name == name)
            raise CommandError(
                f"{flag} is a sweep's switch, not a calibration's: leave it out."
            )
    return switches


def _run_calibration(args: argparse.Namespace) -> int:
    """Run (or resume) the calibration of an experiment file; print its text."""
    experiment = load_calibration_experiment(args.experiment, args.set)
    spec = experiment.spec
    options = spec.options.replace(quiet=args.quiet, **_calibration_switches(args))
    spec = type(spec)(spec.model, spec.priors, spec.observed, spec.parameters, options)
    print(f"store: {options.store}", file=sys.stderr)
    from tqdm import tqdm  # a text bar, on stderr

    bar = CalibrationBar(tqdm_cls=functools.partial(tqdm, file=sys.stderr))
    try:
        cal = run_calibration(spec, bar=bar)
    except KeyboardInterrupt:  # between two batches: what the store holds
        bar.close()
        with contextlib.suppress(MesaNbError, OSError):
            print(load_calibration(options.store).text())
        raise
    print(cal.text())
    return STOPPED if cal.interrupted else 0


def _dry_run(args: argparse.Namespace) -> int:
    if is_calibration(read_settings(args.experiment, args.set)):
        experiment = load_calibration_experiment(args.experiment, args.set)
        print(describe(experiment.spec))
        return 0
    experiment = load_experiment(args.experiment, args.set)
    text, points = dry_run(session.prepare(experiment.spec).plan, shown=10)
    print(f"{text}\nstore: {experiment.spec.options.store or '(none: nothing kept)'}")
    print(points.to_string(index=False))
    return 0


def _status(args: argparse.Namespace) -> int:
    if (Path(args.store) / DEFINITION).is_file():
        print(f"{args.store}: {load_calibration(args.store).text()}")
        return 0
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
    iterations = f"{meta['iterations']} iterations"
    if meta.get("precision") is not None:
        iterations = f"up to {iterations} (auto)"
    print(
        f"  {meta['model_module']}.{meta['model']}: {meta['n_points']} points x "
        f"{iterations}, max_steps {meta['max_steps']}, "
        f"parameters {', '.join(meta['parameters'])}"
    )
    precision = meta.get("precision")
    if precision is not None:
        print(f"  iterations='auto': {precision_note(precision, 'load_store(STORE)')}")
    for line in _provenance_lines(meta.get("provenance")):
        print(f"  {line}")
    return 0


_VERSION_NAMES = {
    "mesa": "Mesa",
    "mesa_nb": "mesa_nb",
    "numpy": "numpy",
    "pandas": "pandas",
    "python": "Python",
}


def _provenance_lines(provenance: dict[str, Any] | None) -> list[str]:
    """Where a store's runs came from, in a few lines."""
    if not provenance:
        return ["provenance: none recorded (a store written before mesa_nb kept it)"]
    versions = provenance.get("versions") or {}
    shown = ", ".join(
        f"{label} {versions[key]}"
        for key, label in _VERSION_NAMES.items()
        if key in versions
    )
    git = provenance.get("git")
    if git:
        dirty = {True: " with uncommitted changes", False: ""}.get(git.get("dirty"), "")
        source = f"git commit {str(git.get('commit'))[:12]}{dirty} in {git.get('root')}"
    else:
        source = "git: none (the model's file is in no git work tree)"
    ended = provenance.get("ended_at") or "not yet (running, or killed)"
    sweeps = len(provenance.get("earlier_sweeps") or ()) + 1
    return [
        f"code: sha256 {str(provenance.get('code_sha256'))[:16]}; {source}",
        f"versions: {shown}; {provenance.get('platform')}",
        f"last of {sweeps} sweep(s): started {provenance.get('started_at')}, "
        f"ended {ended}",
    ]


def _file_name(name: str) -> str:
    """A table's name as a file name (no folders, no odd characters)."""
    return re.sub(r"[^\w.-]", "_", name)


def _export(args: argparse.Namespace) -> int:
    folder = Path(args.to)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(
            f"--to {args.to} is a file: give a folder to export into."
        )
    result = load_store(args.store)
    tables = {"runs": result.runs, "model": result.model}
    for name in ("agents", "agenttypes"):
        if not getattr(result, name).empty:
            tables[name] = getattr(result, name)
    tables.update({f"table-{k}": v for k, v in result.tables.items()})
    tables.update({f"dataset-{k}": v for k, v in result.datasets.items()})
    targets = {folder / f"{_file_name(n)}.{args.format}": f for n, f in tables.items()}
    provenance = folder / "provenance.json"
    there = [p.name for p in (*targets, provenance) if p.exists()]
    if there and not args.overwrite:
        raise FileExistsError(
            f"{args.to} already holds {', '.join(there)}: pass --overwrite to "
            "replace them, or export to another folder."
        )
    parquet = _parquet_tables(targets) if args.format == "parquet" else {}
    folder.mkdir(parents=True, exist_ok=True)
    for target, frame in targets.items():
        if parquet:
            import pyarrow.parquet as pq

            pq.write_table(parquet[target], target)
        else:
            frame.to_csv(target, index=False)
        print(f"wrote {target} ({len(frame)} rows)")
    record = {
        "store": str(Path(args.store).resolve()),
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
        "provenance": result.metadata.get("provenance"),
    }
    provenance.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"wrote {provenance}")
    return 0


def _parquet_tables(targets: dict[Path, Any]) -> dict[Path, Any]:
    """Every table as Arrow before any file is written: a column Parquet
    cannot hold (values of mixed types) is refused, naming it."""
    import pyarrow as pa

    tables = {}
    for target, frame in targets.items():
        try:
            tables[target] = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            why = exc.args[1] if len(exc.args) > 1 else exc
            raise CommandError(
                f"{target.name}: Parquet cannot hold it ({_one_line(why)}); "
                "export with --format csv."
            ) from None
    return tables


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


@contextmanager
def _terminate_as_interrupt() -> Iterator[list[int]]:
    """Let SIGTERM stop a command as Ctrl-C does; yields the SIGTERMs received.

    The signal is handed to the SIGINT handler in force, so where Ctrl-C is
    held while finished runs are put away (:func:`~mesa_nb.core.interrupts.
    deferred`), SIGTERM is held too; otherwise it raises KeyboardInterrupt in
    the main thread.
    """
    received: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        received.append(signum)
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:  # SIGINT ignored (a background job) or left to the default
            raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: SIGTERM keeps its handler
        yield received
        return
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """The ``mesa-nb`` command; returns its exit code."""
    args = _parser().parse_args(argv)
    with _terminate_as_interrupt() as terminated:
        try:
            code = COMMANDS[args.command](args)
        except (ExperimentError, MesaNbError, OSError) as exc:
            print(f"mesa-nb: {_one_line(exc)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            code = STOPPED
        if code != STOPPED:
            return code
        where = "; finished runs are in the store" if args.command == "run" else ""
        print(f"mesa-nb: stopped{where}.", file=sys.stderr)
        return TERMINATED if terminated else STOPPED


def _one_line(message: object) -> str:
    return " ".join(str(message).split()) or type(message).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
