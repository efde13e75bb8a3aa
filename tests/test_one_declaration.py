"""The sweep options, declared once: every front end offers each option with
the declared default or says why not, the drift bugs between front ends stay
fixed, and form -> cell -> ``--save`` -> ``mesa-nb run`` gives the same sweep.

Real parts only: the session's IPython shell, ``mesa-nb`` run as the console
script and as ``python -m mesa_nb`` (cwd = a project folder, no PYTHONPATH),
real stores. Every sweep runs in-process (processes=1).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.error import UsageError

import mesa_nb
from mesa_nb.api import session
from mesa_nb.api.experiment import (
    OPTION_KEYS,
    ExperimentError,
    default_store,
    load_experiment,
)
from mesa_nb.api.reports import cell_code
from mesa_nb.core.options import (
    CELL,
    CODE,
    CONFIG,
    FILE,
    FORM,
    FRONT_ENDS,
    OPTIONS,
    Option,
    SweepOptions,
    markdown_table,
    offered,
)
from mesa_nb.core.spec import SweepSpec
from mesa_nb.examples import BoltzmannWealth
from mesa_nb.notebook.form_state import option_values, read_options
from mesa_nb.notebook.form_view import SweepForm
from mesa_nb.store.encoding import decode_value
from mesa_nb.store.manifest import sweep_definition

ROOT = Path(__file__).resolve().parents[1]
#: The console script installed next to this Python (.venv/bin/mesa-nb).
CONSOLE_SCRIPT = Path(sys.executable).parent / "mesa-nb"

#: A user's model module in the project folder (``from sir_model import SIR``).
SIR_MODEL = textwrap.dedent(
    """
    import mesa

    try:
        from mesa.experimental.scenarios import Scenario
    except ImportError:  # Mesa before 3.5: a plain class stands in
        Scenario = object


    class SIRScenario(Scenario):
        n: int = 20


    class SIR(mesa.Model):
        \"\"\"A tiny infection model with a random draw per step.\"\"\"

        def __init__(self, n: int = 20, beta: float = 0.3, gamma: float = 0.1,
                     rng=None):
            super().__init__(rng=rng)
            self.n, self.beta, self.gamma = n, beta, gamma
            self.infected = 1.0
            self.datacollector = mesa.DataCollector(
                model_reporters={
                    "Infected": "infected",
                    "Draw": lambda m: m.random.random(),
                }
            )
            self.datacollector.collect(self)

        def step(self):
            growth = self.beta * self.infected * (1 - self.infected / self.n)
            self.infected += growth - self.gamma * self.infected
            self.datacollector.collect(self)
    """
)

#: A Mesa 3.5 model whose parameters are the fields of its Scenario class.
POND_MODEL = textwrap.dedent(
    """
    import mesa
    from mesa.experimental.scenarios import Scenario


    class PondScenario(Scenario):
        fish: int = 3
        growth: float = 1.0


    class Pond(mesa.Model):
        \"\"\"Fish that grow; its parameters are the fields of PondScenario.\"\"\"

        def __init__(self, scenario: PondScenario | None = None):
            super().__init__(scenario=scenario)
            self.fish = float(self.scenario.fish)
            self.datacollector = mesa.DataCollector(
                model_reporters={"Fish": "fish", "Draw": lambda m: m.random.random()}
            )
            self.datacollector.collect(self)

        def step(self):
            self.fish += self.scenario.growth * self.random.random()
            self.datacollector.collect(self)
    """
)

USER_MODULES = ("sir_model", "pond_model")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with ``sir_model.py``, the working directory, on the
    path as a notebook's own folder is (restored afterwards)."""
    (tmp_path / "sir_model.py").write_text(SIR_MODEL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in USER_MODULES:  # each test imports its own project's module
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield tmp_path
    for name in USER_MODULES:
        sys.modules.pop(name, None)


def batchrun_magic(shell: Any) -> Any:
    """The registered ``BatchRun`` magics object of ``shell``."""
    return shell.magics_manager.registry["BatchRun"]


@pytest.fixture
def shell(ipython: Any, project: Path) -> Any:
    """The session's shell with every ``%config BatchRun`` trait at its declared
    default, and ``SIR`` imported from the project's module."""
    for opt in offered(CONFIG):
        ipython.run_line_magic("config", f"BatchRun.{opt.name} = {opt.default!r}")
    ipython.run_cell("from sir_model import SIR")
    return ipython


def mesa_nb_command(
    project: Path, *args: str, module: bool = False
) -> subprocess.CompletedProcess:
    """``mesa-nb ARGS`` (or ``python -m mesa_nb ARGS``) run in ``project``
    with no PYTHONPATH; asserts it exits 0."""
    program = [sys.executable, "-m", "mesa_nb"] if module else [str(CONSOLE_SCRIPT)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [*program, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def point_count(dry_run_text: str) -> int:
    """The parameter points a dry run announces."""
    found = re.search(r"= ([\d,]+) parameter points", dry_run_text)
    assert found, dry_run_text
    return int(found.group(1).replace(",", ""))


# -- A. the drift bugs ---------------------------------------------------------------
MORRIS_FILE = textwrap.dedent(
    """
    model = "sir_model:SIR"
    max_steps = 2
    seed = 4

    [parameters]
    beta = {between = [0.1, 0.5]}
    gamma = {between = [0.05, 0.2]}

    [design]
    method = "morris"
    """
)


def test_a_file_design_without_samples_gets_the_designs_default_as_a_cell_does(
    shell, project, capsys
):
    (project / "morris.toml").write_text(MORRIS_FILE)
    headless = mesa_nb_command(project, "dry-run", "morris.toml")
    capsys.readouterr()
    shell.run_cell(
        "%%batchrun SIR --design morris --seed 4 -s 2 --dry-run\n"
        "beta = between(0.1, 0.5)\ngamma = between(0.05, 0.2)\n"
    )
    in_cell = capsys.readouterr().out
    trajectories, ranges = 10, 2  # Morris' own default: 10 * (d + 1) points
    assert point_count(headless.stdout) == point_count(in_cell)
    assert point_count(in_cell) == trajectories * (ranges + 1)
    loaded = load_experiment(project / "morris.toml")
    assert loaded.spec.options.samples is None
    assert len(session.prepare(loaded.spec).plan.space) == trajectories * (ranges + 1)


def test_save_writes_the_store_relative_to_the_file_and_mesa_nb_run_resumes_it(
    shell, project
):
    shell.run_cell(
        "%%batchrun SIR --store runs/x --save sub/e.toml -s 2 -q -o cell\nn = [5, 6]\n"
    )
    saved = tomllib.loads((project / "sub" / "e.toml").read_text())
    store = project / "runs" / "x"
    assert (project / "sub" / saved["store"]).resolve() == store.resolve()
    before = mesa_nb.load_store(store)
    done = mesa_nb_command(project, "run", "sub/e.toml", "-q")
    assert "2 runs (2 ok, 0 failed)" in done.stdout
    assert "2 runs loaded from the store" in done.stdout  # all resumed
    assert not (project / "sub" / "runs").exists()
    after = mesa_nb.load_store(store)
    pd.testing.assert_frame_equal(after.runs, before.runs)  # nothing ran again
    pd.testing.assert_frame_equal(after.model, shell.user_ns["cell"].model)


@pytest.mark.parametrize(
    ("flags", "body", "message"),
    [
        ("--iterations 0", "n = 5", "iterations must be at least 1"),
        ("", "nn = 5", "no parameter 'nn'"),
    ],
    ids=["refused-option", "refused-parameter"],
)
def test_save_writes_no_file_for_a_refused_sweep(shell, project, flags, body, message):
    with pytest.raises(UsageError, match=message):
        shell.run_cell(f"%%batchrun SIR {flags} -q --save refused/e.toml\n{body}\n")
    assert not (project / "refused").exists()


def test_save_makes_the_folders_it_writes_into(shell, project):
    assert not (project / "sub").exists()
    shell.run_cell("%%batchrun SIR -s 1 --seed 2 -q --save sub/new/e.toml\nn = 5\n")
    saved = project / "sub" / "new" / "e.toml"
    assert saved.is_file()
    spec = load_experiment(saved).spec
    assert spec.parameters == {"n": 5} and spec.options.seed == 2


def test_save_names_a_user_module_model_that_both_commands_import(shell, project):
    shell.run_cell(
        "%%batchrun SIR -s 3 --seed 5 -q --save e.toml -o cell\nn = [8, 9]\n"
    )
    text = (project / "e.toml").read_text()
    assert 'model = "sir_model:SIR"' in text
    notebook = shell.user_ns["cell"].model
    for name, module in (("script", False), ("module", True)):
        done = mesa_nb_command(
            project,
            "run",
            "e.toml",
            "-q",
            "--set",
            f'store="runs/{name}"',
            module=module,
        )
        assert "2 runs (2 ok, 0 failed)" in done.stdout, name
        stored = mesa_nb.load_store(project / "runs" / name)
        pd.testing.assert_frame_equal(stored.model, notebook)


def test_the_form_has_controls_for_the_options_it_used_to_miss():
    form = SweepForm(BoltzmannWealth, namespace={})
    wanted = {"until", "scenario", "in_memory", "retry_failed", "force"}
    assert wanted <= set(form.options)
    assert form.options["force"].widget.value is False
    assert form.options["in_memory"].widget.value is True


def test_experiment_files_take_retry_failed_force_and_scenario(project):
    (project / "e.toml").write_text(
        'model = "sir_model:SIR"\nretry_failed = true\nforce = true\n'
        'scenario = "sir_model:SIRScenario"\n\n[parameters]\nn = 5\n'
    )
    options = load_experiment(project / "e.toml").spec.options
    import sir_model

    assert options.retry_failed is True and options.force is True
    assert options.scenario is sir_model.SIRScenario


def test_the_magic_takes_rng_one_seed_per_iteration(shell):
    shell.run_cell("%%batchrun SIR --rng 1,2,3 -s 2 -q -o seeded\nn = 10\n")
    seeded = shell.user_ns["seeded"]
    assert seeded.runs["iteration"].tolist() == [0, 1, 2]
    assert seeded.runs["seed"].tolist() == [1, 2, 3]
    direct = mesa_nb.sweep(shell.user_ns["SIR"], {"n": 10}, rng=[1, 2, 3], max_steps=2)
    pd.testing.assert_frame_equal(seeded.model, direct.model)


def test_docs_magic_md_holds_the_declared_options_table():
    text = (ROOT / "docs" / "magic.md").read_text(encoding="utf-8")
    start, end = "<!-- options:start -->", "<!-- options:end -->"
    assert start in text and end in text, "docs/magic.md has no options markers"
    table = text.split(start, 1)[1].split(end, 1)[0]
    assert table.strip() == markdown_table()


def test_batchrun_with_a_model_lists_its_parameters_and_the_options_short(
    shell, capsys
):
    shell.user_ns["BoltzmannWealth"] = BoltzmannWealth
    capsys.readouterr()
    shell.run_cell("%batchrun BoltzmannWealth")
    out = capsys.readouterr().out
    assert not out.startswith("::") and len(out) < 3000, out
    for name, default in (("n", "100"), ("width", "10"), ("height", "10")):
        assert re.search(rf"^\s+{name}\s+int\s+{default}\s*$", out, re.M), out
    assert re.search(r"^\s+-p --processes\s+1\s", out, re.M), out


# -- B. every option, every front end ------------------------------------------------
MISSING = object()


def _code(context: dict[str, Any]) -> Any:
    parameters = inspect.signature(mesa_nb.sweep).parameters

    def found(opt: Option) -> Any:
        if opt.name not in parameters:
            return MISSING
        return parameters[opt.name].default

    return found


def _cell(context: dict[str, Any]) -> Any:
    magic = batchrun_magic(context["shell"])
    parser = magic.batchrun.parser
    bare = parser.parse_args(["SIR"])  # a line without any option

    def found(opt: Option) -> Any:
        actions = [a for a in parser._actions if a.dest == opt.name]
        if not actions:
            return MISSING
        spelled = set(actions[0].option_strings)
        assert spelled == {opt.flag, *([opt.short] if opt.short else [])}, spelled
        assert not hasattr(bare, opt.name), "a flag not written must not be set"
        return magic.options(bare).values[opt.name]  # not set -> the default

    return found


def _config(context: dict[str, Any]) -> Any:
    traits = batchrun_magic(context["shell"]).traits(config=True)

    def found(opt: Option) -> Any:
        trait = traits.get(opt.name)
        return MISSING if trait is None else trait.default_value

    return found


def _file(context: dict[str, Any]) -> Any:
    project = context["project"]
    bare = project / "bare.toml"
    bare.write_text('model = "sir_model:SIR"\n\n[parameters]\nn = 5\n')
    values = load_experiment(bare).spec.options.values

    def found(opt: Option) -> Any:
        if OPTION_KEYS.get(opt.file_key) is not opt:
            assert opt not in OPTION_KEYS.values()
            table, _, key = opt.file_key.rpartition(".")
            line = f"[{table}]\n{key} = 1\n" if table else f"{key} = 1\n"
            refused = project / "refused.toml"
            refused.write_text(f'model = "sir_model:SIR"\n{line}')
            with pytest.raises(ExperimentError, match="is not an experiment key"):
                load_experiment(refused)
            return MISSING
        if opt.name == "store":  # a headless run always keeps its runs: beside it
            assert values["store"] == default_store(bare)
            return opt.default
        return values[opt.name]

    return found


def _form(context: dict[str, Any]) -> Any:
    form = SweepForm(BoltzmannWealth, namespace={})
    defaults = SweepOptions.of()
    read, errors = read_options(option_values(defaults), {})
    assert errors == {}
    shown = {name: control.widget.value for name, control in form.options.items()}
    from_widgets, widget_errors = read_options(shown, {})
    assert widget_errors == {}

    def found(opt: Option) -> Any:
        if opt.name not in form.options:
            return MISSING
        assert from_widgets.values[opt.name] == read.values[opt.name]
        return read.values[opt.name]

    return found


FINDERS = {CODE: _code, CELL: _cell, CONFIG: _config, FILE: _file, FORM: _form}


def _same(a: Any, b: Any) -> bool:
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("front_end", list(FRONT_ENDS))
def test_every_option_is_offered_with_its_default_or_its_absence_is_declared(
    front_end, shell, project
):
    assert set(FINDERS) == set(FRONT_ENDS)
    found = FINDERS[front_end]({"shell": shell, "project": project})
    problems = []
    for opt in OPTIONS:
        value = found(opt)
        if opt.offered(front_end):
            if value is MISSING:
                problems.append(f"{opt.name}: declared offered, but not there")
            elif not _same(value, opt.default):
                problems.append(f"{opt.name}: default {value!r} != {opt.default!r}")
        else:
            reason = opt.absent[front_end]
            if not (isinstance(reason, str) and reason.strip()):
                problems.append(f"{opt.name}: absent without a reason")
            if value is not MISSING:
                problems.append(f"{opt.name}: declared absent ({reason}), but there")
    assert problems == [], f"{FRONT_ENDS[front_end]}: " + "; ".join(problems)


@pytest.mark.parametrize(
    "given",
    [
        {"rng": (1, 2, 3), "in_memory": False, "retry_failed": True, "force": True},
        {"design": "lhs", "samples": 8, "seed": 3, "store": "runs/s"},
        {"until": 2.5, "timeout": 7200.25},
        {"until": 1234567.0, "timeout": 0.1234567},
        {"processes": None},
    ],
    ids=["flags-and-rng", "design-store", "short-floats", "long-floats", "all-cores"],
)
def test_a_cell_reads_back_the_options_its_code_was_written_from(shell, given):
    """The cell the form shows (``cell_code``) is read by the magic's parser into
    the same options (``processes=None`` is written ``--processes all``)."""
    options = SweepOptions.of(**given)
    head = cell_code(SweepSpec("SIR", {"n": 5}, options), "SIR").splitlines()[0]
    magic = batchrun_magic(shell)
    args = magic.batchrun.parser.parse_args(shlex.split(head)[1:])
    assert magic.options(args).given() == options.given(), head


# -- C. form -> cell -> --save -> mesa-nb run -----------------------------------------
def _grid_form(shell: Any) -> SweepForm:
    form = SweepForm(shell.user_ns["SIR"], namespace=shell.user_ns)
    n = form.rows["n"]
    n.mode.value, n.list_text.value = "sweep", "10, 20"
    form.rows["beta"].fixed.value = 0.4
    options = {"iterations": 2, "max_steps": 3, "data_collection_period": 1}
    return _set_options(form, {**options, "seed": "7"})


def _design_form(shell: Any) -> SweepForm:
    form = SweepForm(shell.user_ns["SIR"], namespace=shell.user_ns)
    form.options["design"].widget.value = "lhs"
    beta = form.rows["beta"]
    beta.mode.value, beta.sweep_style.value = "sweep", "range"
    beta.start.value, beta.stop.value = 0.1, 0.5
    form.rows["n"].fixed.value = 15
    return _set_options(form, {"samples": "8", "max_steps": 2, "seed": "3"})


def _scenario_form(shell: Any) -> SweepForm:
    pytest.importorskip(
        "mesa.experimental.scenarios",
        reason="Scenario models need Mesa 3.5+ (the Python 3.12 leg)",
    )
    (Path.cwd() / "pond_model.py").write_text(POND_MODEL)
    shell.run_cell("from pond_model import Pond, PondScenario")
    form = SweepForm(shell.user_ns["Pond"], namespace=shell.user_ns)
    assert set(form.rows) == {"fish", "growth"}  # the scenario's fields
    fish = form.rows["fish"]
    fish.mode.value, fish.list_text.value = "sweep", "2, 4"
    form.rows["growth"].fixed.value = 0.5
    options = {"iterations": 2, "max_steps": 3, "data_collection_period": 1}
    return _set_options(form, {**options, "seed": "11", "scenario": "PondScenario"})


def _set_options(form: SweepForm, values: dict[str, Any]) -> SweepForm:
    values = {**values, "store": "runs/nb", "output": "from_form"}
    for name, value in values.items():
        form.options[name].widget.value = value
    return form


@pytest.mark.parametrize(
    "make_form",
    [_grid_form, _design_form, _scenario_form],
    ids=["grid", "design", "scenario"],
)
def test_form_cell_save_and_mesa_nb_run_give_the_same_sweep(make_form, shell, project):
    form = make_form(shell)
    code = form.code()
    assert code is not None, (form.validation.errors, form.validation.general)
    head, *body = code.splitlines()
    assert head.startswith("%%batchrun ") and "--store runs/nb" in head
    shell.run_cell("\n".join([head + " -q --save exp.toml", *body]) + "\n")
    notebook = shell.user_ns["from_form"]
    mesa_nb_command(project, "run", "exp.toml", "-q", "--set", 'store="runs/file"')

    cell_store, file_store = project / "runs" / "nb", project / "runs" / "file"
    manifests = [
        json.loads((store / "manifest.json").read_text())
        for store in (cell_store, file_store)
    ]
    assert manifests[0]["definition"] == manifests[1]["definition"]
    planned = json.loads(json.dumps(sweep_definition(form.request.plan)))
    assert planned == manifests[0]["definition"]  # what the form would have run
    specs = [decode_value(m["metadata"]["spec"]) for m in manifests]
    for spec in specs:
        spec["options"].pop("store", None)
    assert specs[0] == specs[1]
    stored = [mesa_nb.load_store(store) for store in (cell_store, file_store)]
    assert stored[0].n_ok == len(stored[0].runs) > 0
    pd.testing.assert_frame_equal(stored[0].model, stored[1].model)
    pd.testing.assert_frame_equal(stored[0].model, notebook.model)
