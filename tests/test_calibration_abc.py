"""ABC-SMC against posteriors known exactly, its weights, stops and budget.

The simulators here are numpy draws seeded per batch, so every test is
deterministic. Tolerances come from Monte Carlo error: the weighted estimates
of one population are self-normalised importance sampling estimates, whose
standard errors are the delta-method ones (sqrt(sum w_i^2 (g_i - g)^2)).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtr

from mesa_nb.calibration.abc import (
    ABCSMC,
    Population,
    Proposal,
    _Kernel,
    weighted_quantile,
)
from mesa_nb.calibration.priors import Priors
from mesa_nb.core.designs import between, integers, one_of
from mesa_nb.core.errors import SweepOptionError

Simulator = Callable[[np.random.Generator, np.ndarray], np.ndarray]
S = 1 / math.sqrt(50)  # sd of the mean of 50 draws of N(mu, 1)


def drive(abc: ABCSMC, simulate: Simulator, seed: int = 99) -> list:
    """Run ``abc`` to its end; the (proposal, distances) told, in order."""
    told = []
    while not abc.done:
        proposal = abc.propose()
        if abc.max_runs is not None:
            assert len(proposal.thetas) <= abc.max_runs - abc.runs
        key = (proposal.generation, proposal.batch)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
        distances = simulate(rng, proposal.thetas)
        told.append((proposal, distances))
        abc.tell(proposal, distances)
    return told


def moments(x: np.ndarray, w: np.ndarray) -> tuple[float, float, float, float]:
    """Weighted mean and sd, and their Monte Carlo standard errors."""
    mean = float(w @ x)
    dev = x - mean
    var = float(w @ dev**2)
    se_mean = math.sqrt(np.sum(w**2 * dev**2))
    se_var = math.sqrt(np.sum(w**2 * (dev**2 - var) ** 2))
    return mean, math.sqrt(var), se_mean, se_var / (2 * math.sqrt(var))


def abc_posterior(observed: float, eps: float, low: float, high: float):
    """Mean and sd of the exact ABC posterior of mu at tolerance ``eps``: a
    uniform prior on [low, high] times P(|mean of 50 draws - observed| <= eps)."""
    mu = np.linspace(low, high, 400_001)
    density = ndtr((observed + eps - mu) / S) - ndtr((observed - eps - mu) / S)
    p = density / density.sum()
    mean = float(p @ mu)
    return mean, math.sqrt(float(p @ (mu - mean) ** 2))


def mean_of_50(rng: np.random.Generator, mu: np.ndarray) -> np.ndarray:
    return rng.normal(mu[:, None], 1.0, size=(len(mu), 50)).mean(axis=1)


# -- posteriors known exactly --------------------------------------------------
def test_the_posterior_of_a_normal_mean_is_recovered():
    priors = Priors.of({"mu": between(-5, 5)})
    abc = ABCSMC(priors, 1000, seed=1, min_tolerance=0.02, max_generations=20)
    drive(abc, lambda rng, t: np.abs(mean_of_50(rng, t[:, 0]) - 1.3))
    assert abc.stop_reason == "min_tolerance"
    last = abc.populations[-1]
    assert last.tolerance == 0.02 and len(last.weights) == 1000
    mean, sd, se_mean, se_sd = moments(last.thetas[:, 0], last.weights)
    # the criterion: mean within 0.05 of 1.3, sd within 25% of 1/sqrt(50)
    assert abs(mean - 1.3) < 0.05
    assert abs(sd / S - 1) < 0.25
    # and, sharper, the exact ABC posterior at the last tolerance within MC error
    exact_mean, exact_sd = abc_posterior(1.3, last.tolerance, -5, 5)
    assert abs(mean - exact_mean) < 4 * se_mean
    assert abs(sd - exact_sd) < 4 * se_sd
    assert last.ess > 300


def test_two_means_one_truncated_by_its_prior():
    """Distance max(|d1|, |d2|): the ABC posterior factorises exactly; the
    second mean's prior starts at 0, just below the observed 0.05."""
    priors = Priors.of({"a": between(-5, 5), "b": between(0, 3)})
    observed = np.array([1.3, 0.05])

    def simulate(rng: np.random.Generator, thetas: np.ndarray) -> np.ndarray:
        means = thetas + S * rng.standard_normal(thetas.shape)
        return np.abs(means - observed).max(axis=1)

    abc = ABCSMC(priors, 1000, seed=2, min_tolerance=0.04, max_generations=20)
    drive(abc, simulate)
    assert abc.stop_reason == "min_tolerance"
    last = abc.populations[-1]
    for j, (low, high) in enumerate([(-5, 5), (0, 3)]):
        mean, sd, se_mean, se_sd = moments(last.thetas[:, j], last.weights)
        exact_mean, exact_sd = abc_posterior(observed[j], last.tolerance, low, high)
        assert abs(mean - exact_mean) < 4 * se_mean, (j, mean, exact_mean)
        assert abs(sd - exact_sd) < 4 * se_sd, (j, sd, exact_sd)
    assert abs(moments(last.thetas[:, 1], last.weights)[0] - observed[1]) > 0.05
    assert np.all(last.thetas[:, 1] >= 0)


RATES = {"a": 1.0, "b": 1.5, "c": 3.0}


@pytest.mark.parametrize(
    ("count_prior", "pmf"),
    [
        (integers(0, 30), lambda k: np.where(k <= 30, 1 / 31, 0.0)),
        (stats.poisson(8), lambda k: stats.poisson.pmf(k, 8)),
    ],
    ids=["integers", "poisson"],
)
def test_a_count_and_a_choice_match_the_enumerated_posterior(count_prior, pmf):
    """y ~ Poisson(K * rate[c]), observed y = 9, distance |y - 9|: at
    tolerance 0 the ABC posterior is the exact one, enumerated here."""
    priors = Priors.of({"K": count_prior, "c": one_of(*RATES)})
    rates = np.array(list(RATES.values()))

    def simulate(rng: np.random.Generator, thetas: np.ndarray) -> np.ndarray:
        lam = thetas[:, 0] * rates[thetas[:, 1].astype(int)]
        return np.abs(rng.poisson(lam) - 9.0)

    abc = ABCSMC(priors, 1000, seed=3, quantile=0.1, max_generations=12)
    drive(abc, simulate)
    assert abc.stop_reason == "min_tolerance"
    last = abc.populations[-1]
    assert last.tolerance == 0 and np.all(last.distances == 0)
    k = np.arange(0, 81)[:, None]
    lam = k * rates[None, :]
    joint = pmf(k) * np.where(lam > 0, stats.poisson.pmf(9, lam), 0.0)
    joint /= joint.sum()
    w = last.weights
    ess = last.ess
    for axis, values in ((1, last.thetas[:, 0]), (0, last.thetas[:, 1])):
        exact = joint.sum(axis=axis)
        for value, p in enumerate(exact):
            hit = (values == value).astype(float)
            estimate = float(w @ hit)
            delta = np.sum(w**2 * (hit - estimate) ** 2)
            se = math.sqrt(max(delta, p * (1 - p) / ess))
            assert abs(estimate - p) < 4.5 * se + 1e-3, (axis, value, estimate, p)
    mean, _, se_mean, _ = moments(last.thetas[:, 0], w)
    exact_mean = float(joint.sum(axis=1) @ np.arange(0, 81))
    assert abs(mean - exact_mean) < 4 * se_mean


# -- the weights and tolerances, by hand ---------------------------------------
def test_weighted_quantile_inverts_the_weighted_distribution():
    values = np.array([3.0, 1.0, 2.0])
    weights = np.array([0.2, 0.5, 0.3])
    assert weighted_quantile(values, weights, 0.5) == 1.0
    assert weighted_quantile(values, weights, 0.6) == 2.0
    assert weighted_quantile(values, weights, 0.81) == 3.0
    assert weighted_quantile(values, weights, 1.0) == 3.0


def test_weights_follow_toni_et_al_on_a_hand_case():
    priors = Priors.of(
        {
            "x": between(0, 10),
            "y": between(-5, 5),
            "k": integers(0, 10),
            "c": one_of("a", "b", "c"),
        }
    )
    abc = ABCSMC(priors, 4, seed=11)
    first = abc.propose()
    assert first.thetas.shape == (4, 4)
    abc.tell(first, np.array([1.0, 2.0, 3.0, 4.0]))
    gen0 = abc.populations[0]
    assert gen0.weights.tolist() == [0.25] * 4 and gen0.tolerance == math.inf
    assert abc.tolerance == 2.0  # weighted median of 1, 2, 3, 4
    second = abc.propose()
    assert second.generation == 1 and len(second.thetas) == 5  # ceil(1.2 * 4 / 1)
    abc.tell(second, np.array([0.5, 3.0, 1.0, 1.5, 2.0]))  # 2.0 <= 2.0 accepted
    gen1 = abc.populations[1]
    assert np.array_equal(gen1.thetas, second.thetas[[0, 2, 3, 4]])
    assert gen1.runs == 5 and gen1.acceptance == 4 / 5 and gen1.tolerance == 2.0

    previous, w0 = gen0.thetas, gen0.weights
    cov = np.cov(previous.T, aweights=w0, bias=True)
    sigma_k = math.sqrt(2 * max(cov[2, 2], 0.25))
    expected = []
    for theta in gen1.thetas:
        kernel = [
            stats.multivariate_normal.pdf(theta[:2], old[:2], 2 * cov[:2, :2])
            * (
                stats.norm.cdf(theta[2] + 0.5, old[2], sigma_k)
                - stats.norm.cdf(theta[2] - 0.5, old[2], sigma_k)
            )
            * (0.7 if theta[3] == old[3] else 0.15)
            for old in previous
        ]
        expected.append(priors.density(theta[None])[0] / (w0 @ kernel))
    expected = np.array(expected) / np.sum(expected)
    np.testing.assert_allclose(gen1.weights, expected, rtol=1e-9)
    # the next tolerance: the weighted median of generation 1's distances
    order = np.argsort(gen1.distances)
    cumulative = np.cumsum(gen1.weights[order])
    median = gen1.distances[order][np.argmax(cumulative >= 0.5)]
    assert abc.tolerance == median


def test_a_population_without_spread_still_moves_and_has_finite_weights():
    priors = Priors.of(
        {"x": between(0, 10), "k": integers(0, 10), "c": one_of("a", "b")}
    )
    same = np.tile([4.0, 3.0, 1.0], (5, 1))
    population = Population(0, same, np.full(5, 0.2), np.zeros(5), math.inf, 5, 0)
    kernel = _Kernel(priors, population)
    moved = kernel.propose(np.random.default_rng(0), 2000)
    assert np.all(priors.density(moved) > 0)
    assert np.all(moved[:, 0] != 4.0)
    assert 0 < np.std(moved[:, 0]) < 1e-3  # sd sqrt(2e-12) * 10
    assert 0.3 < np.mean(moved[:, 1] != 3.0) < 0.7  # rounded normal, var 0.5
    assert abs(np.mean(moved[:, 2] == 0.0) - 0.3) < 0.05  # choice kept w.p. 0.7
    weights = kernel.weights_of(moved[:50])
    assert np.all(np.isfinite(weights)) and abs(weights.sum() - 1) < 1e-12


# -- determinism and replay ----------------------------------------------------
def small_abc(seed: int, **options) -> ABCSMC:
    priors = Priors.of({"mu": between(-5, 5), "k": integers(0, 4)})
    return ABCSMC(priors, 100, seed, **{"max_generations": 4, **options})


def small_simulator(rng: np.random.Generator, thetas: np.ndarray) -> np.ndarray:
    noisy = thetas[:, 0] + 0.3 * thetas[:, 1] + S * rng.standard_normal(len(thetas))
    return np.abs(noisy - 1.0)


def test_same_seed_same_populations_other_seed_other():
    first, again, other = small_abc(5), small_abc(5), small_abc(6)
    for abc in (first, again, other):
        drive(abc, small_simulator)
    assert len(first.populations) == 4
    assert first.populations == again.populations
    assert first.history().equals(again.history())
    assert not np.array_equal(first.populations[0].thetas, other.populations[0].thetas)
    assert not np.array_equal(
        first.populations[-1].thetas, other.populations[-1].thetas
    )


def test_a_replay_proposes_what_was_proposed():
    told = drive(small_abc(5), small_simulator)
    replay = small_abc(5)
    for proposal, distances in told:
        again = replay.propose()
        assert again == proposal
        assert replay.propose() is again  # the same batch until told
        replay.tell(Proposal(again.generation, again.batch, again.thetas), distances)
    assert replay.done and replay.populations == small_abc_done().populations


def small_abc_done() -> ABCSMC:
    abc = small_abc(5)
    drive(abc, small_simulator)
    return abc


# -- failures, batches, stops and budget ---------------------------------------
def test_failed_runs_are_rejected_counted_and_replaced():
    priors = Priors.of({"mu": between(0, 1)})
    abc = ABCSMC(priors, 10, seed=4, max_generations=2)
    first = abc.propose()
    distances = np.arange(10.0)
    distances[[1, 4, 8]] = np.nan
    abc.tell(first, distances)
    assert not abc.populations and abc.accepted_so_far == 7
    second = abc.propose()
    assert (second.generation, second.batch) == (0, 1)
    assert len(second.thetas) == math.ceil(1.2 * 3 / 0.7)
    abc.tell(second, np.array([np.nan, 1, 2, 3, 4, 5]))
    gen0 = abc.populations[0]
    kept = np.vstack([np.delete(first.thetas, [1, 4, 8], axis=0), second.thetas[1:4]])
    assert np.array_equal(gen0.thetas, kept)
    assert (gen0.runs, gen0.failed, abc.runs) == (16, 4, 16)
    assert gen0.acceptance == 10 / 16
    third = abc.propose()
    assert (third.generation, third.batch) == (1, 0)
    assert len(third.thetas) == math.ceil(1.2 * 10 / (10 / 16))
    abc.tell(third, np.full(len(third.thetas), np.nan))
    assert abc.accepted_so_far == 0 and not abc.done
    fourth = abc.propose()
    assert len(fourth.thetas) == 100  # acceptance 0: at most 10 x the population
    history = abc.history()
    assert list(history.columns) == [
        "generation",
        "tolerance",
        "runs",
        "accepted",
        "acceptance",
        "failed",
        "ess",
    ]
    assert history.iloc[0].tolist() == pytest.approx(
        [0, math.inf, 16, 10, 10 / 16, 4, 10]
    )


def test_max_generations_stops():
    abc = small_abc(1, max_generations=3)
    drive(abc, small_simulator)
    assert abc.stop_reason == "max_generations" and len(abc.populations) == 3
    assert [p.generation for p in abc.populations] == [0, 1, 2]
    tolerances = [p.tolerance for p in abc.populations]
    assert tolerances[0] == math.inf and tolerances[1] > tolerances[2]


def test_min_tolerance_stops_at_it():
    abc = small_abc(1, max_generations=30, min_tolerance=0.3)
    drive(abc, small_simulator)
    assert abc.stop_reason == "min_tolerance"
    tolerances = [p.tolerance for p in abc.populations]
    assert tolerances[-1] <= 0.3 < min(tolerances[:-1])


def test_min_acceptance_stops_after_a_generation_below_it():
    abc = small_abc(1, max_generations=30, min_acceptance=0.2)
    drive(abc, small_simulator)
    assert abc.stop_reason == "min_acceptance"
    acceptances = [p.acceptance for p in abc.populations]
    assert acceptances[-1] < 0.2 <= min(acceptances[:-1])


@pytest.mark.parametrize("budget", [0, 50, 100, 350, 777])
def test_the_run_budget_is_never_exceeded(budget):
    abc = small_abc(1, max_generations=30, max_runs=budget)
    drive(abc, small_simulator)  # asserts each batch fits in the budget left
    assert abc.stop_reason == "max_runs" and abc.runs == budget
    assert all(len(p.weights) == 100 for p in abc.populations)
    assert sum(p.runs for p in abc.populations) <= budget
    assert abc.accepted_so_far == 0  # a generation cut short is dropped
    with pytest.raises(RuntimeError, match="done"):
        abc.propose()


def test_telling_the_wrong_thing_is_refused():
    abc = small_abc(1)
    with pytest.raises(ValueError, match="propose"):
        abc.tell(Proposal(0, 0, np.zeros((100, 2))), np.zeros(100))
    proposal = abc.propose()
    with pytest.raises(ValueError, match="one distance per candidate"):
        abc.tell(proposal, np.zeros(99))
    with pytest.raises(ValueError, match="0 or more"):
        abc.tell(proposal, -np.ones(100))
    with pytest.raises(ValueError, match="pending"):
        abc.tell(Proposal(0, 0, proposal.thetas + 1), np.zeros(100))
    with pytest.raises(ValueError, match="pending"):
        abc.tell("batch", np.zeros(100))  # type: ignore[arg-type]
    assert abc.runs == 0
    abc.tell(proposal, np.zeros(100))
    assert abc.runs == 100 and len(abc.populations) == 1


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("population_size", 0),
        ("seed", -1),
        ("seed", 1.5),
        ("quantile", 0.0),
        ("quantile", 1.5),
        ("min_tolerance", -0.1),
        ("min_acceptance", 2),
        ("max_generations", 0),
        ("max_runs", -1),
        ("max_runs", True),
    ],
)
def test_bad_options_are_refused_by_name(option, value):
    arguments = {"population_size": 10, "seed": 1, option: value}
    with pytest.raises(SweepOptionError) as caught:
        ABCSMC(Priors.of({"x": between(0, 1)}), **arguments)
    assert caught.value.field == option


def test_proposals_and_populations_are_read_only():
    abc = small_abc(1)
    proposal = abc.propose()
    with pytest.raises(ValueError):
        proposal.thetas[0, 0] = 1.0
    abc.tell(proposal, np.zeros(100))
    with pytest.raises(ValueError):
        abc.populations[0].weights[0] = 1.0
