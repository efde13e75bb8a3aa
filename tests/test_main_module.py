"""Models defined in ``__main__`` (a script, or a notebook cell) in workers.

Each test runs a real Python process, as a user would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp
    import sys
    START = {start!r}
    if START != "default":
        mp.set_start_method(START)
    before = mp.get_start_method(allow_none=True)

    import mesa_nb
    after_import = mp.get_start_method(allow_none=True)
    import mesa

    def total(model):               # a reporter defined in __main__
        return sum(a.wealth for a in model.agents)

    class Coin(mesa.Agent):
        def __init__(self, model):
            super().__init__(model)
            self.wealth = 1

        def step(self):
            if self.wealth:
                self.random.choice(list(self.model.agents)).wealth += 1
                self.wealth -= 1

    class MainModel(mesa.Model):
        def __init__(self, n=3, rng=None):
            super().__init__(rng=rng)
            for _ in range(n):
                Coin(self)
            self.datacollector = mesa.DataCollector(
                model_reporters={{"Total": total, "Max": lambda m: max(
                    a.wealth for a in m.agents)}},
                agent_reporters={{"Wealth": "wealth"}})
            self.datacollector.collect(self)

        def step(self):
            self.agents.shuffle_do("step")
            self.datacollector.collect(self)

    if __name__ == "__main__":
        params = {{"n": [2, 3, 4], "x": lambda rng: rng.random()}}

        class WithX(MainModel):
            def __init__(self, n=3, x=0.0, rng=None):
                super().__init__(n=n, rng=rng)

        rows = mesa_nb.batch_run(WithX, params, number_processes=2, iterations=2,
                                 max_steps=4, display_progress=False, seed=5)
        serial = mesa_nb.batch_run(WithX, params, number_processes=1, iterations=2,
                                   max_steps=4, display_progress=False, seed=5)
        assert rows == serial, "parallel rows differ from serial rows"
        assert len(rows) == 2 * (2 + 3 + 4), len(rows)
        assert all(r["Total"] == r["n"] for r in rows)
        assert mp.get_start_method(allow_none=True) == before, (
            before, mp.get_start_method(allow_none=True))
        assert after_import == before, (before, after_import)
        assert "IPython" not in sys.modules, "the core imported IPython"
        print("OK", before, len(rows))
    """
)


@pytest.mark.parametrize("start", ["default", "spawn", "forkserver", "fork"])
def test_main_module_classes_run_in_parallel_and_start_method_is_untouched(
    tmp_path, start
):
    script = tmp_path / "sweep_script.py"
    script.write_text(SCRIPT.format(start=start))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("OK")
    expected = "None" if start == "default" else start
    assert done.stdout.split()[1] == expected
