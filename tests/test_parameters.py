"""Expanding sweep definitions into points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mesa_nb import Fixed, ParameterError, expand_parameters
from mesa_nb.core.parameters import Sampler


def test_constants_and_sweeps_expand_full_factorial_in_given_order():
    space = expand_parameters({"a": [1, 2], "b": "xy", "c": range(3), "d": 7})
    assert len(space) == 6
    assert space.names == ("a", "b", "c", "d")
    assert space.swept == ("a", "c")
    assert [(p["a"], p["c"]) for p in space.points] == [
        (1, 0),
        (1, 1),
        (1, 2),
        (2, 0),
        (2, 1),
        (2, 2),
    ]
    assert {p["b"] for p in space.points} == {"xy"}
    assert {p["d"] for p in space.points} == {7}


@pytest.mark.parametrize(
    "values",
    [
        [0.1, 0.2, 0.3],
        (0.1, 0.2, 0.3),
        np.array([0.1, 0.2, 0.3]),
        pd.Series([0.1, 0.2, 0.3]),
        (x / 10 for x in (1, 2, 3)),
    ],
    ids=["list", "tuple", "ndarray", "series", "generator"],
)
def test_every_kind_of_sequence_is_swept_with_python_values(values):
    space = expand_parameters({"rate": values})
    rates = [p["rate"] for p in space.points]
    assert rates == pytest.approx([0.1, 0.2, 0.3])
    assert all(type(r) is float for r in rates)


def test_a_generator_is_materialised_once_and_never_shrinks():
    gen = (i for i in range(4))
    space = expand_parameters({"a": gen, "b": [0, 1]})
    assert len(space) == 8


@pytest.mark.parametrize("empty", [[], (), np.array([]), range(0), iter([])])
def test_empty_sweep_values_are_refused_with_the_fix(empty):
    with pytest.raises(ParameterError, match="'a' has no values to sweep"):
        expand_parameters({"a": empty})


def test_sets_are_swept_in_sorted_order():
    space = expand_parameters({"kind": {"c", "a", "b"}})
    assert [p["kind"] for p in space.points] == ["a", "b", "c"]


def test_fixed_holds_a_list_constant():
    space = expand_parameters({"positions": Fixed([(0, 0), (1, 1)]), "n": [1, 2]})
    assert len(space) == 2
    assert all(p["positions"] == [(0, 0), (1, 1)] for p in space.points)


def test_callables_taking_rng_or_nothing_are_samplers_classes_are_not():
    def takes_agent(agent):
        return agent

    space = expand_parameters(
        {
            "x": lambda rng: rng.integers(5),
            "y": lambda: 3,
            "cls": dict,
            "policy": takes_agent,
            "fixed_fn": Fixed(lambda: 1),
        }
    )
    point = space.points[0]
    assert isinstance(point["x"], Sampler) and point["x"].takes_rng
    assert isinstance(point["y"], Sampler) and not point["y"].takes_rng
    assert point["cls"] is dict
    assert point["policy"] is takes_agent
    assert callable(point["fixed_fn"]) and not isinstance(point["fixed_fn"], Sampler)
    assert space.sampled == ("x", "y")


def test_a_list_of_dicts_gives_one_point_each():
    space = expand_parameters([{"a": 1, "b": [1, 2]}, {"a": 2, "b": [3]}])
    assert len(space) == 2
    assert space.points[0]["b"] == [1, 2]  # taken literally, not swept
    assert space.swept == ("a", "b")


def test_points_with_different_names_are_refused():
    with pytest.raises(ParameterError, match=r"Point 1 .* same names"):
        expand_parameters([{"a": 1}, {"b": 2}])


def test_a_dataframe_gives_one_point_per_row_with_python_values():
    frame = pd.DataFrame({"n": [10, 20, 30], "rate": [0.1, 0.5, 0.9]})
    space = expand_parameters(frame)
    assert [p["n"] for p in space.points] == [10, 20, 30]
    assert all(type(p["n"]) is int for p in space.points)
    assert space.swept == ("n", "rate")


def test_wrong_container_is_refused():
    with pytest.raises(ParameterError, match="dict of name"):
        expand_parameters(42)
