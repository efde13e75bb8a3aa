"""A store is resumed only by the code that made its runs: every class and
function of the user's that the model reaches is fingerprinted (agents,
reporters, helpers in the notebook or in the user's modules), with the
versions of Python, Mesa, mesa_nb and numpy; and each store records where its
runs came from (provenance)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mesa
import numpy as np
import pytest

import mesa_nb
from mesa_nb.core.errors import StoreError

# A notebook: an agent class, a reporter function, a model using both.
CELL = textwrap.dedent(
    """
    import mesa

    def total(model):
        return sum(agent.wealth for agent in model.agents){reporter}

    class Agent(mesa.Agent):
        def __init__(self, model):
            super().__init__(model)
            self.wealth = 0

        def step(self):
            self.wealth += {gain}

    class Wealth(mesa.Model):
        def __init__(self, n=1, rng=None):
            super().__init__(rng=rng)
            Agent.create_agents(self, n)
            self.datacollector = mesa.DataCollector(model_reporters={{"Total": total}})
            self.datacollector.collect(self)

        def step(self):
            self.agents.do("step")
            self.datacollector.collect(self)
    """
)
SWEEP = dict(max_steps=3, seed=1, processes=1)


def notebook_model(ipython, gain: int = 1, reporter: str = "") -> type:
    """Run the notebook's cell (as a user would, again) and return its model."""
    ipython.run_cell(CELL.format(gain=gain, reporter=reporter))
    return ipython.user_ns["Wealth"]


def refusal(model: type, store: Path) -> str:
    with pytest.raises(StoreError) as refused:
        mesa_nb.sweep(model, {"n": [1, 2]}, store=store, **SWEEP)
    message = str(refused.value)
    assert "\n" not in message
    assert "Pass force=True" in message
    return message


def test_a_changed_agent_class_is_named_and_refused_unless_forced(ipython, tmp_path):
    store = tmp_path / "store"
    first = mesa_nb.sweep(notebook_model(ipython), {"n": [1, 2]}, store=store, **SWEEP)
    assert first.model.groupby("RunId")["Total"].last().tolist() == [3, 6]

    message = refusal(notebook_model(ipython, gain=300), store)
    assert "`Agent.step` changed" in message
    assert "Wealth" not in message  # the model class itself did not change

    forced = mesa_nb.sweep(
        notebook_model(ipython, gain=300),
        {"n": [1, 2]},
        store=store,
        force=True,
        **SWEEP,
    )
    assert forced.metadata["resumed_runs"] == 2
    manifest = json.loads((store / "manifest.json").read_text())["metadata"]
    assert len(manifest["earlier_fingerprints"]) == 1  # the old code is kept
    # the forced code is now the store's: it resumes without force
    again = mesa_nb.sweep(
        notebook_model(ipython, gain=300), {"n": [1, 2]}, store=store, **SWEEP
    )
    assert again.metadata["resumed_runs"] == 2


def test_a_changed_reporter_function_is_named_and_refused(ipython, tmp_path):
    store = tmp_path / "store"
    mesa_nb.sweep(notebook_model(ipython), {"n": [1, 2]}, store=store, **SWEEP)
    message = refusal(notebook_model(ipython, reporter=" * 100"), store)
    assert "`total` changed" in message and "Agent" not in message


def test_the_same_code_defined_again_resumes(ipython, tmp_path):
    store = tmp_path / "store"
    mesa_nb.sweep(notebook_model(ipython), {"n": [1, 2]}, store=store, **SWEEP)
    # another cell run, the same source: new objects, new cell file names
    again = mesa_nb.sweep(notebook_model(ipython), {"n": [1, 2]}, store=store, **SWEEP)
    assert again.metadata["resumed_runs"] == 2
    # comments and blank lines are not code
    ipython.run_cell(CELL.format(gain=1, reporter="  # a comment") + "\n\n# more\n")
    model = ipython.user_ns["Wealth"]
    assert mesa_nb.sweep(model, {"n": [1, 2]}, store=store, **SWEEP).n_ok == 2


HELPERS = textwrap.dedent(
    """
    RATE = {rate}

    def bonus(wealth):
        return wealth * RATE
    """
)
MODEL = textwrap.dedent(
    """
    import mesa
    import trust_helpers
    from trust_helpers import bonus

    class Saver(mesa.Agent):
        def step(self):
            self.wealth = bonus(getattr(self, "wealth", 1))

    class Savings(mesa.Model):
        def __init__(self, n=1, rng=None):
            super().__init__(rng=rng)
            Saver.create_agents(self, n)
            self.datacollector = mesa.DataCollector(
                model_reporters={"Total": lambda m: sum(a.wealth for a in m.agents)
                                 + trust_helpers.RATE * 0}
            )

        def step(self):
            self.agents.do("step")
            self.datacollector.collect(self)
    """
)


def user_modules(folder: Path, rate: int, helper: str = HELPERS) -> type:
    """Write (again) and import the user's model and helper modules."""
    (folder / "trust_helpers.py").write_text(helper.format(rate=rate))
    (folder / "trust_model.py").write_text(MODEL)
    importlib.invalidate_caches()
    for name in ("trust_helpers", "trust_model"):
        module = sys.modules.get(name)
        module = importlib.reload(module) if module else importlib.import_module(name)
    return module.Savings


@pytest.fixture
def user_folder(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no stale .pyc
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("trust_helpers", "trust_model"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


def test_a_helper_in_another_module_is_named_and_refused(user_folder):
    store = user_folder / "store"
    mesa_nb.sweep(user_modules(user_folder, 2), {"n": [1, 2]}, store=store, **SWEEP)
    changed = HELPERS.replace("wealth * RATE", "wealth * RATE + 1")
    message = refusal(user_modules(user_folder, 2, changed), store)
    assert "`trust_helpers.bonus` changed" in message
    assert "RATE" not in message and "Saver" not in message
    # a module constant the code reads is part of what the runs depend on
    message = refusal(user_modules(user_folder, 3), store)
    assert "`trust_helpers.RATE` changed" in message
    # what the model does not reach does not count
    unrelated = HELPERS + "\ndef unused():\n    return 1\n"
    model = user_modules(user_folder, 2, unrelated)
    assert mesa_nb.sweep(model, {"n": [1, 2]}, store=store, **SWEEP).n_ok == 2


def test_a_new_mesa_is_named_and_refused(ipython, tmp_path):
    store = tmp_path / "store"
    mesa_nb.sweep(notebook_model(ipython), {"n": [1, 2]}, store=store, **SWEEP)
    path = store / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["metadata"]["model_fingerprint"]["versions"]["mesa"] = "3.0.0"
    manifest["metadata"]["model_fingerprint"]["versions"]["numpy"] = "1.0.0"
    path.write_text(json.dumps(manifest))
    message = refusal(notebook_model(ipython), store)
    assert f"Mesa 3.0.0 → {mesa.__version__}" in message
    assert f"numpy 1.0.0 → {np.__version__}" in message
    assert "`" not in message  # no code changed
    forced = mesa_nb.sweep(
        notebook_model(ipython), {"n": [1, 2]}, store=store, force=True, **SWEEP
    )
    assert forced.metadata["resumed_runs"] == 2


def test_stores_of_earlier_versions_compare_as_they_did(ipython, tmp_path):
    from mesa_nb.store.fingerprint import fingerprint_change, model_fingerprint

    store = tmp_path / "store"
    mesa_nb.sweep(notebook_model(ipython), {"n": [1, 2]}, store=store, **SWEEP)
    path = store / "manifest.json"
    manifest = json.loads(path.read_text())
    stored = manifest["metadata"]["model_fingerprint"]
    earlier = {k: stored[k] for k in ("class", "how", "class_sha256", "module_sha256")}
    manifest["metadata"]["model_fingerprint"] = earlier
    path.write_text(json.dumps(manifest))
    model = notebook_model(ipython)
    resumed = mesa_nb.sweep(model, {"n": [1, 2]}, store=store, **SWEEP)
    assert resumed.metadata["resumed_runs"] == 2
    # what they compared is still compared: the model class's own code
    current = model_fingerprint(model)
    assert fingerprint_change(earlier, current) is None
    changed = {**earlier, "class_sha256": "0" * 64}
    assert "the code of __main__.Wealth" in fingerprint_change(changed, current)
    # and a fingerprint read another way is not comparable: not refused
    assert fingerprint_change({**changed, "how": "source"}, current) is None
    assert fingerprint_change(None, current) is None


def test_the_fingerprint_is_the_code_that_runs_in_any_process(tmp_path):
    """Hashes do not depend on the process (hash-randomized set constants),
    nor on the model having run (specialized bytecode)."""
    (tmp_path / "sets_model.py").write_text(
        textwrap.dedent(
            """
            import mesa

            class Sets(mesa.Model):
                def __init__(self, rng=None):
                    super().__init__(rng=rng)
                    self.kind = "b"
                    self.datacollector = mesa.DataCollector({"In": lambda m: 1})

                def step(self):
                    for _ in range(50):
                        self.hit = self.kind in {"a", "b", "c", "d", "e", "f"}
                    self.datacollector.collect(self)
            """
        )
    )
    script = textwrap.dedent(
        """
        import sys
        from mesa_nb.store.fingerprint import model_fingerprint
        from sets_model import Sets
        before = model_fingerprint(Sets)["sha256"]
        model = Sets()
        for _ in range(20):
            model.step()
        assert model_fingerprint(Sets)["sha256"] == before
        print(before)
        """
    )
    hashes = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in (1, 2, 3)
    }
    assert len(hashes) == 1 and len(hashes.pop()) == 64


def test_the_fingerprint_names_what_it_covers(ipython):
    from mesa_nb.store.fingerprint import (
        code_versions,
        fingerprint_change,
        model_fingerprint,
    )

    fingerprint = model_fingerprint(notebook_model(ipython))
    assert set(fingerprint["code"]) == {
        "__main__:Wealth",
        "__main__:Wealth.__init__",
        "__main__:Wealth.step",
        "__main__:Agent",
        "__main__:Agent.__init__",
        "__main__:Agent.step",
        "__main__:total",
    }
    assert fingerprint["versions"] == code_versions()
    assert set(code_versions()) == {"python", "mesa", "mesa_nb", "numpy"}
    # reporters kept in a global, and the data they read
    ipython.run_cell(
        "REPORTERS = {'Gini': lambda m: SCALE * 2}\nSCALE = 3\n"
        "class Reported(mesa.Model):\n"
        "    def __init__(self, rng=None):\n"
        "        super().__init__(rng=rng)\n"
        "        self.datacollector = mesa.DataCollector(REPORTERS)\n"
    )
    before = model_fingerprint(ipython.user_ns["Reported"])
    ipython.run_cell("REPORTERS = {'Gini': lambda m: SCALE * 3}")
    after = model_fingerprint(ipython.user_ns["Reported"])
    assert fingerprint_change(before, after) == "`REPORTERS['Gini']` changed"
    ipython.run_cell("SCALE = 4")
    assert "`SCALE` changed" in fingerprint_change(
        after, model_fingerprint(ipython.user_ns["Reported"])
    )
    # a class's settings are part of it
    ipython.run_cell("class Sheep(Reported):\n    energy_gain = 4\n")
    before = model_fingerprint(ipython.user_ns["Sheep"])
    ipython.run_cell("class Sheep(Reported):\n    energy_gain = 5\n")
    after = model_fingerprint(ipython.user_ns["Sheep"])
    assert fingerprint_change(before, after) == (
        "the code of __main__.Sheep changed (`Sheep` changed)"
    )


# -- provenance -------------------------------------------------------------------
def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_a_store_records_where_its_runs_came_from(user_folder):
    git(user_folder, "init", "-q")
    model = user_modules(user_folder, 2)
    git(user_folder, "add", "trust_model.py", "trust_helpers.py")
    git(user_folder, "commit", "-q", "-m", "model")
    commit = git(user_folder, "rev-parse", "HEAD")
    store = user_folder / "store"
    result = mesa_nb.sweep(model, {"n": [1, 2]}, store=store, **SWEEP)

    provenance = result.metadata["provenance"]
    assert provenance["git"] == {
        "commit": commit,
        "dirty": False,
        "root": str(user_folder.resolve()),
    }
    assert provenance["model_file"] == str((user_folder / "trust_model.py").resolve())
    assert set(provenance["versions"]) == {
        "mesa",
        "mesa_nb",
        "numpy",
        "pandas",
        "python",
    }
    assert provenance["versions"]["mesa"] == mesa.__version__
    fingerprint = json.loads((store / "manifest.json").read_text())["metadata"][
        "model_fingerprint"
    ]
    assert provenance["code_sha256"] == fingerprint["sha256"]
    assert provenance["started_at"] <= provenance["ended_at"]  # written at close
    assert provenance["earlier_sweeps"] == []
    assert mesa_nb.load_store(store).metadata["provenance"] == provenance

    # a second sweep into the store, from a dirty work tree: a second entry;
    # the first is kept as it was
    (user_folder / "trust_model.py").write_text(MODEL + "\n# edited\n")
    resumed = mesa_nb.sweep(model, {"n": [1, 2]}, store=store, **SWEEP)
    second = resumed.metadata["provenance"]
    assert second["git"]["dirty"] is True
    assert second["earlier_sweeps"] == [
        {k: v for k, v in provenance.items() if k != "earlier_sweeps"}
    ]


def test_a_notebook_model_has_no_git_state(ipython, tmp_path):
    result = mesa_nb.sweep(
        notebook_model(ipython), {"n": [1]}, store=tmp_path / "s", **SWEEP
    )
    provenance = result.metadata["provenance"]
    assert provenance["git"] is None and provenance["model_file"] is None
    assert provenance["ended_at"] is not None
