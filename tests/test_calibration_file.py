"""Calibrations in experiment files: ``[calibrate]`` read and written by the same
code, run headless by real ``mesa-nb`` subprocesses (Ctrl-C included), and
looked into with ``mesa-nb status``.
"""

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
from scipy import stats

import mesa_nb
from mesa_nb.api.experiment import ExperimentError, import_model
from mesa_nb.calibration import CalibrationSpec, load_calibration
from mesa_nb.calibration.api import run as run_calibration
from mesa_nb.calibration.experiment import (
    OPTION_KEYS,
    load_calibration_experiment,
    observed_file,
    save_calibration_experiment,
)
from mesa_nb.calibration.options import CALIBRATION_OPTIONS
from mesa_nb.cli import main
from mesa_nb.core.options import FILE
from mesa_nb.designs import between, integers, one_of
from mesa_nb.examples import Epidemic
from tests.models import NormalMean

ROOT = Path(__file__).resolve().parents[1]

FIT = textwrap.dedent(
    """
    model = "tests.models:NormalMean"
    max_steps = 0
    seed = 11

    [parameters]
    draws = 50

    [calibrate]
    population = 50
    generations = 3
    observed = {Mean = 1.3}

    [calibrate.priors]
    mu = {between = [-5, 5]}
    """
)

#: A model that holds its runs from the second generation on while a gate
#: file exists (Ctrl-C then stops the calibration in that generation).
HELD = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path

    from tests.models import NormalMean


    class Held(NormalMean):
        def __init__(self, mu=0.0, rng=None):
            told = Path(os.environ["HELD_STORE"]) / "told" / "g000-b000.json"
            while told.exists() and Path(os.environ["HELD_GATE"]).exists():
                time.sleep(0.01)
            super().__init__(mu=mu, rng=rng)
    """
)


def cli(*args: str, cwd: Path, env: dict | None = None, check: bool = True):
    done = subprocess.run(
        [sys.executable, "-m", "mesa_nb", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=_env(env),
    )
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def _env(extra: dict | None = None) -> dict:
    """This environment with the repository on the path (``tests.models``)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


def _fit(**options) -> mesa_nb.calibration.Calibration:
    return mesa_nb.calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        {"draws": 50},
        **{"population": 50, "generations": 3, "max_steps": 0, "seed": 11, **options},
        quiet=True,
    )


def _curve() -> pd.DataFrame:
    """Infected counts of a seeded epidemic, every fourth step."""
    model = mesa_nb.sweep(
        Epidemic,
        {"beta": 0.6, "gamma": 0.2, "population": 300},
        max_steps=20,
        data_collection_period=1,
        seed=5,
    ).model
    return model[["Step", "Infected"]].iloc[::4].reset_index(drop=True)


# -- one spec, written and read -----------------------------------------------------
def test_a_spec_written_to_a_file_reads_back_the_same(tmp_path):
    spec = CalibrationSpec.of(
        NormalMean,
        {
            "mu": stats.norm(0.5, 2.0),
            "draws": integers(20, 60),
            "kind": one_of("a", "b"),
            "fail_above": between(50, 99),
        },
        pd.DataFrame({"Step": [0, 2, 4], "Mean": [1.0, None, 1.5]}),
        {"rate": 0.25, "sizes": [1, 2]},
        method="abc",
        population=30,
        generations=4,
        quantile=0.4,
        max_steps=5,
        seed=3,
        processes=None,
        store=tmp_path / "runs" / "fit",
    )
    path = save_calibration_experiment(tmp_path / "exp" / "fit.toml", spec)
    csv = observed_file(path)
    assert csv == tmp_path / "exp" / "fit-observed.csv" and csv.is_file()
    text = path.read_text()
    assert 'observed = "fit-observed.csv"' in text and 'processes = "all"' in text
    assert 'store = "../runs/fit"' in text
    back = load_calibration_experiment(path).spec
    assert back.to_dict() == spec.to_dict()
    assert back.options.store == tmp_path / "exp" / "../runs/fit"
    assert back.options.processes is None
    values = CalibrationSpec.of(NormalMean, {"mu": between(0, 2)}, {"Mean": 1.3})
    path = save_calibration_experiment(tmp_path / "values.toml", values)
    again = load_calibration_experiment(path)
    assert again.spec.to_dict() == values.to_dict()
    assert again.spec.options.store == tmp_path / "values-runs"  # the default
    assert not observed_file(path).exists()


def test_every_option_a_file_offers_has_its_key():
    keys = {o.file_key for o in CALIBRATION_OPTIONS if o.offered(FILE)}
    assert set(OPTION_KEYS) == keys
    assert "calibrate.population" in keys and "max_steps" in keys
    assert not {"background", "output", "quiet", "calibrate.summaries"} & {
        k.split(".")[-1] for k in keys
    }


def test_a_function_or_a_notebook_model_is_refused_when_saving(tmp_path):
    spec = CalibrationSpec.of(
        NormalMean, {"mu": between(0, 2)}, {"Mean": 1.3}, distance=lambda a, b: 0.0
    )
    with pytest.raises(ExperimentError, match="distance is a Python function"):
        save_calibration_experiment(tmp_path / "f.toml", spec)
    local = type("Local", (NormalMean,), {"__module__": "__main__"})
    spec = CalibrationSpec.of(local, {"mu": between(0, 2)}, {"Mean": 1.3})
    with pytest.raises(ExperimentError, match="defined in the notebook"):
        save_calibration_experiment(tmp_path / "f.toml", spec)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("population = 50", "populaton = 50"),
            "fit.toml: calibrate.populaton is not a calibration key. Did you mean "
            "'calibrate.population'?",
        ),
        (("max_steps = 0", "max_step = 0"), "Did you mean 'max_steps'?"),
        (("observed = {Mean = 1.3}", ""), "calibrate.observed is missing: add"),
        (
            ("observed = {Mean = 1.3}", 'observed = "nope.csv"'),
            "calibrate.observed: no file",
        ),
        (("mu = {between = [-5, 5]}", ""), "calibrate.priors is missing"),
        (
            ("mu = {between = [-5, 5]}", "mu = {between = [5]}"),
            "calibrate.priors.mu = {'between': [5]}: give [low, high].",
        ),
        (
            ("mu = {between = [-5, 5]}", 'mu = {scipy = "nrm", args = [0, 1]}'),
            "calibrate.priors.mu: Prior 'mu': scipy.stats has no distribution 'nrm'.",
        ),
        (
            ("mu = {between = [-5, 5]}", "mu = 3"),
            "calibrate.priors.mu = 3: write {between = [low, high]}",
        ),
        (
            ("draws = 50", "draws = {integers = [10, 50]}"),
            "parameters.draws is a range, but a calibration's [parameters] are held",
        ),
        (
            ("generations = 3", "quantile = 2"),
            "calibrate.quantile = 2: quantile must be a number between 0 and 1",
        ),
        (
            ('"tests.models:NormalMean"', '"x"'),
            "model = 'x': write \"models.py:MyModel\"",
        ),
    ],
)
def test_a_bad_file_gets_one_line_naming_the_key(tmp_path, change, message):
    path = tmp_path / "fit.toml"
    path.write_text(FIT.replace(*change))
    with pytest.raises(ExperimentError) as info:
        load_calibration_experiment(path)
    assert message in str(info.value)


def test_the_command_line_reads_calibration_files(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    path = tmp_path / "fit.toml"
    path.write_text(FIT.replace("observed = {Mean = 1.3}", "observed = {Mean = 9}"))
    assert main(["run", str(path), "--set", "calibrate.quantile=2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mesa-nb: fit.toml: calibrate.quantile = 2: quantile must")
    assert main(["run", str(path), "--no-memory"]) == 2
    assert "--no-memory is a sweep's switch" in capsys.readouterr().err
    assert main(["dry-run", str(path), "--set", "calibrate.method=optimize"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Dry run: a calibration of NormalMean by optimize")
    assert "priors: Priors(mu=between(-5.0, 5.0))" in out
    assert f"store: {tmp_path / 'fit-runs'}" in out
    assert not (tmp_path / "fit-runs").exists()


# -- mesa-nb run, headless ---------------------------------------------------------
def test_run_gives_the_calibration_of_code_and_status_shows_it(tmp_path):
    (tmp_path / "fit.toml").write_text(FIT)
    done = cli("run", "fit.toml", cwd=tmp_path)
    expected = _fit().text()
    assert done.stdout.strip() == expected
    assert "store: " in done.stderr and "calibration" in done.stderr  # the bar
    stored = load_calibration(tmp_path / "fit-runs")
    pd.testing.assert_frame_equal(stored.posterior, _fit().posterior)
    status = cli("status", "fit-runs", cwd=tmp_path).stdout
    assert status.strip() == f"fit-runs: {expected}"
    other = cli(
        "run",
        "fit.toml",
        "-q",
        "--set",
        "calibrate.population=20",
        "--set",
        'store="other"',
        cwd=tmp_path,
    )
    assert other.stdout.strip() == _fit(population=20).text()
    assert other.stderr == f"store: {tmp_path / 'other'}\n"  # no bar
    assert len(load_calibration(tmp_path / "other").posterior) == 20


def test_a_saved_series_calibration_runs_headless_as_in_python(tmp_path):
    spec = CalibrationSpec.of(
        Epidemic,
        {"beta": between(0.2, 1.0), "gamma": stats.uniform(0.1, 0.3)},
        _curve(),
        {"population": 300},
        population=20,
        generations=2,
        max_steps=20,
        seed=4,
    )
    path = save_calibration_experiment(tmp_path / "sir.toml", spec)
    cli("run", path.name, "-q", cwd=tmp_path)
    stored = load_calibration(tmp_path / "sir-runs")
    quiet = spec.options.replace(quiet=True)
    direct = run_calibration(
        CalibrationSpec(spec.model, spec.priors, spec.observed, spec.parameters, quiet)
    )
    pd.testing.assert_frame_equal(stored.posterior, direct.posterior)
    assert stored.spec.observed == spec.observed


def test_ctrl_c_keeps_finished_generations_and_a_second_run_resumes(
    tmp_path, monkeypatch
):
    (tmp_path / "held.py").write_text(HELD)
    (tmp_path / "fit.toml").write_text(
        FIT.replace("tests.models:NormalMean", "held.py:Held").replace(
            "[parameters]\ndraws = 50\n", ""
        )
    )
    gate, store = tmp_path / "gate", tmp_path / "fit-runs"
    gate.touch()
    env = {"HELD_GATE": str(gate), "HELD_STORE": str(store)}
    process = subprocess.Popen(
        [sys.executable, "-m", "mesa_nb", "run", "fit.toml", "-q"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(env),
    )
    told = store / "told" / "g000-b000.json"
    deadline = time.monotonic() + 120
    while not told.exists() and process.poll() is None:  # the first generation
        assert time.monotonic() < deadline, "the first generation never ended"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert "mesa-nb: stopped; finished runs are in the store." in err
    assert "abc calibration of Held: 50 runs (0 failed)" in out, err
    assert len(load_calibration(store).history) == 1  # generation 0 kept
    gate.unlink()
    second = cli("run", "fit.toml", "-q", cwd=tmp_path, env=env)
    for name, value in env.items():  # the same model, uninterrupted, in Python
        monkeypatch.setenv(name, value)
    held = import_model("held.py:Held", tmp_path)
    whole = mesa_nb.calibrate(
        held,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        population=50,
        generations=3,
        max_steps=0,
        seed=11,
        quiet=True,
    )
    assert second.stdout.strip() == whole.text()


def test_a_cell_saved_with_save_reruns_headless_to_the_same_result(ipython, tmp_path):
    ipython.user_ns["NormalMean"] = NormalMean
    path = tmp_path / "cell.toml"
    ipython.run_cell(
        "%%calibrate NormalMean --population 50 --generations 3 -s 0 -p 1 -q "
        f"--seed 11 --out saved --save {path}\n"
        'mu = between(-5, 5)\ndraws = 50\nobserved = {"Mean": 1.3}\n'
    )
    saved = ipython.user_ns.pop("saved")
    assert load_calibration_experiment(path).spec.to_dict() == saved.spec.to_dict()
    done = cli("run", path.name, "-q", cwd=tmp_path)
    assert done.stdout.strip() == saved.text()
