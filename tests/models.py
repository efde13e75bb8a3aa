"""Small Mesa models with known behaviour, used across the test suite."""

from __future__ import annotations

import mesa


class Coin(mesa.Agent):
    """Holds wealth; gives one unit to a random agent each step."""

    def __init__(self, model: mesa.Model) -> None:
        super().__init__(model)
        self.wealth = 1

    def step(self) -> None:
        if self.wealth > 0:
            other = self.random.choice(list(self.model.agents))
            other.wealth += 1
            self.wealth -= 1


class Money(mesa.Model):
    """Collects at init and after every step: records at Steps 0, 1, 2, ..."""

    def __init__(self, n: int = 5, bonus: float = 0.0, rng=None) -> None:
        super().__init__(rng=rng)
        self.bonus = bonus
        for _ in range(n):
            Coin(self)
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "Total": lambda m: sum(a.wealth for a in m.agents),
                "Max": lambda m: max(a.wealth for a in m.agents),
                "Steps": lambda m: m.steps,
            },
            agent_reporters={"Wealth": "wealth"},
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.agents.shuffle_do("step")
        self.datacollector.collect(self)


class ModelOnly(mesa.Model):
    """Model reporters only; counts its own steps."""

    def __init__(self, a: int = 1, b: str = "x", rng=None) -> None:
        super().__init__(rng=rng)
        self.a = a
        self.b = b
        self.draw = None
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "Steps": lambda m: m.steps,
                "Draw": lambda m: m.draw,
                "A": "a",
            }
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.draw = self.random.random()
        self.datacollector.collect(self)


class AgentsOnly(mesa.Model):
    """Agent reporters only (no model reporters)."""

    def __init__(self, n: int = 3, rng=None) -> None:
        super().__init__(rng=rng)
        for _ in range(n):
            Coin(self)
        self.datacollector = mesa.DataCollector(agent_reporters={"Wealth": "wealth"})
        self.datacollector.collect(self)

    def step(self) -> None:
        self.agents.shuffle_do("step")
        self.datacollector.collect(self)


class StopsEarly(mesa.Model):
    """Sets running = False after ``stop_at`` steps."""

    def __init__(self, stop_at: int = 3, rng=None) -> None:
        super().__init__(rng=rng)
        self.stop_at = stop_at
        self.datacollector = mesa.DataCollector(
            model_reporters={"Steps": lambda m: m.steps}
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        if self.steps >= self.stop_at:
            self.running = False
        self.datacollector.collect(self)


class CollectsBeforeStep(mesa.Model):
    """Mesa's documentation style: collect() at the start of step()."""

    def __init__(self, rng=None) -> None:
        super().__init__(rng=rng)
        self.datacollector = mesa.DataCollector(
            model_reporters={"Steps": lambda m: m.steps}
        )

    def step(self) -> None:
        self.datacollector.collect(self)


class Bird(mesa.Agent):
    def __init__(self, model: mesa.Model) -> None:
        super().__init__(model)
        self.height = 10


class Fish(mesa.Agent):
    def __init__(self, model: mesa.Model) -> None:
        super().__init__(model)
        self.depth = 5


class Typed(mesa.Model):
    """Agent-type reporters and a DataCollector table."""

    def __init__(self, birds: int = 2, fish: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        for _ in range(birds):
            Bird(self)
        for _ in range(fish):
            Fish(self)
        self.datacollector = mesa.DataCollector(
            model_reporters={"N": lambda m: len(m.agents)},
            agenttype_reporters={Bird: {"Height": "height"}, Fish: {"Depth": "depth"}},
            tables={"events": ["step", "what"]},
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.add_table_row("events", {"step": self.steps, "what": "tick"})
        self.datacollector.collect(self)


class Fragile(mesa.Model):
    """Raises in step() when ``fail`` is True, in __init__ when ``fail_init``."""

    def __init__(self, fail: bool = False, fail_init: bool = False, rng=None) -> None:
        super().__init__(rng=rng)
        if fail_init:
            raise RuntimeError("broken at init")
        self.fail = fail
        self.datacollector = mesa.DataCollector(
            model_reporters={"Steps": lambda m: m.steps}
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        if self.fail and self.steps == 2:
            raise ZeroDivisionError("boom at step 2")
        self.datacollector.collect(self)


class SeedKeyword(mesa.Model):
    """Takes ``seed=`` (the old Mesa keyword) instead of ``rng=``."""

    def __init__(self, n: int = 1, seed=None) -> None:
        super().__init__(seed=seed)
        self.datacollector = mesa.DataCollector(
            model_reporters={"R": lambda m: m.random.random()}
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


class Unseedable(mesa.Model):
    """Takes no seed at all."""

    def __init__(self, n: int = 1) -> None:
        super().__init__()
        self.datacollector = mesa.DataCollector(model_reporters={"n": lambda m: 1})

    def step(self) -> None:
        self.datacollector.collect(self)


class KwargsModel(mesa.Model):
    """Accepts **kwargs: any parameter name goes."""

    def __init__(self, **kwargs) -> None:
        super().__init__(rng=kwargs.pop("rng", None))
        self.values = kwargs
        self.datacollector = mesa.DataCollector(
            model_reporters={"Keys": lambda m: ",".join(sorted(m.values))}
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


class NoCollector(mesa.Model):
    """Forgets its DataCollector."""

    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)

    def step(self) -> None:
        pass


class NotAModel:
    """Looks like a model, is not one."""

    def __init__(self, n: int = 1) -> None:
        self.n = n


class Crashy(mesa.Model):
    """Kills its own worker process in step 2 when ``crash`` says how."""

    def __init__(self, crash: str = "", work: float = 0.0, rng=None) -> None:
        super().__init__(rng=rng)
        self.crash = crash
        self.work = work
        self.datacollector = mesa.DataCollector(
            model_reporters={"Steps": lambda m: m.steps}
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        import os
        import signal
        import time

        if self.work:
            time.sleep(self.work)
        if self.steps == 2 and self.crash == "exit":
            os._exit(3)
        if self.steps == 2 and self.crash == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.steps == 2 and self.crash == "segfault":
            import ctypes

            ctypes.string_at(0)
        self.datacollector.collect(self)
