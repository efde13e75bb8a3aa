"""The %%batchrun magic in a real IPython InteractiveShell."""

from __future__ import annotations

import sys
import textwrap

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import mesa_nb

MODEL_CELL = textwrap.dedent(
    """
    import mesa

    class Coin(mesa.Agent):
        def __init__(self, model):
            super().__init__(model)
            self.wealth = 1

        def step(self):
            if self.wealth:
                self.random.choice(list(self.model.agents)).wealth += 1
                self.wealth -= 1

    class CellModel(mesa.Model):
        def __init__(self, n=3, rate=0.5, label="a", rng=None):
            super().__init__(rng=rng)
            self.rate = rate
            if label == "boom":
                raise ValueError("label boom is not allowed")
            for _ in range(n):
                Coin(self)
            self.datacollector = mesa.DataCollector(
                model_reporters={"Total": lambda m: sum(a.wealth for a in m.agents),
                                 "Rate": "rate"},
                agent_reporters={"Wealth": "wealth"})
            self.datacollector.collect(self)

        def step(self):
            self.agents.shuffle_do("step")
            self.datacollector.collect(self)
    """
)


@pytest.fixture(scope="module")
def shell(ipython):
    ipython.run_cell(MODEL_CELL)
    return ipython


@pytest.fixture
def ip(shell):
    shell.run_line_magic("config", "BatchRun.processes = 1")
    shell.run_line_magic("config", "BatchRun.iterations = 1")
    shell.run_line_magic("config", "BatchRun.output = 'results'")
    shell.run_line_magic("config", "BatchRun.quiet = True")
    for name in ("results", "sweep2", "other"):
        shell.user_ns.pop(name, None)
    return shell


def test_a_cell_model_is_swept_on_two_processes_and_bound(ip):
    ip.run_cell(
        "%%batchrun CellModel --processes 2 --iterations 3 --max-steps 5 --seed 1\n"
        "n = [2, 4]\n"
        "rate = 0.25\n"
    )
    results = ip.user_ns["results"]
    assert isinstance(results, mesa_nb.SweepResult)
    assert len(results.runs) == 6 and results.n_ok == 6
    assert results.metadata["workers"] == 2
    assert results.model["Rate"].eq(0.25).all()
    assert results.runs["n"].tolist() == [2, 4] * 3
    assert (results.model["Step"] == 5).all()
    assert set(results.agents.columns) == {"RunId", "Step", "AgentID", "Wealth"}


def test_the_cell_returns_the_result_so_ipython_displays_it(ip):
    result = ip.run_cell("%%batchrun CellModel -s 2\nn = 2\n")
    assert result.result is ip.user_ns["results"]
    html = result.result._repr_html_()
    assert "1 ok" in html and "<table" in html


def test_options_are_passed_and_the_same_seed_gives_the_same_result(ip):
    cell = "%%batchrun CellModel -i 2 -s 6 -c 3 --seed 7 -o {out}\nn = range(2, 4)\n"
    ip.run_cell(cell.format(out="results"))
    ip.run_cell(cell.format(out="sweep2"))
    first, second = ip.user_ns["results"], ip.user_ns["sweep2"]
    assert first.model["Step"].tolist() == [0, 3, 6] * 4
    assert first.metadata["iterations"] == 2 and first.metadata["master_seed"] == 7
    assert first.model["Total"].tolist() == second.model["Total"].tolist()
    assert first.agents.equals(second.agents)


def test_cell_body_uses_the_namespace_helpers_and_lambdas(ip):
    ip.run_cell("import numpy as np\nsizes = [3, 5]")
    ip.run_cell(
        "%%batchrun CellModel -s 1 --seed 3\n"
        "_double = lambda xs: [2 * x for x in xs]\n"
        "n = _double(sizes)\n"
        "rate = np.linspace(0.1, 0.3, 3)\n"
        "label = lambda rng: str(rng.integers(10))\n"
    )
    results = ip.user_ns["results"]
    assert results.parameter_names == ("n", "rate", "label")
    assert sorted(results.runs["n"].unique()) == [6, 10]
    assert results.runs["rate"].round(2).unique().tolist() == [0.1, 0.2, 0.3]
    assert results.runs["label"].map(type).eq(str).all()
    assert "_double" not in ip.user_ns and "n" not in ip.user_ns


def test_config_sets_defaults(ip):
    ip.run_line_magic("config", "BatchRun.iterations = 3")
    ip.run_line_magic("config", "BatchRun.output = 'other'")
    ip.run_cell("%%batchrun CellModel -s 1\nn = 2\n")
    assert len(ip.user_ns["other"].runs) == 3
    assert "results" not in ip.user_ns


def test_dry_run_plans_and_runs_nothing(ip, capsys):
    ip.run_cell(
        "%%batchrun CellModel -i 4 --dry-run\nn = [1, 2, 3]\nrate = [0.1, 0.2]\n"
    )
    out = capsys.readouterr().out
    assert "Dry run: 24 runs of CellModel = 6 parameter points x 4 iterations" in out
    assert "results" not in ip.user_ns


def test_progress_bar_shows_runs_done_and_failed(ip, capsys):
    ip.run_line_magic("config", "BatchRun.quiet = False")
    ip.run_cell("%%batchrun CellModel -s 1\nlabel = ['a', 'boom', 'a']\n")
    err = capsys.readouterr().err
    assert "3/3" in err and "failed=1" in err


def test_failed_runs_are_reported_and_the_rest_bound(ip, capsys):
    ip.run_cell("%%batchrun CellModel -s 2\nlabel = ['a', 'boom']\n")
    results = ip.user_ns["results"]
    assert results.n_ok == 1 and results.n_failed == 1
    assert "label boom is not allowed" in results.failures["error"].iloc[0]
    assert "1 of 2 runs failed, e.g. RunId 1: " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%%batchrun NoSuchModel\nn = 1\n", "No model named 'NoSuchModel'"),
        ("%%batchrun CelModel\nn = 1\n", "Did you mean CellModel"),
        ("%%batchrun CellModel\nnn = 1\n", "no parameter 'nn'. Did you mean 'n'"),
        ("%%batchrun CellModel\nn = 1 / 0\n", "ZeroDivisionError on line 1"),
        ("%%batchrun CellModel\nn = [\n", "not valid Python"),
        ("%%batchrun CellModel\nn += 1\n", "give each parameter once"),
        ("%%batchrun CellModel -i 0\nn = 1\n", "iterations must be at least 1"),
        (
            "%%batchrun CellModel -p lots\nn = 1\n",
            "processes must be a whole number of processes, 1 or more, or 'all'",
        ),
        ("%%batchrun CellModel --bogus\nn = 1\n", "unrecognized arguments: --bogus"),
        ("%%batchrun CellModel -o 1x\nn = 1\n", "output must be a Python name"),
        ("%%batchrun CellModel\nn = []\n", "'n' has no values"),
    ],
)
def test_errors_are_one_usage_error_naming_the_fix(ip, cell, message):
    with pytest.raises(UsageError, match=message):
        ip.run_cell(cell)


def test_a_usage_error_shows_one_line_and_no_traceback(shell, capsys):
    result = InteractiveShell.run_cell(shell, "%%batchrun CellModel\nnn = 1\n")
    assert isinstance(result.error_in_exec, UsageError)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "UsageError: CellModel has no parameter 'nn'" in text
    assert "Traceback" not in text and "mesa_nb" not in text


def test_dotted_paths_resolve_to_importable_models(ip):
    ip.run_cell("%%batchrun mesa_nb.examples.BoltzmannWealthNoSpace -s 2\nn = 4\n")
    assert ip.user_ns["results"].metadata["model"] == "BoltzmannWealthNoSpace"


def test_help_documents_the_options(ip):
    doc = ip.find_cell_magic("batchrun").__doc__
    for option in (
        "--iterations",
        "--max-steps",
        "--collect-every",
        "--processes",
        "--seed",
        "--out",
        "--quiet",
        "--dry-run",
    ):
        assert option in doc


def test_importing_mesa_nb_does_not_import_ipython():
    import subprocess

    code = "import mesa_nb, sys; assert 'IPython' not in sys.modules, 'IPython'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_unload_and_reload(shell):
    shell.run_line_magic("unload_ext", "mesa_nb")
    assert shell.find_cell_magic("batchrun") is None
    shell.run_line_magic("load_ext", "mesa_nb")
    shell.run_line_magic("reload_ext", "mesa_nb")
    assert shell.find_cell_magic("batchrun") is not None
    assert sum(type(c).__name__ == "BatchRun" for c in shell.configurables) == 1


def test_store_option_writes_and_resumes(ip, tmp_path, capsys):
    cell = f"%%batchrun CellModel -s 3 --seed 5 --store {tmp_path}\nn = [2, 3]\n"
    ip.run_cell(cell)
    first = ip.user_ns["results"]
    assert (tmp_path / "manifest.json").exists()
    capsys.readouterr()
    ip.run_cell(cell)
    assert "2 runs loaded from the store" in capsys.readouterr().out
    again = ip.user_ns["results"]
    assert again.metadata["resumed_runs"] == 2
    assert again.agents.equals(first.agents)


def test_an_interrupt_binds_the_finished_runs(ip, capsys):
    import signal
    import threading

    ip.run_cell(
        "import time\nclass SlowCell(CellModel):\n"
        "    def step(self):\n        time.sleep(0.05)\n        super().step()\n"
    )
    main = threading.main_thread().ident
    threading.Timer(1.0, signal.pthread_kill, args=(main, signal.SIGINT)).start()
    ip.run_cell("%%batchrun SlowCell -s 4 -i 30\nn = 2\n")
    results = ip.user_ns["results"]
    assert results.interrupted and 0 < results.n_ok < 30
    assert results.n_ok + results.n_cancelled == 30
    assert f"Interrupted: kept {results.n_ok} finished runs" in capsys.readouterr().out
