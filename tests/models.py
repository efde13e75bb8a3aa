"""Small Mesa models with known behaviour, used across the test suite."""

from __future__ import annotations

import bisect
import inspect
import itertools
import warnings
from collections.abc import Iterable

import mesa

from mesa_nb.core.mesa_adapter import MESA_4


def step_number(model: mesa.Model) -> int:
    """Mesa 3's ``model.steps`` on every Mesa: the steps taken, or inside
    ``step()`` the step being taken (counted before it runs).

    Mesa 4 has no step counter; its model time is the number of the step
    running, and stays there when the step raises. (mesa_nb's own
    ``steps_of`` counts steps that returned, so it is not used here.)
    """
    return int(model.time) if MESA_4 else model.steps


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
                "Steps": step_number,
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
                "Steps": step_number,
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
        self.datacollector = mesa.DataCollector(model_reporters={"Steps": step_number})
        self.datacollector.collect(self)

    def step(self) -> None:
        if step_number(self) >= self.stop_at:
            self.running = False
        self.datacollector.collect(self)


class CollectsBeforeStep(mesa.Model):
    """Mesa's documentation style: collect() at the start of step()."""

    def __init__(self, rng=None) -> None:
        super().__init__(rng=rng)
        self.datacollector = mesa.DataCollector(model_reporters={"Steps": step_number})

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
        self.datacollector.add_table_row(
            "events", {"step": step_number(self), "what": "tick"}
        )
        self.datacollector.collect(self)


class Fragile(mesa.Model):
    """Raises in step() when ``fail`` is True, in __init__ when ``fail_init``."""

    def __init__(self, fail: bool = False, fail_init: bool = False, rng=None) -> None:
        super().__init__(rng=rng)
        if fail_init:
            raise RuntimeError("broken at init")
        self.fail = fail
        self.datacollector = mesa.DataCollector(model_reporters={"Steps": step_number})
        self.datacollector.collect(self)

    def step(self) -> None:
        if self.fail and step_number(self) == 2:
            raise ZeroDivisionError("boom at step 2")
        self.datacollector.collect(self)


class NormalMean(mesa.Model):
    """Draws ``draws`` values from N(mu, 1) with its own generator and reports
    their mean (``Mean``): under a flat prior the posterior of ``mu`` given a
    mean m is N(m, 1/draws), for calibration tests. ``mu`` above
    ``fail_above`` raises (a failed run)."""

    def __init__(
        self, mu: float = 0.0, draws: int = 50, fail_above: float = 99.0, rng=None
    ) -> None:
        super().__init__(rng=rng)
        if mu > fail_above:
            raise ValueError(f"mu={mu} is above {fail_above}")
        self.mean = float(self.rng.normal(mu, 1.0, size=draws).mean())
        self.datacollector = mesa.DataCollector(model_reporters={"Mean": "mean"})
        self.datacollector.collect(self)

    def step(self) -> None:
        self.running = False


class SeedKeyword(mesa.Model):
    """Takes ``seed=`` (the old Mesa keyword) instead of ``rng=``."""

    def __init__(self, n: int = 1, seed=None) -> None:
        # Mesa 4's Model takes no ``seed``: the model hands it on as ``rng``.
        super().__init__(**({"rng": seed} if MESA_4 else {"seed": seed}))
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
        self.datacollector = mesa.DataCollector(model_reporters={"Steps": step_number})
        self.datacollector.collect(self)

    def step(self) -> None:
        import os
        import signal
        import time

        if self.work:
            time.sleep(self.work)
        if step_number(self) == 2 and self.crash == "exit":
            os._exit(3)
        if step_number(self) == 2 and self.crash == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if step_number(self) == 2 and self.crash == "segfault":
            import ctypes

            ctypes.string_at(0)
        self.datacollector.collect(self)


# -- Mesa's batch_run, on Mesa 4 too --------------------------------------------------
def _mesa_kwargs(parameters: dict) -> list[dict]:
    """Mesa's ``_make_model_kwargs``: the product of the values, in order."""
    lists = []
    for name, values in parameters.items():
        if isinstance(values, str):
            lists.append([(name, values)])
        elif isinstance(values, list | tuple | set) and not values:
            raise ValueError(f"Parameter '{name}' contains an empty iterable")
        else:
            try:
                lists.append([(name, value) for value in values])
            except TypeError:
                lists.append([(name, values)])
    return [dict(combination) for combination in itertools.product(*lists)]


def _mesa_rows(model, run_id: int, iteration: int, kwargs: dict, period: int) -> list:
    """Mesa 3.5's ``_model_run_func`` after the run: the rows of one model."""
    dc = model.datacollector
    recorded = dc._collection_steps
    steps = {-1: recorded[-1:], 1: recorded}.get(period, recorded[::period])
    rows = []
    for step in steps:
        index = bisect.bisect_right(recorded, step) - 1
        model_data = {name: values[index] for name, values in dc.model_vars.items()}
        agents = [
            {"AgentID": r[1], **dict(zip(dc.agent_reporters, r[2:], strict=True))}
            for r in dc._agent_records.get(step, [])
        ]
        for agent_type, records in dc._agenttype_records.get(step, {}).items():
            names = dc.agenttype_reporters[agent_type]
            agents += [
                {"AgentID": r[1], **dict(zip(names, r[2:], strict=True))}
                for r in records
            ]
        head = {"RunId": run_id, "iteration": iteration, "Step": step, **kwargs}
        rows += [{**head, **model_data, **a} for a in agents or [{}]]
    return rows


def reference_batch_run(
    model_cls,
    parameters,
    number_processes=1,
    iterations=None,
    data_collection_period=-1,
    max_steps=1000,
    display_progress=True,
    rng=None,
):
    """Mesa 3.5.1's ``batch_run``, in this process, on any Mesa: the contract
    ``mesa_nb.batch_run`` keeps where Mesa has no ``batch_run`` (Mesa 4).

    The same loop and the same reading of the collector as Mesa's own, with
    :func:`step_number` for ``model.steps``; ``number_processes`` and
    ``display_progress`` change nothing here.
    """
    if iterations is not None and rng is not None:
        raise ValueError(
            "you cannot use both iterations and rng at the same time. "
            "Please only use rng."
        )
    if iterations is not None:
        warnings.warn(
            "The `iterations` keyword argument is deprecated. Use `rng` instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        rng = [None] * iterations
    if not isinstance(rng, Iterable):
        rng = [rng]
    seed_name = "seed" if "seed" in inspect.signature(model_cls).parameters else "rng"
    rows = []
    run_id = 0
    for iteration, seed in enumerate(rng):
        for kwargs in _mesa_kwargs(parameters):
            kwargs[seed_name] = seed
            model = model_cls(**kwargs)
            while model.running and step_number(model) < max_steps:
                model.step()
            rows += _mesa_rows(model, run_id, iteration, kwargs, data_collection_period)
            run_id += 1
    return rows


#: Mesa's ``batch_run``, or on Mesa 4, which has none, :func:`reference_batch_run`.
mesa_batch_run = getattr(mesa, "batch_run", None) or reference_batch_run
