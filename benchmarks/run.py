"""Run the reference sweeps through every tool and write the report.

From the repository root::

    python -m benchmarks.run                 # full run, writes docs/performance.md
    python -m benchmarks.run --quick         # smoke run (< 60 s), prints only
    python -m benchmarks.run --only 1,5 --repeats 5 --output /tmp/perf.md
    python -m benchmarks.run --tools mesa:1,nb-br,in-one --repeats 5 --json b.json
    python -m benchmarks.run --from-json a.json b.json   # one report of both

Every measurement runs in a fresh subprocess (:mod:`benchmarks.measure`)
watched by a :class:`~benchmarks.monitor.TreeSampler`. The exit status is
non-zero only if a measurement crashed or timed out, never for a missed target.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import psutil

from .cases import TOOLS, Case, Variant, build_cases
from .monitor import MiB, TreeSampler
from .report import COMMANDS_JOINED_BY, Result, machine_info, render, source_digest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "docs" / "performance.md"
_print_lock = threading.Lock()


def log(message: str) -> None:
    """Progress line on stderr (the report goes to stdout)."""
    with _print_lock:
        print(message, file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark mesa_nb against a plain loop and mesa.batch_run.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sweeps, 1 repeat, 2 measurements at a time; writes no file "
        "unless --output is given",
    )
    parser.add_argument("--repeats", type=int, help="repeats (default 3, quick 1)")
    parser.add_argument("--only", help="comma-separated sweep numbers, e.g. 1,5")
    parser.add_argument(
        "--tools",
        help="comma-separated tools, each optionally at a number of processes, "
        "e.g. mesa:1,nb-br,in-one (default: each sweep's own; tools: "
        f"{', '.join(TOOLS)})",
    )
    parser.add_argument(
        "--output", type=Path, help=f"markdown file (default {DEFAULT_OUTPUT})"
    )
    parser.add_argument("--json", type=Path, help="also save the raw measurements")
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        help="no measuring: rebuild the report from files saved with --json "
        "(several: their measurements together, medians over all repeats)",
    )
    parser.add_argument(
        "--jobs", type=int, help="measurements at once (default 1, quick 2)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds per measurement (default 1800, quick 180)",
    )
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.jobs = args.jobs or (2 if args.quick else 1)
    args.timeout = args.timeout or (180.0 if args.quick else 1800.0)
    if args.repeats < 1 or args.jobs < 1:
        parser.error("--repeats and --jobs must be at least 1")
    return args


def select_cases(cases: list[Case], only: str | None) -> list[Case]:
    """The cases named by ``--only`` (all when None)."""
    if not only:
        return cases
    wanted = {int(part) for part in only.split(",") if part.strip()}
    unknown = wanted - {c.number for c in cases}
    if unknown:
        raise SystemExit(f"--only: no sweep numbered {sorted(unknown)}")
    return [c for c in cases if c.number in wanted]


def select_tools(cases: list[Case], tools: str | None) -> list[Case]:
    """The cases with only the variants ``--tools`` names (all when None): a
    tool (``mesa``), or a tool at a number of processes (``mesa:1``); a case
    left with none is dropped."""
    if not tools:
        return cases
    wanted = []
    for part in filter(None, (p.strip() for p in tools.split(","))):
        tool, _, processes = part.partition(":")
        if tool not in TOOLS or not (processes or "1").isdigit():
            known = ", ".join(TOOLS)
            raise SystemExit(f"--tools: unknown {part!r}; tools: {known}")
        wanted.append((tool, int(processes) if processes else None))

    def chosen(v: Variant) -> bool:
        return any(v.tool == t and n in (None, v.processes) for t, n in wanted)

    kept = [
        replace(case, variants=tuple(filter(chosen, case.variants))) for case in cases
    ]
    return [case for case in kept if case.variants]


def schedule(cases: list[Case], repeats: int) -> list[tuple[int, Case, Variant]]:
    """Repeat-major order, tools rotated per repeat, so drift hits all alike."""
    plan = []
    for repeat in range(repeats):
        for case in cases:
            shift = repeat % len(case.variants)
            for variant in case.variants[shift:] + case.variants[:shift]:
                plan.append((repeat, case, variant))
    return plan


def snapshot_sources(dest: Path) -> Path:
    """Copy ``benchmarks`` and the installed ``mesa_nb`` package into ``dest``.

    Measurements run with ``dest`` as their working directory, so every one of
    them imports the same mesa_nb, even while the working tree is being edited.
    """
    spec = importlib.util.find_spec("mesa_nb")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("mesa_nb is not installed: pip install -e .")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    package = Path(next(iter(spec.submodule_search_locations)))
    shutil.copytree(package, dest / "mesa_nb", ignore=ignore)
    shutil.copytree(ROOT / "benchmarks", dest / "benchmarks", ignore=ignore)
    return dest


def _kill_tree(process: subprocess.Popen) -> None:
    """Kill a measurement that ran out of time, and the workers it started."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        children = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    process.kill()
    process.wait()


def _command(case: Case, variant: Variant, quick: bool, out: Path) -> list[str]:
    command = [sys.executable, "-m", "benchmarks.measure", "--case", str(case.number)]
    command += ["--tool", variant.tool, "--processes", str(variant.processes)]
    command += ["--out", str(out)] + (["--quick"] if quick else [])
    return command


def measure(
    case: Case, variant: Variant, repeat: int, quick: bool, timeout: float, tmp: Path
) -> Result:
    """Run one measurement in a fresh subprocess and watch its memory.

    ``tmp`` holds the source snapshot (the subprocess's working directory) and
    receives the measurement's JSON and log in ``tmp/out``.
    """
    stem = f"sweep{case.number}-{variant.tool}{variant.processes}-r{repeat}"
    out, log_path = tmp / "out" / f"{stem}.json", tmp / "out" / f"{stem}.log"
    result = Result(case.number, variant, repeat)
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            _command(case, variant, quick, out),
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        with TreeSampler(process.pid) as sampler:
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_tree(process)
                result.error = f"timed out after {timeout:.0f} s"
                return result
    if code != 0 or not out.exists():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        result.error = f"exit code {code}: " + " / ".join(tail)
        return result
    result.data = json.loads(out.read_text())
    start, end = result.data["t_start"], result.data["t_end"]
    peak = sampler.peak(start, end)
    if peak is not None:
        result.peak_rss, result.peak_anon = peak.rss, peak.anon
    result.tree_cpu = sampler.cpu_between(start, end)
    return result


def _describe(index: int, total: int, result: Result) -> str:
    head = f"[{index}/{total}] sweep {result.case} {result.variant.label}"
    if result.error or result.data is None:
        return f"{head}: FAILED {result.error}"
    rss = f"{result.peak_rss / MiB:.0f} MiB" if result.peak_rss else "?"
    return f"{head}: {result.data['wall']:.2f} s, peak tree RSS {rss}"


def run_all(
    plan: list[tuple[int, Case, Variant]], args: argparse.Namespace, tmp: Path
) -> list[Result]:
    """Every planned measurement, ``args.jobs`` at a time, in plan order."""
    done = 0

    def one(item: tuple[int, Case, Variant]) -> Result:
        nonlocal done
        repeat, case, variant = item
        result = measure(case, variant, repeat, args.quick, args.timeout, tmp)
        with _print_lock:
            done += 1
            index = done
        log(_describe(index, len(plan), result))
        return result

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        return list(pool.map(one, plan))


def save_raw(path: Path, meta: dict[str, Any], results: list[Result]) -> None:
    """Write the run's facts and every measurement as JSON (see ``--from-json``)."""
    raw = {**meta, "results": [asdict(r) for r in results]}
    path.write_text(json.dumps(raw, indent=1, default=str))


def load_raw(path: Path) -> tuple[dict[str, Any], list[Result]]:
    """Read what :func:`save_raw` wrote."""
    raw = json.loads(path.read_text())
    results = []
    for item in raw.pop("results"):
        item["variant"] = Variant(**item["variant"])
        results.append(Result(**item))
    return raw, results


def merge_raw(paths: Sequence[Path]) -> tuple[dict[str, Any], list[Result]]:
    """The measurements of several saved runs as one: each run's repeats
    numbered after the previous run's, the facts of the first run, the
    commands, repeats and times of all. Runs of a quick and a full benchmark
    do not mix."""
    meta, results = load_raw(paths[0])
    if len(paths) == 1:
        return meta, results
    commands, repeats = [meta["command"]], [str(meta["repeats"])]
    for path in paths[1:]:
        more, found = load_raw(path)
        if more["quick"] != meta["quick"]:
            raise SystemExit(f"--from-json: {path} is a quick run and another is not")
        offset = 1 + max((r.repeat for r in results), default=-1)
        results += [replace(r, repeat=r.repeat + offset) for r in found]
        commands.append(more["command"])
        repeats.append(str(more["repeats"]))
        meta["elapsed"] += more["elapsed"]
        if more["machine"].get("mesa_nb") != meta["machine"].get("mesa_nb"):
            meta["machine"]["mesa_nb"] += f"; then {more['machine'].get('mesa_nb')}"
    meta["command"] = COMMANDS_JOINED_BY.join(commands)
    meta["repeats"] = " + ".join(repeats) + f" ({len(paths)} runs)"
    return meta, results


def measure_all(args: argparse.Namespace, cases: list[Case]) -> tuple[dict, list]:
    """Run every measurement; return the run's facts and the results."""
    plan = schedule(cases, args.repeats)
    command = "python -m benchmarks.run " + shlex.join(args.argv)
    log(f"{len(plan)} measurements, {args.jobs} at a time: {command.strip()}")
    machine = machine_info()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mesa_nb_bench_") as tmp:
        snapshot = snapshot_sources(Path(tmp))
        (snapshot / "out").mkdir()
        machine["mesa_nb"] += f" (source sha256 {source_digest(snapshot)})"
        results = run_all(plan, args, snapshot)
    if source_digest() not in machine["mesa_nb"]:
        machine["mesa_nb"] += ": a snapshot taken at the start (the tree changed since)"
        log("note: mesa_nb's source changed during the run (the snapshot was measured)")
    meta = {
        "command": command.strip(),
        "machine": machine,
        "repeats": args.repeats,
        "quick": args.quick,
        "elapsed": time.perf_counter() - started,
    }
    return meta, results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or re-read one); print the report, write it where asked."""
    args = parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.from_json is not None:
        meta, results = merge_raw(args.from_json)
        args.quick = meta["quick"]
    else:
        cases = select_cases(build_cases(args.quick), args.only)
        meta, results = measure_all(args, select_tools(cases, args.tools))
    numbers = {r.case for r in results}
    cases = [c for c in build_cases(meta["quick"]) if c.number in numbers]
    markdown = render(
        cases,
        results,
        machine=meta["machine"],
        command=meta["command"],
        repeats=meta["repeats"],
        quick=meta["quick"],
        elapsed=meta["elapsed"],
        loads=[r.data["extra"]["loadavg"] for r in results if r.data],
    )
    print(markdown)
    output = args.output or (None if args.quick else DEFAULT_OUTPUT)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(markdown)
        log(f"wrote {output}")
    if args.json is not None:
        save_raw(args.json, meta, results)
    failed = sum(r.error is not None for r in results)
    if failed:
        log(f"{failed} measurement(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
