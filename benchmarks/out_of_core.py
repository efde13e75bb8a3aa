"""Benchmark 8: a sweep bigger than a notebook would like, kept out of memory.

    python -m benchmarks.out_of_core [--runs 100 --agents 1000 --steps 200]

Writes >= 20 M agent rows (agents every step) on 2 processes into a store with
``in_memory=False`` and measures: the parent's peak RSS growth, the whole
process tree's peak RSS, the wall time against the same sweep kept in memory,
the store's size per row, and a typical query (mean size per step for one
parameter value) through ``result.scan`` against pandas on the loaded table.
Targets: parent growth <= 100 MiB, tree peak <= 600 MiB, wall <= 1.1 x memory.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import threading
import time
from pathlib import Path

import mesa
import psutil

MiB = 2**20


class Crowd(mesa.Model):
    """Agents that grow by ``rate`` every step; agent records every step."""

    def __init__(self, agents: int = 1000, rate: int = 1, rng=None):
        super().__init__(rng=rng)
        self.rate = rate
        for _ in range(agents):
            agent = mesa.Agent(self)
            agent.size = 0
        self.datacollector = mesa.DataCollector(
            model_reporters={"Agents": lambda m: len(m.agents)},
            agent_reporters={"Size": "size"},
        )
        self.datacollector.collect(self)

    def step(self):
        for agent in self.agents:
            agent.size += self.rate
        self.datacollector.collect(self)


class Peak:
    """Samples the RSS of this process and of its whole tree."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.base = self.me.memory_info().rss
        self.parent = self.tree = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.is_set():
            rss = self.me.memory_info().rss
            tree = rss
            for child in self.me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    tree += child.memory_info().rss
            self.parent, self.tree = max(self.parent, rss), max(self.tree, tree)
            time.sleep(0.05)

    def __enter__(self) -> Peak:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()


def main() -> None:
    import mesa_nb

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    parameters = {"agents": args.agents, "rate": [1, 2]}
    kwargs = dict(
        iterations=args.runs // 2,
        max_steps=args.steps,
        data_collection_period=1,
        processes=2,
        seed=1,
    )
    folder = Path(tempfile.mkdtemp(prefix="mesa_nb-bench8-"))
    mesa_nb.backends.start_workers(2)
    time.sleep(3)  # workers up: measure the sweep, not their start
    try:
        with Peak() as peak:
            start = time.perf_counter()
            result = mesa_nb.sweep(
                Crowd, parameters, store=folder / "s", in_memory=False, **kwargs
            )
            wall = time.perf_counter() - start
        agents = result.scan("agents")
        rows = agents.count_rows()
        size = sum(f.stat().st_size for f in (folder / "s").rglob("*.parquet"))
        print(f"rows: {rows:,}  store: {size / MiB:.1f} MiB ({size / rows:.2f} B/row)")
        print(
            f"out of memory: wall {wall:.1f} s, parent peak growth "
            f"{(peak.parent - peak.base) / MiB:.0f} MiB, tree peak "
            f"{peak.tree / MiB:.0f} MiB"
        )
        import pyarrow.dataset as ds

        start = time.perf_counter()
        rate1 = set(result.runs.loc[result.runs["rate"] == 1, "RunId"])
        table = agents.to_table(
            filter=ds.field("RunId").isin(sorted(rate1)), columns=["Step", "Size"]
        )
        table.group_by("Step").aggregate([("Size", "mean")])
        print(f"query via the dataset: {time.perf_counter() - start:.2f} s")
        if not args.skip_memory:
            with Peak() as peak:
                start = time.perf_counter()
                memory = mesa_nb.sweep(Crowd, parameters, **kwargs)
                memory_wall = time.perf_counter() - start
            print(
                f"in memory: wall {memory_wall:.1f} s ({wall / memory_wall:.2f} x), "
                f"parent peak growth {(peak.parent - peak.base) / MiB:.0f} MiB"
            )
            start = time.perf_counter()
            frame = memory.agents
            frame[frame["RunId"].isin(rate1)].groupby("Step")["Size"].mean()
            print(f"query via pandas (in memory): {time.perf_counter() - start:.2f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
