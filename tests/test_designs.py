"""Sampling designs and sensitivity analysis, checked against known answers."""

from __future__ import annotations

import math

import mesa
import numpy as np
import pytest

import mesa_nb
from mesa_nb.designs import between, integers, lhs, morris, one_of, sobol


class Ishigami(mesa.Model):
    """Y = sin x1 + 7 sin^2 x2 + 0.1 x3^4 sin x1, in one step."""

    def __init__(self, x1=0.0, x2=0.0, x3=0.0, rng=None):
        super().__init__(rng=rng)
        self.y = math.sin(x1) + 7 * math.sin(x2) ** 2 + 0.1 * x3**4 * math.sin(x1)
        self.datacollector = mesa.DataCollector(model_reporters={"Y": "y"})
        self.datacollector.collect(self)

    def step(self):
        self.datacollector.collect(self)


class Linear(mesa.Model):
    """y = 3a + b + 0c."""

    def __init__(self, a=0.0, b=0.0, c=0.0, rng=None):
        super().__init__(rng=rng)
        self.y = 3 * a + b + 0 * c
        self.datacollector = mesa.DataCollector(model_reporters={"y": "y"})
        self.datacollector.collect(self)

    def step(self):
        self.datacollector.collect(self)


class Typed(mesa.Model):
    """Reports the types of what it was given."""

    def __init__(self, rate=0.0, count=1, kind="a", rng=None):
        super().__init__(rng=rng)
        self.seen = (type(rate).__name__, type(count).__name__, kind)
        self.datacollector = mesa.DataCollector(
            model_reporters={"Types": lambda m: "/".join(m.seen)}
        )
        self.datacollector.collect(self)

    def step(self):
        self.datacollector.collect(self)


ISHIGAMI = {f"x{i}": between(-math.pi, math.pi) for i in (1, 2, 3)}


def test_sobol_indices_of_the_ishigami_function(processes):
    design = sobol(ISHIGAMI, 512, seed=1)
    assert len(design) == 512 * (3 + 2)
    result = mesa_nb.sweep(Ishigami, design, max_steps=1, seed=1, processes=processes)
    indices = result.sensitivity("Y", seed=1)
    assert list(indices.columns) == ["S1", "S1_conf", "ST", "ST_conf"]
    analytic = {"S1": [0.314, 0.442, 0.0], "ST": [0.558, 0.442, 0.244]}
    for column, expected in analytic.items():
        assert np.allclose(indices[column], expected, atol=0.06), indices
    assert result.metadata["design"]["method"] == "sobol"
    ax = result.plot.sensitivity("Y")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x3", "x2", "x1"]


def test_morris_on_a_linear_model():
    design = morris({n: between(0, 1) for n in "abc"}, trajectories=20, seed=2)
    result = mesa_nb.sweep(Linear, design, max_steps=1, seed=1)
    measures = result.sensitivity("y")
    assert np.allclose(measures["mu_star"], [3, 1, 0], atol=1e-9)
    assert np.allclose(measures["sigma"], 0, atol=1e-9)


def test_lhs_puts_one_point_in_each_bin_and_the_same_seed_gives_the_same_design():
    n = 40
    design = lhs({"x": between(2, 6), "y": between(0, 1)}, n, seed=3)
    for column, (low, high) in (("x", (2, 6)), ("y", (0, 1))):
        bins = np.floor((design.points[column] - low) / (high - low) * n)
        assert sorted(bins) == list(range(n))
    again = lhs({"x": between(2, 6), "y": between(0, 1)}, n, seed=3)
    assert design.points.equals(again.points)
    assert not design.points.equals(
        lhs({"x": between(2, 6), "y": (0.0, 1.0)}, n, 4).points
    )


def test_integer_and_categorical_ranges_arrive_with_their_types():
    design = lhs(
        {"rate": between(0, 1), "count": integers(1, 3), "kind": one_of("a", "b")},
        30,
        seed=5,
    )
    result = mesa_nb.sweep(Typed, design, max_steps=1, seed=1)
    kinds = set(result.model["Types"])
    assert {k.split("/")[0] for k in kinds} == {"float"}
    assert {k.split("/")[1] for k in kinds} == {"int"}
    assert {k.split("/")[2] for k in kinds} == {"a", "b"}
    assert set(result.runs["count"]) == {1, 2, 3}


def test_failed_points_make_the_analysis_refuse_naming_them():
    class Flaky(Ishigami):
        def __init__(self, x1=0.0, x2=0.0, x3=0.0, rng=None):
            if x1 > 3.0:
                raise ValueError("no")
            super().__init__(x1, x2, x3, rng)

    result = mesa_nb.sweep(Flaky, sobol(ISHIGAMI, 64, seed=1), max_steps=1, seed=1)
    assert result.n_failed
    with pytest.raises(mesa_nb.ParameterError, match="points have no value of 'Y'"):
        result.sensitivity("Y")


def test_the_magic_samples_ranges_written_in_the_cell(ipython):
    ipython.user_ns["Ishigami"] = Ishigami
    ipython.run_cell(
        "%%batchrun Ishigami --design sobol --samples 128 -s 1 --seed 7 -q -o ish\n"
        "x1 = between(-3.141592653589793, 3.141592653589793)\n"
        "x2 = between(-3.141592653589793, 3.141592653589793)\n"
        "x3 = between(-3.141592653589793, 3.141592653589793)\n"
    )
    ish = ipython.user_ns["ish"]
    assert len(ish.runs) == 128 * 5 and ish.design.method == "sobol"
    same = mesa_nb.sweep(Ishigami, sobol(ISHIGAMI, 128, seed=7), max_steps=1, seed=7)
    assert ish.model["Y"].tolist() == same.model["Y"].tolist()
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="needs a design"):
        ipython.run_cell("%%batchrun Ishigami -q\nx1 = between(0, 1)\n")
