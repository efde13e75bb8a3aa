"""A store is the record of a study: a stored design can be analysed however
it was run, a form's code cannot run code, a headless run always keeps its
runs, and warnings point at the user's code."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import mesa
import pandas as pd
import pytest
from IPython.core.error import UsageError

import mesa_nb
from mesa_nb.core.designs import between, sobol
from mesa_nb.notebook.form_state import FormState

MODEL = '''
import mesa
import pandas as pd


class Linear(mesa.Model):
    """y = 3a + b, with a little noise from the model's own generator."""

    def __init__(self, a: float = 0.5, b: float = 0.5, rng=None):
        super().__init__(rng=rng)
        self.y = 3 * a + b + 0.01 * self.rng.random()
        self.datacollector = mesa.DataCollector({"y": "y"})

    def step(self):
        self.datacollector.collect(self)
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "linear.py").write_text(MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("linear", None)
    return tmp_path


def _ranked(store: Path) -> list[str]:
    indices = mesa_nb.load_store(store).sensitivity("y")
    return indices["ST"].sort_values(ascending=False).index.tolist()


def test_a_stored_design_is_analysed_from_python(project):
    from linear import Linear

    design = sobol({"a": between(0, 1), "b": between(0, 1)}, 16, seed=3)
    mesa_nb.sweep(Linear, design, max_steps=1, seed=1, store=project / "py")
    assert _ranked(project / "py") == ["a", "b"]


def test_a_stored_design_is_analysed_from_a_cell(project, ipython):
    ipython.run_cell("from linear import Linear")
    ipython.run_cell(
        "%%batchrun Linear --design sobol --samples 16 --seed 1 -q -s 1 --store cell\n"
        "a = between(0, 1)\nb = between(0, 1)\n"
    )
    assert _ranked(project / "cell") == ["a", "b"]


def _run_headless(project: Path) -> subprocess.CompletedProcess:
    """``python -m mesa_nb run exp.toml -q`` in the project folder."""
    return subprocess.run(
        [sys.executable, "-m", "mesa_nb", "run", "exp.toml", "-q"],
        capture_output=True,
        text=True,
        cwd=project,
    )


def test_a_stored_design_is_analysed_after_mesa_nb_run(project):
    (project / "exp.toml").write_text(
        'model = "linear:Linear"\nmax_steps = 1\nseed = 1\nstore = "headless"\n'
        "[parameters]\na = {between = [0, 1]}\nb = {between = [0, 1]}\n"
        '[design]\nmethod = "sobol"\nsamples = 16\n'
    )
    done = _run_headless(project)
    assert done.returncode == 0, done.stderr
    assert _ranked(project / "headless") == ["a", "b"]


def test_a_headless_file_without_a_store_keeps_its_runs_beside_it(project):
    (project / "exp.toml").write_text(
        'model = "linear:Linear"\nmax_steps = 1\nseed = 1\n[parameters]\na = [0, 1]\n'
    )
    done = _run_headless(project)
    assert done.returncode == 0, done.stderr
    assert "exp-runs" in done.stderr  # it says where
    assert mesa_nb.load_store(project / "exp-runs").n_ok == 2


def test_the_forms_code_cannot_run_code(project, ipython):
    from linear import Linear

    ipython.user_ns["Linear"] = Linear
    form = FormState(Linear, namespace=ipython.user_ns)
    form.options.update(store="runs/{len(dir())}$HOME", seed="1", max_steps=1)
    code = form.code("Linear")
    ipython.run_cell(code.replace("--out results", "--out coded -q"))
    assert (project / "runs" / "{len(dir())}$HOME" / "manifest.json").exists()
    assert sorted(p.name for p in (project / "runs").iterdir()) == ["{len(dir())}$HOME"]


class NoSeed(mesa.Model):
    def __init__(self, n: int = 1):
        super().__init__()
        self.datacollector = mesa.DataCollector({"n": lambda m: n})

    def step(self):
        self.datacollector.collect(self)


def test_a_model_without_a_seed_gets_one_warning_at_the_users_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mesa_nb.sweep(NoSeed, {"n": [1, 2]}, max_steps=1)  # the line warned about
    mine = [w for w in caught if issubclass(w.category, UserWarning)]
    assert len(mine) == 1, [str(w.message) for w in mine]
    assert "takes neither rng nor seed" in str(mine[0].message)
    assert mine[0].filename == __file__


def test_bad_cell_input_is_refused_before_any_run(project, ipython):
    ipython.run_cell("from linear import Linear")
    with pytest.raises(UsageError, match="range needs a design"):
        ipython.run_cell("%%batchrun Linear -q -s 1\na = between(0, 1)\n")


class Given(mesa.Model):
    """Reports the repr of the value it was given for ``k``."""

    def __init__(self, k=None, rng=None):
        super().__init__(rng=rng)
        self.given = repr(k)
        self.datacollector = mesa.DataCollector({"given": "given"})

    def step(self):
        self.datacollector.collect(self)


def test_whole_numbers_beside_none_keep_their_values_in_every_table(tmp_path):
    # pandas alone makes this column floats: 5.0, NaN, and 2**60 + 1 rounded.
    values = [None, 5, 2**60 + 1]
    result = mesa_nb.sweep(Given, {"k": values}, max_steps=1, store=tmp_path / "s")
    loaded = mesa_nb.load_store(tmp_path / "s")
    for runs in (result.runs, loaded.runs):
        assert str(runs["k"].dtype) == "Int64"
        assert runs["k"].tolist() == [pd.NA, 5, 2**60 + 1]
    model = result.with_parameters("model")
    assert model["k"].tolist() == [pd.NA, 5, 2**60 + 1]
    assert model["given"].tolist() == [repr(v) for v in values]
    rows = mesa_nb.batch_run(Given, {"k": values}, max_steps=1, display_progress=False)
    assert [row["k"] for row in rows] == values
    assert [row["k"] for row in loaded.to_mesa_rows()] == values
