"""Statistics over the replicates of a sweep: mean, spread, intervals, peaks.

:func:`replicate_stats` groups the ``model`` table of a sweep by parameters
(and Step) and summarises one model reporter over the runs in each group:
count, mean, spread, an interval of the mean that stays within the values the
reporter can take (Student's t, a seeded percentile bootstrap, or a clipped
t-interval, each row naming its method), and a flag for two-peaked replicate
distributions (Hartigan's dip test). Only finished runs count: a
:class:`~mesa_nb.SweepResult`'s ``model`` table holds no rows of failed,
crashed or cancelled runs, and rows of runs that are not ``ok`` are dropped
again here in case a table was edited by hand.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..core.errors import ParameterError
from ..core.records import Status
from ..core.result import SweepResult

OK, CANCELLED = Status.OK, Status.CANCELLED

__all__ = ["STAT_COLUMNS", "BimodalWarning", "replicate_stats"]

#: The statistic columns of :func:`replicate_stats`, in order.
STAT_COLUMNS = [
    "count",
    "mean",
    "std",
    "sem",
    "ci_low",
    "ci_high",
    "interval",
    "min",
    "max",
    "dip_p",
    "bimodal",
]

#: How ``interval=`` is spelt: Student's t, the percentile bootstrap, or
#: ``"auto"`` (t where it stays within the range the values can take).
INTERVALS = ("auto", "t", "bootstrap")
#: What the ``interval`` column says each row's interval is.
T, BOOTSTRAP, CLIPPED = "t", "bootstrap", "t, clipped"
#: ``interval="auto"``: a group with fewer runs than this whose t-interval
#: leaves the range gets the t-interval clipped to the range, not the
#: bootstrap (a percentile bootstrap of a handful of values is too narrow).
MIN_BOOTSTRAP_RUNS = 10
#: Resamples of the percentile bootstrap.
N_RESAMPLES = 9999
#: The dip test is run on groups of at least this many runs.
MIN_DIP_RUNS = 5
#: The family-wise level of the dip test (Holm-corrected over a table's rows).
DIP_ALPHA = 0.05


class BimodalWarning(UserWarning):
    """A plot shows the mean of replicates whose values have two peaks."""


#: Columns of the ``model`` table that identify a record, never a parameter.
KEY_COLUMNS = ("RunId", "iteration", "Step")


@dataclass(frozen=True)
class ModelTable:
    """A ``model``-shaped table with its columns sorted into kinds.

    ``parameters`` are the columns between ``iteration`` and ``Step`` (the
    layout of ``SweepResult.model``), ``reporters`` the columns after ``Step``.
    ``loose`` is True for a bare DataFrame, whose other columns are accepted
    as ``by`` or reporter names too. ``runs`` is the ``runs`` table of a
    SweepResult (every run, failed ones included).
    """

    frame: pd.DataFrame
    parameters: tuple[str, ...]
    reporters: tuple[str, ...]
    swept: tuple[str, ...]
    n_failed: int = 0
    n_cancelled: int = 0
    loose: bool = False
    runs: pd.DataFrame | None = None

    @property
    def other_columns(self) -> tuple[str, ...]:
        """Every column that is not RunId, iteration or Step."""
        return tuple(c for c in self.frame.columns if c not in KEY_COLUMNS)

    def excluded_note(self) -> str:
        """``" (2 failed runs excluded)"`` or ``""`` when every run finished."""
        parts = []
        if self.n_failed:
            parts.append(f"{self.n_failed} failed")
        if self.n_cancelled:
            parts.append(f"{self.n_cancelled} cancelled")
        if not parts:
            return ""
        total = self.n_failed + self.n_cancelled
        return f" ({' and '.join(parts)} run{'s' if total > 1 else ''} excluded)"


def model_table(data: SweepResult | pd.DataFrame | ModelTable) -> ModelTable:
    """Sort the columns of ``result.model`` (or a DataFrame like it) into kinds."""
    if isinstance(data, ModelTable):
        return data
    if isinstance(data, SweepResult):
        ok_runs = data.runs.loc[data.runs["status"] == OK, "RunId"]
        frame = data.model
        if not frame["RunId"].isin(ok_runs).all():
            frame = frame[frame["RunId"].isin(ok_runs)]
        parameters, reporters = _split_columns(frame)
        swept = tuple(p for p in data.metadata.get("swept", ()) if p in parameters)
        return ModelTable(
            frame,
            parameters,
            reporters,
            swept,
            n_failed=data.n_failed,
            n_cancelled=int((data.runs["status"] == CANCELLED).sum()),
            runs=data.runs,
        )
    if isinstance(data, pd.DataFrame):
        parameters, reporters = _split_columns(data)
        swept = tuple(p for p in parameters if _n_values(data[p]) > 1)
        return ModelTable(data, parameters, reporters, swept, loose=True)
    raise TypeError(
        "Expected a SweepResult or a DataFrame like result.model, "
        f"got {type(data).__name__}."
    )


def _split_columns(frame: pd.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...]]:
    columns = list(frame.columns)
    missing = [c for c in ("RunId", "Step") if c not in columns]
    if missing:
        raise ParameterError(
            f"The table has no {' or '.join(missing)} column; pass a SweepResult "
            "or its model table (RunId, iteration, parameters, Step, reporters)."
        )
    step = columns.index("Step")
    parameters = tuple(c for c in columns[:step] if c not in KEY_COLUMNS)
    reporters = tuple(c for c in columns[step + 1 :] if c not in KEY_COLUMNS)
    return parameters, reporters


def _n_values(column: pd.Series) -> int:
    try:
        return int(column.nunique(dropna=False))
    except TypeError:  # unhashable values (dicts, lists)
        return len({repr(v) for v in column})


def _listing(names: Iterable[str]) -> str:
    names = list(names)
    return ", ".join(names) if names else "(none)"


def _suggest(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(name), list(names), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_name(kind: str, name: Any, available: Sequence[str]) -> ParameterError:
    """``No <kind> 'x'. Available: a, b.`` with the closest name suggested."""
    return ParameterError(
        f"No {kind} {name!r}. Available: {_listing(available)}."
        + _suggest(name, available)
    )


def check_reporter(table: ModelTable, reporter: str, by: Sequence[str] = ()) -> str:
    """Return ``reporter`` if it is a model reporter of ``table``, else raise."""
    allowed = table.other_columns if table.loose else table.reporters
    if reporter not in allowed or reporter in by:
        raise unknown_name("model reporter", reporter, table.reporters)
    return reporter


def check_by(table: ModelTable, by: str | Sequence[str] | None) -> list[str]:
    """Normalise ``by`` to a list of parameter names; None means the swept ones."""
    if by is None:
        return list(table.swept)
    names = [by] if isinstance(by, str) else list(by)
    if len(set(names)) != len(names):
        raise ParameterError(f"by names a parameter twice: {names!r}.")
    if table.loose:
        allowed = table.other_columns
        listed = table.parameters or allowed
    else:
        allowed = listed = table.parameters
    for name in names:
        if name not in allowed:
            raise unknown_name("parameter", name, listed)
    return names


def check_level(level: float) -> float:
    """Return ``level`` if it is a confidence level strictly between 0 and 1."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}.")
    return float(level)


def numeric_values(frame: pd.DataFrame, column: str, kind: str) -> pd.Series:
    """``frame[column]`` as floats, or a ParameterError if it is not numeric."""
    values = frame[column]
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        try:
            values = pd.to_numeric(values)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"The {kind} {column!r} is not numeric (dtype {frame[column].dtype}); "
                "statistics and plots need numbers."
            ) from exc
    return values.astype(float)


def carried_forward(
    frame: pd.DataFrame, values: pd.Series, by: Sequence[str]
) -> tuple[pd.DataFrame, pd.Series]:
    """Each run at every Step of its group (from its first record on), its
    most recent value carried forward where it has no record."""
    work = frame[["RunId", *by, "Step"]].copy()
    work["__value"] = values.to_numpy()
    groups = work.groupby(list(by), sort=False, dropna=False) if by else [((), work)]
    pieces = []
    for key, group in groups:
        wide = group.pivot_table(
            index="Step", columns="RunId", values="__value", aggfunc="last"
        )
        started = wide.notna().cummax()  # from each run's first record on
        long = wide.ffill().where(started).stack().rename("__value").reset_index()
        for name, value in zip(by, key, strict=True):
            long[name] = value
        pieces.append(long)
    long = pd.concat(pieces, ignore_index=True)
    return long, long["__value"]


def last_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Each run's row with its highest Step (its final state)."""
    ordered = frame.sort_values(["RunId", "Step"], kind="stable")
    return ordered.drop_duplicates("RunId", keep="last")


def replicate_stats(
    data: SweepResult | pd.DataFrame,
    reporter: str,
    by: str | Sequence[str] | None = None,
    *,
    level: float = 0.95,
    final: bool = False,
    interval: Literal["auto", "t", "bootstrap"] = "auto",
    bounds: tuple[float | None, float | None] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Summarise a model reporter over the replicate runs of each parameter point.

    Args:
        data: a :class:`~mesa_nb.SweepResult` (its ``model`` table is used) or a
            DataFrame shaped like ``result.model``: RunId, iteration, parameter
            columns, Step, reporter columns.
        reporter: the model reporter to summarise (numeric).
        by: parameter name(s) to group by. Default: the swept parameters
            (``result.metadata["swept"]``; for a DataFrame, the parameter
            columns that take more than one value). ``[]`` pools every run.
        level: confidence level of the interval of the mean.
        final: use only each run's last record (one value per run); the
            output then has no Step column.
        interval: how the interval of the mean is made.

            * ``"auto"`` (default): Student's t-interval where it stays
              within the range the values can take (``bounds``); where it
              leaves it, the seeded percentile bootstrap for groups of at
              least 10 runs, else the t-interval clipped to the range.
            * ``"t"``: Student's t-interval, ``mean -+ t((1 + level) / 2,
              count - 1) * sem``; clipped to ``bounds`` if they are declared.
            * ``"bootstrap"``: the percentile bootstrap of the mean (9999
              resamples drawn from ``seed``, :func:`scipy.stats.bootstrap`).
        bounds: ``(low, high)``, the values the reporter can take, e.g.
            ``(0, 1)`` for a proportion; ``None`` for an open side, e.g.
            ``(0, None)`` for a count. Default: read from the values observed
            over the whole table (every run, every Step): ``(0, 1)`` if they
            all lie in [0, 1] (a share, a Gini), ``(0, None)`` if none is
            negative (a count, wealth), ``(None, 0)`` if none is positive,
            else no bounds. Used by ``"auto"`` (and by ``"t"`` when
            declared).
        seed: the seed of the bootstrap resamples (the same call gives the
            same table).

    Returns:
        One row per ``by`` combination (and Step, unless ``final``), sorted,
        with columns ``*by, Step, count, mean, std, sem, ci_low, ci_high,
        interval, min, max, dip_p, bimodal``. ``count`` is the number of runs
        with a non-missing value; ``std`` has ddof=1; ``ci_low``/``ci_high``
        is the interval of the mean and ``interval`` names how it was made:
        ``"t"``, ``"bootstrap"`` or ``"t, clipped"``. With a single run
        ``std``, ``sem`` and the interval are NaN (``interval`` missing).
        ``dip_p`` is the p-value of Hartigan's dip test of one peak (groups
        of at least 5 runs), its tied values first spread evenly over -+ half
        the reporter's resolution in the group (the smallest gap between two
        of the group's values, over all its runs and Steps: -+0.5 for a
        count), so that a count is not two-peaked for its ties alone, nor a
        0/1 indicator (its mean is a share of runs), while a proportion whose
        runs end at 0 or 1 is;
        ``bimodal`` is True where the test rejects one peak at the 5% level,
        Holm-corrected over the rows of the table (so a long table does not
        flag rows by chance). Every run counts at every Step of its group
        from its first record on, with its most recent record carried
        forward (a run that stopped early, or a record taken at a Step
        another run skipped), so a mean never mixes different sets of runs.
        ``out.attrs`` holds ``bounds`` (the range used), ``bounds_from``
        (``"declared"`` or ``"observed"``), ``level`` and ``interval``.

    Raises:
        ParameterError: unknown reporter or parameter (the message lists the
            available names), or values outside the declared ``bounds``.
    """
    table = model_table(data)
    by = check_by(table, by)
    check_reporter(table, reporter, by)
    level = check_level(level)
    if interval not in INTERVALS:
        raise ValueError(
            f"interval must be 'auto', 't' or 'bootstrap', got {interval!r}."
        )
    everything = numeric_values(table.frame, reporter, "model reporter")
    low, high, declared = _value_range(everything, reporter, bounds)
    frame = last_rows(table.frame) if final else table.frame
    keys = by if final else [*by, "Step"]
    values = numeric_values(frame, reporter, "model reporter")
    if not final and len(frame):
        frame, values = carried_forward(frame, values, by)
    work = frame[keys].copy() if keys else pd.DataFrame(index=frame.index)
    work["__value"] = values.to_numpy()
    if keys:
        grouped = work.groupby(keys, sort=True, dropna=False)["__value"]
        out = grouped.agg(["count", "mean", "std", "min", "max"]).reset_index()
        codes = grouped.ngroup().to_numpy()
    else:
        out = pd.DataFrame(
            {
                "count": [values.count()],
                "mean": [values.mean()],
                "std": [values.std()],
                "min": [values.min()],
                "max": [values.max()],
            }
        )
        codes = np.zeros(len(work), dtype=int)
    samples = _Samples(codes, work["__value"].to_numpy(dtype=float), len(out))
    count = out["count"].to_numpy()
    std = out["std"].to_numpy(dtype=float)
    mean = out["mean"].to_numpy(dtype=float)
    many = count > 1
    sem = np.full(len(out), np.nan)
    sem[many] = std[many] / np.sqrt(count[many])
    from scipy import stats as scipy_stats  # scipy loads on first use

    quantile = np.full(len(out), np.nan)
    quantile[many] = scipy_stats.t.ppf((1 + level) / 2, count[many] - 1)
    ci_low, ci_high = mean - quantile * sem, mean + quantile * sem
    method = np.where(many, T, None).astype(object)
    leaves = many & ((ci_low < low) | (ci_high > high))
    if interval == "bootstrap":
        boot, clip = many, np.zeros(len(out), dtype=bool)
    elif interval == "t":
        boot = np.zeros(len(out), dtype=bool)
        clip = leaves if declared else boot
    else:
        boot = leaves & (count >= MIN_BOOTSTRAP_RUNS)
        clip = leaves & ~boot
    ci_low[clip] = np.maximum(ci_low[clip], low)
    ci_high[clip] = np.minimum(ci_high[clip], high)
    method[clip] = CLIPPED
    if boot.any():
        ci_low[boot], ci_high[boot] = _bootstrap(
            samples, np.flatnonzero(boot), level, seed
        )
        method[boot] = BOOTSTRAP
    flat = many & (std == 0)  # zero spread: the mean itself, whatever the method
    ci_low[flat] = ci_high[flat] = mean[flat]
    out["count"] = out["count"].astype("int64")
    out["sem"] = sem
    out["ci_low"] = ci_low
    out["ci_high"] = ci_high
    out["interval"] = pd.Series(method, dtype=object)
    out["dip_p"], out["bimodal"] = _dip(
        samples, count, _resolutions(table.frame, everything, by, out)
    )
    out = out[[*keys, *STAT_COLUMNS]].reset_index(drop=True)
    out.attrs.update(
        {
            "reporter": reporter,
            "level": level,
            "interval": interval,
            "bounds": (low, high),
            "bounds_from": "declared" if declared else "observed",
            "pooled": [p for p in table.swept if p not in by],
        }
    )
    return out


def _value_range(
    values: pd.Series, reporter: str, bounds: Any
) -> tuple[float, float, bool]:
    """The range of values a reporter can take: ``(low, high, declared)``;
    without declared bounds, the natural bounds its values show: [0, 1] for
    values that all lie there, [0, inf) for values none of which is negative,
    (-inf, 0] for values none of which is positive."""
    observed = values.dropna()
    if bounds is None:
        if not len(observed):
            return -np.inf, np.inf, False
        smallest, largest = float(observed.min()), float(observed.max())
        if smallest >= 0:
            return 0.0, 1.0 if largest <= 1 else np.inf, False
        return -np.inf, 0.0 if largest <= 0 else np.inf, False
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise ValueError(
            f"bounds must be (low, high), e.g. (0, 1) or (0, None), got {bounds!r}."
        ) from None
    low = -np.inf if low is None else float(low)
    high = np.inf if high is None else float(high)
    if not low < high:
        raise ValueError(f"bounds must have low < high, got {bounds!r}.")
    if len(observed) and (observed.min() < low or observed.max() > high):
        raise ParameterError(
            f"{reporter!r} takes values from {observed.min():g} to "
            f"{observed.max():g}, outside bounds={bounds!r}: declare bounds "
            "that hold every value, or none (they are read from the values)."
        )
    return low, high, True


class _Samples:
    """The non-missing values of each group of a table, by row number."""

    def __init__(self, codes: np.ndarray, values: np.ndarray, n_rows: int) -> None:
        keep = ~np.isnan(values)
        codes, values = codes[keep], values[keep]
        order = np.argsort(codes, kind="stable")
        self.values = values[order]
        self.starts = np.searchsorted(codes[order], np.arange(n_rows + 1))

    def __getitem__(self, row: int) -> np.ndarray:
        return self.values[self.starts[row] : self.starts[row + 1]]


def _bootstrap(
    samples: _Samples, rows: np.ndarray, level: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap intervals of the mean of each row in ``rows``
    (groups of the same size resampled together, in batches)."""
    import inspect

    from scipy.stats import bootstrap

    rng = np.random.default_rng(seed)
    keyword = (
        "rng" if "rng" in inspect.signature(bootstrap).parameters else "random_state"
    )
    low, high = np.empty(len(rows)), np.empty(len(rows))
    sizes = np.array([len(samples[row]) for row in rows])
    for size in np.unique(sizes):
        at = np.flatnonzero(sizes == size)
        block = np.vstack([samples[row] for row in rows[at]])
        flat = np.ptp(block, axis=1) == 0  # all equal: the mean, no resampling
        low[at[flat]] = high[at[flat]] = block[flat, 0]
        at, block = at[~flat], block[~flat]
        chunk = max(1, 20_000 // size)
        for first in range(0, len(at), chunk):
            part = block[first : first + chunk]
            found = bootstrap(
                (part,),
                np.mean,
                axis=-1,
                vectorized=True,
                method="percentile",
                confidence_level=level,
                n_resamples=N_RESAMPLES,
                batch=max(1, 2_000_000 // part.size),
                **{keyword: rng},
            ).confidence_interval
            low[at[first : first + chunk]] = found.low
            high[at[first : first + chunk]] = found.high
    return low, high


def _snap(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to 10 significant digits of the largest, so that
    0.42 and 0.42000000000000004 (one Gini computed two ways) are a tie."""
    finite = np.abs(values[np.isfinite(values)])
    scale = float(finite.max()) if len(finite) else 0.0
    if scale == 0:
        return values
    return np.round(values, 10 - int(np.floor(np.log10(scale))))


def resolution(values: np.ndarray) -> float:
    """The smallest gap between two distinct values (1 for whole numbers that
    take neighbouring values; 10 significant digits), 0 with fewer than two
    distinct values."""
    distinct = np.unique(_snap(values[~np.isnan(values)]))
    return float(np.diff(distinct).min()) if len(distinct) > 1 else 0.0


def _resolutions(
    frame: pd.DataFrame, values: pd.Series, by: Sequence[str], out: pd.DataFrame
) -> np.ndarray:
    """The resolution of the reporter in each ``by`` group of ``out``'s rows,
    from every value of the group (all its runs, all Steps): a Gini of 10
    agents moves in steps of 0.02, one of 50 agents in finer ones."""
    if not by:
        return np.full(len(out), resolution(values.to_numpy(dtype=float)))
    work = frame[list(by)].copy()
    work["__value"] = values.to_numpy(dtype=float)
    found = work.groupby(list(by), sort=False, dropna=False)["__value"].agg(
        lambda group: resolution(group.to_numpy(dtype=float))
    )
    keys = pd.MultiIndex.from_frame(out[list(by)]) if len(by) > 1 else out[by[0]]
    return found.reindex(keys).to_numpy(dtype=float)


def _spread_ties(values: np.ndarray, gap: float) -> np.ndarray:
    """The values sorted, each set of ``k`` tied values spread evenly over
    ``value -+ gap / 2``: a count's ties over -+0.5 (``gap`` is the
    reporter's resolution, so spread values never reach their neighbours)."""
    distinct, counts = np.unique(values, return_counts=True)
    if gap <= 0 or len(distinct) == len(values):
        return np.sort(values)
    return np.concatenate(
        [
            value - gap / 2 + gap * (np.arange(k) + 0.5) / k
            for value, k in zip(distinct, counts, strict=True)
        ]
    )


def _dip(
    samples: _Samples, count: np.ndarray, gaps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hartigan's dip test p-value of each row (ties spread over the
    reporter's resolution in the row's group, ``gaps``) and the
    Holm-corrected flag."""
    p = np.full(len(count), np.nan)
    tested = np.flatnonzero(count >= MIN_DIP_RUNS)
    if len(tested):
        try:
            from diptest import diptest  # loads on first use
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ImportError(
                "mesa_nb's two-peak test (Hartigan's dip test) needs the diptest "
                "package: pip install 'diptest>=0.12'"
            ) from exc

        for row in tested:
            values = _snap(samples[row])
            if np.ptp(values) == 0:
                p[row] = 1.0
                continue
            spread = _spread_ties(values, float(np.nan_to_num(gaps[row])))
            p[row] = float(diptest(spread, sort_x=False)[1])
    flagged = np.zeros(len(count), dtype=bool)
    order = tested[np.argsort(p[tested], kind="stable")]
    for rank, row in enumerate(order):  # Holm's step-down
        if p[row] > DIP_ALPHA / (len(order) - rank):
            break
        flagged[row] = True
    return p, flagged
