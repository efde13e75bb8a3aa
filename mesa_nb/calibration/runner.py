"""Run a calibration: batches of candidates, each batch one sweep.

The method (:class:`~.abc.ABCSMC` or :class:`~.optimize.Optimizer`) proposes
a batch of parameter sets; the batch runs as one :func:`mesa_nb.sweep` (worker
processes or Dask, per-run seeds, timeout, failures kept per run, a store per
batch); each run's summaries and distance are computed here and told back.
Everything drawn depends only on the calibration's seed and the batches
before, never on how many processes ran them, so a seeded calibration gives
the same result at any process count, and a killed one, run again on its
store, reads back the finished batches, resumes the batch in progress and
ends as an uninterrupted one would (:mod:`.record`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..api.session import plan as plan_sweep
from ..api.session import sweep
from ..core.errors import MesaNbError, StoreError, SweepFailedError
from ..core.records import FAILED_STATUSES, Progress, Status
from ..core.result import SweepResult
from ..core.seeding import fresh_master_seed
from .abc import ABCSMC, Proposal
from .observed import Distance, ObservedError, Summaries
from .options import ABC
from .record import CalibrationStore, Told, batch_key
from .spec import CalibrationSpec, check_steps


@dataclass(frozen=True)
class CalibrationProgress:
    """One progress event of a calibration.

    ``step`` is the generation (abc) or the batch (optimize) being run;
    ``runs`` the model runs finished so far (failed ones included), of at
    most ``budget``; ``tolerance`` the generation's (abc), ``accepted`` the
    particles accepted in it so far (abc) of ``wanted``; ``best`` the best
    distance so far (optimize).
    """

    method: str
    step: int
    runs: int
    failed: int
    budget: int | None = None
    tolerance: float | None = None
    accepted: int | None = None
    wanted: int | None = None
    best: float | None = None
    finished: bool = False

    def text(self) -> str:
        """One line for a bar: where the calibration stands."""
        if self.finished:
            done = "generations" if self.method == ABC else "batches"
            line = f"done: {self.step} {done}"
            if self.best is not None:
                line += f", best distance {self.best:.4g}"
        elif self.method == ABC:
            eps = (
                "∞"
                if self.tolerance is None or math.isinf(self.tolerance)
                else (f"{self.tolerance:.3g}")
            )
            line = f"generation {self.step}, tolerance {eps}"
            if self.accepted is not None:
                line += f", {self.accepted}/{self.wanted} accepted"
        else:
            line = f"batch {self.step}"
            if self.best is not None:
                line += f", best distance {self.best:.4g}"
        return line + (f", {self.failed} failed" if self.failed else "")


def _seed(master: int, *key: int) -> int:
    words = np.random.SeedSequence(master, spawn_key=key).generate_state(2, np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def batch_seed(master: int, generation: int, batch: int) -> int:
    """The master seed of one batch's sweep (its runs' seeds derive from it)."""
    return _seed(master, 7, generation, batch)


def common_seeds(master: int, replicates: int) -> list[int]:
    """The seeds every optimisation trial's replicates run with: common random
    numbers, so two trials differ by their parameters and not by their luck
    (a noisy objective would crown the luckiest trial; Kleijnen 2008, ch. 3)."""
    return [_seed(master, 8, r) for r in range(replicates)]


def make_method(spec: CalibrationSpec, seed: int) -> Any:
    """The proposing method of ``spec``, seeded."""
    options = spec.options
    per_point = options.replicates_per_point
    budget = None if options.runs is None else options.runs // per_point
    if options.method == ABC:
        return ABCSMC(
            spec.priors,
            options.population,
            seed,
            quantile=options.quantile,
            min_tolerance=options.min_tolerance,
            min_acceptance=options.min_acceptance,
            max_generations=options.generations,
            max_runs=budget,
        )
    from .optimize import Optimizer

    trials = options.trials if budget is None else min(options.trials, budget)
    return Optimizer(
        spec.priors, max(trials, 1), seed, batch=options.batch, sampler=options.sampler
    )


@dataclass
class BatchRuns:
    """One finished batch: its candidates' distances and its sweep."""

    told: Told
    result: SweepResult | None = None
    store: str | None = None


@dataclass
class Outcome:
    """What a calibration run (or a replay of a store) ended with."""

    method: Any
    seed: int
    batches: list[BatchRuns] = field(default_factory=list)
    interrupted: bool = False
    runs: int = 0
    failed: int = 0


class Calibrator:
    """Runs (or, with ``replay_only``, reads back) one calibration."""

    def __init__(
        self,
        spec: CalibrationSpec,
        *,
        on_progress: Callable[[CalibrationProgress], None] | None = None,
        cancel: Any = None,
    ) -> None:
        self.spec = spec
        self.options = spec.options
        self.on_progress = on_progress or self.options.on_progress
        self.cancel = cancel if cancel is not None else self.options.cancel
        self.store = (
            None if self.options.store is None else CalibrationStore(self.options.store)
        )
        self.summaries = Summaries(spec.observed, self.options.summaries)
        self.distance = Distance(spec.observed, self.options.distance)
        #: The outcome so far (set when the loop starts; read by snapshots).
        self.outcome: Outcome | None = None
        self._seed: int | None = None

    # -- before any run -----------------------------------------------------
    def check(self, seed: int) -> None:
        """Refuse what would fail, before any run: parameter names the model
        does not take, option values, observed steps the runs do not reach."""
        check_steps(self.spec.observed, self.options)
        rng = np.random.default_rng(seed)
        point = {
            **self.spec.parameters,
            **self.spec.priors.points(self.spec.priors.sample(rng, 1))[0],
        }
        plan_sweep(self.spec.model, [point], **self._sweep_options(seed, 0, 0, None))

    def settle_seed(self) -> int:
        """The master seed: given, the store's, or fresh; a store holding
        another calibration is refused here (the store is locked; a new
        store's definition is written by :meth:`prepare`, after the checks)."""
        given = self.options.seed
        if self.store is None:
            return fresh_master_seed() if given is None else int(given)
        if not self.store.exists() and self.store.root.is_dir():
            self.store.check_free()  # before the lock file is made there
        self.store.lock()
        if not self.store.exists():
            return fresh_master_seed() if given is None else int(given)
        stored = self.store.definition()
        seed = int(stored["options"]["seed"]) if given is None else int(given)
        wanted = json.loads(
            json.dumps({"format": stored["format"], **self.spec.definition(seed)})
        )
        # The priors' order is the order of every batch's candidate columns.
        order = list(wanted.get("priors", {})) == list(stored.get("priors", {}))
        if wanted != stored or not order:
            differ = sorted(
                k for k in set(wanted) | set(stored) if wanted.get(k) != stored.get(k)
            )
            if not order and "priors" not in differ:
                differ.append("priors (their order)")
            if "options" in differ:
                old, new = stored.get("options", {}), wanted["options"]
                differ += [
                    f"options.{k}"
                    for k in sorted(set(old) | set(new))
                    if old.get(k) != new.get(k)
                ]
            self.store.unlock()
            raise StoreError(
                f"{self.store.root} holds another calibration (it differs in "
                f"{', '.join(differ)}): give another store= for this one, or "
                "the stored settings to resume it.",
                field="store",
            )
        return seed

    def prepare(self) -> int:
        """Everything before the first run, in the caller's thread: lock the
        store, settle the seed, check the model takes the parameters, then
        write a new store's definition (a refused calibration leaves no
        definition behind to refuse its corrected call). The seed; raises
        what is wrong, with the store unlocked."""
        if self._seed is not None:
            return self._seed
        seed = self.settle_seed()
        try:
            self.check(seed)
            if self.store is not None and not self.store.exists():
                self.store.write_definition(self.spec.definition(seed))
        except BaseException:
            if self.store is not None:
                self.store.unlock()
            raise
        self._seed = seed
        return seed

    # -- the loop -----------------------------------------------------------
    def run(self, replay_only: bool = False) -> Outcome:
        """Run the calibration to its end (or its interruption)."""
        if replay_only:
            seed = int(self.store.definition()["options"]["seed"])  # type: ignore[union-attr]
        else:
            seed = self.prepare()
        try:
            return self._loop(seed, replay_only)
        finally:
            if self.store is not None:
                self.store.unlock()

    def _loop(self, seed: int, replay_only: bool) -> Outcome:
        method = make_method(self.spec, seed)
        outcome = self.outcome = Outcome(method, seed)
        self._report(outcome)
        while not method.done:
            proposal = method.propose()
            key = batch_key(proposal.generation, proposal.batch)
            told = self.store.told(key) if self.store is not None else None
            if told is not None:
                self._check_same(told, proposal)
                if told.scales is not None and self.distance.scales is None:
                    self.distance.scales = np.asarray(told.scales, dtype=float)
                batch = BatchRuns(told, store=str(self.store.sweep_store(key)))  # type: ignore[union-attr]
            elif replay_only:  # the stored calibration stopped here
                outcome.interrupted = True
                break
            else:
                try:
                    batch = self._run_batch(seed, key, proposal, outcome)
                except KeyboardInterrupt:  # Ctrl-C between two runs' records:
                    batch = None  # what finished is stored; it resumes there
                if batch is None:
                    outcome.interrupted = True
                    break
            outcome.runs += batch.told.runs
            outcome.failed += batch.told.failed
            method.tell(proposal, batch.told.distances)
            outcome.batches.append(batch)
            self._forget_old(outcome)
            self._report(outcome)
        self._report(outcome, finished=True)
        return outcome

    def _check_same(self, told: Told, proposal: Proposal) -> None:
        if told.thetas.shape != proposal.thetas.shape or not np.array_equal(
            told.thetas, proposal.thetas
        ):
            raise StoreError(
                f"Batch {told.key} in {self.store.root} holds other parameter "  # type: ignore[union-attr]
                "sets than this calibration draws (the store was written by "
                "other code): give another store=."
            )

    def _sweep_options(
        self, master: int, generation: int, batch: int, on_progress: Any
    ) -> dict[str, Any]:
        """The options of one batch's sweep: ABC's runs are independent draws
        (a seed per run from the batch's seed); an optimisation's trials share
        their replicates' seeds (:func:`common_seeds`)."""
        o = self.options
        every_step = self.spec.observed.needs_every_step or o.summaries is not None
        if o.method == ABC:
            seeding = {"seed": batch_seed(master, generation, batch)}
        else:
            seeding = {"rng": common_seeds(master, o.replicates_per_point)}
        return {
            "iterations": o.replicates_per_point,
            **seeding,
            "data_collection_period": 1 if every_step else -1,
            "max_steps": o.max_steps,
            "until": o.until,
            "timeout": o.timeout,
            "scenario": o.scenario,
            "processes": o.processes,
            "executor": o.executor,
            "force": o.force,
            "on_progress": on_progress,
            "cancel": self.cancel,
        }

    def _run_batch(
        self, seed: int, key: str, proposal: Proposal, outcome: Outcome
    ) -> BatchRuns | None:
        points = [
            {**self.spec.parameters, **p}
            for p in self.spec.priors.points(proposal.thetas)
        ]
        before = outcome.runs

        def forward(event: Progress) -> None:
            self._report(outcome, done=before + event.done, failed=event.failed)

        store = None if self.store is None else str(self.store.sweep_store(key))
        options = self._sweep_options(
            seed, proposal.generation, proposal.batch, forward
        )
        first = not outcome.batches
        result = sweep(
            self.spec.model,
            points,
            store=store,
            check_reproducible=first,
            **options,
        )
        if result.interrupted:  # its finished runs were made (and are stored)
            status = result.runs["status"]
            outcome.runs += int(status.isin([Status.OK, *FAILED_STATUSES]).sum())
            outcome.failed += int(status.isin(FAILED_STATUSES).sum())
            return None
        try:
            told = self._judge(key, proposal, result, first)
        except MesaNbError as exc:
            if first:  # refused: free the store for the corrected call
                exc.args = (f"{exc}{self._set_aside(key)}",)
            raise
        if self.store is not None:
            self.store.write_told(told)
        return BatchRuns(told, result, store)

    def _judge(
        self, key: str, proposal: Proposal, result: SweepResult, first: bool
    ) -> Told:
        """The batch's distances from its runs' summaries; the first batch is
        refused when nothing in it can be compared with the data."""
        n, replicates = len(proposal.thetas), self.options.replicates_per_point
        run_ids = list(range(n * replicates))
        summaries = self.summaries.of_runs(
            result.model, run_ids, result.model_reporters
        )
        ok = result.runs.set_index("RunId")["status"].reindex(run_ids) == Status.OK
        ok = ok.to_numpy()
        summaries[~ok] = np.nan
        if first and not ok.any():
            raise _all_failed(result)
        scales = None
        if self.options.distance is None and self.distance.scales is None:
            self.distance.fit(summaries)
            scales = self.distance.scales.tolist()  # type: ignore[union-attr]
        per_run = self.distance(summaries)
        if first and np.isnan(per_run).all():
            raise self._nothing_to_compare(summaries, ok)
        return Told(
            key,
            proposal.thetas,
            per_run.reshape(replicates, n).mean(axis=0),  # NaN: a run failed
            runs=n * replicates,
            # failed: raised, timed out, or no number to compare (None, NaN)
            failed=int(np.isnan(per_run).sum()),
            scales=scales,
        )

    def _set_aside(self, key: str) -> str:
        """A refused first batch: the store is freed for the corrected call
        (its runs moved to ``refused/``, its definition removed); where the
        runs went, as words for the error."""
        if self.store is None:
            return ""
        moved = self.store.set_aside(key)
        return "" if moved is None else f" (The refused runs are kept in {moved}.)"

    def _nothing_to_compare(
        self, summaries: np.ndarray, ok: np.ndarray
    ) -> ObservedError:
        """No run of the first batch has a distance, though some finished:
        every later batch would be the same (a calibration would run on)."""
        finished = summaries[ok]
        names = self.spec.observed.coordinates
        never = [c for j, c in enumerate(names) if np.isnan(finished[:, j]).all()]
        if not never and self.options.distance is not None:
            return ObservedError(
                f"distance() returned no number for any of the {len(finished)} "
                "runs of the first batch that finished: it must return a float "
                "(0 or more) for each run."
            )
        source = "summaries() gave" if self.options.summaries else "the runs reported"
        if never:
            what = f"{', '.join(map(repr, never[:5]))} in any"
        else:
            lacking = [c for j, c in enumerate(names) if np.isnan(finished[:, j]).any()]
            what = f"one of {', '.join(map(repr, lacking[:5]))} in each"
        return ObservedError(
            f"No run of the first batch can be compared with the data: {source} "
            f"no number (None, NaN or not a number) for {what} of the "
            f"{len(finished)} runs that finished. Make the model report a number "
            "there (for a series: at each observed step), or leave it out of "
            "observed."
        )

    def _forget_old(self, outcome: Outcome) -> None:
        """Keep the sweeps of the last generation only (abc; what the
        predictive plot draws from) or of the best batch (optimize)."""
        batches = outcome.batches
        last = batches[-1]
        if self.options.method == ABC:
            generation = _generation(last.told.key)
            for batch in batches:
                if _generation(batch.told.key) != generation:
                    batch.result = None
            return
        best = min(
            batches,
            key=lambda b: (
                np.nanmin(b.told.distances)
                if np.isfinite(b.told.distances).any()
                else math.inf
            ),
        )
        for batch in batches:
            if batch is not best:
                batch.result = None

    def _report(
        self,
        outcome: Outcome,
        done: int | None = None,
        failed: int = 0,
        finished: bool = False,
    ) -> None:
        if self.on_progress is None:
            return
        method = outcome.method
        event = CalibrationProgress(
            self.options.method,
            step=_current_step(method),
            runs=outcome.runs if done is None else done,
            failed=outcome.failed + failed,
            budget=self.options.runs,
            tolerance=getattr(method, "tolerance", None)
            if self.options.method == ABC
            else None,
            accepted=_accepted(method),
            wanted=self.options.population if self.options.method == ABC else None,
            best=_best_value(method),
            finished=finished,
        )
        self.on_progress(event)


def _all_failed(result: SweepResult) -> SweepFailedError:
    """Every run of the first batch failed: the model fails across the priors
    (a calibration would propose batch after batch of failures)."""
    failures = result.failures
    first = failures.iloc[0] if len(failures) else None
    error = "" if first is None else f" The first: {first['error']}"
    return SweepFailedError(
        f"All {len(result.runs)} runs of the first batch failed, so nothing can "
        f"be fitted.{error} Fix the model or narrow the priors; result.failures "
        "on this error lists every run.",
        [],
        failures,
        result,
    )


def _generation(key: str) -> int:
    return int(key[1:4])


def _current_step(method: Any) -> int:
    if isinstance(method, ABCSMC):
        return len(method.populations)
    return len(method.history())


def _accepted(method: Any) -> int | None:
    if not isinstance(method, ABCSMC):
        return None
    return getattr(method, "accepted_so_far", None)


def _best_value(method: Any) -> float | None:
    if isinstance(method, ABCSMC):
        return None
    try:
        return float(method.best[1])
    except (ValueError, IndexError, TypeError):
        return None


def model_rows(
    batches: list[BatchRuns], load: Callable[[str], Any]
) -> dict[str, pd.DataFrame]:
    """The model tables of ``batches`` by key (loaded from their stores when
    not kept in memory)."""
    tables = {}
    for batch in batches:
        result = batch.result
        if result is None and batch.store is not None:
            result = load(batch.store)
        if result is not None:
            tables[batch.told.key] = result.model
    return tables


__all__ = [
    "BatchRuns",
    "CalibrationProgress",
    "Calibrator",
    "Outcome",
    "batch_seed",
    "make_method",
]
