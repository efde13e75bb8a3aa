"""A store grows: more values, points or iterations of the same sweep run
only the new runs, and the grown store equals a fresh sweep of the larger
definition run by run (matched by parameters and iteration)."""

from __future__ import annotations

import mesa
import pandas as pd
import pytest

import mesa_nb
from mesa_nb.core.designs import between, sobol_sequence


class Counted(mesa.Model):
    """Counts the models built in this process (runs in-process only; the
    sweeps below turn the reproducibility check off, which builds one more)."""

    built = 0

    def __init__(self, n: int = 5, rng=None):
        super().__init__(rng=rng)
        type(self).built += 1
        self.n = n
        self.total = 0.0
        self.datacollector = mesa.DataCollector({"Total": "total"})

    def step(self):
        self.total += sum(self.rng.random() for _ in range(self.n))
        self.datacollector.collect(self)


class Point(mesa.Model):
    def __init__(self, x: float = 0.5, rng=None):
        super().__init__(rng=rng)
        self.y = x + self.rng.random()
        self.datacollector = mesa.DataCollector({"y": "y"})

    def step(self):
        self.datacollector.collect(self)


def by_point(result, names=("n",)):
    """Runs and final values keyed by parameters and iteration."""
    keys = [*names, "iteration"]
    final = result.model.groupby("RunId").tail(1)[["RunId", "Total"]]
    table = result.runs[["RunId", *keys, "seed"]].merge(final, on="RunId")
    return table.drop(columns="RunId").sort_values(keys).reset_index(drop=True)


CHECK_OFF = {"check_reproducible": False}


def test_more_values_and_iterations_run_only_the_new_runs(tmp_path):
    store = tmp_path / "store"
    Counted.built = 0
    mesa_nb.sweep(
        Counted,
        {"n": [10, 20]},
        iterations=3,
        max_steps=4,
        seed=7,
        store=store,
        **CHECK_OFF,
    )
    assert Counted.built == 6
    Counted.built = 0
    grown = mesa_nb.sweep(
        Counted,
        {"n": [10, 20, 40]},
        iterations=5,
        max_steps=4,
        seed=7,
        store=store,
        **CHECK_OFF,
    )
    assert Counted.built == 9  # 40 x 5 iterations, and 10, 20 x 2 more
    assert grown.metadata["resumed_runs"] == 6 and grown.n_ok == 15
    fresh = mesa_nb.sweep(
        Counted, {"n": [10, 20, 40]}, iterations=5, max_steps=4, seed=7
    )
    pd.testing.assert_frame_equal(by_point(grown), by_point(fresh))
    loaded = mesa_nb.load_store(store)
    pd.testing.assert_frame_equal(by_point(loaded), by_point(fresh))
    assert sorted(loaded.runs["RunId"]) == list(range(15))  # old RunIds kept
    manifest = loaded.metadata
    assert manifest["grown_from"] == [{"n_points": 2, "iterations": 3}]


def test_a_grown_store_resumes_in_any_order_of_its_values(tmp_path):
    store = tmp_path / "store"
    mesa_nb.sweep(
        Counted, {"n": [1, 2]}, iterations=2, max_steps=2, seed=3, store=store
    )
    mesa_nb.sweep(
        Counted, {"n": [1, 2, 3]}, iterations=2, max_steps=2, seed=3, store=store
    )
    Counted.built = 0
    again = mesa_nb.sweep(
        Counted,
        {"n": [3, 1, 2]},
        iterations=2,
        max_steps=2,
        seed=3,
        store=store,
        **CHECK_OFF,
    )
    assert Counted.built == 0 and again.metadata["resumed_runs"] == 6


def test_a_sobol_sequence_grows_by_its_next_points(tmp_path):
    store = tmp_path / "store"
    small = sobol_sequence({"x": between(0, 1)}, 8, seed=5)
    big = sobol_sequence({"x": between(0, 1)}, 16, seed=5)
    mesa_nb.sweep(Point, small, max_steps=1, seed=1, store=store)
    grown = mesa_nb.sweep(Point, big, max_steps=1, seed=1, store=store)
    assert grown.metadata["resumed_runs"] == 8 and grown.n_ok == 16
    fresh = mesa_nb.sweep(Point, big, max_steps=1, seed=1)
    keys = ["x", "iteration"]
    mine = grown.runs[["RunId", *keys]].merge(grown.model[["RunId", "y"]])
    theirs = fresh.runs[["RunId", *keys]].merge(fresh.model[["RunId", "y"]])
    mine, theirs = mine.sort_values(keys), theirs.sort_values(keys)
    assert mine["y"].tolist() == theirs["y"].tolist()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"parameters": {"n": [10, 40]}}, "points (the store holds 1"),
        ({"iterations": 2}, "iterations (the store holds 3"),
        ({"max_steps": 9}, "max_steps"),
        ({"seed": 8}, "seeding"),
    ],
)
def test_any_other_change_is_refused_naming_it(tmp_path, change, named):
    store = tmp_path / "store"
    base = {"parameters": {"n": [10, 20]}, "iterations": 3, "max_steps": 4, "seed": 7}
    mesa_nb.sweep(Counted, base.pop("parameters"), store=store, **base)
    args = {"parameters": {"n": [10, 20]}, "iterations": 3, "max_steps": 4, "seed": 7}
    args.update(change)
    with pytest.raises(mesa_nb.StoreError, match=named.replace("(", r"\(")):
        mesa_nb.sweep(Counted, args.pop("parameters"), store=store, **args)
    assert len(mesa_nb.load_store(store).runs) == 6  # nothing mixed in
