"""Calibration by optimisation: Optuna's ask-and-tell, one batch of trials at a time.

:class:`Optimizer` asks Optuna for a batch of trials, hands them out as a
:class:`~mesa_nb.calibration.abc.Proposal` (the same shape ABC-SMC proposes, so
one runner drives both) and tells Optuna each trial's value, the mean distance
over its replicates (nan: the runs failed, the trial is FAIL). Samplers:
``"tpe"`` (multivariate TPE with the constant liar, so that the trials of one
batch spread out; Watanabe 2023, arXiv:2304.11127), ``"cmaes"`` (CMA-ES,
Hansen 2016, arXiv:1604.00772; needs the ``cmaes`` package; a choice
parameter is sampled at random) and ``"random"``.

Trials are asked and told in order, with Optuna's sampler seeded from
``seed``: the same seed and the same told values give the same proposals, so a
stopped calibration resumes by replaying what it told. Optuna is imported when
an Optimizer is made; its log and its ExperimentalWarning are silenced while it
works, and the user's own setting is restored after each call.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.errors import ParameterError
from .abc import Proposal
from .priors import Priors

if TYPE_CHECKING:
    import optuna

__all__ = ["SAMPLERS", "Optimizer"]

#: The samplers :class:`Optimizer` offers.
SAMPLERS = ("tpe", "cmaes", "random")
#: The columns of :meth:`Optimizer.trials` besides the parameters.
_TRIAL_COLUMNS = ("trial", "batch", "value", "state")
_COMPLETE, _FAIL, _RUNNING = "COMPLETE", "FAIL", "RUNNING"


#: Blocks inside :func:`_quiet_optuna` on any thread, and the user's log level
#: saved by the first: the last to leave restores it (two calibrations on
#: two threads must not leave the log at ERROR, nor log in between).
_quiet_lock = threading.Lock()
_quiet_state: dict[str, Any] = {"depth": 0, "level": None}


@contextmanager
def _quiet_optuna() -> Iterator[Any]:
    """The optuna module, with its log at ERROR and its ExperimentalWarning
    ignored inside the block; the user's log level is restored after it."""
    import optuna

    with _quiet_lock:
        if _quiet_state["depth"] == 0:
            _quiet_state["level"] = optuna.logging.get_verbosity()
            optuna.logging.set_verbosity(optuna.logging.ERROR)
        _quiet_state["depth"] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield optuna
    finally:
        with _quiet_lock:
            _quiet_state["depth"] -= 1
            if _quiet_state["depth"] == 0:
                optuna.logging.set_verbosity(_quiet_state["level"])


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ParameterError(
            f"{name} must be a whole number of 1 or more, got {value!r}."
        )
    return int(value)


def _sampler(name: str, seed: int, optuna: Any) -> optuna.samplers.BaseSampler:
    """The Optuna sampler called ``name``, seeded with ``seed``."""
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, constant_liar=True, multivariate=True
        )
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401  (Optuna imports it only when it samples)
        except ImportError as exc:
            raise ImportError(
                "sampler='cmaes' needs the cmaes package: pip install cmaes"
            ) from exc
        return optuna.samplers.CmaEsSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def _distributions(priors: Priors, optuna: Any) -> dict[str, Any]:
    """One Optuna distribution per parameter, over the prior's support
    (a choice: its index); a scipy prior is searched uniformly over its
    0.05%-99.95% quantiles."""
    dist = optuna.distributions
    found: dict[str, Any] = {}
    for name, kind, (low, high) in zip(
        priors.names, priors.kinds, priors.bounds(), strict=True
    ):
        if kind == "float":
            found[name] = dist.FloatDistribution(float(low), float(high))
        elif kind == "int":
            found[name] = dist.IntDistribution(round(float(low)), round(float(high)))
        else:
            found[name] = dist.CategoricalDistribution(
                list(range(round(float(high)) + 1))
            )
    return found


@dataclass
class _Trial:
    """What the optimizer knows of one trial."""

    number: int
    batch: int
    theta: np.ndarray
    value: float = math.nan
    state: str = _RUNNING


class Optimizer:
    """Ask-and-tell optimisation of the distance over ``priors``' support.

    Args:
        priors: the parameters searched (their support; a scipy
            distribution's central 99.9%).
        trials: how many trials in all.
        seed: seeds the sampler (any non-negative whole number).
        batch: trials per proposal (the last may be smaller).
        sampler: ``"tpe"``, ``"cmaes"`` or ``"random"``.
    """

    def __init__(
        self,
        priors: Priors,
        trials: int,
        seed: int,
        *,
        batch: int = 8,
        sampler: str = "tpe",
    ) -> None:
        self.priors = priors
        self.n_trials = _positive_int(trials, "trials")
        self.batch_size = _positive_int(batch, "batch")
        if sampler not in SAMPLERS:
            raise ParameterError(
                f"sampler must be one of {', '.join(map(repr, SAMPLERS))}, "
                f"got {sampler!r}."
            )
        clash = sorted(set(priors.names) & set(_TRIAL_COLUMNS))
        if clash:
            raise ParameterError(
                f"Parameter {clash[0]!r} has the name of a column of the trials "
                f"table ({', '.join(_TRIAL_COLUMNS)}): rename it in the model."
            )
        self.sampler = sampler
        self.seed = seed
        # Optuna's samplers take a 32-bit seed: derive one from any seed.
        sampler_seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
        with _quiet_optuna() as optuna:
            self._study = optuna.create_study(
                direction="minimize", sampler=_sampler(sampler, sampler_seed, optuna)
            )
            self._distributions = _distributions(priors, optuna)
        self._records: list[_Trial] = []
        self._pending: dict[int, list[Any]] = {}
        self._batches = 0

    def __repr__(self) -> str:
        return (
            f"Optimizer({self.sampler}, {self.runs} of {self.n_trials} trials told, "
            f"batch {self.batch_size})"
        )

    @property
    def runs(self) -> int:
        """Trials told so far, failed ones included."""
        return sum(record.state != _RUNNING for record in self._records)

    @property
    def asked(self) -> int:
        """Trials proposed so far (told or not)."""
        return len(self._records)

    @property
    def done(self) -> bool:
        """Every trial was proposed and told."""
        return self.runs >= self.n_trials

    @property
    def stop_reason(self) -> str | None:
        """``"trials"`` once done, else None."""
        return "trials" if self.done else None

    def propose(self) -> Proposal:
        """The next batch: ``min(batch, trials left)`` trials to evaluate."""
        left = self.n_trials - self.asked
        if left <= 0:
            raise RuntimeError(
                f"All {self.n_trials} trials were proposed; tell their values "
                "(done tells whether the optimisation is over)."
            )
        with _quiet_optuna():
            asked = [
                self._study.ask(self._distributions)
                for _ in range(min(self.batch_size, left))
            ]
        rows = [[float(t.params[name]) for name in self.priors.names] for t in asked]
        thetas = np.array(rows, dtype=float).reshape(len(asked), len(self.priors.names))
        number = self._batches
        self._batches += 1
        self._pending[number] = asked
        for trial, theta in zip(asked, thetas, strict=True):
            self._records.append(_Trial(trial.number, number, theta.copy()))
        return Proposal(generation=number, batch=0, thetas=thetas)

    def tell(self, proposal: Proposal, values: np.ndarray) -> None:
        """Each trial's value (the mean distance of its runs); nan: it failed."""
        asked = self._pending.get(proposal.generation)
        if asked is None:
            raise ValueError(
                f"Batch {proposal.generation} is not waiting for values: tell each "
                "proposal once, after propose() made it."
            )
        records = [r for r in self._records if r.batch == proposal.generation]
        if not np.array_equal(
            np.asarray(proposal.thetas), np.array([r.theta for r in records])
        ):
            raise ValueError(
                f"The proposal of batch {proposal.generation} is not the one "
                "propose() made: its parameters differ."
            )
        told = np.asarray(values, dtype=float)
        if told.shape != (len(asked),):
            raise ValueError(
                f"Batch {proposal.generation} has {len(asked)} trials; got values "
                f"of shape {told.shape}."
            )
        with _quiet_optuna() as optuna:
            for trial, record, value in zip(asked, records, told, strict=True):
                if math.isnan(value):
                    self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    record.state = _FAIL
                else:
                    self._study.tell(trial, float(value))
                    record.value, record.state = float(value), _COMPLETE
        del self._pending[proposal.generation]

    @property
    def best(self) -> tuple[np.ndarray, float]:
        """The best trial's parameters (a ``thetas`` row) and value; the first
        trial of the lowest value. Failed trials are never best."""
        complete = [r for r in self._records if r.state == _COMPLETE]
        if not complete:
            raise ValueError(
                f"No trial has a value yet ({self.runs} told, all failed): "
                "there is no best."
            )
        best = min(complete, key=lambda r: (r.value, r.number))
        return best.theta.copy(), best.value

    def trials(self) -> pd.DataFrame:
        """One row per proposed trial: ``trial`` (Optuna's number), ``batch``,
        ``value`` (nan unless COMPLETE), ``state`` (COMPLETE, FAIL, RUNNING)
        and one column per parameter (the model's values)."""
        head = pd.DataFrame(
            {
                "trial": pd.Series([r.number for r in self._records], dtype=int),
                "batch": pd.Series([r.batch for r in self._records], dtype=int),
                "value": pd.Series([r.value for r in self._records], dtype=float),
                "state": pd.Series([r.state for r in self._records], dtype=object),
            }
        )
        names = list(self.priors.names)
        if not self._records:
            return head.reindex(columns=[*_TRIAL_COLUMNS, *names])
        points = self.priors.points(np.array([r.theta for r in self._records]))
        return pd.concat(
            [head, pd.DataFrame.from_records(points, columns=names)], axis=1
        )

    def history(self) -> pd.DataFrame:
        """One row per told batch: ``batch``, ``trials`` and ``failed`` (in the
        batch) and ``best`` (the best value so far; nan while none)."""
        rows = []
        best = math.nan
        for number in range(self._batches):
            if number in self._pending:
                continue
            records = [r for r in self._records if r.batch == number]
            values = [r.value for r in records if r.state == _COMPLETE]
            if values:
                best = min(values) if math.isnan(best) else min(best, *values)
            rows.append(
                {
                    "batch": number,
                    "trials": len(records),
                    "best": best,
                    "failed": sum(r.state == _FAIL for r in records),
                }
            )
        columns = ["batch", "trials", "best", "failed"]
        return pd.DataFrame(rows, columns=columns).astype(
            {"batch": int, "trials": int, "best": float, "failed": int}
        )
