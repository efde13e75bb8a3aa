"""Priors of a calibration: kinds, draws, densities, values and records."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from mesa_nb.calibration.priors import Priors
from mesa_nb.core.designs import between, integers, one_of
from mesa_nb.core.errors import ParameterError


def every_kind() -> Priors:
    return Priors.of(
        {
            "x": between(0, 2),
            "k": integers(1, 5),
            "c": one_of("a", "b", "c"),
            "m": stats.norm(1, 2),
            "p": stats.poisson(3),
            "e": stats.expon(scale=2),
            "b": stats.beta(2, 3),
        }
    )


def test_each_prior_has_its_kind_and_support():
    priors = every_kind()
    assert priors.names == ("x", "k", "c", "m", "p", "e", "b")
    assert priors.kinds == ("float", "int", "choice", "float", "int", "float", "float")
    expected = [
        (0.0, 2.0),
        (1.0, 5.0),
        (0.0, 2.0),
        (stats.norm.ppf(0.0005, 1, 2), stats.norm.ppf(0.9995, 1, 2)),
        (0.0, stats.poisson.ppf(0.9995, 3)),
        (0.0, stats.expon.ppf(0.9995, scale=2)),
        (0.0, 1.0),
    ]
    np.testing.assert_allclose(priors.bounds(), expected, rtol=1e-12)
    np.testing.assert_allclose(
        priors.widths(), [high - low for low, high in expected], rtol=1e-12
    )
    assert Priors.of(priors) is priors


@pytest.mark.parametrize(
    "given",
    [
        (0, 1),
        3.5,
        "between(0, 1)",
        stats.norm([0, 1], 1),
        stats.norm(0, -1),
        stats.multivariate_normal([0.0, 0.0]),
        stats.rv_discrete(values=([1, 2], [0.5, 0.5]))(),
    ],
    ids=["pair", "number", "text", "array-args", "bad-scale", "multivariate", "custom"],
)
def test_anything_else_is_refused_naming_the_parameter(given):
    with pytest.raises(ParameterError) as caught:
        Priors.of({"beta": given})
    assert caught.value.field == "beta"
    assert "'beta'" in str(caught.value)


@pytest.mark.parametrize("given", [{}, None, [("x", between(0, 1))]])
def test_priors_must_be_a_non_empty_mapping(given):
    with pytest.raises(ParameterError, match=r"between\(lo, hi\), integers"):
        Priors.of(given)


def test_a_refused_value_names_the_fix():
    with pytest.raises(ParameterError) as caught:
        Priors.of({"x": (0, 1)})
    message = str(caught.value)
    for fix in ("between(lo, hi)", "integers(lo, hi)", "one_of(...)", "norm(0, 1)"):
        assert fix in message


def test_draws_follow_each_prior():
    priors = every_kind()
    n = 40_000
    thetas = priors.sample(np.random.default_rng(1), n)
    assert thetas.shape == (n, 7) and thetas.dtype == float
    assert np.all(priors.density(thetas) > 0)
    means = [1.0, 3.0, 1.0, 1.0, 3.0, 2.0, 0.4]
    sds = [2 / math.sqrt(12), math.sqrt(2), math.sqrt(2 / 3), 2.0, math.sqrt(3)]
    sds += [2.0, math.sqrt(2 * 3 / (25 * 6))]
    for j, (mean, sd) in enumerate(zip(means, sds, strict=True)):
        assert abs(thetas[:, j].mean() - mean) < 4.5 * sd / math.sqrt(n), j
    for j in (1, 2, 4):
        assert np.all(thetas[:, j] == np.rint(thetas[:, j]))
    counts = np.bincount(thetas[:, 2].astype(int), minlength=3) / n
    assert np.all(np.abs(counts - 1 / 3) < 4.5 * math.sqrt(2 / 9 / n))
    assert set(np.unique(thetas[:, 1])) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_draws_depend_only_on_the_generator():
    priors = every_kind()
    first = priors.sample(np.random.default_rng(7), 50)
    again = priors.sample(np.random.default_rng(7), 50)
    other = priors.sample(np.random.default_rng(8), 50)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_density_is_the_product_of_each_prior_and_zero_outside():
    priors = every_kind()
    inside = np.array([[0.5, 2, 1, 0.3, 4, 1.5, 0.25]])
    expected = (
        0.5
        * 0.2
        / 3
        * stats.norm.pdf(0.3, 1, 2)
        * stats.poisson.pmf(4, 3)
        * stats.expon.pdf(1.5, scale=2)
        * stats.beta.pdf(0.25, 2, 3)
    )
    np.testing.assert_allclose(priors.density(inside), [expected], rtol=1e-12)
    outside = [(0, 2.5), (0, -0.1), (1, 0), (1, 2.5), (2, 3), (2, 0.5), (4, -1)]
    outside += [(4, 1.5), (5, -0.1), (6, 1.2), (0, np.nan), (3, np.nan)]
    rows = np.repeat(inside, len(outside), axis=0)
    for i, (j, value) in enumerate(outside):
        rows[i, j] = value
    assert priors.density(rows).tolist() == [0.0] * len(outside)
    with pytest.raises(ValueError, match="shape"):
        priors.density(np.zeros((2, 3)))


def test_points_are_model_values_and_to_thetas_inverts_them():
    priors = every_kind()
    thetas = priors.sample(np.random.default_rng(3), 20)
    points = priors.points(thetas)
    assert len(points) == 20 and list(points[0]) == list(priors.names)
    for point in points:
        assert type(point["x"]) is float and type(point["m"]) is float
        assert type(point["k"]) is int and type(point["p"]) is int
        assert point["c"] in ("a", "b", "c")
    assert np.array_equal(priors.to_thetas(points), thetas)
    assert priors.points(np.array([[1.0, 3, 2, 0, 0, 1, 0.5]]))[0]["c"] == "c"


def test_to_thetas_refuses_a_missing_or_foreign_value():
    priors = Priors.of({"k": integers(0, 3), "c": one_of(1, True, "x")})
    assert priors.to_thetas([{"k": 2, "c": True}]).tolist() == [[2.0, 1.0]]
    assert priors.to_thetas([{"k": np.int64(2), "c": np.int64(1)}]).tolist() == [
        [2.0, 0.0]
    ]
    for point, field in [
        ({"c": 1}, "k"),
        ({"k": 1, "c": "y"}, "c"),
        ({"k": 1.5, "c": 1}, "k"),
        ({"k": "1", "c": 1}, "k"),
    ]:
        with pytest.raises(ParameterError) as caught:
            priors.to_thetas([point])
        assert caught.value.field == field


def test_records_round_trip_through_json_for_every_kind():
    priors = every_kind()
    record = priors.to_dict()
    assert record["x"] == {"kind": "between", "low": 0.0, "high": 2.0}
    assert record["k"] == {"kind": "integers", "low": 1, "high": 5}
    assert record["c"] == {"kind": "one_of", "choices": ["a", "b", "c"]}
    assert record["m"] == {"kind": "scipy", "dist": "norm", "args": [1, 2], "kwds": {}}
    assert record["e"]["kwds"] == {"scale": 2}
    written = json.loads(json.dumps(record))
    back = Priors.from_dict(written)
    assert back == priors and back.to_dict() == written
    assert back.kinds == priors.kinds and back.bounds() == priors.bounds()
    rng = np.random.default_rng(5)
    thetas = priors.sample(rng, 30)
    assert np.array_equal(back.density(thetas), priors.density(thetas))
    record["m"]["args"] = [1, 3]
    assert Priors.from_dict(record) != priors
    assert priors != Priors.of({"x": between(0, 2)})
    assert priors.__eq__("x") is NotImplemented


def test_numpy_arguments_are_recorded_as_plain_numbers():
    priors = Priors.of({"m": stats.gamma(np.float64(2.0), scale=np.int64(3))})
    assert json.dumps(priors.to_dict())
    assert priors.to_dict()["m"] == {
        "kind": "scipy",
        "dist": "gamma",
        "args": [2.0],
        "kwds": {"scale": 3},
    }


@pytest.mark.parametrize(
    "record",
    [
        {"kind": "uniform", "low": 0, "high": 1},
        {"kind": "scipy", "dist": "no_such", "args": [], "kwds": {}},
        {"kind": "between", "low": 0},
        "between",
    ],
)
def test_a_bad_record_is_refused(record):
    with pytest.raises(ParameterError) as caught:
        Priors.from_dict({"x": record})
    assert caught.value.field == "x"


def test_repr_shows_each_prior():
    text = repr(every_kind())
    assert "x=between(0.0, 2.0)" in text and "c=one_of('a', 'b', 'c')" in text
    assert "m=norm(1, 2)" in text and "e=expon(scale=2)" in text
