"""One measurement, run in a fresh interpreter by :mod:`benchmarks.run`.

``python -m benchmarks.measure --case N --tool nb --processes 2 --out FILE``
runs one reference sweep once with one tool and writes a JSON
:class:`Measurement`. The timed region is the sweep call only (interpreter
start and imports are not timed; a worker pool's start-up is, since a fresh
sweep pays it).

The top of this module imports only the standard library: ``mesa.batch_run``'s
spawned workers re-import it as ``__mp_main__``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .cases import Case, get_case

MiB = 1024 * 1024


@dataclass
class Measurement:
    """What one timed sweep did and cost.

    Attributes:
        wall: seconds spent in the sweep call.
        t_start, t_end: the same interval in ``time.time()``, so the parent can
            pick its memory samples of the sweep.
        runs: runs finished; steps: model steps run, summed over runs.
        model_rows, agent_rows: rows of the final model and agent data.
        tables_bytes: ``memory_usage(deep=True)`` of the final DataFrames (for
            ``mesa.batch_run``: of ``pd.DataFrame(rows)``).
        list_bytes: ``mesa.batch_run`` only: deep ``sys.getsizeof`` of the
            returned list of dicts (shared objects counted once).
        rss_before, rss_after: this process's RSS around the sweep call.
        run_time_sum: seconds inside runs, summed (where the tool reports it).
        first_record: seconds from the call to the first finished run.
        extra: tool-specific facts.
    """

    wall: float = 0.0
    t_start: float = 0.0
    t_end: float = 0.0
    runs: int = 0
    steps: int = 0
    model_rows: int = 0
    agent_rows: int = 0
    tables_bytes: int = 0
    list_bytes: int | None = None
    rss_before: int = 0
    rss_after: int = 0
    run_time_sum: float | None = None
    first_record: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Timer:
    """Times a block with ``perf_counter`` and ``time.time`` and reads RSS."""

    def __init__(self, measurement: Measurement) -> None:
        import psutil

        self.m = measurement
        self.process = psutil.Process()
        self.start = 0.0

    def __enter__(self) -> Timer:
        self.m.rss_before = self.process.memory_info().rss
        self.m.t_start = time.time()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.m.wall = time.perf_counter() - self.start
        self.m.t_end = time.time()
        self.m.rss_after = self.process.memory_info().rss

    def elapsed(self) -> float:
        """Seconds since the block started."""
        return time.perf_counter() - self.start


# -- helpers ------------------------------------------------------------------
def model_class(case: Case) -> type:
    """The model class of ``case`` (from ``mesa_nb.examples`` unless the case
    names another module); mesa_nb is imported too, whatever the module."""
    import importlib

    import mesa_nb  # noqa: F401  (imported before any clock starts)

    return getattr(importlib.import_module(case.module), case.model)


def frames_bytes(*frames: Any) -> int:
    """Deep memory of DataFrames (``memory_usage(deep=True)``), summed."""
    return int(sum(int(f.memory_usage(deep=True).sum()) for f in frames))


def rows_bytes(rows: list[dict[str, Any]]) -> int:
    """Deep size of a list of dicts: the list, every dict, each distinct object.

    Objects shared by many rows (parameter values, small ints, key strings)
    are counted once, as they are stored once.
    """
    objects: dict[int, Any] = {}
    total = sys.getsizeof(rows)
    for row in rows:
        total += sys.getsizeof(row)
        for obj in (*row, *row.values()):
            objects[id(obj)] = obj
    return total + sum(sys.getsizeof(obj) for obj in objects.values())


def release(model: Any) -> None:
    """Drop Mesa 3.3's class-level ``Agent._ids[model]``, which keeps every model.

    The plain loop does what a long-running loop on Mesa 3.3 must (and what
    mesa_nb does), so a growing heap does not slow the reference down.
    """
    from mesa import Agent

    ids = getattr(Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)


# -- (a) the plain loop -----------------------------------------------------------
def _kept(frame: Any, steps: Any, period: int) -> Any:
    """Rows whose Step is a multiple of ``period``, or the last (``-1``: last only)."""
    import numpy as np

    steps = np.asarray(steps)
    keep = steps == steps.max()
    if period > 0:
        keep |= steps % period == 0
    return frame[keep]


def read_collector(model: Any, period: int, run_id: int) -> tuple[Any, Any]:
    """The run's model and agent frames, tagged with ``run_id``, as a user reads them.

    The example models collect once at the end of ``__init__`` and of every
    ``step()``, so row ``i`` of the model table is Step ``i``.
    """
    collector = model.datacollector
    model_frame = collector.get_model_vars_dataframe()
    model_frame.index.name = "Step"
    model_frame = _kept(model_frame, model_frame.index, period).reset_index()
    agents = collector.get_agent_vars_dataframe()
    agents = _kept(agents, agents.index.get_level_values("Step"), period).reset_index()
    model_frame.insert(0, "RunId", run_id)
    agents.insert(0, "RunId", run_id)
    return model_frame, agents


def plain_run(cls: type, point: dict, seed: int, run_id: int, case: Case) -> tuple:
    """One run of the plain loop: its model frame (with parameters), agents, steps."""
    model = cls(**point, rng=seed)
    while model.running and model.steps < case.max_steps:
        model.step()
    model_frame, agent_frame = read_collector(model, case.period, run_id)
    for position, (name, value) in enumerate(point.items(), start=1):
        model_frame.insert(position, name, value)
    steps = int(model.steps)
    release(model)
    return model_frame, agent_frame, steps


def measure_plain(case: Case, processes: int) -> Measurement:
    """(a) Instantiate, step, read the collector, concatenate: the lower bound."""
    import pandas as pd

    cls, m = model_class(case), Measurement()
    models, agents, run_times = [], [], []
    specs = [(seed, point) for seed in case.seeds for point in case.points]
    with Timer(m):
        for run_id, (seed, point) in enumerate(specs):
            start = time.perf_counter()
            model_frame, agent_frame, steps = plain_run(cls, point, seed, run_id, case)
            models.append(model_frame)
            agents.append(agent_frame)
            m.steps += steps
            run_times.append(time.perf_counter() - start)
        model_table = pd.concat(models, ignore_index=True)
        agent_table = pd.concat(agents, ignore_index=True)
    m.runs, m.run_time_sum = len(specs), sum(run_times)
    m.model_rows, m.agent_rows = len(model_table), len(agent_table)
    m.tables_bytes = frames_bytes(model_table, agent_table)
    return m


# -- (b) mesa.batch_run -----------------------------------------------------------
def mesa_runs_one_step_more() -> bool:
    """True for Mesa versions (3.3) whose batch_run steps while ``steps <= max``."""
    from mesa import batchrunner

    return "model.steps <= max_steps" in inspect.getsource(batchrunner._model_run_func)


def mesa_arguments(case: Case) -> dict[str, Any]:
    """``mesa.batch_run`` arguments that run the same models as the others.

    Mesa 3.5 takes ``rng=[seed per iteration]``; with Mesa 3.3 the seeds are
    swept as the first parameter (so runs come iteration-major, like Mesa's).
    Mesa 3.3 runs ``max_steps + 1`` steps, so it is given ``max_steps - 1``.
    """
    import mesa

    extra = mesa_runs_one_step_more()
    kwargs: dict[str, Any] = {
        "data_collection_period": case.period,
        "max_steps": case.max_steps - 1 if extra else case.max_steps,
        "display_progress": False,
    }
    if "rng" in inspect.signature(mesa.batch_run).parameters:
        kwargs["parameters"] = dict(case.parameters)
        kwargs["rng"] = case.seeds
    else:
        kwargs["parameters"] = {"rng": case.seeds, **case.parameters}
        kwargs["iterations"] = 1
    return kwargs


def _mesa_call(case: Case, processes: int) -> Callable[[], list[dict[str, Any]]]:
    """``mesa.batch_run`` of ``case``, ready to call, with the start method a
    Mesa user gets (spawn)."""
    import multiprocessing

    from mesa import batch_run

    cls = model_class(case)
    # `import mesa` (3.3) / batch_run (3.5) force "spawn"; importing mesa_nb put
    # the default back, so set it as a Mesa user has it.
    multiprocessing.set_start_method("spawn", force=True)
    kwargs = mesa_arguments(case)
    return lambda: batch_run(cls, number_processes=processes, **kwargs)


def _nb_call(case: Case, processes: int) -> Callable[[], list[dict[str, Any]]]:
    """``mesa_nb.batch_run`` of ``case``, ready to call: Mesa's call, with
    ``rng=[...]`` (mesa_nb takes it on Mesa 3.3 too) and ``max_steps`` as
    given (mesa_nb runs exactly that many steps on every Mesa)."""
    import mesa_nb

    cls = model_class(case)
    return lambda: mesa_nb.batch_run(
        cls,
        case.parameters,
        number_processes=processes,
        data_collection_period=case.period,
        max_steps=case.max_steps,
        display_progress=False,
        rng=case.seeds,
    )


def _rows_facts(m: Measurement, rows: list[dict[str, Any]], extra: int) -> None:
    """Fill ``m`` from a list of Mesa rows (``extra``: steps run per run beyond
    the last Step the rows show)."""
    import pandas as pd

    m.list_bytes = rows_bytes(rows)
    frame = pd.DataFrame(rows)
    m.tables_bytes = frames_bytes(frame)
    m.agent_rows = len(frame) if "AgentID" in frame else 0
    m.model_rows = len(frame[["RunId", "Step"]].drop_duplicates())
    last_step = frame.groupby("RunId")["Step"].max()
    m.runs = len(last_step)
    m.steps = int(last_step.sum()) + extra * len(last_step)


def measure_mesa(case: Case, processes: int) -> Measurement:
    """(b) ``mesa.batch_run`` with the start method a Mesa user gets (spawn)."""
    call, m = _mesa_call(case, processes), Measurement()
    with Timer(m):
        rows = call()
    m.extra["max_steps_passed"] = mesa_arguments(case)["max_steps"]
    _rows_facts(m, rows, 1 if mesa_runs_one_step_more() else 0)
    return m


def measure_nb_batch_run(case: Case, processes: int) -> Measurement:
    """(c) ``mesa_nb.batch_run``: the drop-in, called as ``mesa.batch_run``."""
    call, m = _nb_call(case, processes), Measurement()
    with Timer(m):
        rows = call()
    runs = rows.result.runs  # type: ignore[attr-defined]
    m.run_time_sum = float(runs["wall_time"].sum())
    _rows_facts(m, rows, 0)
    m.steps = int(runs["steps"].sum())
    return m


#: Rounds of the one-process comparison (``in-one``): each round calls
#: ``mesa.batch_run``, ``mesa_nb.batch_run``, ``mesa_nb.batch_run``,
#: ``mesa.batch_run`` (each tool as often first as second).
IN_ONE_ROUNDS = 1


def measure_in_one(case: Case, processes: int) -> Measurement:
    """``mesa.batch_run`` and ``mesa_nb.batch_run`` in turns in this process.

    Each call's rows are kept until the same tool's next call (a notebook
    keeps ``results``), so every call runs with the other tool's rows, and
    its own previous ones, in memory. ``extra`` holds each tool's median
    wall and CPU seconds and the ratios ``nb / mesa`` of those medians;
    ``wall`` is the median wall of mesa_nb's calls.
    """
    calls = {"mesa": _mesa_call(case, processes), "nb": _nb_call(case, processes)}
    turns = ["mesa", "nb", "nb", "mesa"] * IN_ONE_ROUNDS
    walls: dict[str, list[float]] = {"mesa": [], "nb": []}
    cpus: dict[str, list[float]] = {"mesa": [], "nb": []}
    kept: dict[str, Any] = {}
    m = Measurement()
    with Timer(m):
        for tool in turns:
            kept.pop(tool, None)
            cpu, start = time.process_time(), time.perf_counter()
            kept[tool] = calls[tool]()
            walls[tool].append(time.perf_counter() - start)
            cpus[tool].append(time.process_time() - cpu)
    total = m.wall
    for tool in ("mesa", "nb"):
        m.extra[f"{tool}_wall"] = statistics.median(walls[tool])
        m.extra[f"{tool}_cpu"] = statistics.median(cpus[tool])
    m.extra["ratio"] = m.extra["nb_wall"] / m.extra["mesa_wall"]
    m.extra["cpu_ratio"] = m.extra["nb_cpu"] / m.extra["mesa_cpu"]
    m.extra["calls"] = len(turns)
    m.extra["total_wall"] = total
    m.wall = m.extra["nb_wall"]
    m.runs = len(kept["nb"].result.runs)
    m.steps = int(kept["nb"].result.runs["steps"].sum())
    return m


# -- (c) mesa_nb ------------------------------------------------------------------
def _nb_sweep(case: Case, processes: int, on_progress: Callable | None = None) -> Any:
    """``mesa_nb.sweep`` of ``case`` (import mesa_nb before timing this)."""
    import mesa_nb

    return mesa_nb.sweep(
        model_class(case),
        case.parameters,
        max_steps=case.max_steps,
        data_collection_period=case.period,
        processes=processes,
        rng=case.seeds,
        on_progress=on_progress,
    )


def _check_all_ok(result: Any) -> None:
    """Raise with the first failure's traceback unless every run finished."""
    if result.n_ok != len(result.runs):
        first = result.failures.iloc[0] if result.n_failed else None
        detail = first["traceback"] if first is not None else "runs were cancelled"
        raise RuntimeError(
            f"{len(result.runs) - result.n_ok} of {len(result.runs)} runs did not "
            f"finish; first failure:\n{detail}"
        )


def measure_nb(case: Case, processes: int) -> Measurement:
    """(c) ``mesa_nb.sweep`` in-process or on worker processes."""
    model_class(case)  # imports mesa_nb and the model before the clock starts
    m = Measurement()
    with Timer(m) as timer:

        def on_progress(event: Any) -> None:
            if event.record is not None and m.first_record is None:
                m.first_record = timer.elapsed()

        result = _nb_sweep(case, processes, on_progress)
    _check_all_ok(result)
    m.runs = len(result.runs)
    m.steps = int(result.runs["steps"].sum())
    m.run_time_sum = float(result.runs["wall_time"].sum())
    m.model_rows, m.agent_rows = len(result.model), len(result.agents)
    tables = (result.runs, result.model, result.agents, result.agenttypes)
    m.tables_bytes = frames_bytes(*tables, *result.tables.values())
    m.extra["sweep_wall_time"] = result.metadata["wall_time"]
    return m


def measure_nb_warm(case: Case, processes: int) -> Measurement:
    """(c) ``mesa_nb.sweep`` on workers a previous sweep already started.

    A notebook pays the workers' start-up (importing mesa, ~1 s) once; every
    later sweep reuses them. The warm-up sweep (2 runs of 1 step) is not timed.
    """
    import mesa_nb

    warm_up = model_class(case)
    point = dict(case.parameters)
    mesa_nb.sweep(
        warm_up, point, iterations=processes * 2, max_steps=1, processes=processes
    )
    return measure_nb(case, processes)


#: The seconds between ``%load_ext mesa_nb`` and the first sweep in a notebook
#: (the next cell being run): short, to be on the safe side.
LOAD_TO_FIRST_SWEEP = 2.0


def measure_nb_loaded(case: Case, processes: int) -> Measurement:
    """(c) A notebook's first sweep: ``%load_ext`` (with ``BatchRun.processes``
    above 1) started the workers, and the sweep cell runs shortly after."""
    from mesa_nb.backends import start_workers

    model_class(case)
    start_workers(processes)
    time.sleep(LOAD_TO_FIRST_SWEEP)
    return measure_nb(case, processes)


def measure_first_run(case: Case, processes: int) -> Measurement:
    """7. Run ``case`` twice in one interpreter; time the second one's first run.

    ``first_record`` is the time from calling ``sweep()`` to the first progress
    event that carries a run record; ``extra`` also holds that run's own
    duration and the same latency of the first (cold) sweep.
    """
    model_class(case)  # imports mesa_nb and the model before the clock starts
    cold: dict[str, float] = {}
    start = time.perf_counter()

    def on_cold(event: Any) -> None:
        if event.record is not None and not cold:
            cold["latency"] = time.perf_counter() - start

    _check_all_ok(_nb_sweep(case, processes, on_cold))
    m = Measurement()
    first: list[Any] = []
    with Timer(m) as timer:

        def on_progress(event: Any) -> None:
            if event.record is not None and not first:
                m.first_record = timer.elapsed()
                first.append(event.record)

        result = _nb_sweep(case, processes, on_progress)
    _check_all_ok(result)
    m.runs = len(result.runs)
    m.steps = int(result.runs["steps"].sum())
    m.model_rows, m.agent_rows = len(result.model), len(result.agents)
    m.tables_bytes = frames_bytes(result.runs, result.model, result.agents)
    m.extra = {
        "first_run_time": first[0].wall_time,
        "cold_first_record": cold.get("latency"),
    }
    return m


MEASURES: dict[str, Callable[[Case, int], Measurement]] = {
    "plain": measure_plain,
    "mesa": measure_mesa,
    "nb": measure_nb,
    "nb-br": measure_nb_batch_run,
    "in-one": measure_in_one,
    "nb-warm": measure_nb_warm,
    "nb-loaded": measure_nb_loaded,
    "first-run": measure_first_run,
}


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, measure once, write the JSON result."""
    parser = argparse.ArgumentParser(description="One benchmark measurement.")
    parser.add_argument("--case", type=int, required=True)
    parser.add_argument("--tool", choices=sorted(MEASURES), required=True)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    case = get_case(args.case, args.quick)
    load = os.getloadavg()[0]
    result = MEASURES[args.tool](case, args.processes)
    result.extra["loadavg"] = load
    args.out.write_text(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
