"""``mesa-nb``: experiment files run headless, in real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import mesa_nb
from mesa_nb.api.experiment import import_model

MODELS = textwrap.dedent(
    """
    import time
    import mesa

    class Coins(mesa.Model):
        def __init__(self, n=3, bonus=0.0, pause=0.0, rng=None):
            super().__init__(rng=rng)
            self.n, self.bonus, self.pause = n, bonus, pause
            self.datacollector = mesa.DataCollector(model_reporters={
                "Total": lambda m: m.n + m.bonus + m.random.random()})
            self.datacollector.collect(self)

        def step(self):
            time.sleep(self.pause)
            self.datacollector.collect(self)
    """
)

EXPERIMENT = textwrap.dedent(
    """
    model = "coinmodels.py:Coins"
    max_steps = 4
    iterations = 2
    seed = 42
    processes = 2
    data_collection_period = 1
    store = "runs/coins"

    [parameters]
    n = {start = 2, stop = 6, step = 2}
    bonus = 0.5
    """
)


def cli(*args: str, cwd: Path, check: bool = False) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "mesa_nb", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "coinmodels.py").write_text(MODELS)
    (tmp_path / "exp.toml").write_text(EXPERIMENT)
    return tmp_path


def test_run_gives_the_tables_of_the_same_sweep_from_python(project):
    done = cli("run", "exp.toml", "-q", cwd=project, check=True)
    assert "6 runs (6 ok, 0 failed)" in done.stdout
    stored = mesa_nb.load_store(project / "runs" / "coins")
    coins = import_model("coinmodels.py:Coins", project)
    direct = mesa_nb.sweep(
        coins,
        {"n": [2, 4, 6], "bonus": 0.5},
        max_steps=4,
        iterations=2,
        seed=42,
        data_collection_period=1,
    )
    pd.testing.assert_frame_equal(stored.model, direct.model)
    status = cli("status", "runs/coins", cwd=project, check=True)
    assert "6 done, 0 failed, 0 pending, 6 total" in status.stdout
    again = cli("run", "exp.toml", "-q", "--set", "seed=42", cwd=project, check=True)
    assert "6 runs loaded from the store" in again.stdout
    export = cli("export", "runs/coins", "--to", "out", cwd=project, check=True)
    assert "model.csv (30 rows)" in export.stdout
    assert len(pd.read_csv(project / "out" / "model.csv")) == 30


def test_ctrl_c_keeps_finished_runs_and_a_second_run_completes_the_rest(project):
    exp = project / "slow.toml"
    exp.write_text(
        EXPERIMENT.replace('store = "runs/coins"', 'store = "runs/slow"')
        .replace("bonus = 0.5", "bonus = 0.5\npause = 0.1")
        .replace("iterations = 2", "iterations = 6")
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "mesa_nb", "run", "slow.toml", "-q"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = project / "runs" / "slow" / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until two batches are stored
        if runs.is_dir() and len(list(runs.glob("*.parquet"))) >= 2:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    status = cli("status", "runs/slow", cwd=project, check=True).stdout
    done = int(status.split(": ")[1].split(" done")[0])
    assert 2 <= done < 18
    second = cli("run", "slow.toml", "-q", cwd=project, check=True)
    assert f"{done} runs loaded from the store" in second.stdout
    assert "18 runs (18 ok, 0 failed)" in second.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("max_steps = 4", "max_step = 4"),
            "max_step is not an experiment key. Did you mean 'max_steps'?",
        ),
        (('"coinmodels.py:Coins"', '"nowhere.py:Coins"'), "no file"),
        (("bonus = 0.5", "bonnus = 0.5"), "has no parameter 'bonnus'"),
        (("seed = 42", "seed = 'x'"), "seed = 'x': seed must be a whole number"),
    ],
)
def test_a_bad_file_gets_one_clear_line(project, change, message):
    (project / "bad.toml").write_text(EXPERIMENT.replace(*change))
    done = cli("run", "bad.toml", cwd=project)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_dry_run_and_help(project):
    done = cli("dry-run", "exp.toml", cwd=project, check=True)
    assert done.stdout.startswith(
        "Dry run: 6 runs of Coins = 3 parameter points x 2 iterations"
    )
    assert not (project / "runs").exists()
    for command in ("run", "status", "export", "dry-run"):
        assert "usage: mesa-nb" in cli(command, "--help", cwd=project).stdout


def test_the_magic_and_results_save_an_experiment_that_reruns(ipython, project):
    sys.path.insert(0, str(project))
    try:
        from coinmodels import Coins

        ipython.user_ns["Coins"] = Coins
        saved = project / "saved.toml"
        ipython.run_cell(
            f"%%batchrun Coins -s 3 -i 2 --seed 9 -q --save {saved} --out coins\n"
            "n = [2, 5]\nbonus = 1.0\n"
        )
        text = saved.read_text()
        assert 'model = "coinmodels:Coins"' in text and "seed = 9" in text
        done = cli(
            "run", "saved.toml", "-q", "--set", 'store="runs/saved"', cwd=project
        )
        assert done.returncode == 0, done.stderr
        stored = mesa_nb.load_store(project / "runs" / "saved")
        pd.testing.assert_frame_equal(stored.model, ipython.user_ns["coins"].model)
        ipython.user_ns["coins"].save_experiment(project / "again.toml")
        assert "[parameters]" in (project / "again.toml").read_text()
    finally:
        sys.path.remove(str(project))
    ipython.run_cell(
        "import mesa\nclass Local(mesa.Model):\n"
        "    def __init__(self, rng=None):\n        super().__init__(rng=rng)\n"
        "        self.datacollector = mesa.DataCollector({'S': 'steps'})\n"
    )
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="move the class into a file"):
        ipython.run_cell(f"%%batchrun Local -q --save {project / 'x.toml'}\n_ = 0\n")
    assert os.path.exists(project / "saved.toml")


def test_the_readme_headless_block_runs_as_written(tmp_path):
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    line = next(
        line for line in readme.splitlines() if "mesa-nb run experiments/" in line
    )
    commands = [c.strip() for c in line.split("&&")][1:]  # after the activation
    (tmp_path / "experiments").mkdir()
    experiment = (root / "experiments" / "boltzmann.toml").read_text()
    (tmp_path / "experiments" / "boltzmann.toml").write_text(experiment)
    script = Path(sys.executable).parent / "mesa-nb"
    assert script.exists(), "the mesa-nb command is not installed"
    outputs = []
    for command in commands:
        program, *args = command.split()
        assert program == "mesa-nb"
        done = subprocess.run(
            [str(script), *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(done.stdout)
    assert "20 runs (20 ok, 0 failed)" in outputs[0]
    assert "20 done, 0 failed, 0 pending, 20 total" in outputs[1]
