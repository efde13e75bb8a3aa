"""Long sweeps in a live notebook: background sweeps, snapshots, timeouts.

Run by a real kernel (nbclient): a background ``%%batchrun`` returns at
once, the next cells run while its runs go on, and the final result equals
a foreground sweep with the same seed.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time

import mesa
import nbformat
import pandas as pd
import psutil
import pytest
from models import step_number
from nbclient import NotebookClient

import mesa_nb
from mesa_nb.core.mesa_adapter import MESA_4

MODELS = textwrap.dedent(
    """
    import time, mesa

    class Slow(mesa.Model):
        # about 0.1 s a step; hangs for good at step 2 when hang=True
        def __init__(self, k=1, hang=False, rng=None):
            super().__init__(rng=rng)
            self.k, self.hang = k, hang
            self.t = 0  # its own step count: Mesa 4 has no model.steps
            self.datacollector = mesa.DataCollector(
                model_reporters={"Level": lambda m: m.k * m.t + m.random.random()})
            self.datacollector.collect(self)

        def step(self):
            self.t += 1
            if self.hang and self.t == 2:
                time.sleep(10_000)
            time.sleep(0.1)
            self.datacollector.collect(self)
    """
)

CELLS = [
    "%load_ext mesa_nb",
    MODELS,
    "t0 = time.perf_counter()",
    "%%batchrun Slow --background -p 2 -i 3 -s 8 -c 1 --seed 5\nk = [1, 2]",
    "returned_after = time.perf_counter() - t0\n"
    "running_then = not results.done()\n"
    "partial = results.model  # a snapshot while the runs go on\n"
    "statuses_then = results.runs['status'].tolist()",
    "plot = results.live('Level', by='k')\nplot",
    "final = results.wait(timeout=120)",
    "%%batchrun Slow -p 2 -i 3 -s 8 -c 1 --seed 5 -q --out foreground\nk = [1, 2]",
    "%%batchrun Slow --background -p 2 -i 20 -s 8 --seed 6 --out stopped\nk = [1, 2]",
    "while stopped.snapshot().n_ok < 2 and not stopped.done():\n"
    "    time.sleep(0.05)\n"
    "kept = stopped.cancel()",
    "%%batchrun Slow -p 2 -s 4 --seed 7 --timeout 3 -q --out limited\n"
    "hang = [False, True, False]",
]


def _run_notebook(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "import json, psutil\n"
            "loky = [p for p in psutil.Process().children(recursive=True)\n"
            "        if 'LokyProcess' in ' '.join(p.cmdline())]\n"
            "busy = [p.pid for p in loky if p.cpu_percent(interval=0.5) > 20]\n"
            "print(json.dumps({\n"
            "  'returned_after': returned_after, 'running_then': running_then,\n"
            "  'partial_runs': int(partial['RunId'].nunique()),\n"
            "  'statuses_then': statuses_then,\n"
            "  'same': bool(final.model.equals(foreground.model)),\n"
            "  'final_ok': final.n_ok, 'kept_ok': kept.n_ok,\n"
            "  'kept_cancelled': kept.n_cancelled, 'interrupted': kept.interrupted,\n"
            "  'limited': limited.runs['status'].tolist(),\n"
            "  'limited_steps': limited.runs['steps'].tolist(),\n"
            "  'busy': busy}))"
        )
    )
    client = NotebookClient(notebook, timeout=300, kernel_name="python3")
    client.execute()
    nbformat.write(notebook, tmp_path / "background.ipynb")
    return notebook


@pytest.mark.slow
def test_a_background_sweep_in_a_real_kernel(tmp_path):
    notebook = _run_notebook(tmp_path)
    facts = json.loads(notebook.cells[-1].outputs[0]["text"])
    assert facts["returned_after"] < 1.0, "the cell waited for the sweep"
    assert facts["running_then"] and "pending" in facts["statuses_then"]
    assert facts["partial_runs"] < 6
    assert facts["same"] and facts["final_ok"] == 6
    assert facts["interrupted"] and facts["kept_ok"] >= 2 and facts["kept_cancelled"]
    assert facts["limited"] == ["ok", "timeout", "ok"]
    # where it hung: Mesa 3 counts the step it hung in, Mesa 4 the steps that
    # returned
    assert facts["limited_steps"][1] == (1 if MESA_4 else 2)
    assert not facts["busy"], "a worker is still busy after the timeout"
    background_cell = json.dumps(notebook.cells[3].outputs)
    assert "application/vnd.jupyter.widget-view+json" in background_cell  # the bar
    assert "in the background" in background_cell
    # the cell's line was updated in place when the sweep ended
    assert "<LiveSweep of Slow: done, 6 of 6 runs ok>" in background_cell
    assert "running," not in background_cell


class Hang(mesa.Model):
    def __init__(self, hang=False, rng=None):
        super().__init__(rng=rng)
        self.hang = hang
        self.datacollector = mesa.DataCollector(model_reporters={"S": step_number})
        self.datacollector.collect(self)

    def step(self):
        if self.hang and step_number(self) == 2:
            time.sleep(10_000)
        self.datacollector.collect(self)


def test_in_process_the_time_limit_is_checked_between_steps():
    class Crawl(Hang):
        def step(self):
            time.sleep(0.2 if self.hang else 0)
            self.datacollector.collect(self)

    result = mesa_nb.sweep(
        Crawl, {"hang": [False, True]}, max_steps=50, timeout=1, seed=1
    )
    assert result.runs["status"].tolist() == ["ok", "timeout"]
    assert 3 <= result.runs["steps"][1] < 50
    assert "time limit of 1.0 s" in result.failures["error"][0]


def test_a_background_sweep_returns_the_foreground_result():
    live = mesa_nb.sweep(
        Hang, {"hang": [False] * 4}, max_steps=3, seed=2, background=True
    )
    final = live.wait(timeout=60)
    again = mesa_nb.sweep(Hang, {"hang": [False] * 4}, max_steps=3, seed=2)
    pd.testing.assert_frame_equal(final.model, again.model)
    assert live.done() and live.result is final


def test_a_dropped_background_sweep_stops_its_runs():
    import gc

    live = mesa_nb.sweep(
        Hang, {"hang": [False] * 200}, max_steps=2000, seed=3, background=True
    )
    finished = live._state.finished
    del live
    gc.collect()
    assert finished.wait(60), "the runs of a dropped sweep went on"
    assert psutil.Process().num_threads() < 50


class Steady(mesa.Model):
    def __init__(self, k=1, rng=None):
        super().__init__(rng=rng)
        self.datacollector = mesa.DataCollector(model_reporters={"S": step_number})
        self.datacollector.collect(self)

    def step(self):
        time.sleep(0.1)
        self.datacollector.collect(self)


@pytest.mark.parametrize("processes", [1, 2])
def test_the_bar_shows_long_runs_in_flight_with_their_step(processes):
    import io

    from tqdm import tqdm

    from mesa_nb.api.progress import TqdmProgress

    events = []
    stream = io.StringIO()
    bar = TqdmProgress(tqdm_cls=tqdm, file=stream, mininterval=0)

    def on_progress(event):
        events.append(event)
        bar(event)

    result = mesa_nb.sweep(
        Steady,
        {"k": [1, 2]},
        max_steps=45,
        seed=1,
        processes=processes,
        on_progress=on_progress,
    )
    bar.close()
    assert result.n_ok == 2
    reports = [r for e in events if e.running for r in e.running]
    assert reports and max(step for _, step, _ in reports) >= 20
    assert {run for run, _, _ in reports} <= {0, 1}
    assert "at step" in stream.getvalue()  # shown once a run passed 3 s


#: Runs with hold=True wait for this in their first step (in-process runs).
GATE = threading.Event()


class Gated(mesa.Model):
    def __init__(self, hold=False, rng=None):
        super().__init__(rng=rng)
        self.hold = hold
        self.datacollector = mesa.DataCollector(model_reporters={"S": step_number})
        self.datacollector.collect(self)

    def step(self):
        if self.hold:
            assert GATE.wait(60), "the test never opened the gate"
        self.datacollector.collect(self)


def _gated_sweep(**options):
    """A background sweep of three runs, the third held at the gate; returns
    it once the first two have finished."""
    GATE.clear()
    two_done = threading.Event()
    live = mesa_nb.sweep(
        Gated,
        {"hold": [False, False, True]},
        max_steps=3,
        data_collection_period=1,
        seed=1,
        processes=1,
        background=True,
        on_progress=lambda event: event.done >= 2 and two_done.set(),
        **options,
    )
    assert two_done.wait(60), "two runs did not finish"
    return live


def test_a_live_plot_says_how_many_runs_it_shows():
    from mesa_nb.notebook import live as notebook_live

    live = _gated_sweep()
    try:
        snapshot = live.snapshot()
        head = notebook_live.progress_head(snapshot, live.done())
        assert head == "2 of 3 runs finished (sweep running)"
        figure = notebook_live.live_figure(snapshot, "lines", ("S",), {}, head)
        assert figure.get_suptitle() == head
        (ax,) = figure.axes
        assert ax.get_title() == "S over steps"
        plot = live.live("S", by="hold", every=0.05)
    finally:
        GATE.set()
    final = live.wait(timeout=60)
    assert plot.ended.wait(60), "the live plot did not draw the end"
    (shown,) = plot.outputs
    assert shown["data"]["text/plain"] == (
        "<lines plot: 3 of 3 runs finished (sweep done)>"
    )
    assert shown["data"]["image/png"]
    # small multiples: the head above the plot's own title, one panel a value
    facets = notebook_live.live_figure(
        final, "lines", ("S",), {"facet": "hold"}, "3 of 3 runs finished"
    )
    assert facets.get_suptitle().startswith("3 of 3 runs finished\nS over steps")
    panels = [ax for ax in facets.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["hold=False", "hold=True"]


def test_the_background_cells_line_says_done_when_the_sweep_ends(ipython):
    from IPython.utils.capture import capture_output

    GATE.clear()
    ipython.user_ns["Gated"] = Gated
    with capture_output() as captured:
        ipython.run_cell(
            "%%batchrun Gated --background -p 1 -s 3 --seed 4 -q --out gated\n"
            "hold = [False, True]"
        )
        live = ipython.user_ns["gated"]
        assert not live.done()
        GATE.set()
        live.wait(timeout=60)  # the line is updated before wait() returns
    outputs = captured.outputs
    assert outputs, "the cell showed no line"
    first, last = outputs[0], outputs[-1]
    assert first.data["text/plain"].startswith("<LiveSweep of Gated: running, ")
    assert not first.update and "display_id" in first.transient
    assert last.update and last.transient == first.transient  # the same line
    assert last.data["text/plain"] == "<LiveSweep of Gated: done, 2 of 2 runs ok>"
    assert "done, 2 of 2 runs ok" in last.data["text/html"]
    assert repr(live) == last.data["text/plain"]


def test_a_live_sweep_tells_its_end_to_watchers_before_wait_returns():
    lines = []
    live = _gated_sweep()
    live.watch(lines.append, every=60)
    ended = threading.Event()
    live.on_end(ended.set)
    assert lines == ["<LiveSweep of Gated: running, 2 of 3 runs done>"]
    GATE.set()
    live.wait(timeout=60)
    assert ended.is_set()
    assert lines[-1] == "<LiveSweep of Gated: done, 3 of 3 runs ok>"
    late = []
    live.on_end(lambda: late.append(live.status()))  # after the end: at once
    assert late == ["<LiveSweep of Gated: done, 3 of 3 runs ok>"]
    stopped = _gated_sweep()
    stopped._state.cancel.set()
    GATE.set()
    stopped.wait(timeout=60)
    assert repr(stopped).startswith("<LiveSweep of Gated: stopped, 2 of 3 runs ok")
