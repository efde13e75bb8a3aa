"""A model that runs is never asked for its ``__dict__`` until it ends.

CPython 3.11+ keeps an instance's attributes in a compact array until its
``__dict__`` is asked for (``vars(model)``); from then on every attribute
read in the model's own code is slower: 8-10% of a run of the bundled
models, which made ``mesa_nb.batch_run`` slower than ``mesa.batch_run``.
Whether the array became a dict shows in ``gc.get_referents``: the dict is
then referred to instead of the attribute values.
"""

from __future__ import annotations

import gc

import mesa
import pytest

import mesa_nb
from mesa_nb.core import mesa_adapter

PROBE = "dict-probe"


def dict_made(obj: object) -> bool:
    """Whether ``obj.__dict__`` was asked for (its attributes became a dict)."""
    return any(
        type(r) is dict and r.get("probe") == PROBE for r in gc.get_referents(obj)
    )


class Probed(mesa.Model):
    """Reports at every step whether its ``__dict__`` was made."""

    def __init__(self, touch: bool = False, rng=None) -> None:
        super().__init__(rng=rng)
        self.probe = PROBE
        if touch:
            vars(self)  # the control: what the runner must not do
        self.datacollector = mesa.DataCollector(
            model_reporters={"DictMade": lambda m: dict_made(m)}
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


class LateCollector(mesa.Model):
    """Makes its collector in its first step (as ``mesa.batch_run`` allows):
    the runner looks for DataRecorders after that step."""

    def __init__(self, rng=None) -> None:
        super().__init__(rng=rng)
        self.probe = PROBE

    def step(self) -> None:
        if getattr(self, "datacollector", None) is None:
            self.datacollector = mesa.DataCollector(
                model_reporters={"DictMade": lambda m: dict_made(m)}
            )
        self.datacollector.collect(self)


def test_the_probe_sees_a_dict_made() -> None:
    assert not dict_made(Probed())
    assert dict_made(Probed(touch=True))


@pytest.mark.parametrize("model", [Probed, LateCollector])
def test_runs_never_make_the_models_dict(model: type, processes: int) -> None:
    result = mesa_nb.sweep(
        model,
        {},
        iterations=2,
        max_steps=5,
        data_collection_period=1,
        processes=processes,
    )
    assert result.n_failed == 0
    assert len(result.model) >= 10
    assert not result.model["DictMade"].any()


def test_batch_run_runs_never_make_the_models_dict() -> None:
    rows = mesa_nb.batch_run(
        Probed, {"touch": [False, True]}, max_steps=3, display_progress=False
    )
    made = {(r["touch"], r["DictMade"]) for r in rows}
    assert made == {(False, False), (True, True)}


def test_attribute_values_read_without_making_the_dict() -> None:
    model = Probed()
    values = list(mesa_adapter.attribute_values(model))
    assert PROBE in values and model.datacollector in values
    assert not dict_made(model)
    vars(model)
    assert PROBE in list(mesa_adapter.attribute_values(model))
