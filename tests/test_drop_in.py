"""The contract of mesa.batch_run's own tests, for mesa_nb.batch_run, on every
Mesa line: the same keys, the same values (types included), the same refusals.
Mesa 4 has no batch_run: there mesa_nb's rows are compared with Mesa 3.5's
batch_run run in this process (``models.reference_batch_run``).
"""

from __future__ import annotations

import concurrent.futures as cf
import warnings

import mesa
import pytest
from models import mesa_batch_run, step_number

import mesa_nb
from mesa_nb.core import mesa_adapter

TAKES_RNG = mesa_adapter.BATCH_RUN_TAKES_RNG


def _half(model):
    """Half the step: a float for odd steps, an int for even ones."""
    steps = step_number(model)
    return steps / 2 if steps % 2 else steps // 2


class Echo(mesa.Model):
    """Deterministic: reporters are functions of the step and the parameters.

    The reporter ``n`` has the name of a parameter (Mesa's rows show the
    reporter); ``Nothing`` reports None, ``Count`` an int.
    """

    def __init__(self, n=3, config=None, rng=None):
        super().__init__(rng=rng)
        self.config = config
        for i in range(2):
            agent = mesa.Agent(self)
            agent.size = i
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "n": lambda m: 5,
                "Nothing": lambda m: None,
                "Count": step_number,
                "Half": _half,
            },
            agent_reporters={"Size": "size"},
        )
        self.datacollector.collect(self)

    def step(self):
        self.datacollector.collect(self)


class MockModel(mesa.Model):
    """As in Mesa's own tests: takes **kwargs, no agent reporters."""

    def __init__(self, variable_model_param=None, **kwargs):
        super().__init__()
        self.variable_model_param = variable_model_param
        self.datacollector = mesa.DataCollector(
            model_reporters={"reported_model_param": lambda m: m.variable_model_param}
        )
        self.datacollector.collect(self)

    def step(self):
        self.datacollector.collect(self)


def both(model_cls, **kwargs):
    """Mesa's rows and mesa_nb's rows for the same call (in-process)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        expected = mesa_batch_run(model_cls, display_progress=False, **kwargs)
        got = mesa_nb.batch_run(model_cls, display_progress=False, **kwargs)
    return expected, got


def same_rows(expected, got):
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert list(mine) == list(theirs)  # keys, in Mesa's order
        for key, value in theirs.items():
            assert mine[key] == value, key
            assert type(mine[key]) is type(value), (key, mine[key], value)


def test_no_seed_given_gives_exactly_mesas_keys_and_values():
    kwargs = dict(
        parameters={"n": [3, 4], "config": [{"a": 1}]},
        max_steps=3,
        data_collection_period=1,
    )
    if not TAKES_RNG:
        kwargs["iterations"] = 2
    expected, got = both(Echo, **kwargs)
    same_rows(expected, got)
    first = got[0]
    assert first["n"] == 5  # the reporter, not the parameter
    assert first["Nothing"] is None and type(first["Count"]) is int
    assert first["config"] == {"a": 1}
    assert ("rng" in first) is TAKES_RNG and "seed" not in first
    if TAKES_RNG:
        assert first["rng"] is None  # as Mesa fills it without seeds
        assert type(first["Step"]) is float
    seeds = got.result.runs["seed"]
    assert seeds.notna().all() and seeds.nunique() == len(seeds)  # still seeded


@pytest.mark.skipif(not TAKES_RNG, reason="mesa.batch_run(rng=) arrived in Mesa 3.4")
@pytest.mark.parametrize("rng", [42, [42, 31415]])
def test_rng_seeds_appear_as_mesa_writes_them(rng):
    expected, got = both(Echo, parameters={"n": [3, 4]}, max_steps=2, rng=rng)
    same_rows(expected, got)
    wanted = [42, 42, 31415, 31415] if isinstance(rng, list) else [42, 42]
    assert [r["rng"] for r in got if r["AgentID"] == 1] == wanted


@pytest.mark.skipif(TAKES_RNG, reason="Mesa 3.3's batch_run takes no rng")
def test_on_mesa_33_seeds_show_only_when_asked_for():
    rows = mesa_nb.batch_run(
        Echo, {"n": [3]}, max_steps=1, rng=[7, 8], display_progress=False
    )
    assert [r["rng"] for r in rows if r["AgentID"] == 1] == [7, 8]
    plain = mesa_nb.batch_run(Echo, {"n": [3]}, max_steps=1, display_progress=False)
    assert "rng" not in plain[0] and "seed" not in plain[0]


def test_a_kwargs_model_without_agent_reporters_gives_one_row_per_run():
    kwargs = dict(parameters={"variable_model_param": [1, 2, 3]}, max_steps=2)
    if not TAKES_RNG:
        kwargs["iterations"] = 2
    with pytest.warns(UserWarning, match="MockModel was given the seed"):
        expected, got = both(MockModel, **kwargs)
    same_rows(expected, got)
    assert len(got) == 3 * (1 if TAKES_RNG else 2)
    assert [r["reported_model_param"] for r in got[:3]] == [1, 2, 3]
    assert not got.result.runs["reproducible"].any()  # the seed never arrived


def test_rng_with_iterations_is_refused_as_mesa_refuses_it():
    with pytest.raises(ValueError, match="cannot use both iterations and rng") as ours:
        mesa_nb.batch_run(Echo, {"n": [3]}, rng=42, iterations=1)
    assert isinstance(ours.value, mesa_nb.SweepOptionError)
    if TAKES_RNG:
        with pytest.raises(ValueError, match="cannot use both iterations and rng"):
            mesa_batch_run(Echo, {"n": [3]}, rng=42, iterations=1)


@pytest.mark.skipif(not TAKES_RNG, reason="iterations is deprecated from Mesa 3.4")
def test_iterations_warns_as_mesa_does():
    with pytest.warns(DeprecationWarning, match="`iterations` keyword argument"):
        mesa_nb.batch_run(Echo, {"n": [3]}, iterations=2, display_progress=False)


def test_seeded_models_are_marked_reproducible():
    rows = mesa_nb.batch_run(
        Echo, {"n": [3, 4]}, max_steps=1, seed=3, display_progress=False
    )
    assert rows.result.runs["reproducible"].tolist() == [True, True]


def test_batch_run_takes_any_executor():
    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        rows = mesa_nb.batch_run(
            Echo,
            {"n": [3, 4]},
            max_steps=2,
            seed=1,
            executor=pool,
            display_progress=False,
        )
    serial = mesa_nb.batch_run(
        Echo, {"n": [3, 4]}, max_steps=2, seed=1, display_progress=False
    )
    assert rows == serial and rows.result.metadata["executor"] == "ProcessPoolExecutor"
