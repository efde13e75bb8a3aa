"""The result of a calibration: posterior, best parameters, history, plots."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import ParameterError
from .abc import ABCSMC, weighted_quantile
from .options import ABC
from .runner import BatchRuns, Outcome, make_method, model_rows
from .spec import CalibrationSpec


class Calibration:
    """A finished (or interrupted) calibration.

    Attributes:
        spec: what was calibrated (model, priors, observed, options).
        method: ``"abc"`` or ``"optimize"``.
        seed: the master seed (the same seed gives the same calibration).
        runs, failed: model runs made, and how many of them failed (a failed
            run is a rejected particle or a failed trial).
        interrupted: stopped before its end (Ctrl-C, ``cancel``); run it
            again on its store to resume.
        stop_reason: why it ended (``min_tolerance``, ``min_acceptance``,
            ``max_generations``, ``max_runs``, ``trials``; None: interrupted).
    """

    def __init__(
        self, spec: CalibrationSpec, outcome: Outcome, running: bool = False
    ) -> None:
        self.spec = spec
        self.method: str = spec.options.method
        self.seed = outcome.seed
        self.runs, self.failed = outcome.runs, outcome.failed
        self.interrupted = outcome.interrupted
        self.running = running
        self._method = outcome.method or make_method(spec, outcome.seed)
        self._batches = list(outcome.batches)
        self.stop_reason = (
            None if self.interrupted or running else self._method.stop_reason
        )

    # -- tables --------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return self.spec.priors.names

    @property
    def posterior(self) -> pd.DataFrame:
        """The last generation's particles: one column per parameter, then
        ``weight`` (summing to 1) and ``distance`` (abc only)."""
        if self.method != ABC:
            raise ParameterError(
                "An optimisation finds the best parameters, not a posterior: "
                "read cal.best and cal.trials, or calibrate with method='abc'."
            )
        last = self._last()
        points = self.spec.priors.points(last.thetas)
        frame = pd.DataFrame(
            {
                # the values as the model took them: a choice column holds the
                # choices themselves (None stays None, 1 stays an int)
                name: pd.Series(
                    [p[name] for p in points],
                    dtype=object if kind == "choice" else None,
                )
                for name, kind in zip(self.names, self.spec.priors.kinds, strict=True)
            },
            columns=list(self.names),
        )
        frame["weight"] = last.weights
        frame["distance"] = last.distances
        return frame

    def _last(self) -> Any:
        """The last complete generation (abc), or an error saying why none."""
        populations = self._method.populations
        if populations:
            return populations[-1]
        made = f"{self.runs} runs, {self.failed} failed"
        if self.running:
            raise ParameterError(
                f"No generation is complete yet ({made} so far): the posterior "
                "is the last complete generation; wait for the first."
            )
        if self.interrupted:
            raise ParameterError(
                "The calibration stopped before its first generation was "
                f"complete ({made}): run it again (on its store= to keep the "
                "runs made) to go on."
            )
        raise ParameterError(
            f"The calibration ended ({self.stop_reason}) before its first "
            f"generation was complete ({made}): with fewer failed runs, or a "
            "larger runs= budget, it would have one."
        )

    @property
    def history(self) -> pd.DataFrame:
        """Per generation (abc: tolerance, runs, accepted, acceptance, failed,
        ess) or per batch (optimize: trials, best so far, failed)."""
        return self._method.history()

    @property
    def trials(self) -> pd.DataFrame:
        """optimize: every trial with its parameters and mean distance."""
        if self.method == ABC:
            raise ParameterError(
                "trials belong to method='optimize'; an ABC calibration has "
                "cal.posterior and cal.history."
            )
        return self._method.trials()

    @property
    def best(self) -> dict[str, Any]:
        """The best parameters: the best trial (optimize), or the particle of
        the last generation closest to the data (abc)."""
        if self.method == ABC:
            last = self._last()
            closest = int(np.argmin(last.distances))  # the first of equals
            return self.spec.priors.points(last.thetas[closest : closest + 1])[0]
        try:
            theta, _value = self._method.best
        except ValueError:
            raise ParameterError(
                f"No trial has finished with a distance yet ({self.runs} runs, "
                f"{self.failed} failed): there is no best yet."
            ) from None
        return self.spec.priors.points(np.asarray(theta, float).reshape(1, -1))[0]

    def summary(self, level: float = 0.9) -> pd.DataFrame:
        """Per parameter: weighted mean, sd, median and the central ``level``
        credible interval (abc); the best value (optimize)."""
        if self.method != ABC:
            best = self.best
            return pd.DataFrame(
                {"best": [best[n] for n in self.names]}, index=self.names
            )
        last = self._last()
        weights = np.asarray(last.weights, dtype=float)
        points = self.spec.priors.points(last.thetas)
        rows = {}
        tail = (1 - level) / 2
        kinds = self.spec.priors.kinds
        for j, (name, kind) in enumerate(zip(self.names, kinds, strict=True)):
            if kind == "choice":  # by the choice's index: 1 and True differ
                codes = np.rint(last.thetas[:, j]).astype(int)
                shares = np.bincount(codes, weights)
                top = int(np.argmax(shares))
                first = int(np.flatnonzero(codes == top)[0])
                rows[name] = {
                    "mode": points[first][name],
                    "mode_weight": float(shares[top]),
                }
                continue
            values = np.asarray(last.thetas[:, j], dtype=float)
            mean = float(np.sum(weights * values))
            sd = math.sqrt(float(np.sum(weights * (values - mean) ** 2)))
            rows[name] = {
                "mean": mean,
                "sd": sd,
                "median": weighted_quantile(values, weights, 0.5),
                f"lower_{level:g}": weighted_quantile(values, weights, tail),
                f"upper_{level:g}": weighted_quantile(values, weights, 1 - tail),
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    # -- runs ----------------------------------------------------------------
    def predictive_runs(self) -> pd.DataFrame:
        """The model rows of the runs behind the result, with each run's
        ``weight``: the last generation's accepted particles (abc) or the best
        trial's replicates (optimize). ``RunId`` numbers these runs (particle
        by particle); ``particle`` is the row of :attr:`posterior`, ``batch``
        and ``batch_run`` where the run is stored (``runs/<batch>``, its
        RunId there)."""
        chosen = self._chosen_runs()
        if not chosen:
            return pd.DataFrame(columns=["RunId", "Step", "weight"])
        batches = sorted({key for key, _, _ in chosen})
        wanted = [b for b in self._batches if b.told.key in batches]
        tables = model_rows(wanted, _load)
        frames = []
        for particle, (key, run_ids, weight) in enumerate(chosen):
            table = tables.get(key)
            if table is None:
                continue
            rows = table[table["RunId"].isin(run_ids)].copy()
            rows.insert(0, "particle", particle)
            rows["batch"], rows["batch_run"] = key, rows["RunId"]
            number = {run: particle * len(run_ids) + r for r, run in enumerate(run_ids)}
            rows["RunId"] = rows["RunId"].map(number)
            rows["weight"] = weight / len(run_ids)
            frames.append(rows)
        if not frames:
            return pd.DataFrame(columns=["RunId", "Step", "weight"])
        return pd.concat(frames, ignore_index=True)

    def _chosen_runs(self) -> list[tuple[str, list[int], float]]:
        """``(batch key, RunIds, weight)`` of each particle or of the best trial."""
        replicates = self.spec.options.replicates_per_point
        if self.method == ABC:
            return _accepted_runs(self._method, self._batches, replicates)
        best_key, best_index, best = None, -1, math.inf
        for batch in self._batches:
            distances = batch.told.distances
            if np.isfinite(distances).any():
                i = int(np.nanargmin(distances))
                if distances[i] < best:
                    best_key, best_index, best = batch.told.key, i, distances[i]
        if best_key is None:
            return []
        n = len(next(b for b in self._batches if b.told.key == best_key).told.distances)
        return [(best_key, [best_index + r * n for r in range(replicates)], 1.0)]

    # -- follow-ups ------------------------------------------------------------
    def sample(self, n: int, seed: int | None = None) -> list[dict[str, Any]]:
        """``n`` parameter sets drawn from the posterior by weight (abc), or
        the best parameters ``n`` times (optimize); fixed parameters included."""
        if self.method == ABC:
            last = self._last()
            rng = np.random.default_rng(self.seed if seed is None else seed)
            rows = rng.choice(len(last.weights), size=n, p=last.weights)
            chosen = self.spec.priors.points(last.thetas[rows].reshape(n, -1))
        else:
            chosen = [self.best] * n
        return [{**self.spec.parameters, **p} for p in chosen]

    def sweep(
        self, samples: int = 100, *, seed: int | None = None, **options: Any
    ) -> Any:
        """A follow-up sweep of ``samples`` parameter sets from the posterior
        (abc; one run each unless ``iterations=``), or of the best parameters
        (optimize; ``iterations=`` replicates, default ``samples``). Options as
        :func:`mesa_nb.sweep` takes them."""
        from ..api.session import sweep

        if isinstance(self.spec.model, str):
            name = self.spec.model.split(":")[-1]
            raise ParameterError(
                f"This calibration was loaded without its model class: load it "
                f"with load_calibration(store, model_cls={name}) to run "
                "follow-up sweeps."
            )
        scenario = self.spec.options.scenario
        if scenario is not None:  # the calibration's runs were built with it
            options.setdefault("scenario", scenario)
        if isinstance(options.get("scenario"), str):
            raise ParameterError(
                f"The scenario class {options['scenario']} of this loaded "
                "calibration cannot be imported: give it, cal.sweep(..., "
                "scenario=TheScenario).",
                field="scenario",
            )
        if self.method != ABC:
            options.setdefault("iterations", samples)
            points = self.sample(1)
        else:
            points = self.sample(samples, seed)
        options.setdefault("seed", self.seed if seed is None else seed)
        return sweep(self.spec.model, points, **options)

    # -- plots and display -----------------------------------------------------
    @property
    def plot(self) -> CalibrationPlots:
        return CalibrationPlots(self)

    def __repr__(self) -> str:
        return f"<Calibration {self.text()}>"

    def text(self) -> str:
        """One paragraph: method, runs, how it ended, the estimates."""
        head = (
            f"{self.method} calibration of {self.spec.model_name.split(':')[-1]}: "
            f"{self.runs} runs ({self.failed} failed), "
            + (
                "running"
                if self.running
                else "interrupted"
                if self.interrupted
                else f"ended by {self.stop_reason}"
            )
        )
        try:
            table = self.summary()
        except ParameterError as exc:
            return f"{head}. {exc}"
        return f"{head}.\n{table.to_string()}"

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self.text())}</pre>"


class CalibrationPlots:
    """``cal.plot.posterior()``, ``.predictive(reporter)``, ``.history()``."""

    def __init__(self, calibration: Calibration) -> None:
        self.cal = calibration

    def posterior(
        self, truth: Mapping[str, float] | None = None, bins: int = 30
    ) -> Any:
        """Marginals (diagonal) and pairs (below) of the posterior, weighted;
        abc only. ``truth``: values to mark (a synthetic test)."""
        from .plots import posterior_figure

        cal = self.cal
        kinds = dict(zip(cal.names, cal.spec.priors.kinds, strict=True))
        bounds = dict(zip(cal.names, cal.spec.priors.bounds(), strict=True))
        return posterior_figure(  # a choice is drawn as bars of its categories
            cal.posterior,
            list(cal.names),
            truth=truth,
            bounds={n: bounds[n] for n in cal.names if kinds[n] != "choice"},
            bins=bins,
        )

    def predictive(self, reporter: str, level: float = 0.9) -> Any:
        """Weighted median and central ``level`` band of ``reporter`` over the
        runs behind the result, with the observed data."""
        from .plots import predictive_figure

        cal = self.cal
        runs = cal.predictive_runs()
        if reporter not in runs.columns:
            bookkeeping = {"RunId", "Step", "Time", "iteration", "weight", "particle"}
            bookkeeping |= {"batch", "batch_run", *cal.names, *cal.spec.parameters}
            known = ", ".join(repr(c) for c in runs.columns if c not in bookkeeping)
            raise ParameterError(
                f"The runs report no {reporter!r}; reporters: {known}."
            )
        observed = cal.spec.observed
        if observed.series is not None and reporter in observed.series.columns:
            shown = observed.series[["Step", reporter]]
        elif reporter in observed.values:
            shown = pd.DataFrame(
                {"Step": [None], reporter: [observed.values[reporter]]}
            )
        else:
            shown = None
        return predictive_figure(runs, reporter, shown, level=level)

    def history(self) -> Any:
        """abc: tolerance and acceptance per generation; optimize: the best
        distance so far against trials."""
        from .plots import history_figure

        history = self.cal.history
        if self.cal.method != ABC:
            history = self.cal.trials
        return history_figure(history, self.cal.method)


def _accepted_runs(
    method: ABCSMC, batches: Sequence[BatchRuns], replicates: int
) -> list[tuple[str, list[int], float]]:
    """The runs of the last population's particles, found as ABC-SMC accepted
    them: the generation's batches in order, candidates in order, those
    within the tolerance (any, in generation 0) until the population is full."""
    if not method.populations:
        return []
    last = method.populations[-1]
    generation = last.generation
    tolerance = last.tolerance
    wanted = len(last.weights)
    chosen: list[tuple[str, list[int], float]] = []
    for batch in batches:
        if int(batch.told.key[1:4]) != generation:
            continue
        distances = batch.told.distances
        n = len(distances)
        for i, d in enumerate(distances):
            if len(chosen) == wanted:
                break
            if not math.isnan(d) and d <= tolerance:
                runs = [i + r * n for r in range(replicates)]
                chosen.append((batch.told.key, runs, float(last.weights[len(chosen)])))
    return chosen


def _load(path: str) -> Any:
    from ..api.engine import load_store

    return load_store(path)


__all__ = ["Calibration", "CalibrationPlots"]
