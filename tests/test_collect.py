"""Reading collectors: the fast path over Mesa's agent store equals the public API."""

from __future__ import annotations

import pandas as pd
import pytest
from models import AgentsOnly, Money, Typed

import mesa_nb
from mesa_nb.core import mesa_adapter
from mesa_nb.examples import PopulationModel


@pytest.mark.parametrize("period", [-1, 1, 3])
@pytest.mark.parametrize(
    ("model", "params", "steps"),
    [
        (Money, {"n": [2, 5], "bonus": [0.0, 1.5]}, 7),
        (AgentsOnly, {"n": [1, 4]}, 5),
        (Typed, {"birds": [1, 3]}, 4),
        (
            PopulationModel,
            {"initial_population": 30, "base_reproduction_rate": [0.0, 0.1]},
            60,
        ),
    ],
    ids=["Money", "AgentsOnly", "Typed", "Population"],
)
def test_reading_the_agent_store_equals_the_public_api(
    monkeypatch, model, params, steps, period
):
    kwargs = dict(iterations=2, max_steps=steps, data_collection_period=period, seed=8)
    fast = mesa_nb.sweep(model, params, **kwargs)
    monkeypatch.setattr(mesa_adapter, "READ_AGENT_RECORDS", False)
    public = mesa_nb.sweep(model, params, **kwargs)
    for name in ("model", "agents", "agenttypes"):
        pd.testing.assert_frame_equal(getattr(fast, name), getattr(public, name))
    assert fast.agents.empty == (not model().datacollector.agent_reporters)
