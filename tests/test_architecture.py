"""The layers hold: import-linter's contracts, and what ``import mesa_nb`` loads.

The contracts themselves live in pyproject.toml (``[tool.importlinter]``);
docs/architecture.md explains them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_architecture_contracts_are_kept():
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if linter is None:
        pytest.fail("lint-imports is missing: pip install -e '.[test]'")
    done = subprocess.run(
        [linter, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    kept = [line for line in done.stdout.splitlines() if line.endswith(" KEPT")]
    assert len(kept) == 4, done.stdout


def test_importing_mesa_nb_loads_no_notebook_or_plotting_library():
    code = (
        "import sys, mesa_nb\n"
        "heavy = ('IPython', 'ipywidgets', 'matplotlib', 'traitlets', 'distributed')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
        "r = mesa_nb.SweepResult.plot\n"  # the accessor exists without loading them
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "[]"]


def test_a_sweep_loads_no_scipy_stats_in_its_process_or_its_workers():
    # scipy.stats takes a third of a second to import, in every new worker too:
    # only calibration priors and statistics load it, when they are used
    code = textwrap.dedent(
        """
        import sys, mesa, mesa_nb

        class Probe(mesa.Model):
            def __init__(self, size=1, rng=None):
                super().__init__(rng=rng)
                self.datacollector = mesa.DataCollector(
                    model_reporters={"stats": lambda m: "scipy.stats" in sys.modules}
                )
                self.datacollector.collect(self)

            def step(self):
                self.datacollector.collect(self)

        result = mesa_nb.sweep(Probe, {"size": [1, 2]}, max_steps=1, processes=2)
        assert (result.runs["status"] == "ok").all(), result.runs
        print(sorted(set(result.model["stats"])), "scipy.stats" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[False] False"


def test_sweep_results_get_plot_and_stats_from_the_analysis_layer():
    import mesa_nb
    from mesa_nb.analysis.plots import PlotAccessor
    from mesa_nb.examples import BoltzmannWealth

    result = mesa_nb.sweep(BoltzmannWealth, {"n": [5, 10]}, max_steps=3, seed=1)
    assert isinstance(result.plot, PlotAccessor)
    stats = result.stats("Gini", by="n", final=True)
    assert stats["n"].tolist() == [5, 10] and stats["count"].tolist() == [1, 1]
    assert result.model_reporters == ("Gini",)
