r"""ABC-SMC: approximate Bayesian computation by sequential Monte Carlo.

The algorithm proposes batches of parameter sets and is told their distances
(no model runs here). Each generation ``t`` accepts ``N`` particles whose
distance is at most its tolerance :math:`\varepsilon_t`:

* Generation 0 samples the priors and accepts every run that did not fail
  (:math:`\varepsilon_0 = \infty`), weights :math:`1/N`.
* Generation :math:`t \ge 1` draws an ancestor :math:`\theta^*` from the last
  population by weight, perturbs it, :math:`\theta \sim K_t(\cdot \mid
  \theta^*)`, and draws both again when :math:`\pi(\theta) = 0` (Toni et al.
  2009, J R Soc Interface 6:187, Algorithm ABC SMC, steps S2.1-S2.2). An
  accepted particle gets the importance weight (Toni et al. 2009, step S3;
  Beaumont et al. 2009, Biometrika 96:983, ABC-PMC)

  .. math::
      w_t^{(i)} \propto \frac{\pi(\theta_t^{(i)})}
          {\sum_j w_{t-1}^{(j)} K_t(\theta_t^{(i)} \mid \theta_{t-1}^{(j)})}.

* The kernel :math:`K_t` is a product over parameter kinds. Floats: the
  multivariate normal :math:`N(\theta^*, \Sigma)`, :math:`\Sigma = 2\,
  \mathrm{Cov}_w(\theta_{t-1})`, the weighted covariance of the last
  population (Filippi et al. 2013, Stat Appl Genet Mol Biol 12:87, the
  multivariate normal kernel; Beaumont et al. 2009's
  :math:`\tau^2 = 2\,\mathrm{var}`). Whole numbers: the component-wise
  normal of Filippi et al. 2013 with :math:`\sigma_j^2 = 2\,\mathrm{Var}_w`,
  rounded to the nearest integer, so that :math:`K(k \mid k^*) =
  \Phi((k + \tfrac12 - k^*)/\sigma_j) - \Phi((k - \tfrac12 - k^*)/\sigma_j)`
  (kept separate from the floats' block so that this mass is exact). Choices:
  the ancestor's choice with probability 0.7, else one of the other
  :math:`k - 1`, uniformly. A variance below :math:`10^{-12}` times the
  prior width squared (floats) or below 0.25 (whole numbers) is raised to
  it, so proposals still move and densities stay finite.
* The tolerance adapts (Del Moral et al. 2012, Stat Comput 22:1009;
  Drovandi & Pettitt 2011, Biometrics 67:225): :math:`\varepsilon_t` is the
  weighted ``quantile`` (:math:`\alpha`) of the last population's distances,
  :math:`\varepsilon_t = \min\{d_{(k)} : \sum_{i \le k} w_{(i)} \ge
  \alpha\}` over the distances sorted, and never below ``min_tolerance``.

Batch-synchronous: every random draw of batch ``b`` of generation ``t`` comes
from ``default_rng(SeedSequence(seed, spawn_key=(t, b)))`` and candidates are
accepted in their order, so the result does not depend on how many processes
ran the batch, and a new :class:`ABCSMC` told the same distances proposes the
same batches (a stopped calibration resumes by replaying them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular
from scipy.spatial.distance import cdist
from scipy.special import logsumexp, ndtr

from ..core.errors import SweepOptionError
from .priors import Priors

__all__ = ["ABCSMC", "STOP_REASONS", "Population", "Proposal", "weighted_quantile"]

#: Why an :class:`ABCSMC` stops.
STOP_REASONS = ("min_tolerance", "min_acceptance", "max_generations", "max_runs")

KEEP_CHOICE = 0.7  # probability the kernel keeps the ancestor's choice
MIN_ACCEPTANCE_GUESS = 0.02  # the lowest acceptance a batch size is planned for
MAX_BATCH = 10  # a batch is at most this many times the population size
BATCH_MARGIN = 1.2  # a batch proposes this many times the candidates needed
FLOAT_FLOOR = 1e-12  # least variance of a float, times its prior width squared
INT_FLOOR = 0.25  # least variance of a whole number
_CHUNK = 2_000_000  # kernel matrix entries computed at once


def _frozen(array: Any, dtype: type = float) -> np.ndarray:
    array = np.array(array, dtype=dtype)
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class Proposal:
    """One batch of candidates to simulate, in order (rows of ``thetas``)."""

    generation: int
    batch: int
    thetas: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "thetas", _frozen(self.thetas))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Proposal):
            return NotImplemented
        return (
            (self.generation, self.batch) == (other.generation, other.batch)
            and self.thetas.shape == other.thetas.shape
            and np.array_equal(self.thetas, other.thetas)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Population:
    """One complete generation: its accepted particles and how it went."""

    generation: int
    thetas: np.ndarray
    weights: np.ndarray
    distances: np.ndarray
    tolerance: float
    runs: int
    failed: int

    def __post_init__(self) -> None:
        for name in ("thetas", "weights", "distances"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def acceptance(self) -> float:
        """Accepted particles per candidate simulated."""
        return len(self.weights) / self.runs if self.runs else math.nan

    @property
    def ess(self) -> float:
        """Effective sample size of the weights, :math:`1 / \\sum w^2`."""
        return float(1.0 / np.sum(self.weights**2))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Population):
            return NotImplemented
        same = (self.generation, self.tolerance, self.runs, self.failed) == (
            other.generation,
            other.tolerance,
            other.runs,
            other.failed,
        )
        return same and all(
            a.shape == b.shape and np.array_equal(a, b)
            for a, b in (
                (self.thetas, other.thetas),
                (self.weights, other.weights),
                (self.distances, other.distances),
            )
        )

    __hash__ = None  # type: ignore[assignment]


def weighted_quantile(values: Any, weights: Any, q: Any) -> Any:
    """The smallest value whose cumulative normalised weight reaches ``q``
    (the inverse of the weighted empirical distribution function); ``q`` a
    number (a float back) or a sequence (an array back)."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(np.asarray(weights, dtype=float)[order])
    at = np.searchsorted(cumulative / cumulative[-1], q, side="left")
    found = values[order][np.minimum(at, len(values) - 1)]
    return float(found) if np.ndim(found) == 0 else found


def weighted_covariance(thetas: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:math:`\\sum_i w_i (\\theta_i - \\bar\\theta)(\\theta_i - \\bar\\theta)^T`
    with :math:`\\bar\\theta = \\sum_i w_i \\theta_i` (weights summing to 1)."""
    centred = thetas - weights @ thetas
    return (centred * weights[:, None]).T @ centred


class _Kernel:
    """The perturbation kernel of one generation, built from the last one."""

    def __init__(self, priors: Priors, population: Population) -> None:
        self.priors = priors
        self.ancestors = np.asarray(population.thetas)
        self.weights = np.asarray(population.weights)
        with np.errstate(divide="ignore"):
            self.log_weights = np.log(self.weights)
        kinds = np.array(priors.kinds)
        self.floats = np.flatnonzero(kinds == "float")
        self.ints = np.flatnonzero(kinds == "int")
        self.choices = np.flatnonzero(kinds == "choice")
        self.n_choices = priors.widths()[self.choices] + 1
        cov = weighted_covariance(self.ancestors, self.weights)
        widths = priors.widths()
        self.chol = _cholesky(
            cov[np.ix_(self.floats, self.floats)],
            FLOAT_FLOOR * widths[self.floats] ** 2,
        ) * math.sqrt(2.0)
        self.sigma = np.sqrt(2.0 * np.maximum(np.diag(cov)[self.ints], INT_FLOOR))
        self.white_ancestors = self._whiten(self.ancestors)
        self.log_norm = -np.sum(np.log(np.diag(self.chol))) - 0.5 * len(
            self.floats
        ) * math.log(2 * math.pi)

    # -- drawing -------------------------------------------------------------------
    def propose(self, rng: np.random.Generator, m: int) -> np.ndarray:
        """``m`` candidates inside the priors' support (Toni et al. 2009 S2.1)."""
        kept: list[np.ndarray] = []
        need, rate = m, 1.0
        for _ in range(1000):
            draw = min(math.ceil(need / rate), 100 * m)
            ancestors = rng.choice(len(self.weights), size=draw, p=self.weights)
            candidates = self._perturb(rng, self.ancestors[ancestors])
            inside = candidates[self.priors.density(candidates) > 0]
            kept.append(inside[:need])
            need -= len(kept[-1])
            if need == 0:
                return np.vstack(kept)
            rate = max(len(inside) / draw, 0.01)
        raise RuntimeError(
            "The perturbation kernel keeps proposing parameters outside the "
            "priors' support (density 0); check the priors' bounds."
        )

    def _perturb(self, rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
        out = base.copy()
        n = len(base)
        if len(self.floats):
            z = rng.standard_normal((n, len(self.floats)))
            out[:, self.floats] += z @ self.chol.T
        if len(self.ints):
            z = rng.standard_normal((n, len(self.ints)))
            out[:, self.ints] = np.rint(out[:, self.ints] + z * self.sigma)
        for j, k in zip(self.choices, self.n_choices, strict=True):
            move = rng.random(n) >= KEEP_CHOICE
            other = rng.integers(0, int(k) - 1, n).astype(float)
            other += other >= base[:, j]  # skip the ancestor's own choice
            out[:, j] = np.where(move, other, base[:, j])
        return out

    # -- densities -----------------------------------------------------------------
    def _whiten(self, thetas: np.ndarray) -> np.ndarray:
        if not len(self.floats):
            return np.zeros((len(thetas), 0))
        return solve_triangular(self.chol, thetas[:, self.floats].T, lower=True).T

    def log_kernel(self, thetas: np.ndarray) -> np.ndarray:
        """:math:`\\log K(\\theta_i \\mid \\theta_{t-1}^{(j)})`, shape (n, N)."""
        white = self._whiten(thetas)
        if len(self.floats):
            squared = cdist(white, self.white_ancestors, "sqeuclidean")
        else:
            squared = np.zeros((len(thetas), len(self.ancestors)))
        log_k = self.log_norm - 0.5 * squared
        with np.errstate(divide="ignore"):
            for j, sigma in zip(self.ints, self.sigma, strict=True):
                diff = thetas[:, j, None] - self.ancestors[None, :, j]
                lo, hi = (diff - 0.5) / sigma, (diff + 0.5) / sigma
                mass = np.where(lo > 0, ndtr(-lo) - ndtr(-hi), ndtr(hi) - ndtr(lo))
                log_k += np.log(mass)
            for j, k in zip(self.choices, self.n_choices, strict=True):
                same = thetas[:, j, None] == self.ancestors[None, :, j]
                log_k += np.where(
                    same, math.log(KEEP_CHOICE), math.log((1 - KEEP_CHOICE) / (k - 1))
                )
        return log_k

    def weights_of(self, thetas: np.ndarray) -> np.ndarray:
        """Normalised importance weights of accepted ``thetas`` (Toni et al.
        2009, S3): prior over the kernel mixture of the last population."""
        step = max(1, _CHUNK // max(len(self.weights), 1))
        log_mixture = np.concatenate(
            [
                logsumexp(
                    self.log_kernel(thetas[i : i + step]) + self.log_weights, axis=1
                )
                for i in range(0, len(thetas), step)
            ]
        )
        with np.errstate(divide="ignore"):
            log_w = np.log(self.priors.density(thetas)) - log_mixture
        weights = np.exp(log_w - np.max(log_w))
        return weights / weights.sum()


def _cholesky(cov: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of ``cov`` with its variances raised to
    ``floor``; a ridge of ``floor`` (times 10, 100, ...) when singular."""
    if not cov.size:
        return np.zeros((0, 0))
    cov = cov.copy()
    index = np.diag_indices_from(cov)
    cov[index] = np.maximum(cov[index], floor)
    ridge = 0.0
    for _ in range(40):
        try:
            return np.linalg.cholesky(cov + np.diag(ridge * floor))
        except np.linalg.LinAlgError:
            ridge = max(10.0 * ridge, 1.0)
    raise np.linalg.LinAlgError("the population's covariance is not usable")


def _count(name: str, value: Any, least: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or value < least
    ):
        raise SweepOptionError(
            f"{name} must be a whole number, {least} or more, got {value!r}.",
            field=name,
        )
    return int(value)


def _fraction(
    name: str, value: Any, low: float, high: float, *, open_low: bool
) -> float:
    ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    ok = ok and (low < value if open_low else low <= value) and value <= high
    if not ok:
        shown = f"({low}, {high}]" if open_low else f"[{low}, {high}]"
        raise SweepOptionError(
            f"{name} must be a number in {shown}, got {value!r}.", field=name
        )
    return float(value)


class ABCSMC:
    """ABC-SMC by batches: :meth:`propose` candidates, :meth:`tell` distances.

    Args:
        priors: the priors of the calibrated parameters.
        population_size: particles accepted per generation (``N``).
        seed: the master seed (every draw derives from it).
        quantile: each tolerance is this weighted quantile of the last
            generation's distances.
        min_tolerance: stop after a generation whose tolerance is this small
            (tolerances never go below it).
        min_acceptance: stop after a generation that accepted fewer than this
            share of its runs.
        max_generations: generations at most, generation 0 (the priors) included.
        max_runs: candidates simulated at most (no batch goes over it; a
            generation the budget cuts short is dropped).
    """

    def __init__(
        self,
        priors: Priors,
        population_size: int,
        seed: int,
        *,
        quantile: float = 0.5,
        min_tolerance: float = 0.0,
        min_acceptance: float = 0.0,
        max_generations: int = 10,
        max_runs: int | None = None,
    ) -> None:
        self.priors = Priors.of(priors)
        self.population_size = _count("population_size", population_size, 1)
        self.seed = _count("seed", seed, 0)
        self.quantile = _fraction("quantile", quantile, 0.0, 1.0, open_low=True)
        self.min_tolerance = _fraction(
            "min_tolerance", min_tolerance, 0.0, math.inf, open_low=False
        )
        self.min_acceptance = _fraction(
            "min_acceptance", min_acceptance, 0.0, 1.0, open_low=False
        )
        self.max_generations = _count("max_generations", max_generations, 1)
        self.max_runs = None if max_runs is None else _count("max_runs", max_runs, 0)
        self._populations: list[Population] = []
        self._kernel: _Kernel | None = None
        self._tolerance = math.inf
        self._pending: Proposal | None = None
        self._stop_reason: str | None = None
        self._runs = 0
        self._start_generation()
        self._check_budget()

    # -- state ---------------------------------------------------------------------
    @property
    def populations(self) -> list[Population]:
        """The complete generations, in order."""
        return list(self._populations)

    @property
    def generation(self) -> int:
        """The generation being filled (or that would be next)."""
        return len(self._populations)

    @property
    def tolerance(self) -> float:
        """The tolerance of the generation being filled (once done: of the
        last generation run)."""
        return self._tolerance

    @property
    def accepted_so_far(self) -> int:
        """Particles accepted in the generation being filled."""
        return len(self._accepted)

    @property
    def done(self) -> bool:
        return self._stop_reason is not None

    @property
    def stop_reason(self) -> str | None:
        """One of :data:`STOP_REASONS`, or None while running."""
        return self._stop_reason

    @property
    def runs(self) -> int:
        """Candidates simulated in all, failed ones included."""
        return self._runs

    def history(self) -> pd.DataFrame:
        """One row per complete generation."""
        columns = [
            "generation",
            "tolerance",
            "runs",
            "accepted",
            "acceptance",
            "failed",
            "ess",
        ]
        rows = [
            (
                p.generation,
                p.tolerance,
                p.runs,
                len(p.weights),
                p.acceptance,
                p.failed,
                p.ess,
            )
            for p in self._populations
        ]
        return pd.DataFrame(rows, columns=columns)

    # -- propose and tell ----------------------------------------------------------
    def propose(self) -> Proposal:
        """The next batch of candidates (the same one again until told)."""
        if self.done:
            raise RuntimeError(
                f"The ABC-SMC is done ({self._stop_reason}): nothing to propose."
            )
        if self._pending is None:
            generation, batch = self.generation, self._batch
            rng = np.random.default_rng(
                np.random.SeedSequence(self.seed, spawn_key=(generation, batch))
            )
            size = self._batch_size()
            if self._kernel is None:
                thetas = self.priors.sample(rng, size)
            else:
                thetas = self._kernel.propose(rng, size)
            self._pending = Proposal(generation, batch, thetas)
        return self._pending

    def tell(self, proposal: Proposal, distances: np.ndarray) -> None:
        """The distances of ``proposal``'s candidates (nan: the run failed)."""
        if self._pending is None:
            raise ValueError("No proposal is pending: call propose() first.")
        if not isinstance(proposal, Proposal) or proposal != self._pending:
            raise ValueError(
                f"Tell the pending proposal (generation {self.generation}, batch "
                f"{self._batch}, {len(self._pending.thetas)} candidates); got "
                f"{proposal!r:.80}."
            )
        d = np.asarray(distances, dtype=float).reshape(-1)
        if d.shape != (len(proposal.thetas),):
            raise ValueError(
                f"Give one distance per candidate: {len(proposal.thetas)}, "
                f"got {d.size}."
            )
        if np.any(d < 0):
            raise ValueError("Distances must be 0 or more (nan for a failed run).")
        self._pending = None
        self._batch += 1
        self._runs += len(d)
        self._gen_runs += len(d)
        self._gen_failed += int(np.isnan(d).sum())
        with np.errstate(invalid="ignore"):
            taken = np.flatnonzero(d <= self._tolerance)[
                : self.population_size - len(self._accepted)
            ]
        self._accepted.extend(proposal.thetas[taken])
        self._distances.extend(d[taken])
        if len(self._accepted) == self.population_size:
            self._complete()
        self._check_budget()

    # -- generations ---------------------------------------------------------------
    def _start_generation(self) -> None:
        self._batch = 0
        self._gen_runs = 0
        self._gen_failed = 0
        self._accepted: list[np.ndarray] = []
        self._distances: list[float] = []

    def _batch_size(self) -> int:
        n, remaining = self.population_size, self.population_size - len(self._accepted)
        if self._kernel is None and self._batch == 0:
            size = n
        else:
            if self._gen_runs:
                acceptance = len(self._accepted) / self._gen_runs
            else:
                acceptance = self._populations[-1].acceptance
            wanted = BATCH_MARGIN * remaining / max(acceptance, MIN_ACCEPTANCE_GUESS)
            size = min(math.ceil(round(wanted, 9)), MAX_BATCH * n)
        if self.max_runs is not None:
            size = min(size, self.max_runs - self._runs)
        return max(size, 1)

    def _complete(self) -> None:
        thetas = np.vstack(self._accepted)
        distances = np.asarray(self._distances, dtype=float)
        if self._kernel is None:
            weights = np.full(len(thetas), 1.0 / len(thetas))
        else:
            weights = self._kernel.weights_of(thetas)
        population = Population(
            self.generation,
            thetas,
            weights,
            distances,
            self._tolerance,
            self._gen_runs,
            self._gen_failed,
        )
        self._populations.append(population)
        self._start_generation()
        if population.tolerance <= self.min_tolerance:
            self._stop_reason = "min_tolerance"
        elif population.acceptance < self.min_acceptance:
            self._stop_reason = "min_acceptance"
        elif len(self._populations) >= self.max_generations:
            self._stop_reason = "max_generations"
        else:
            quantile = weighted_quantile(distances, weights, self.quantile)
            self._tolerance = max(quantile, self.min_tolerance)
            self._kernel = _Kernel(self.priors, population)

    def _check_budget(self) -> None:
        if self.done or self.max_runs is None or self._runs < self.max_runs:
            return
        self._stop_reason = "max_runs"
        self._start_generation()  # an incomplete generation is dropped
