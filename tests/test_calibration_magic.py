"""``%%calibrate`` in the session's real IPython shell, and the live views of a
background calibration (its plot redrawn per generation, its line in place).

Every calibration runs in-process on ``tests.models.NormalMean`` (or the
example Epidemic where a series is observed); a background one is held at
its progress callback, so what is asserted never depends on how fast it runs.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

import mesa_nb
from mesa_nb.calibration import CALIBRATION_OPTIONS, Calibration, LiveCalibration
from mesa_nb.calibration.spec import CalibrationSpec
from mesa_nb.core.errors import MesaNbError
from mesa_nb.core.options import CELL
from mesa_nb.designs import between
from mesa_nb.examples import Epidemic
from mesa_nb.notebook import live as notebook_live
from mesa_nb.notebook.calibrate_magic import CONFIGURED, options_table
from mesa_nb.notebook.flags import parse_line
from tests.models import NormalMean

ROOT = Path(__file__).resolve().parents[1]
#: A small calibration (about 150 runs of a model that takes no step).
SMALL = "--population 50 --generations 3 -s 0 -p 1 -q"
CELL_BODY = 'mu = between(-5, 5)\ndraws = 50\nobserved = {"Mean": 1.3}\n'


@pytest.fixture
def ip(ipython):
    ipython.user_ns["NormalMean"] = NormalMean
    ipython.user_ns["Epidemic"] = Epidemic
    for name in ("cal", "fit", "curve", "livecal"):
        ipython.user_ns.pop(name, None)
    return ipython


def _magics(shell):
    return shell.magics_manager.registry["Calibrate"]


@pytest.fixture(scope="module")
def in_code() -> Calibration:
    return mesa_nb.calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        {"draws": 50},
        population=50,
        generations=3,
        max_steps=0,
        seed=11,
        quiet=True,
    )


def test_a_cell_gives_the_calibration_of_code_and_binds_it(ip, in_code, capsys):
    capsys.readouterr()
    ip.run_cell(f"%%calibrate NormalMean {SMALL} --seed 11 --out fit\n{CELL_BODY}")
    fit = ip.user_ns["fit"]
    assert isinstance(fit, Calibration) and "cal" not in ip.user_ns
    pd.testing.assert_frame_equal(fit.posterior, in_code.posterior)
    assert fit.spec.parameters == {"draws": 50}
    assert fit.spec.priors.names == ("mu",)
    out = capsys.readouterr().out
    assert out.startswith(in_code.text() + "\n"), out
    assert "(bound to fit: fit.posterior, fit.summary()" in out


def test_scipy_priors_fixed_values_and_an_observed_series(ip):
    curve = mesa_nb.sweep(
        Epidemic,
        {"beta": 0.6, "gamma": 0.2, "population": 300},
        max_steps=20,
        data_collection_period=1,
        seed=5,
    ).model[["Step", "Infected"]]
    ip.user_ns["curve"] = curve.iloc[::4]
    ip.run_cell(
        "%%calibrate Epidemic --population 20 --generations 2 -s 20 --seed 3 -q\n"
        "from scipy import stats\n"
        "beta = between(0.2, 1.0)\n"
        "gamma = stats.uniform(0.1, 0.3)\n"
        "population = 300\n"
        "_n = 5\n"
        "initial_infected = _n\n"
        "observed = curve\n"
    )
    cal = ip.user_ns["cal"]
    assert cal.spec.priors.to_dict()["gamma"] == {
        "kind": "scipy",
        "dist": "uniform",
        "args": [0.1, 0.3],
        "kwds": {},
    }
    assert cal.spec.parameters == {"population": 300, "initial_infected": 5}
    assert cal.spec.observed.steps == tuple(range(0, 21, 4))
    assert len(cal.posterior) == 20 and len(cal.history) == 2
    assert "stats" not in ip.user_ns  # the cell's own imports stay in the cell


def test_the_flags_help_and_table_come_from_the_declaration(ip):
    parser = _magics(ip).calibrate.parser
    flags = {s for a in parser._actions for s in a.option_strings}
    offered = [o for o in CALIBRATION_OPTIONS if o.offered(CELL)]
    wanted = {n for o in offered for n in (o.flag, o.short) if n}
    assert flags == wanted | {"--save"}
    for opt in CALIBRATION_OPTIONS:
        if not opt.offered(CELL):
            assert opt.flag not in flags, opt.name
    doc = _magics(ip).calibrate.__doc__
    for opt in offered:
        assert opt.flag in doc, opt.name
    assert "%%calibrate flag" in options_table()
    text = (ROOT / "docs" / "magic.md").read_text(encoding="utf-8")
    start, end = "<!-- calibrate-options:start -->", "<!-- calibrate-options:end -->"
    assert text.split(start, 1)[1].split(end, 1)[0].strip() == options_table()


def test_shared_options_default_to_the_batchrun_config(ip):
    saved = {n: getattr(ip.magics_manager.registry["BatchRun"], n) for n in CONFIGURED}
    saved["output"] = ip.magics_manager.registry["BatchRun"].output
    try:
        ip.run_line_magic("config", "BatchRun.max_steps = 7")
        ip.run_line_magic("config", "BatchRun.processes = 1")
        ip.run_line_magic("config", "BatchRun.output = 'elsewhere'")
        magics = _magics(ip)
        args = parse_line(magics.calibrate.parser, "NormalMean --timeout 9", "x")
        options = magics.options(args)
        assert options["max_steps"] == 7 and options["timeout"] == 9
        assert "output" not in options  # its default is the calibration's, "cal"
        assert set(CONFIGURED) == {
            "max_steps",
            "timeout",
            "processes",
            "background",
            "quiet",
        }
    finally:
        for name, value in saved.items():
            setattr(ip.magics_manager.registry["BatchRun"], name, value)


@pytest.mark.parametrize(
    ("line", "body", "message"),
    [
        ("", "mu = between(-5, 5)\n", "The cell gives no observed data: add"),
        ("", 'mu = 1.0\nobserved = {"Mean": 1.3}\n', "The cell gives no prior"),
        (
            "",
            'nu = between(-5, 5)\nobserved = {"Mean": 1.3}\n',
            "NormalMean has no parameter 'nu'",
        ),
        ("", "mu = between(-5, 5)\nobserved = 3\n", "observed must be"),
        ("--quantile 2", CELL_BODY, "quantile must be a number between 0 and 1"),
        ("--populaton 50", CELL_BODY, "did you mean --population?"),
        ("-m abd", CELL_BODY, "method must be abc (did you mean it?)"),
        ("--out print", CELL_BODY, "does not hide Python's built-in"),
    ],
)
def test_a_bad_cell_gets_one_line_naming_the_fix(ip, line, body, message):
    with pytest.raises(UsageError, match=re.escape(message)) as info:
        ip.run_cell(f"%%calibrate NormalMean -s 0 -q --seed 1 {line}\n{body}")
    assert "\n" not in str(info.value)
    assert "cal" not in ip.user_ns


def test_background_binds_a_live_calibration_with_its_line(ip, in_code):
    with capture_output() as captured:
        ip.run_cell(
            f"%%calibrate NormalMean {SMALL} --seed 11 --background --out livecal\n"
            f"{CELL_BODY}"
        )
        live = ip.user_ns["livecal"]
        assert isinstance(live, LiveCalibration)
        final = live.wait(timeout=60)
    assert "Calibrating in the background: livecal.snapshot()" in captured.stdout
    first = captured.outputs[0]
    assert first.data["text/plain"].startswith("<LiveCalibration of NormalMean: ")
    assert "display_id" in first.transient
    pd.testing.assert_frame_equal(final.posterior, in_code.posterior)


def test_background_refuses_a_bad_parameter_in_the_cell(ip):
    with pytest.raises(UsageError, match="NormalMean has no parameter 'nu'"):
        ip.run_cell(
            f"%%calibrate NormalMean {SMALL} --background\n"
            'nu = between(-5, 5)\nobserved = {"Mean": 1.3}\n'
        )
    assert "cal" not in ip.user_ns


# -- the live views ---------------------------------------------------------------
class Gate:
    """A progress callback holding a calibration at the start of generations
    0 and 1 (on its thread) until each is opened."""

    def __init__(self) -> None:
        self.reached = {0: threading.Event(), 1: threading.Event()}
        self.opened = {0: threading.Event(), 1: threading.Event()}

    def __call__(self, event) -> None:
        held = self.opened.get(event.step)
        if held is not None and not held.is_set() and not event.finished:
            self.reached[event.step].set()
            assert held.wait(60), "the test never opened the gate"

    def open(self) -> None:
        for event in self.opened.values():
            event.set()


def _held() -> tuple[LiveCalibration, Gate]:
    spec = CalibrationSpec.of(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        population=20,
        generations=3,
        max_steps=0,
        seed=2,
        quiet=True,
    )
    gate = Gate()
    return LiveCalibration(spec, on_progress=gate), gate


def _text(output) -> str:
    return output.outputs[0]["data"]["text/plain"] if output.outputs else ""


def _when(output, wanted: str) -> threading.Event:
    """An Event set once ``output`` shows a text holding ``wanted``."""
    seen = threading.Event()

    def look(_=None) -> None:
        if wanted in _text(output):
            seen.set()

    output.observe(look, names="outputs")
    look()
    return seen


def test_a_live_plot_waits_then_redraws_each_generation_and_the_end():
    live, gate = _held()
    try:
        assert gate.reached[0].wait(60)
        plot = live.live("history", every=0.01)
        assert _text(plot).startswith("waiting for the first generation")
        gate.opened[0].set()
        assert gate.reached[1].wait(60)
        running = _when(plot, "generation 1 of at most 3 (running)")
        assert running.wait(60), _text(plot)
        assert plot.outputs[0]["data"]["image/png"]
    finally:
        gate.open()
    final = live.wait(timeout=60)
    assert plot.ended.wait(60), "the live plot did not draw the end"
    assert _text(plot) == "<history plot: generation 3 of at most 3 (done)>"
    figure = notebook_live.calibration_figure(final, "history", {}, "head")
    assert figure.get_suptitle().startswith("head\nABC-SMC: 3 generations")
    posterior = live.live("posterior")
    assert posterior.ended.wait(60)
    assert _text(posterior) == "<posterior plot: generation 3 of at most 3 (done)>"
    with pytest.raises(MesaNbError, match="kind='scatter'"):
        live.live("scatter")


def test_a_live_calibrations_line_is_updated_in_place_until_done():
    live, gate = _held()
    try:
        assert gate.reached[0].wait(60)
        with capture_output() as captured:
            ended = notebook_live.show_live_calibration(live, every=0.01)
            gate.open()
            live.wait(timeout=60)
            assert ended.wait(60), "the line was not updated at the end"
    finally:
        gate.open()
    first, last = captured.outputs[0], captured.outputs[-1]
    assert first.data["text/plain"].startswith(
        "<LiveCalibration of NormalMean: running, 0 runs, generation 0"
    )
    assert not first.update and last.update and last.transient == first.transient
    assert last.data["text/plain"] == live.status()
    assert last.data["text/plain"].startswith("<LiveCalibration of NormalMean: done")
