"""The result of a sweep: tidy tables plus what is needed to reproduce it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .collect import drive
from .plan import RunSettings, build_kwargs
from .records import FAILED_STATUSES, Status

RUN_KEYS = ["RunId", "iteration"]
OK, CANCELLED = Status.OK, Status.CANCELLED

#: Views added by higher layers (``plot`` and ``stats`` by mesa_nb.analysis),
#: so the core never imports them: ``{name: factory(result, ...)}``.
_EXTENSIONS: dict[str, Callable[..., Any]] = {}


def register_extension(name: str, factory: Callable[..., Any]) -> None:
    """Make ``factory(result, ...)`` available as ``result.<name>``."""
    _EXTENSIONS[name] = factory


def extension(name: str) -> Callable[..., Any]:
    """The view registered as ``name`` (see :func:`register_extension`)."""
    try:
        return _EXTENSIONS[name]
    except KeyError:
        raise AttributeError(
            f".{name} is added by a higher layer: import mesa_nb (plot, stats) or "
            "run %load_ext mesa_nb (live)."
        ) from None


@dataclass(eq=False)
class SweepResult:
    """Tidy tables of a sweep.

    Attributes:
        runs: one row per run: RunId, iteration, seed, parameters (drawn values
            for callable parameters), status (ok / failed / crashed /
            cancelled), steps run, wall time, error and traceback.
        model: one row per run and kept Step: RunId, iteration, parameters,
            Step, model reporters.
        agents: one row per run, kept Step and agent: RunId, Step, AgentID,
            agent reporters.
        agenttypes: like ``agents`` with an ``AgentType`` column, from the
            collector's ``agenttype_reporters``.
        tables: the collector's ``tables``, each with a RunId column.
        metadata: versions, seeds, options, start/end times.
        parameter_names: the parameters of the sweep, in order.
        model_reporters: the model reporters (columns of ``model`` after Step).
        datasets: the datasets of the models' DataRecorders (Mesa 3.5), each
            with a RunId column and the recorder's ``time`` column.
        design: the sampling design the points came from, if any (see
            ``mesa_nb.designs``); ``sensitivity()`` analyses it.
    """

    runs: pd.DataFrame
    model: pd.DataFrame
    agents: pd.DataFrame
    agenttypes: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    metadata: dict[str, Any]
    parameter_names: tuple[str, ...] = ()
    model_reporters: tuple[str, ...] = ()
    datasets: dict[str, pd.DataFrame] = field(default_factory=dict)
    model_cls: type | None = field(default=None, repr=False)
    run_kwargs: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    settings: RunSettings | None = field(default=None, repr=False)
    design: Any = field(default=None, repr=False)
    grid: dict[str, list[Any]] | None = field(default=None, repr=False)

    # -- tables read from a store when first asked for ---------------------------
    #: The tables :meth:`read_lazily` defers.
    LAZY_TABLES = ("model", "agents", "agenttypes", "tables", "datasets")

    def read_lazily(self, load: Callable[[str], dict[str, Any]], store: Any) -> None:
        """Drop the tables; ``load(name)`` gives them all when one is asked for.

        ``store`` (a RunStore) also serves :meth:`scan`.
        """
        for name in self.LAZY_TABLES:
            self.__dict__.pop(name, None)
        self.__dict__["_load"] = load
        self.__dict__["_store"] = store

    def __getattr__(self, name: str) -> Any:
        load = self.__dict__.get("_load")
        if load is None or name not in SweepResult.LAZY_TABLES:
            raise AttributeError(name)
        tables = load(name)
        for table, value in tables.items():
            self.__dict__.setdefault(table, value)
        return self.__dict__[name]

    def use_store(self, store: Any) -> None:
        """Let :meth:`scan` read the store this result was written to."""
        self.__dict__["_store"] = store

    def scan(self, table: str) -> Any:
        """The stored data of ``table`` as a ``pyarrow.dataset.Dataset``:
        filters and column projections are pushed down to the files, nothing
        is read before it is asked for (``.to_table(filter=...,
        columns=[...])``, or DuckDB / Polars on the same files).

        ``table`` is ``"model"``, ``"agents"``, ``"agenttypes"``, or a
        collector table or recorder dataset by name. Needs a store.
        """
        store = self.__dict__.get("_store")
        if store is None:
            raise ValueError(
                "scan() reads a store: run the sweep with store=DIR, or load one "
                "with mesa_nb.load_store(DIR)."
            )
        return store.scan(table)

    # -- status -------------------------------------------------------------
    @property
    def failures(self) -> pd.DataFrame:
        """One row per failed or crashed run, with its error and traceback."""
        failed = self.runs["status"].isin(FAILED_STATUSES)
        names = ["RunId", "iteration", "seed", *self.parameter_names]
        names += ["status", "steps", "error", "traceback"]
        columns = list(dict.fromkeys(names))  # a swept seed is the seed column
        return self.runs.loc[failed, columns].reset_index(drop=True)

    @property
    def n_ok(self) -> int:
        """How many runs finished."""
        return int((self.runs["status"] == OK).sum())

    @property
    def n_failed(self) -> int:
        """How many runs failed or crashed."""
        return int(self.runs["status"].isin(FAILED_STATUSES).sum())

    @property
    def n_cancelled(self) -> int:
        """How many runs never ran because the sweep was interrupted."""
        return int((self.runs["status"] == CANCELLED).sum())

    @property
    def interrupted(self) -> bool:
        """True if the sweep was stopped before every run had its turn."""
        return bool(self.metadata.get("interrupted", False))

    # -- tables joined with their runs ------------------------------------------
    def table(self, name: str) -> pd.DataFrame:
        """A table by name: ``"runs"``, ``"model"``, ``"agents"``,
        ``"agenttypes"``, or a collector table or recorder dataset."""
        if name in ("runs", "model", "agents", "agenttypes"):
            return getattr(self, name)
        for group in (self.tables, self.datasets):
            if name in group:
                return group[name]
        known = ["runs", "model", "agents", "agenttypes", *self.tables, *self.datasets]
        raise KeyError(f"No table {name!r}; the tables are: {', '.join(known)}.")

    def with_parameters(self, table: str = "agents") -> pd.DataFrame:
        """``table`` with each row's ``iteration``, ``seed`` and parameter
        values beside its RunId (a join with :attr:`runs`, made when asked).

        ``result.with_parameters("agents")`` filters the way Mesa's rows do:
        ``df[(df.n == 10) & (df.iteration == 2)]``. Columns the table has
        already (``model`` carries the parameters) are not added twice.
        Columns come in the order RunId, iteration, seed, parameters, then
        the table's own.
        """
        frame = self.table(table)
        if table == "runs":
            return frame
        wanted = ["iteration", "seed", *self.parameter_names]
        extra = [c for c in dict.fromkeys(wanted) if c not in frame.columns]
        if not extra:
            return frame
        keys = self.runs[["RunId", *extra]]
        joined = frame.merge(keys, on="RunId", how="left", sort=False)
        first = ["RunId", *dict.fromkeys(wanted)]
        return joined[first + [c for c in frame.columns if c not in first]]

    # -- Mesa's format --------------------------------------------------------
    def to_mesa_rows(
        self, seed_key: str | bool | None = True, seeds_shown: bool = True
    ) -> list[dict[str, Any]]:
        """The list of dicts ``mesa.batch_run`` returns, row for row: see
        :func:`mesa_nb.api.mesa_rows.mesa_rows` (the Mesa drop-in's)."""
        return extension("mesa_rows")(self, seed_key, seeds_shown)

    def to_mesa_frame(self) -> pd.DataFrame:
        """The rows of :meth:`to_mesa_rows` (finished runs only) as a DataFrame."""
        return pd.DataFrame(self.to_mesa_rows())

    # -- reproduction ---------------------------------------------------------
    def _run_row(self, run_id: int) -> pd.Series:
        row = self.runs.loc[self.runs["RunId"] == run_id]
        if row.empty:
            raise KeyError(
                f"No run with RunId {run_id}; RunIds are 0..{len(self.runs) - 1}."
            )
        return row.iloc[0]

    def model_kwargs(self, run_id: int) -> dict[str, Any]:
        """The keyword arguments run ``run_id``'s model was built with.

        A model that takes a scenario gets a new scenario, seeded as the run's
        was; per-run objects (a simulator) are built anew.
        """
        record = self._run_row(run_id)
        if run_id in self.run_kwargs:
            params = dict(self.run_kwargs[run_id])
        else:
            params = {name: _native(record[name]) for name in self.parameter_names}
        seed = _native(record["seed"])
        if self.settings is not None and self.settings.model_cls is self.model_cls:
            return build_kwargs(self.settings, params, seed)
        seed_kwarg = self.metadata.get("seed_kwarg")
        if seed_kwarg is not None:
            params[seed_kwarg] = seed
        return params

    def rebuild_model(self, run_id: int, steps: int | None = None) -> Any:
        """Rebuild run ``run_id``'s model, run as far as the run went.

        Same parameters, same seed: for a model that draws all its randomness
        from ``self.random`` / ``self.rng`` this is the exact model of the run.
        ``steps`` stops it earlier (0 gives the freshly built model).
        """
        if self.model_cls is None:
            raise ValueError(
                "This result does not know its model class: load the store with "
                "load_store(path, model_cls=MyModel)."
            )
        model = self.model_cls(**self.model_kwargs(run_id))
        until = self.settings.until if self.settings is not None else None
        if steps is None:
            steps = int(self._run_row(run_id)["steps"])
        else:
            until = None  # a number of steps was asked for
        drive(model, steps, until=until)
        return model

    # -- statistics and plots ---------------------------------------------------
    @property
    def plot(self) -> Any:
        """Quick plots of this result: lines, final, heatmap, agents (matplotlib).

        See :class:`mesa_nb.analysis.plots.PlotAccessor`.
        """
        return extension("plot")(self)

    def stats(self, reporter: str, by: Any = None, **kwargs: Any) -> pd.DataFrame:
        """Replicate statistics of a model reporter.

        ``by``, ``level`` and ``final`` as in
        :func:`mesa_nb.analysis.stats.replicate_stats`.
        """
        return extension("stats")(self, reporter, by, **kwargs)

    def save_experiment(self, path: Any) -> Any:
        """Write the experiment file (TOML) that reruns this sweep headless
        (``mesa-nb run``): see :func:`mesa_nb.api.experiment.save_experiment`."""
        return extension("save_experiment")(self, path)

    def sensitivity(self, reporter: str, **kwargs: Any) -> pd.DataFrame:
        """Sensitivity of a model reporter to the parameters (Sobol, Morris,
        PRCC, SRC, delta, RBD-FAST): see
        :func:`mesa_nb.analysis.sensitivity.sensitivity`."""
        return extension("sensitivity")(self, reporter, **kwargs)

    def discover(self, condition: Any, **kwargs: Any) -> pd.DataFrame:
        """Scenario discovery: the parameter region (PRIM boxes) or the
        parameters (feature scores) behind the runs where ``condition`` holds,
        e.g. ``result.discover("Gini > 0.6")``: see
        :func:`mesa_nb.analysis.discovery.discover`."""
        return extension("discover")(self, condition, **kwargs)

    # -- display --------------------------------------------------------------
    def summary(self) -> str:
        """A few lines: runs ok / failed / cancelled, wall time, table shapes."""
        meta = self.metadata
        parts = [f"{self.n_ok} ok", f"{self.n_failed} failed"]
        if self.n_cancelled:
            parts.append(f"{self.n_cancelled} cancelled")
        head = (
            f"{meta.get('model', 'Model')} sweep: {len(self.runs)} runs ("
            + ", ".join(parts)
            + f") in {meta.get('wall_time', 0.0):.2f} s {_where(meta)}"
        )
        if self.interrupted:
            head += " -- INTERRUPTED"
        if self._lazy:
            shapes = [
                f"runs: {len(self.runs)} rows x {self.runs.shape[1]} cols",
                "model, agents, ...: in the store, read when first used "
                "(result.scan(table) queries them in place)",
            ]
        else:
            shapes = [
                f"{name}: {len(frame)} rows x {frame.shape[1]} cols"
                for name, frame in self._frames().items()
            ]
        return "\n".join([head, *("  " + s for s in shapes)])

    @property
    def _lazy(self) -> bool:
        """True while the tables wait in the store (nothing read yet)."""
        return "_load" in self.__dict__ and "model" not in self.__dict__

    def _frames(self) -> dict[str, pd.DataFrame]:
        frames = {"runs": self.runs, "model": self.model}
        if not self.agents.empty:
            frames["agents"] = self.agents
        if not self.agenttypes.empty:
            frames["agenttypes"] = self.agenttypes
        frames.update({f"tables[{k!r}]": v for k, v in self.tables.items()})
        frames.update({f"datasets[{k!r}]": v for k, v in self.datasets.items()})
        return frames

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from html import escape

        if self._lazy:
            return f"<pre>{escape(self.summary())}</pre>"
        head = self.model.head(5).to_html(index=False, border=0, max_cols=12)
        return (
            f"<pre>{escape(self.summary())}</pre>"
            "<details><summary>first rows of <code>.model</code></summary>"
            f"{head}</details>"
        )


def _where(meta: dict[str, Any]) -> str:
    """``in this process``, ``on 2 worker processes``, ``on Dask (4 workers)``."""
    executor, workers = meta.get("executor"), meta.get("workers", 1)
    if executor == "in-process":
        return "in this process"
    if executor == "store":
        return "(loaded from the store)"
    if executor == "processes":
        return f"on {workers} worker process{'es' if workers != 1 else ''}"
    name = "Dask" if executor == "dask" else executor
    return f"on {name} ({workers} worker{'s' if workers != 1 else ''})"


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


__all__ = ["SweepResult", "register_extension"]
