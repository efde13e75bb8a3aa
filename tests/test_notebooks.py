"""The notebooks in notebooks/ executed by a real Jupyter kernel.

Every cell must run; each notebook ends with cells that assert on the bound
results. Executed copies are written to test-artifacts/notebooks/.
"""

from __future__ import annotations

import json
from pathlib import Path

import mesa
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"
WIDGET = "application/vnd.jupyter.widget-view+json"


def execute(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, ARTIFACTS / path.name)
    return notebook


@pytest.fixture(scope="module")
def executed() -> dict[str, nbformat.NotebookNode]:
    return {}


def test_there_are_notebooks_to_run():
    assert len(NOTEBOOKS) >= 3


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_its_checks_pass(path, executed):
    needs = nbformat.read(path, as_version=4).metadata.get("mesa_nb", {})
    required = needs.get("requires_mesa")
    if required and _version(mesa.__version__) < _version(required):
        pytest.skip(
            f"{path.name} needs Mesa {required}; this is Mesa {mesa.__version__}"
        )
    notebook = execute(path)
    executed[path.name] = notebook
    sweep_cells = [
        c
        for c in notebook.cells
        if c.cell_type == "code"
        and c.source.startswith("%%batchrun")
        and "--dry-run" not in c.source
    ]
    assert sweep_cells, "each notebook runs at least one sweep"
    for cell in sweep_cells:
        widgets = [o for o in cell.outputs if WIDGET in o.get("data", {})]
        assert widgets, f"no progress widget in the output of:\n{cell.source}"
        state = (
            notebook.metadata.get("widgets", {})
            .get("application/vnd.jupyter.widget-state+json", {})
            .get("state", {})
        )
        if state:  # the bar's model: a tqdm HBox with a FloatProgress
            models = {m["model_name"] for m in state.values()}
            assert {"HBoxModel", "FloatProgressModel"} <= models
        text = json.dumps(cell.outputs)
        assert "sweep:" in text and "ok" in text  # the summary is displayed
    pictures = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert pictures, "each notebook shows at least one plot"
