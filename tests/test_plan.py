"""Everything refused before any run starts, RunId numbering and seeds."""

from __future__ import annotations

import numpy as np
import pytest
from models import (
    KwargsModel,
    Money,
    NoCollector,
    NotAModel,
    SeedKeyword,
    Unseedable,
)

import mesa_nb
from mesa_nb import (
    MesaNbError,
    ModelClassError,
    ParameterError,
    SweepOptionError,
)
from mesa_nb.core.plan import plan_sweep
from mesa_nb.core.seeding import point_seed


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"parameters": {"nn": [1]}},
            ParameterError,
            "no parameter 'nn'. Did you mean 'n'",
        ),
        ({"parameters": {"n": []}}, ParameterError, "'n' has no values"),
        ({"iterations": 0}, SweepOptionError, "iterations must be at least 1"),
        ({"max_steps": -1}, SweepOptionError, "max_steps must be 0 or more"),
        ({"data_collection_period": 0}, SweepOptionError, "data_collection_period"),
        ({"data_collection_period": -2}, SweepOptionError, "data_collection_period"),
        ({"seed": 1, "rng": [1]}, SweepOptionError, "either seed="),
        ({"rng": [1, 2], "iterations": 3}, SweepOptionError, "both iterations and rng"),
        ({"parameters": {"rng": 1}, "seed": 3}, SweepOptionError, "already set 'rng'"),
        (
            {"number_processes": 0},
            SweepOptionError,
            "processes must be a whole number of processes",
        ),
        ({"max_steps": 2.5}, SweepOptionError, "whole number"),
    ],
)
def test_bad_input_is_refused_before_any_run(kwargs, error, message):
    args = {"parameters": {"n": [2]}, "display_progress": False, **kwargs}
    with pytest.raises(error, match=message) as info:
        mesa_nb.batch_run(Money, **args)
    assert isinstance(info.value, MesaNbError)
    assert isinstance(info.value, ValueError)


def test_not_a_model_class_names_the_fix():
    with pytest.raises(ModelClassError, match=r"subclass mesa\.Model") as info:
        mesa_nb.sweep(NotAModel, {"n": 1})
    assert isinstance(info.value, TypeError)
    with pytest.raises(ModelClassError, match="Pass the class itself"):
        mesa_nb.sweep(Money(), {"n": 1})


def test_model_without_datacollector_says_what_to_add():
    with pytest.raises(
        ModelClassError, match=r"self.datacollector = mesa.DataCollector"
    ):
        mesa_nb.sweep(NoCollector, {"n": [1, 2]}, processes=2)


def test_missing_required_parameter_is_named():
    class NeedsN(Money):
        def __init__(self, n, rng=None):
            super().__init__(n=n, rng=rng)

    with pytest.raises(ParameterError, match="requires 'n'"):
        mesa_nb.sweep(NeedsN, {})


def test_kwargs_models_accept_any_name():
    result = mesa_nb.sweep(KwargsModel, {"anything": [1, 2], "other": "x"}, max_steps=1)
    assert result.model["Keys"].tolist() == ["anything,other"] * 2


def test_run_ids_are_iteration_major_then_points_in_given_order():
    plan = plan_sweep(
        Money, {"n": [1, 2, 3], "bonus": [0.0, 1.0]}, iterations=2, seed=0
    )
    got = [(r.run_id, r.iteration, r.params["n"], r.params["bonus"]) for r in plan.runs]
    expected = []
    for it in range(2):
        for n in (1, 2, 3):
            for bonus in (0.0, 1.0):
                expected.append((len(expected), it, n, bonus))
    assert got == expected


def test_seed_derives_distinct_stable_seeds_per_run():
    plan = plan_sweep(Money, {"n": [1, 2]}, iterations=50, seed=42)
    seeds = [r.seed for r in plan.runs]
    assert len(set(seeds)) == 100
    keys = plan.point_keys()
    assert seeds[7] == point_seed(42, keys(1, {"n": 2}), 3)  # n=2, iteration 3
    assert all(0 <= s < 2**63 for s in seeds)
    # the seed of a run does not depend on how many runs the sweep has
    assert (
        plan_sweep(Money, {"n": [1, 2]}, iterations=3, seed=42).runs[5].seed == seeds[5]
    )
    assert plan_sweep(Money, {"n": [1, 2]}, seed=43).runs[0].seed != seeds[0]
    # nor on where its point stands: a seed follows what the run is
    assert (
        plan_sweep(Money, {"n": [2, 1]}, iterations=3, seed=42).runs[0].seed
        == (seeds[1])
    )


def test_rng_gives_one_seed_per_iteration_as_mesa():
    plan = plan_sweep(Money, {"n": [1, 2]}, rng=[7, 8, 9])
    assert plan.iterations == 3
    assert [r.seed for r in plan.runs] == [7, 7, 8, 8, 9, 9]
    assert plan.settings.seed_kwarg == "rng"


def test_no_seed_draws_a_recorded_master_seed():
    first = plan_sweep(Money, {"n": 1})
    second = plan_sweep(Money, {"n": 1})
    assert first.seed_source == "entropy"
    assert first.master_seed != second.master_seed
    key = first.point_keys()(0, {"n": 1})
    assert first.runs[0].seed == point_seed(first.master_seed, key, 0)


def test_seed_goes_to_the_keyword_the_model_takes():
    assert plan_sweep(SeedKeyword, {"n": 1}, seed=1).settings.seed_kwarg == "seed"
    assert plan_sweep(KwargsModel, {"n": 1}, seed=1).settings.seed_kwarg == "rng"
    assert plan_sweep(Money, {"rng": [1, 2]}).settings.seed_kwarg is None
    with pytest.warns(UserWarning, match="cannot be reproduced"):
        plan = plan_sweep(Unseedable, {"n": 1}, seed=1)
    assert plan.settings.seed_kwarg is None


def test_seed_keyword_models_are_seeded_and_reproducible():
    a = mesa_nb.sweep(SeedKeyword, {"n": [1, 2]}, seed=5, max_steps=2)
    b = mesa_nb.sweep(SeedKeyword, {"n": [1, 2]}, seed=5, max_steps=2)
    assert a.model["R"].tolist() == b.model["R"].tolist()
    assert a.metadata["seed_kwarg"] == "seed"


def test_numpy_integers_are_fine_options():
    result = mesa_nb.sweep(
        Money, {"n": 2}, iterations=np.int64(2), max_steps=np.int32(1)
    )
    assert len(result.runs) == 2
