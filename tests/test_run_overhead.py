"""Per-run overhead: nothing touches the file system per run.

A run's heartbeat says nothing until the run has lasted ``BEAT_SECONDS``, so
a batch of short runs writes no report file (in a worker, a report is a file
write and a rename); a run that lasts reports its step, and takes its report
back when it ends. Time is never waited for here: the heartbeat's clock is
a fake one, or ``BEAT_SECONDS`` is set so that every run is short (or long).
"""

from __future__ import annotations

import os
import pickle
import types

import cloudpickle
import mesa
import pytest

from mesa_nb.core import heartbeat
from mesa_nb.core.heartbeat import FolderBeat, Pulse, Running
from mesa_nb.core.plan import RunSettings
from mesa_nb.core.records import RunSpec, Status
from mesa_nb.core.worker import BatchTask, run_batch, run_batch_task

#: What a model saw of the report folder during its steps (see Peek).
SEEN: list[list[Running]] = []


class Peek(mesa.Model):
    """Collects every step; with ``folder``, reads the workers' reports there
    at each step (what the parent would see)."""

    def __init__(self, folder: str = "", rng=None) -> None:
        super().__init__(rng=rng)
        self.folder = folder
        self.wealth = 1
        self.datacollector = mesa.DataCollector(model_reporters={"W": "wealth"})
        self.datacollector.collect(self)

    def step(self) -> None:
        if self.folder:
            SEEN.append(FolderBeat(self.folder).read())
        self.datacollector.collect(self)


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The heartbeat's clock, in the test's hands."""
    fake = Clock()
    fake_time = types.SimpleNamespace(monotonic=fake.monotonic, time=lambda: 5.0)
    monkeypatch.setattr(heartbeat, "time", fake_time)
    return fake


class Disk:
    """Counts what the heartbeat does to the disk (opens, renames, removals)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        real_open, real_replace, real_unlink = open, os.replace, os.unlink

        def spy(name, real):
            def call(*args, **kwargs):
                self.calls.append(name)
                return real(*args, **kwargs)

            return call

        monkeypatch.setattr(heartbeat, "open", spy("open", real_open), raising=False)
        fake_os = types.SimpleNamespace(
            path=os.path,
            getpid=os.getpid,
            listdir=os.listdir,
            replace=spy("replace", real_replace),
            unlink=spy("unlink", real_unlink),
        )
        monkeypatch.setattr(heartbeat, "os", fake_os)


def settings(steps: int = 5) -> RunSettings:
    return RunSettings(Peek, steps, -1, "rng", check_reproducible=False)


def specs(count: int, folder: str = "") -> list[RunSpec]:
    return [RunSpec(i, 0, {"folder": folder}, 1000 + i) for i in range(count)]


def test_a_run_shorter_than_a_beat_reports_nothing(clock):
    sent = []
    pulse = Pulse(7, sent.append)
    for step in range(1, 50):
        clock.now += heartbeat.BEAT_SECONDS / 100
        pulse(step)
    pulse.done()
    assert sent == []


def test_a_run_that_lasts_reports_once_a_beat_then_takes_it_back(clock):
    sent = []
    pulse = Pulse(7, sent.append)
    clock.now += heartbeat.BEAT_SECONDS
    pulse(3)  # the run has lasted a beat: its first report
    pulse(4)  # not a beat later: nothing
    clock.now += heartbeat.BEAT_SECONDS
    pulse(5)
    assert sent == [Running(7, 3, 5.0), Running(7, 5, 5.0)]
    pulse.done()
    pulse.done()  # once only
    assert sent[2:] == [None]


def test_a_batch_of_short_runs_in_a_worker_never_touches_the_disk(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(heartbeat, "BEAT_SECONDS", 1e9)  # every run is short
    disk = Disk(monkeypatch)
    beat = FolderBeat(str(tmp_path))
    # as a worker gets it: the task pickled by loky (cloudpickle) and loaded
    task = BatchTask(settings(), tuple(specs(40)), beat=beat)
    shipped = pickle.loads(cloudpickle.dumps(task))
    outcome = run_batch_task(shipped)
    assert [r.status for r in outcome.records] == [Status.OK] * 40
    assert disk.calls == []
    assert os.listdir(tmp_path) == []


def test_in_process_a_batch_of_short_runs_sends_no_report(monkeypatch):
    monkeypatch.setattr(heartbeat, "BEAT_SECONDS", 1e9)
    sent = []
    outcome = run_batch(settings(), specs(10), beat=sent.append)
    assert len(outcome.records) == 10
    assert sent == [None]  # the batch ended (nothing was running)


def test_a_long_run_in_a_worker_shows_then_its_report_goes(tmp_path, monkeypatch):
    monkeypatch.setattr(heartbeat, "BEAT_SECONDS", 0.0)  # every run is long
    SEEN.clear()
    folder = str(tmp_path)
    outcome = run_batch(settings(3), specs(2, folder), beat=FolderBeat(folder))
    assert [r.status for r in outcome.records] == [Status.OK, Status.OK]
    # Each step saw the report of the step before it: the run in progress,
    # never the run before it (its report went when it ended).
    assert [[(r.run_id, r.step) for r in seen] for seen in SEEN] == [
        [],
        [(0, 1)],
        [(0, 2)],
        [],
        [(1, 1)],
        [(1, 2)],
    ]
    assert os.listdir(tmp_path) == []  # the last run took its report back
