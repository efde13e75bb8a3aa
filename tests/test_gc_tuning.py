"""The garbage collector while models run: tuned, still collecting, restored.

Models run with the collector's thresholds raised and the heap that existed
before frozen out of its scans (mesa_nb.core.gc_tuning); whatever happens to
the sweep, the process gets its own settings back.
"""

from __future__ import annotations

import gc
import threading
import weakref

import mesa
import pytest
from models import step_number

import mesa_nb
from mesa_nb.core.gc_tuning import RUN_THRESHOLDS, tuned_gc


class Cycle:
    """Two of these pointing at each other: garbage only the collector frees."""

    def __init__(self) -> None:
        self.other: Cycle | None = None


def _count(box: list[int]) -> None:
    box[0] += 1


class Churn(mesa.Model):
    """Makes cyclic garbage each step; reports the collector's settings and
    how many of its cycles were freed so far in this process."""

    def __init__(self, cycles: int = 2000, rng=None) -> None:
        super().__init__(rng=rng)
        self.cycles = cycles
        self.freed = [0]  # outlives the model: cycles freed after it
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "Threshold": lambda m: gc.get_threshold()[0],
                "Frozen": lambda m: gc.get_freeze_count(),
                "Freed": lambda m: m.freed[0],
            }
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        for _ in range(self.cycles):
            a, b = Cycle(), Cycle()
            a.other, b.other = b, a
            weakref.finalize(a, _count, self.freed)
        self.datacollector.collect(self)


class Interrupted(Churn):
    """Ctrl-C in the middle of its second step."""

    def step(self) -> None:
        super().step()
        if step_number(self) >= 2:
            raise KeyboardInterrupt


@pytest.fixture
def default_gc():
    """The collector as CPython starts it, put back after the test."""
    before, enabled = gc.get_threshold(), gc.isenabled()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    gc.enable()
    yield
    gc.set_threshold(*before)
    if not enabled:
        gc.disable()


def test_runs_see_the_tuned_collector_and_it_still_frees_cycles(
    processes: int, default_gc
) -> None:
    cycles = RUN_THRESHOLDS[0] // 5  # per step: 20 steps make 4 thresholds' worth
    result = mesa_nb.sweep(
        Churn,
        {"cycles": cycles},
        iterations=2,
        max_steps=20,
        processes=processes,
        check_reproducible=False,  # what the collector freed is not seeded
    )
    final = result.model.groupby("RunId").last()
    assert (final["Threshold"] == RUN_THRESHOLDS[0]).all()
    if processes == 1:  # in a worker, nothing was there to freeze
        assert (final["Frozen"] > 0).all()
    # the raised thresholds still collect all but the last young generation's
    # (a cycle is at least two tracked objects: at most threshold / 2 wait;
    # the bound allows twice that)
    assert (final["Freed"] >= 20 * cycles - RUN_THRESHOLDS[0]).all()
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_settings_come_back_after_an_interrupted_sweep(default_gc) -> None:
    result = mesa_nb.sweep(
        Interrupted, {"cycles": 10}, iterations=2, max_steps=5, check_reproducible=False
    )
    assert result.interrupted
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


# the drop-in checks that runs repeat; the heap's counts it reports may not
@pytest.mark.filterwarnings("ignore:Churn is not reproducible")
def test_batch_run_rows_and_runs_leave_the_settings_as_they_were(default_gc) -> None:
    mine = (2 * RUN_THRESHOLDS[0], 5, 20)  # the user's own: higher where higher
    gc.set_threshold(*mine)
    rows = mesa_nb.batch_run(
        Churn, {"cycles": 10}, iterations=1, max_steps=3, display_progress=False
    )
    assert rows[-1]["Threshold"] == mine[0]
    assert gc.get_threshold() == mine


def test_overlapping_users_share_one_tuning(default_gc) -> None:
    first_in, second_out = threading.Event(), threading.Event()
    seen: list[tuple[int, ...]] = []

    def second() -> None:
        first_in.wait()
        with tuned_gc():
            seen.append(gc.get_threshold())
        second_out.set()

    thread = threading.Thread(target=second)
    thread.start()
    with tuned_gc():
        first_in.set()
        second_out.wait()
        seen.append(gc.get_threshold())  # the second left: still tuned
    thread.join()
    assert seen == [RUN_THRESHOLDS, RUN_THRESHOLDS]
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_a_collector_switched_off_or_frozen_by_the_user_is_left_alone(
    default_gc,
) -> None:
    gc.set_threshold(0)
    with tuned_gc():
        assert gc.get_threshold()[0] == 0
    gc.set_threshold(700, 10, 10)
    gc.freeze()
    frozen = gc.get_freeze_count()
    try:
        with tuned_gc():
            assert gc.get_threshold() == RUN_THRESHOLDS
        assert gc.get_freeze_count() > frozen // 2  # not unfrozen by us
    finally:
        gc.unfreeze()
    gc.disable()
    with tuned_gc():
        assert gc.get_freeze_count() == 0  # nothing frozen for a collector off
    assert not gc.isenabled()
