"""A plain ``pip install mesa_nb`` (no extras) is a working Jupyter extension,
and runs the README's headless block keeping every run.

A fresh virtual environment gets this checkout with ``pip install .`` and
only what a notebook needs to run at all (a kernel, and nbclient to drive
it); a real kernel then runs a notebook: the progress bar must be the widget
bar, the form must show, and a plot must render.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import venv
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
WIDGET = "application/vnd.jupyter.widget-view+json"

CELLS = [
    "%load_ext mesa_nb",
    textwrap.dedent(
        """
        import mesa

        class Coins(mesa.Model):
            def __init__(self, n=5, rng=None):
                super().__init__(rng=rng)
                self.total = n
                self.datacollector = mesa.DataCollector(
                    model_reporters={"Total": lambda m: m.total + m.random.random()})
                self.datacollector.collect(self)

            def step(self):
                self.datacollector.collect(self)
        """
    ).strip(),
    "%%batchrun Coins --processes 2 --iterations 2 --max-steps 4 --collect-every 1"
    " --seed 1\nn = [5, 10]",
    "%matplotlib inline\nresults.plot.lines('Total', by='n');",
    "%batchrun_form Coins",
    "import sys\nprint(sorted(m for m in ('ipywidgets', 'matplotlib') if m in"
    " sys.modules))",
]

RUNNER = textwrap.dedent(
    """
    import sys, nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(sys.argv[1], as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    nbformat.write(nb, sys.argv[2])
    """
)


@pytest.mark.slow
def test_a_plain_install_shows_the_widget_bar_the_form_and_a_plot(tmp_path):
    env_dir = tmp_path / "plain"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(ROOT), "ipykernel", "nbclient"],
        capture_output=True,
        text=True,
        timeout=900,
        env=environment,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    extras = subprocess.run(
        [str(python), "-c", "import distributed"], capture_output=True, env=environment
    )
    assert extras.returncode != 0, "dask came in: the install was not plain"

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    source, executed = tmp_path / "plain.ipynb", tmp_path / "plain-out.ipynb"
    nbformat.write(notebook, source)
    runner = tmp_path / "run.py"
    runner.write_text(RUNNER)
    environment["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{environment['PATH']}"
    done = subprocess.run(
        [str(python), str(runner), str(source), str(executed)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=environment,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cells = nbformat.read(executed, as_version=4).cells

    sweep = json.dumps(cells[2].outputs)
    assert WIDGET in sweep, "the progress bar fell back to text"
    assert "4 runs (4 ok, 0 failed)" in sweep and "on 2 worker processes" in sweep
    assert any("image/png" in o.get("data", {}) for o in cells[3].outputs)
    assert any(WIDGET in o.get("data", {}) for o in cells[4].outputs), "no form"
    assert "['ipywidgets', 'matplotlib']" in json.dumps(cells[5].outputs)

    # the README's headless block, as written, on this plain install
    readme = (ROOT / "README.md").read_text()
    line = next(line for line in readme.splitlines() if "mesa-nb run " in line)
    (tmp_path / "experiments").mkdir()
    experiment = (ROOT / "experiments" / "boltzmann.toml").read_text()
    (tmp_path / "experiments" / "boltzmann.toml").write_text(experiment)
    for command in [c.strip() for c in line.split("&&")][1:]:  # after activation
        ran = subprocess.run(
            command.split(),
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            env=environment,
        )
        assert ran.returncode == 0, ran.stderr[-3000:]
    status = ran.stdout
    assert " 0 failed, 0 pending" in status and "20 done" in status, status
