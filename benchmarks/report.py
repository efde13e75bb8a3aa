"""Summarise measurements into medians, ratios, targets and a markdown report."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import os
import platform
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from .cases import (
    FIRST_RUN,
    IN_ONE,
    MESA_1,
    NB_1,
    NB_2,
    NB_2_LOADED,
    NB_2_WARM,
    NB_BR_1,
    PLAIN,
    Case,
    Variant,
)

MiB = 1024 * 1024


@dataclass
class Result:
    """One measurement as seen by the parent: the child's JSON plus tree memory."""

    case: int
    variant: Variant
    repeat: int
    data: dict[str, Any] | None = None  # the child's Measurement, as a dict
    peak_rss: int | None = None  # whole tree, during the timed sweep call
    peak_anon: int | None = None
    tree_cpu: float | None = None  # CPU seconds of the whole tree, same window
    error: str | None = None


@dataclass
class Summary:
    """Medians over the repeats of one variant of one sweep."""

    variant: Variant
    n: int
    wall: float
    wall_min: float
    wall_max: float
    peak_rss: float | None
    peak_anon: float | None
    tree_cpu: float | None
    tables_bytes: float | None
    list_bytes: float | None
    runs: int
    steps: int
    run_time_sum: float | None
    first_record: float | None
    extra: dict[str, float]


@dataclass(frozen=True)
class Target:
    """A goal on one number: ``value <= limit`` (or ``>=``)."""

    sweep: int
    name: str
    value: float | None
    limit: float
    at_most: bool = True
    unit: str = ""
    cpu: float | None = None  # the same quantity from CPU time, if it applies

    @property
    def verdict(self) -> str:
        """PASS, MISS, or n/a when the number was not measured."""
        if self.value is None:
            return "n/a"
        ok = self.value <= self.limit if self.at_most else self.value >= self.limit
        return "PASS" if ok else "MISS"

    @property
    def off_by(self) -> str:
        """How far a missed target is from its limit, in percent of the limit."""
        if self.verdict != "MISS" or self.value is None:
            return ""
        return f"{abs(self.value / self.limit - 1) * 100:.0f}%"


# -- statistics --------------------------------------------------------------------
def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(results: Sequence[Result]) -> dict[tuple[int, Variant], Summary]:
    """Medians per (sweep, variant) over the successful repeats."""
    groups: dict[tuple[int, Variant], list[Result]] = {}
    for result in results:
        if result.data is not None:
            groups.setdefault((result.case, result.variant), []).append(result)
    return {key: _summary(key[1], group) for key, group in groups.items()}


def _summary(variant: Variant, group: list[Result]) -> Summary:
    data = [r.data for r in group if r.data is not None]
    walls = [d["wall"] for d in data]
    extra_keys = {k for d in data for k, v in d["extra"].items() if _is_number(v)}
    return Summary(
        variant=variant,
        n=len(data),
        wall=statistics.median(walls),
        wall_min=min(walls),
        wall_max=max(walls),
        peak_rss=_median(r.peak_rss for r in group),
        peak_anon=_median(r.peak_anon for r in group),
        tree_cpu=_median(r.tree_cpu for r in group),
        tables_bytes=_median(d["tables_bytes"] for d in data),
        list_bytes=_median(d["list_bytes"] for d in data),
        runs=data[0]["runs"],
        steps=data[0]["steps"],
        run_time_sum=_median(d["run_time_sum"] for d in data),
        first_record=_median(d["first_record"] for d in data),
        extra={k: _median(d["extra"].get(k) for d in data) for k in extra_keys},
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def ratio(a: Summary | None, b: Summary | None) -> float | None:
    """``a.wall / b.wall``, or None when either is missing."""
    return a.wall / b.wall if a and b else None


def _wall(result: Result) -> float | None:
    return result.data["wall"] if result.data else None


def _tree_cpu(result: Result) -> float | None:
    return result.tree_cpu


def paired_ratios(
    results: Sequence[Result],
    case: int,
    a: Variant,
    b: Variant,
    of: Callable[[Result], float | None] = _wall,
) -> list[float]:
    """``of(a) / of(b)`` (wall seconds by default) in every repeat that
    measured both, in repeat order. The two calls of a repeat ran minutes
    apart, so the machine's slow drifts cancel in each ratio; the ratio of
    the two tools' medians pairs calls that may be an hour apart."""
    values: dict[tuple[Variant, int], float] = {}
    for r in results:
        value = of(r) if r.case == case and r.data is not None else None
        if value:
            values[(r.variant, r.repeat)] = value
    repeats = sorted({repeat for _, repeat in values})
    return [
        values[(a, repeat)] / values[(b, repeat)]
        for repeat in repeats
        if (a, repeat) in values and (b, repeat) in values
    ]


def in_one_ratios(results: Sequence[Result], case: int) -> list[float]:
    """The one-process comparison's ratio (``in-one``) of every repeat."""
    found = sorted(
        (r.repeat, r.data["extra"]["ratio"])
        for r in results
        if r.case == case and r.variant == IN_ONE and r.data is not None
    )
    return [value for _, value in found]


def efficiency(plain: Summary | None, parallel: Summary | None) -> float | None:
    """Parallel efficiency: plain serial time / (processes x parallel time)."""
    if not plain or not parallel:
        return None
    return plain.wall / (parallel.variant.processes * parallel.wall)


def _cpu(s: Summary | None) -> float | None:
    return s.tree_cpu if s and s.tree_cpu else None


def cpu_ratio(a: Summary | None, b: Summary | None) -> float | None:
    """``a``'s tree CPU time / ``b``'s: a serial ratio that load hardly moves."""
    ca, cb = _cpu(a), _cpu(b)
    return ca / cb if ca and cb else None


def cpu_parallel_ratio(parallel: Summary | None, plain: Summary | None) -> float | None:
    """Parallel wall / plain wall on an idle machine with perfect balance.

    The tree's CPU time spread evenly over the processes, against the plain
    loop's CPU time: a lower bound of the wall ratio, free of other load.
    """
    cpar, cplain = _cpu(parallel), _cpu(plain)
    if not cpar or not cplain or parallel is None:
        return None
    return cpar / (parallel.variant.processes * cplain)


# -- targets ------------------------------------------------------------------------
def evaluate_targets(
    summaries: dict[tuple[int, Variant], Summary], results: Sequence[Result]
) -> list[Target]:
    """Every target, with the measured value (None if not run).

    ``cpu`` holds the same quantity computed from CPU time (see METHOD). The
    drop-in's ratios are medians of the repeats' ratios (``results``).
    """

    def get(case: int, variant: Variant) -> Summary | None:
        return summaries.get((case, variant))

    targets = []
    for case in (1, 2, 3, 4):
        nb, plain = get(case, NB_1), get(case, PLAIN)
        name = "serial overhead: mesa_nb x1 / plain"
        targets.append(
            Target(case, name, ratio(nb, plain), 1.03, cpu=cpu_ratio(nb, plain))
        )
    for variant, label in (
        (NB_2_WARM, "warm workers"),
        (NB_2_LOADED, "first sweep after %load_ext"),
        (NB_2, "cold start"),
    ):
        for case in (1, 2, 3, 4):
            nb, plain = get(case, variant), get(case, PLAIN)
            bound = cpu_parallel_ratio(nb, plain)
            name = f"2-process efficiency ({label}): plain / (2 x mesa_nb x2)"
            eff = efficiency(plain, nb)
            cpu_eff = 1 / (2 * bound) if bound else None
            targets.append(Target(case, name, eff, 0.92, at_most=False, cpu=cpu_eff))
    for case in (1, 2, 3, 4, 8):
        walls = paired_ratios(results, case, NB_BR_1, MESA_1)
        cpus = paired_ratios(results, case, NB_BR_1, MESA_1, of=_tree_cpu)
        targets.append(
            Target(
                case,
                "drop-in, fresh processes: mesa_nb.batch_run x1 / mesa.batch_run x1",
                _median(walls),
                1.0,
                cpu=_median(cpus),
            )
        )
        pair = get(case, IN_ONE)
        targets.append(
            Target(
                case,
                "drop-in, in one process: mesa_nb.batch_run x1 / mesa.batch_run x1",
                pair.extra.get("ratio") if pair else None,
                1.0,
                cpu=pair.extra.get("cpu_ratio") if pair else None,
            )
        )
    nb5, plain5 = get(5, NB_2), get(5, PLAIN)
    targets.append(
        Target(
            5,
            "mesa_nb x2 / plain",
            ratio(nb5, plain5),
            0.45,
            cpu=cpu_parallel_ratio(nb5, plain5),
        )
    )
    nb6, plain6 = get(6, NB_2), get(6, PLAIN)
    rss = nb6.peak_rss / MiB if nb6 and nb6.peak_rss else None
    anon = nb6.peak_anon / MiB if nb6 and nb6.peak_anon else None
    tables = nb6.tables_bytes / MiB if nb6 and nb6.tables_bytes else None
    targets += [
        Target(6, "mesa_nb x2 peak tree anon (private) memory", anon, 400, unit=" MiB"),
        Target(6, "mesa_nb x2 peak tree RSS", rss, 400, unit=" MiB"),
        Target(6, "mesa_nb x2 final tables", tables, 125, unit=" MiB"),
        Target(
            6,
            "mesa_nb x2 / plain",
            ratio(nb6, plain6),
            0.6,
            cpu=cpu_parallel_ratio(nb6, plain6),
        ),
    ]
    first = get(7, FIRST_RUN)
    latency = first.first_record if first else None
    targets.append(
        Target(7, "second sweep: call to first run", latency, 0.1, unit=" s")
    )
    return targets


# -- the machine ---------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def source_digest(root: Path | None = None) -> str:
    """Short sha256 of mesa_nb's ``*.py`` files, to tell which code was measured.

    ``root`` is a folder holding a ``mesa_nb`` copy; by default, the installed
    package. Other people edit mesa_nb while benchmarks run.
    """
    if root is not None:
        folders = [root / "mesa_nb"]
    else:
        spec = importlib.util.find_spec("mesa_nb")
        if spec is None or not spec.submodule_search_locations:
            return "unknown"
        folders = [Path(f) for f in spec.submodule_search_locations]
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            name = path.relative_to(folder).as_posix()
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def machine_info() -> dict[str, str]:
    """CPU, cores, RAM, OS and the versions that matter, for the report."""
    import psutil

    physical = psutil.cpu_count(logical=False)
    return {
        "CPU": _cpu_model(),
        "cores": f"{os.cpu_count()} logical, {physical or '?'} physical",
        "RAM": f"{psutil.virtual_memory().total / 1024**3:.1f} GiB",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "mesa": _version("mesa"),
        "mesa_nb": _version("mesa_nb"),
        "pandas / numpy / loky": " / ".join(
            _version(p) for p in ("pandas", "numpy", "loky")
        ),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# -- markdown --------------------------------------------------------------------------
def fmt_bytes(value: float | None) -> str:
    """``12.3 MiB`` (or KiB below 1 MiB); blank when unknown."""
    if value is None:
        return ""
    if value < MiB:
        return f"{value / 1024:.1f} KiB"
    return f"{value / MiB:.1f} MiB"


def fmt(value: float | None, spec: str = ".2f", unit: str = "") -> str:
    """Format a number, blank when unknown."""
    return "" if value is None else f"{value:{spec}}{unit}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def targets_table(targets: Sequence[Target]) -> list[str]:
    """The targets with their measured values and PASS / MISS."""
    rows = []
    for t in targets:
        limit = f"{'≤' if t.at_most else '≥'} {t.limit:g}{t.unit}"
        value = fmt(t.value, ".3f" if not t.unit else ".2f", t.unit)
        row = [str(t.sweep), t.name, value, limit, t.verdict, t.off_by]
        rows.append([*row, fmt(t.cpu, ".3f")])
    header = ["sweep", "target", "measured", "limit", "result", "off by", "on CPU time"]
    return _table(header, rows)


RESULT_HEADER = [
    "tool",
    "wall s: median (min-max)",
    "x plain",
    "efficiency",
    "tree CPU s",
    "CPU share",
    "peak tree RSS",
    "peak tree anon",
    "final tables",
    "list of dicts",
    "runs / steps",
    "Σ run time s",
    "1st run s",
]


def _result_row(s: Summary, plain: Summary | None) -> list[str]:
    spread = (
        f"{s.wall:.2f} ({s.wall_min:.2f}-{s.wall_max:.2f})"
        if s.n > 1
        else f"{s.wall:.2f}"
    )
    eff = efficiency(plain, s) if s.variant.processes > 1 else None
    share = s.tree_cpu / (s.variant.processes * s.wall) if s.tree_cpu else None
    return [
        s.variant.label,
        spread,
        fmt(ratio(s, plain)),
        fmt(eff),
        fmt(s.tree_cpu),
        fmt(share),
        fmt_bytes(s.peak_rss),
        fmt_bytes(s.peak_anon),
        fmt_bytes(s.tables_bytes),
        fmt_bytes(s.list_bytes),
        f"{s.runs} / {s.steps}",
        fmt(s.run_time_sum),
        fmt(s.first_record),
    ]


def results_section(
    cases: Sequence[Case],
    summaries: dict[tuple[int, Variant], Summary],
    results: Sequence[Result] = (),
) -> list[str]:
    """One table per sweep (sweep 7 gets its own small table); below it the
    drop-in's ratios repeat by repeat, when ``results`` has them."""
    lines: list[str] = []
    for case in cases:
        lines += ["", f"### {case.number}. {case.title}", "", f"{case.shape}."]
        if case.variants == (FIRST_RUN,):
            lines += ["", *_first_run_table(summaries.get((case.number, FIRST_RUN)))]
            continue
        plain = summaries.get((case.number, PLAIN))
        rows = [
            _result_row(summaries[(case.number, v)], plain)
            for v in case.variants
            if (case.number, v) in summaries and v != IN_ONE
        ]
        lines += ["", *_table(RESULT_HEADER, rows)]
        pair = summaries.get((case.number, IN_ONE))
        if pair is not None:
            lines += ["", *_in_one_table(pair)]
        lines += _drop_in_repeats(results, case.number, summaries)
    return lines


def _drop_in_repeats(
    results: Sequence[Result],
    case: int,
    summaries: dict[tuple[int, Variant], Summary],
) -> list[str]:
    """The drop-in's ratio in each repeat, fresh processes and in one (the
    fresh line also gives the ratio of the two tools' medians)."""
    of_medians = ratio(summaries.get((case, NB_BR_1)), summaries.get((case, MESA_1)))
    lines = []
    for what, ratios, more in (
        (
            "fresh processes",
            paired_ratios(results, case, NB_BR_1, MESA_1),
            f"; ratio of the medians {of_medians:.3f}" if of_medians else "",
        ),
        ("in one process", in_one_ratios(results, case), ""),
    ):
        if ratios:
            each = ", ".join(f"{r:.3f}" for r in ratios)
            median = statistics.median(ratios)
            lines.append(
                f"* mesa_nb.batch_run x1 / mesa.batch_run x1, {what}, repeat by "
                f"repeat: {each} (median {median:.3f}{more})"
            )
    return ["", *lines] if lines else []


def _in_one_table(s: Summary) -> list[str]:
    """The two drop-in calls taking turns in one interpreter (``in-one``)."""
    rows = [
        [
            what,
            fmt(s.extra.get(f"mesa_{key}"), ".2f"),
            fmt(s.extra.get(f"nb_{key}"), ".2f"),
            fmt(s.extra.get(ratio_key), ".3f"),
        ]
        for what, key, ratio_key in (
            ("wall s", "wall", "ratio"),
            ("CPU s", "cpu", "cpu_ratio"),
        )
    ]
    calls = int(s.extra.get("calls", 0))
    header = [
        f"in one process ({calls} calls in turns, rows kept), medians",
        "mesa.batch_run x1",
        "mesa_nb.batch_run x1",
        "mesa_nb / mesa",
    ]
    return _table(header, rows)


def _first_run_table(s: Summary | None) -> list[str]:
    if s is None:
        return ["(not measured)"]
    rows = [
        ["second sweep: call → first run record", fmt(s.first_record, ".3f", " s")],
        ["  of which the run itself", fmt(s.extra.get("first_run_time"), ".3f", " s")],
        [
            "first (cold) sweep: call → first run record",
            fmt(s.extra.get("cold_first_record"), ".3f", " s"),
        ],
        ["second sweep: whole sweep", fmt(s.wall, ".3f", " s")],
    ]
    return _table(["mesa_nb.sweep, processes=2", "median"], rows)


METHOD = """\
* Every measurement is a fresh `python -m benchmarks.measure` subprocess, so
  imports and worker pools never carry over. Only the sweep call is timed:
  interpreter start and imports are not, a worker pool's start-up is (a
  first sweep pays it: loky workers for mesa_nb, a spawn `Pool` for Mesa).
* Measurements are interleaved: each repeat runs every sweep and tool once,
  with the tools' order rotated between repeats; the tables show medians.
* The same models run everywhere: replicate `i` of every point is seeded
  `rng=1000+i` (mesa_nb `rng=[...]`; Mesa 3.3 gets the seeds as a first
  swept parameter `rng`, so its rows carry an extra `rng` key).
* **plain loop** (the reference of the targets): build with `rng`, `step()`
  until `max_steps` or `running` is False, read `get_model_vars_dataframe()`
  and `get_agent_vars_dataframe()`, keep the steps mesa_nb keeps, tag RunId,
  `pd.concat` at the end. It also drops Mesa 3.3's `Agent._ids[model]` (as
  mesa_nb does), which otherwise keeps every finished model alive. It is a
  lower bound for code that reads the collector through its public
  DataFrames, not the fastest possible loop: converting the whole agent
  history to a DataFrame costs ~11% of a 200-step Boltzmann run and most of
  a tiny run, which `mesa.batch_run` avoids by reading Mesa's private
  `_agent_records` for the kept steps only.
* **mesa.batch_run**: Mesa 3.3 steps while `steps <= max_steps`, one step
  more than asked, so it is given `max_steps - 1`: every tool runs the same
  number of steps (see the runs / steps column). Its workers use the
  start method a Mesa user gets, spawn (`import mesa` 3.3 forces it).
  `display_progress=False`. *final tables* is `pd.DataFrame(rows)`;
  *list of dicts* is the deep `sys.getsizeof` of the returned list (each
  shared object counted once).
* **mesa_nb.sweep**: `processes=1` runs in-process, `processes=2` on loky
  workers started by the call. *final tables* is `runs` + `model` + `agents`.
  While its runs go, mesa_nb raises the cyclic garbage collector's
  thresholds and freezes the heap that was there before
  (`mesa_nb/core/gc_tuning.py`), and it never asks a running model for its
  `__dict__` (on CPython 3.11+ that alone makes every attribute read in the
  model's code slower: 8-10% of a run of sweeps 3 and 4). The plain loop and
  `mesa.batch_run` run with CPython's default collector.
* **mesa_nb.batch_run** (the drop-in): Mesa's call with `rng=[...]` (which
  mesa_nb takes on Mesa 3.3 too) and `max_steps` as given (mesa_nb runs
  exactly `max_steps` steps on every Mesa); *final tables* and *list of
  dicts* as for `mesa.batch_run`. Its ratio to `mesa.batch_run x1` is
  measured twice: in fresh processes (the tables' medians) and **in one
  process**, the two calls taking turns (Mesa, mesa_nb, mesa_nb, Mesa), each
  call's rows kept until the same tool's next call, as a notebook keeps
  `results` (so every call runs with some 100 k to millions of rows of the
  other in memory, which the garbage collector walks). Both targets are
  medians of the repeats' ratios: fresh processes pair the two calls of the
  same repeat (minutes apart, so the host's slow drifts cancel in each
  pair), in one process each repeat's calls are its own pair. Under each
  sweep's table every repeat's ratio is listed, with the ratio of the two
  tools' medians beside.
* Sweep 8 is Mesa's batch-run tutorial as the tutorial writes it
  (`benchmarks/tutorial.py`: the Boltzmann wealth model on a `mesa.space`
  MultiGrid, `Gini`, `Wealth` and `Steps_not_given` collected every step),
  taking `rng=` instead of the deprecated `seed=`. On Mesa 3.3 its rows
  differ slightly in number: Mesa 3.3 reads the collector one step behind
  for a model that collects at the start of `step()` (Step 0 without
  agents, the last step's records missing); mesa_nb keeps the records the
  model took.
* *peak tree RSS*: the parent samples the RSS of the measuring process and
  all its descendants every 20 ms (children re-scanned every 200 ms) and
  keeps the peak during the sweep call. RSS counts shared libraries once per
  process; *peak tree anon* (RSS minus file-backed pages) does not.
* *tree CPU*: user + system CPU seconds of the whole tree during the call
  (from the same samples; exited workers keep their time). *CPU share* =
  tree CPU / (processes x wall): below 1, the tree waited for a core (other
  load) or sat idle. The targets' *on CPU time* column recomputes the time
  targets from CPU seconds, which other load hardly moves: serial overhead
  = CPU(mesa_nb x1) / CPU(plain); for 2 processes it assumes a perfectly
  balanced, otherwise idle machine (wall = tree CPU / 2), so it is the best
  the measured work allows: efficiency = CPU(plain) / CPU(tree), wall ratio
  = CPU(tree) / (2 x CPU(plain)).
* *x plain* = wall / plain loop wall; *efficiency* = plain wall /
  (processes x wall). *Σ run time* is the time spent inside runs, summed
  (plain loop and mesa_nb): for 2 processes, Σ run time / (2 x wall) is how
  busy the workers were. *1st run* is the time from the call to the first
  finished run (mesa_nb's progress callback).
"""


def noise_note(summaries: dict[tuple[int, Variant], Summary]) -> str:
    """A sentence on how noisy this run was: the widest max/min over repeats."""
    spreads = [s.wall_max / s.wall_min for s in summaries.values() if s.n > 1]
    widest = (
        f" (repeats of one measurement differed by up to {max(spreads):.1f}x)"
        if spreads
        else ""
    )
    return (
        "The machine has 2 cores (the load average during the measurements is "
        "in the Machine table); its timings are noisy"
        + widest
        + ", most of all for 2 processes: read medians and ratios, and the CPU "
        "columns, rather than single times."
    )


#: How a report of several saved runs lists their commands (run.merge_raw).
COMMANDS_JOINED_BY = "`, then `"


def render(
    cases: Sequence[Case],
    results: Sequence[Result],
    *,
    machine: dict[str, str],
    command: str,
    repeats: int | str,
    quick: bool,
    elapsed: float,
    loads: Sequence[float],
) -> str:
    """The whole markdown report."""
    summaries = summarise(results)
    failures = [r for r in results if r.error]
    info = dict(machine)
    info["load average (1 min) at each measurement"] = (
        f"median {statistics.median(loads):.2f}, max {max(loads):.2f}" if loads else "?"
    )
    info["repeats"] = f"{repeats} (medians shown)"
    info["benchmark wall time"] = f"{elapsed / 60:.1f} min"
    lines = [
        "# Performance",
        "",
        f"Generated by `{command}`. Re-run "
        + (
            "them (and merge them with `--from-json`)"
            if COMMANDS_JOINED_BY in command
            else "it"
        )
        + " to refresh this page.",
    ]
    if quick:
        lines += ["", "**Quick smoke run: tiny sweeps, the numbers mean nothing.**"]
    lines += [
        "",
        noise_note(summaries),
        "",
        "## Machine",
        "",
        *_table(["", ""], ([k, v] for k, v in info.items())),
        "",
        "## Targets",
        "",
        *targets_table(evaluate_targets(summaries, results)),
        "",
        "## Results",
        *results_section(cases, summaries, results),
    ]
    if failures:
        lines += ["", "## Failed measurements", ""]
        lines += [
            f"* sweep {r.case}, {r.variant.label}, repeat {r.repeat}: {r.error}"
            for r in failures
        ]
    lines += ["", "## Method", "", METHOD]
    return "\n".join(lines)
