"""``mesa-nb`` in real subprocesses: bad input is one line and exit 2, never a
traceback; export never overwrites silently; SIGTERM stops a run as Ctrl-C
does; status and export show where the runs came from."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import mesa
import numpy
import pytest
from test_fingerprint import git  # the same git, with a fixed author

MESA_NB = str(Path(sys.executable).with_name("mesa-nb"))

MODELS = textwrap.dedent(
    """
    import sys
    import mesa

    class Waits(mesa.Model):
        \"\"\"Run n=3 says it started, then waits for a line on stdin.\"\"\"

        def __init__(self, n=1, rng=None):
            super().__init__(rng=rng)
            self.n = n
            self.datacollector = mesa.DataCollector(
                {"N": "n", "Mixed": lambda m: (m.n, 1) if m.n % 2 else "even"}
            )
            self.datacollector.collect(self)

        def step(self):
            if self.n == 3:
                print("run 3 started", file=sys.stderr, flush=True)
                sys.stdin.readline()
            self.datacollector.collect(self)
    """
)

EXPERIMENT = textwrap.dedent(
    """
    model = "waits.py:Waits"
    max_steps = 2
    seed = 1
    processes = 1
    store = "runs/waits"

    [parameters]
    n = [1, 2, 3, 4]
    """
)


def mesa_nb(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [MESA_NB, *args], capture_output=True, text=True, cwd=cwd, input=stdin
    )


def one_line_exit_2(done: subprocess.CompletedProcess, *expected: str) -> str:
    """The command failed with exit 2 and said why in one line."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "waits.py").write_text(MODELS)
    (tmp_path / "exp.toml").write_text(EXPERIMENT)
    return tmp_path


@pytest.fixture
def stored(project: Path) -> Path:
    """The project with its sweep run into runs/waits."""
    done = mesa_nb("run", "exp.toml", "-q", cwd=project)
    assert done.returncode == 0, done.stderr
    return project


def test_bad_input_is_one_line_and_exit_2(stored):
    one_line_exit_2(
        mesa_nb("run", "exp.toml", "--set", "seed.x=1", cwd=stored),
        "seed is a value, not a table",
    )
    (stored / "a-file.csv").write_text("x\n")
    one_line_exit_2(
        mesa_nb("export", "runs/waits", "--to", "a-file.csv", cwd=stored),
        "a-file.csv is a file",
    )
    assert (stored / "a-file.csv").read_text() == "x\n"
    one_line_exit_2(mesa_nb("bogus", cwd=stored), "invalid choice", "--help")
    one_line_exit_2(mesa_nb("run", cwd=stored), "required: experiment")
    one_line_exit_2(mesa_nb("export", "runs/waits", cwd=stored), "--to")
    one_line_exit_2(mesa_nb("status", "nowhere", cwd=stored), "not a results store")
    one_line_exit_2(mesa_nb("run", "exp.toml", "--set", "model=1", cwd=stored), "model")
    one_line_exit_2(
        mesa_nb(
            "export", "runs/waits", "--to", "pq", "--format", "parquet", cwd=stored
        ),
        "model.parquet: Parquet cannot hold it",
        "column Mixed",
        "--format csv",
    )
    assert not (stored / "pq").exists()  # nothing half written


def test_export_refuses_to_overwrite_unless_asked(stored):
    first = mesa_nb("export", "runs/waits", "--to", "out", cwd=stored)
    assert first.returncode == 0, first.stderr
    out = stored / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "model.csv",
        "provenance.json",
        "runs.csv",
    ]
    (out / "model.csv").write_text("kept\n")
    refused = one_line_exit_2(
        mesa_nb("export", "runs/waits", "--to", "out", cwd=stored),
        "runs.csv, model.csv, provenance.json",
        "--overwrite",
    )
    assert "out already holds" in refused
    assert (out / "model.csv").read_text() == "kept\n"  # nothing was written
    again = mesa_nb("export", "runs/waits", "--to", "out", "--overwrite", cwd=stored)
    assert again.returncode == 0, again.stderr
    assert (out / "model.csv").read_text().startswith("RunId")


def test_sigterm_stops_a_run_as_ctrl_c_does(project):
    """Runs 1 and 2 finish, run 3 is running: SIGTERM stops the sweep, keeps
    the finished runs and exits 143; the next run loads them and runs the
    others (run 3 was not recorded as crashed)."""
    process = subprocess.Popen(
        [MESA_NB, "run", "exp.toml", "-q"],
        cwd=project,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in process.stderr:  # ends if the process ends
        seen.append(line)
        if "run 3 started" in line:
            process.send_signal(signal.SIGTERM)
            break
    out, err = process.stdout.read(), process.stderr.read()  # stdin stays open
    process.wait()
    process.stdin.close()
    assert process.returncode == 143, "".join(seen) + err
    assert "mesa-nb: stopped; finished runs are in the store." in err
    assert "Traceback" not in err
    assert "Interrupted: kept 2 finished runs" in out

    status = mesa_nb("status", "runs/waits", cwd=project)
    assert status.returncode == 0, status.stderr
    assert "runs/waits: 2 done, 0 failed, 2 pending, 4 total" in status.stdout
    second = mesa_nb("run", "exp.toml", "-q", cwd=project, stdin="go\n")
    assert second.returncode == 0, second.stderr
    assert "2 runs loaded from the store" in second.stdout
    assert "4 runs (4 ok, 0 failed)" in second.stdout


def test_status_and_export_show_where_the_runs_came_from(project):
    git(project, "init", "-q")
    git(project, "add", "waits.py", "exp.toml")
    git(project, "commit", "-q", "-m", "the model")
    commit = git(project, "rev-parse", "HEAD")
    done = mesa_nb("run", "exp.toml", "-q", cwd=project, stdin="go\n")
    assert done.returncode == 0, done.stderr

    status = mesa_nb("status", "runs/waits", cwd=project)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0] == "runs/waits: 4 done, 0 failed, 0 pending, 4 total"
    provenance = "\n".join(lines[2:])
    assert f"git commit {commit[:12]} in {project.resolve()}" in provenance
    assert "uncommitted" not in provenance
    assert f"Mesa {mesa.__version__}" in provenance
    assert f"numpy {numpy.__version__}" in provenance
    assert "last of 1 sweep(s): started 20" in provenance
    assert "ended 20" in provenance

    exported = mesa_nb("export", "runs/waits", "--to", "out", cwd=project)
    assert exported.returncode == 0, exported.stderr
    record = json.loads((project / "out" / "provenance.json").read_text())
    assert record["store"] == str((project / "runs" / "waits").resolve())
    assert record["provenance"]["git"]["commit"] == commit
    assert record["provenance"]["git"]["dirty"] is False
    assert record["provenance"]["ended_at"] >= record["provenance"]["started_at"]
    manifest = json.loads((project / "runs" / "waits" / "manifest.json").read_text())
    fingerprint = manifest["metadata"]["model_fingerprint"]
    assert record["provenance"]["code_sha256"] == fingerprint["sha256"]
