"""What a newcomer meets first: the README as written, and exact messages."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from IPython.core.error import UsageError
from nbclient import NotebookClient

import mesa_nb
import mesa_nb.examples

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_the_readme_python_blocks_run_as_written(tmp_path):
    """The "In Python" block, as a script (its store goes to a temp folder)."""
    (code,) = [b for b in blocks("python") if "import mesa_nb\n" in b]
    code = code.replace('store="runs/boltzmann"', f'store="{tmp_path}/b"')
    script = tmp_path / "readme.py"
    script.write_text("if __name__ == '__main__':\n" + textwrap.indent(code, "    "))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_the_readme_notebook_blocks_run_in_a_kernel_as_written(tmp_path):
    cells = [b for b in blocks("python") if b.startswith(("%", "results."))]
    assert cells[0].startswith("%load_ext mesa_nb")
    assert "import BoltzmannWealth" in cells[0]  # the model is imported
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    outputs = [o for c in notebook.cells for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]


def test_mesa_examples_import_on_this_python():
    done = subprocess.run(
        [sys.executable, "-c", "from mesa.examples import BoltzmannWealth"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr  # networkx comes with mesa_nb


def test_a_broken_dotted_model_shows_its_real_import_error(ipython, tmp_path):
    (tmp_path / "brokenmod.py").write_text("import not_a_module\nclass M: pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(UsageError, match="No module named 'not_a_module'"):
            ipython.run_cell("%%batchrun brokenmod.M\nn = 1\n")
    finally:
        sys.path.remove(str(tmp_path))


def test_line_help_and_option_typos(ipython, capsys):
    ipython.run_line_magic("batchrun", "")
    shown = capsys.readouterr().out
    assert "runs a sweep of MODEL" in shown and "--processes" in shown
    assert len(shown) < 3000  # short: the full help stays behind %%batchrun?
    ipython.user_ns["BoltzmannWealth"] = mesa_nb.examples.BoltzmannWealth
    with pytest.raises(UsageError, match="did you mean --processes"):
        ipython.run_cell("%%batchrun BoltzmannWealth --proccesses 2\nn = 5\n")
    with pytest.raises(UsageError, match=r"processes must be .* 1 or more"):
        ipython.run_cell("%%batchrun BoltzmannWealth --processes 0\nn = 5\n")


def test_a_string_where_the_model_wants_a_number_is_refused_before_any_run():
    from mesa_nb.examples import BoltzmannWealth

    with pytest.raises(mesa_nb.ParameterError, match=r"n = \[5, 10\]"):
        mesa_nb.sweep(BoltzmannWealth, {"n": "5, 10"})


def test_mesa_nb_errors_in_a_cell_are_one_line(ipython, capsys):
    ipython.user_ns["BoltzmannWealth"] = mesa_nb.examples.BoltzmannWealth
    ipython.run_cell("%%batchrun BoltzmannWealth -q -s 2 --seed 1 -o first\nn = [5]\n")
    shell = ipython
    result = (
        shell.run_cell.__wrapped__ if hasattr(shell.run_cell, "__wrapped__") else None
    )
    assert result is None
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.run_cell(shell, "first.stats('nope')")
    err = capsys.readouterr().err
    assert "ParameterError: No model reporter 'nope'" in err
    assert "Traceback" not in err


def test_a_resume_says_how_many_runs_were_loaded(ipython, capsys, tmp_path):
    ipython.user_ns["BoltzmannWealth"] = mesa_nb.examples.BoltzmannWealth
    cell = (
        f"%%batchrun BoltzmannWealth -q -s 2 --seed 1 --store {tmp_path}/s\n"
        "n = [5, 6]\n"
    )
    ipython.run_cell(cell)
    capsys.readouterr()
    ipython.run_cell(cell)
    assert "2 runs loaded from the store" in capsys.readouterr().out


def test_the_form_header_shows_only_the_models_own_docstring():
    import mesa

    from mesa_nb.notebook.form_view import SweepForm

    class Bare(mesa.Model):
        def __init__(self, n: int = 1, rng=None):
            super().__init__(rng=rng)
            self.datacollector = mesa.DataCollector({"N": lambda m: n})

    class Told(Bare):
        """Agents that tell."""

    assert "Base class" not in SweepForm(Bare, namespace={}).widget.children[0].value
    assert "Agents that tell" in SweepForm(Told, namespace={}).widget.children[0].value
