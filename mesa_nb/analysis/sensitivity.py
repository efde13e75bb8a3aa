"""Sensitivity analysis of a sweep: Sobol, Morris, PRCC, SRC, delta, RBD-FAST.

``result.sensitivity("Gini", method=...)`` answers *which parameter drives
this output?* for any sweep. Which method fits which sweep:

========== =========================================== ==========================
method     needs                                       analyses
========== =========================================== ==========================
sobol      a sweep on ``designs.sobol`` (Saltelli)     the mean of each point's
morris     a sweep on ``designs.morris``               replicates, in the design's
                                                       order (SALib)
prcc, src  numeric parameters, any points: a design,   each run's value:
           a grid, a list of points, a loaded store,   replicates are observations
           or a DataFrame shaped like ``result.model``
delta,     a random or space-filling sample: ``lhs``,  each run's value (SALib's
rbd_fast   ``halton``, ``sobol_sequence``, or points   sample-free estimators)
           where each parameter takes many values
========== =========================================== ==========================

A method that does not fit refuses, saying what it needs, what the sweep had,
and which methods fit it. A run without a value (NaN or infinite, or no
record at ``step``) makes the analysis refuse, naming the RunIds: never a
silent NaN, nor an index of 0.

PRCC and SRC are computed here (numpy / scipy): partial rank correlation
coefficients (Blower & Dowlatabadi 1994; Marino et al. 2008, "A methodology
for performing global uncertainty and sensitivity analysis in systems
biology", J. Theor. Biol. 254:178-196) and standardised regression
coefficients (Saltelli et al. 2008, "Global Sensitivity Analysis: The
Primer", section 1.2.5), with t-test p-values and confidence intervals.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import ParameterError
from ..core.result import SweepResult
from .stats import (
    ModelTable,
    check_level,
    check_reporter,
    last_rows,
    model_table,
    numeric_values,
    unknown_name,
)

#: The columns of each method's table.
SOBOL_COLUMNS = ["S1", "S1_conf", "ST", "ST_conf"]
MORRIS_COLUMNS = ["mu", "mu_star", "mu_star_conf", "sigma"]
PRCC_COLUMNS = ["PRCC", "p_value", "conf_low", "conf_high"]
SRC_COLUMNS = ["SRC", "p_value", "conf_low", "conf_high"]
DELTA_COLUMNS = ["delta", "delta_conf", "S1", "S1_conf"]
RBD_FAST_COLUMNS = ["S1", "S1_conf"]
COLUMNS = {
    "sobol": SOBOL_COLUMNS,
    "morris": MORRIS_COLUMNS,
    "prcc": PRCC_COLUMNS,
    "src": SRC_COLUMNS,
    "delta": DELTA_COLUMNS,
    "rbd_fast": RBD_FAST_COLUMNS,
}
METHODS = tuple(COLUMNS)

#: What each method is, in refusals and plot labels.
LABELS = {
    "sobol": "Sobol indices",
    "morris": "Morris screening",
    "prcc": "partial rank correlation",
    "src": "standardised regression coefficients",
    "delta": "Borgonovo's delta",
    "rbd_fast": "RBD-FAST",
}

#: Designs whose points are a random or space-filling sample of the ranges.
SPACE_FILLING = ("lhs", "halton", "sobol_sequence")

#: The fewest runs delta and RBD-FAST estimate from (RBD-FAST's 10 harmonics
#: need well over 20; delta's classes at least 10 runs each).
MIN_SAMPLE = 50

_DESIGN_NAMES = {
    "lhs": "a Latin hypercube (lhs)",
    "sobol": "a Saltelli (sobol)",
    "morris": "a Morris",
    "halton": "a Halton",
    "sobol_sequence": "a Sobol'-sequence (sobol_sequence)",
}


# -- what the sweep had, what a method needs ---------------------------------------
def _design(data: Any) -> Any:
    return data.design if isinstance(data, SweepResult) else None


def describe_sample(data: SweepResult | pd.DataFrame) -> str:
    """What a sweep's points are, in words: ``a Latin hypercube (lhs) design of
    100 points``, ``a grid of 3 x 4 values (12 points)``, ``a list of 20
    points``, ``a table of 50 runs``."""
    design = _design(data)
    if design is not None:
        name = _DESIGN_NAMES.get(design.method, f"a {design.method}")
        return f"{name} design of {len(design)} points"
    table = model_table(data)
    if table.loose or table.runs is None:
        return f"a table of {table.frame['RunId'].nunique()} runs"
    swept = [p for p in table.swept if p in table.runs.columns]
    if not swept:
        return f"a single point ({len(table.runs)} runs)"
    points = table.runs[swept].astype(str).drop_duplicates()
    counts = [table.runs[p].astype(str).nunique() for p in swept]
    if math.prod(counts) == len(points):
        sizes = " x ".join(map(str, counts))
        return f"a grid of {sizes} values ({len(points)} points)"
    return f"a list of {len(points)} points"


def _fitting_methods(data: Any) -> list[str]:
    """The methods a sweep's points allow (before looking at its values)."""
    design = _design(data)
    if design is not None and design.method in ("sobol", "morris"):
        return [design.method, "prcc", "src"]
    if design is not None and design.method in SPACE_FILLING:
        return ["prcc", "src", "delta", "rbd_fast"]
    return ["prcc", "src"]


def _choices(methods: Sequence[str]) -> str:
    quoted = [repr(m) for m in methods]
    if len(quoted) == 1:
        return f"method={quoted[0]}"
    return f"method={', '.join(quoted[:-1])} or {quoted[-1]}"


def _needs_design(method: str, data: Any) -> ParameterError:
    return ParameterError(
        f"method={method!r} ({LABELS[method]}) needs a sweep run on "
        f"mesa_nb.designs.{method}(...), whose points it combines in that "
        f"design's structure; this sweep ran {describe_sample(data)}. For it "
        f"use {_choices(_fitting_methods(data))}."
    )


def _needs_sample(method: str, data: Any, detail: str = "") -> ParameterError:
    return ParameterError(
        f"method={method!r} ({LABELS[method]}) estimates from a random or "
        "space-filling sample, where every parameter takes many values: run the "
        "sweep on mesa_nb.designs.lhs, halton or sobol_sequence. This sweep ran "
        f"{describe_sample(data)}{detail}. For it use "
        f"{_choices(_fitting_methods(data))}."
    )


def _check_method(method: Any) -> str:
    if method not in METHODS:
        close = difflib.get_close_matches(str(method), METHODS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ParameterError(
            f"No sensitivity method {method!r}: choose one of "
            f"{', '.join(METHODS)}.{hint}"
        )
    return method


# -- the values analysed ------------------------------------------------------------
def _listed(numbers: Any, most: int = 10) -> str:
    """``"3, 7, 12 ..."``: the first ``most`` of ``numbers``, sorted."""
    numbers = sorted({int(n) for n in numbers})
    return ", ".join(map(str, numbers[:most])) + (" ..." if len(numbers) > most else "")


def run_values(
    table: ModelTable, reporter: str, step: int | None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Each run's row (its last, or the one at ``step``) and its finite value
    of ``reporter``; refuses (naming RunIds) if a run has none."""
    check_reporter(table, reporter)
    frame = table.frame
    if step is None:
        rows = last_rows(frame)
    else:
        rows = frame[frame["Step"] == step].drop_duplicates("RunId", keep="last")
        missing = sorted(set(frame["RunId"]) - set(rows["RunId"]))
        if missing:
            raise ParameterError(
                f"{len(missing)} run{'s' if len(missing) > 1 else ''} have no "
                f"record at step {step} (they stopped earlier, or that step was "
                f"not kept): RunIds {_listed(missing)}. Give a step every run "
                "reached, or leave step out to analyse each run's last value."
            )
    values = numeric_values(rows, reporter, "model reporter").to_numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        nan, inf = bool(np.isnan(values).any()), bool(np.isinf(values).any())
        what = "NaN or infinite" if nan and inf else "infinite" if inf else "NaN"
        run_ids = rows["RunId"].to_numpy()[bad]
        where = f"at step {step} of" if step is not None else "at the end of"
        raise ParameterError(
            f"{reporter!r} is {what} {where} {len(run_ids)} "
            f"run{'s' if len(run_ids) > 1 else ''} (RunIds {_listed(run_ids)}): "
            "the analysis needs a value from every run. Make the reporter "
            "defined everywhere, or analyse the other runs: "
            "mesa_nb.analysis.sensitivity(result.model[result.model['RunId']"
            f".isin(good_ids)], {reporter!r}, ...)."
        )
    return rows, values


def _parameter_names(
    table: ModelTable, reporter: str, parameters: str | Sequence[str] | None
) -> list[str]:
    """The analysed parameters: ``parameters``, or every swept one."""
    if parameters is None:
        names = [p for p in table.swept if p != reporter]
    else:
        names = [parameters] if isinstance(parameters, str) else list(parameters)
        allowed = table.other_columns if table.loose else table.parameters
        for name in names:
            if name not in allowed or name == reporter:
                raise unknown_name("parameter", name, table.parameters)
        if len(set(names)) != len(names):
            raise ParameterError(f"parameters names one twice: {names!r}.")
    if not names:
        raise ParameterError(
            "No parameter varies in these runs: sensitivity needs swept "
            "parameters (a design, a grid or a list of points)."
        )
    return names


def _numbers(
    rows: pd.DataFrame, names: list[str], reporter: str, method: str
) -> np.ndarray:
    """The values of ``names`` as floats, one row per run (bools as 0 / 1);
    a categorical or constant parameter is refused."""
    columns = []
    for name in names:
        column = rows[name]
        if pd.api.types.is_bool_dtype(column):
            column = column.astype(float)
        elif not pd.api.types.is_numeric_dtype(column):
            values = sorted({str(v) for v in column})
            shown = ", ".join(repr(v) for v in values[:5])
            others = [n for n in names if n != name]
            first = column.iloc[0]
            leave = f"parameters={others!r}" if others else "other parameters"
            raise ParameterError(
                f"{name!r} is a categorical parameter (values {shown}"
                f"{' ...' if len(values) > 5 else ''}): method={method!r} "
                f"({LABELS[method]}) needs numbers, and categories are not encoded "
                "(their order would be arbitrary). Leave it out with "
                f"{leave}, or analyse each category on its own: "
                f"mesa_nb.analysis.sensitivity(result.model[result.model[{name!r}]"
                f" == {first!r}], {reporter!r}, method={method!r})."
            )
        column = column.astype(float)
        if column.nunique() < 2:
            raise ParameterError(
                f"{name!r} takes a single value ({column.iloc[0]:g}) in these runs: "
                "it cannot explain anything. Leave it out with parameters=[...]."
            )
        columns.append(column.to_numpy())
    return np.column_stack(columns)


# -- the estimators -----------------------------------------------------------------
def _ranks(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(values, axis=0)


def _residuals(target: np.ndarray, others: np.ndarray) -> np.ndarray:
    """``target`` less its least-squares fit on ``others`` (with an intercept)."""
    design = np.column_stack([np.ones(len(target)), others])
    coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
    return target - design @ coefficients


def prcc(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> np.ndarray:
    """Partial rank correlation coefficients of ``y`` with each column of ``x``.

    Ranks are taken (ties averaged); for each parameter the ranks of it and of
    ``y`` are regressed on the ranks of the other parameters, and the PRCC is
    the correlation of the two residuals. With ``n`` runs and ``k``
    parameters, the p-value is the two-sided t-test of ``r sqrt((n - k - 1) /
    (1 - r^2))`` on ``n - k - 1`` degrees of freedom, the interval Fisher's
    ``tanh(atanh(r) -+ z / sqrt(n - k - 2))``. Returns an array of rows
    ``(PRCC, p_value, conf_low, conf_high)``.
    """
    from scipy import stats

    n, k = x.shape
    ranks, y_ranks = _ranks(x), _ranks(y)
    out = np.empty((k, 4))
    z = stats.norm.ppf((1 + level) / 2)
    for j in range(k):
        others = np.delete(ranks, j, axis=1)
        rx = _residuals(ranks[:, j], others)
        ry = _residuals(y_ranks, others)
        scale = math.sqrt(float(rx @ rx) * float(ry @ ry))
        r = float(rx @ ry) / scale if scale > 0 else 0.0
        r = min(1.0, max(-1.0, r))
        dof = n - k - 1
        if abs(r) < 1:
            t = r * math.sqrt(dof / (1 - r * r))
            p = float(2 * stats.t.sf(abs(t), dof))
            fisher, half = math.atanh(r), z / math.sqrt(n - k - 2)
            low, high = math.tanh(fisher - half), math.tanh(fisher + half)
        else:
            p, low, high = 0.0, r, r
        out[j] = (r, p, low, high)
    return out


def src(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, float]:
    """Standardised regression coefficients of ``y`` on the columns of ``x``.

    Every column and ``y`` are scaled to mean 0 and standard deviation 1 and
    ``y`` is fitted by least squares; each coefficient gets its t-test p-value
    and its ``level`` t interval (``n - k - 1`` degrees of freedom). Returns
    rows ``(SRC, p_value, conf_low, conf_high)`` and the fit's R^2 (the SRCs
    describe the output well when R^2 is high, 0.7 or more).
    """
    from scipy import stats

    n, k = x.shape
    xs = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    ys = (y - y.mean()) / y.std(ddof=1)
    design = np.column_stack([np.ones(n), xs])
    coefficients, *_ = np.linalg.lstsq(design, ys, rcond=None)
    residuals = ys - design @ coefficients
    dof = n - k - 1
    variance = float(residuals @ residuals) / dof
    covariance = variance * np.linalg.pinv(design.T @ design)
    se = np.sqrt(np.diag(covariance))[1:]
    beta = coefficients[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, beta / se, np.inf * np.sign(beta))
    p = 2 * stats.t.sf(np.abs(t), dof)
    half = stats.t.ppf((1 + level) / 2, dof) * se
    r2 = 1.0 - float(residuals @ residuals) / float(ys @ ys)
    return np.column_stack([beta, p, beta - half, beta + half]), r2


@contextmanager
def _salib_contained() -> Iterator[None]:
    """SALib's delta sets a global warnings filter and formatter and seeds
    numpy's global generator: give all three back as they were, then issue
    SALib's warnings under the caller's own filters."""
    state = np.random.get_state()
    formatter = warnings.formatwarning
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        warnings.formatwarning = formatter
        np.random.set_state(state)
    seen = set()
    for warning in caught:  # each once, as SALib meant
        key = (str(warning.message), warning.category)
        if key not in seen:
            seen.add(key)
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def _sample_problem(names: list[str], x: np.ndarray) -> dict[str, Any]:
    bounds = [[float(x[:, j].min()), float(x[:, j].max())] for j in range(len(names))]
    return {"num_vars": len(names), "names": names, "bounds": bounds}


def _check_spread(data: Any, method: str, points: pd.DataFrame) -> None:
    """A sample method's points must spread: a space-filling design, or (with
    no design) every parameter taking a value of its own at half the points
    or more (a grid's few levels do not). ``points``: the analysed
    parameters' values, one row per run."""
    design = _design(data)
    if design is not None:
        if design.method not in SPACE_FILLING:
            raise _needs_sample(method, data)
        return
    text = points.astype(str)
    n_points = len(text.drop_duplicates())
    for name in points.columns:
        levels = text[name].nunique()
        if levels < max(2, n_points / 2):
            raise _needs_sample(
                method, data, f", in which {name!r} takes only {levels} values"
            )


def _sample_analysis(
    method: str,
    names: list[str],
    x: np.ndarray,
    y: np.ndarray,
    level: float,
    seed: int | None,
    resamples: int,
) -> dict[str, np.ndarray]:
    problem = _sample_problem(names, x)
    with _salib_contained():
        if method == "delta":
            from SALib.analyze import delta

            if seed is not None:  # SALib seeds only a truthy seed
                np.random.seed(seed)
            found = delta.analyze(
                problem, x, y, num_resamples=resamples, conf_level=level
            )
            raw = "delta_raw" if "delta_raw" in found else "delta"  # older SALib
            return {
                "delta": found[raw],
                "delta_conf": found[f"{raw}_conf"],
                "S1": found["S1"],
                "S1_conf": found["S1_conf"],
            }
        from SALib.analyze import rbd_fast

        found = rbd_fast.analyze(
            problem, x, y, num_resamples=resamples, conf_level=level, seed=seed
        )
        return {"S1": found["S1"], "S1_conf": found["S1_conf"]}


# -- Sobol and Morris, on their designs ---------------------------------------------
def _values_per_point(result: Any, reporter: str, step: int | None) -> np.ndarray:
    design = result.design
    table = model_table(result)
    check_reporter(table, reporter)
    frame = table.frame
    if step is None:
        frame = frame.sort_values(["RunId", "Step"]).groupby("RunId").tail(1)
    else:
        frame = frame[frame["Step"] == step]
    values = numeric_values(frame, reporter, "model reporter").to_numpy()
    n_points = len(design)
    run_ids = frame["RunId"].to_numpy()
    points = run_ids % n_points
    undefined = ~np.isfinite(values)
    if undefined.any():
        raise _undefined_error(
            design, reporter, step, run_ids[undefined], points[undefined], values
        )
    means = pd.Series(values).groupby(points).mean()
    missing = sorted(set(range(n_points)) - set(means.index))
    if missing:
        where = f"at step {step}" if step is not None else "at its end"
        raise ParameterError(
            f"{len(missing)} of the design's {n_points} points have no value of "
            f"{reporter!r} {where} (their runs failed or were cancelled): points "
            f"{_listed(missing)}. Run them again (a store with retry_failed=True), "
            "or give a step every run reached."
        )
    return means.sort_index().to_numpy(dtype=float)


def _undefined_error(
    design: Any,
    reporter: str,
    step: int | None,
    run_ids: np.ndarray,
    points: np.ndarray,
    values: np.ndarray,
) -> ParameterError:
    """The refusal of a reporter that is NaN (or infinite) in some runs: a
    Sobol or Morris estimator combines the points in the design's structure,
    so one missing point would turn every index into NaN or 0, silently."""
    nan, inf = bool(np.isnan(values).any()), bool(np.isinf(values).any())
    what = "NaN or infinite" if nan and inf else "infinite" if inf else "NaN"
    fill = (
        f"result.model[{reporter!r}] = result.model[{reporter!r}].fillna(0)"
        if what == "NaN"
        else f"result.model[{reporter!r}] = result.model[{reporter!r}]"
        ".replace([np.inf, -np.inf], np.nan).fillna(0)"
    )
    n_runs, n_points = len(set(run_ids.tolist())), len(set(points.tolist()))
    where = f"at step {step} of" if step is not None else "at the end of"
    return ParameterError(
        f"{reporter!r} is {what} {where} {n_runs} run{'s' if n_runs > 1 else ''} "
        f"(RunIds {_listed(run_ids)}), at {n_points} of the design's {len(design)} "
        f"points ({_listed(points)}). The {design.method} analysis needs a value at "
        "every point of the design: one missing point breaks its estimator and "
        "makes every index NaN or 0. Make the reporter defined everywhere (a "
        "number where the model has none), or fill the gaps before the "
        f"analysis, e.g. {fill}."
    )


def _design_analysis(
    result: Any,
    reporter: str,
    method: str,
    step: int | None,
    seed: int | None,
    level: float,
    resamples: int,
) -> pd.DataFrame:
    design = result.design
    y = _values_per_point(result, reporter, step)
    problem = design.salib_problem()
    with _salib_contained():
        if method == "sobol":
            from SALib.analyze import sobol as analyze

            second = design.options.get("second_order", False)
            found = analyze.analyze(
                problem,
                y,
                calc_second_order=second,
                conf_level=level,
                num_resamples=resamples,
                seed=seed,
            )
        else:
            from SALib.analyze import morris as analyze

            found = analyze.analyze(
                problem,
                design.unit,
                y,
                num_levels=design.options["levels"],
                conf_level=level,
                num_resamples=resamples,
                seed=seed,
            )
    columns = COLUMNS[method]
    table = pd.DataFrame(
        {c: np.asarray(found[c], dtype=float) for c in columns}, index=design.names
    )
    table.attrs["runs"] = int(model_table(result).frame["RunId"].nunique())
    return table


# -- the entry point ----------------------------------------------------------------
def sensitivity(
    data: SweepResult | pd.DataFrame,
    reporter: str,
    method: str | None = None,
    step: int | None = None,
    seed: int | None = None,
    *,
    parameters: str | Sequence[str] | None = None,
    level: float = 0.95,
    resamples: int = 100,
) -> pd.DataFrame:
    """How much each parameter drives ``reporter``: one row per parameter.

    Args:
        data: a SweepResult (run now, or loaded with ``mesa_nb.load_store``),
            or a DataFrame shaped like ``result.model`` (for prcc, src, delta
            and rbd_fast; e.g. some runs filtered out).
        reporter: the model reporter analysed: each run's last value, or its
            value at ``step``.
        method: by default the design's own for a Sobol or Morris design, else
            ``"prcc"``.

            * ``"sobol"``: first-order and total Sobol indices (S1, S1_conf,
              ST, ST_conf) of the replicate means of a ``designs.sobol``
              sweep (SALib).
            * ``"morris"``: Morris measures (mu, mu_star, mu_star_conf,
              sigma) of a ``designs.morris`` sweep, elementary effects per
              full range (SALib).
            * ``"prcc"``: partial rank correlation coefficients (PRCC,
              p_value, conf_low, conf_high): the monotone effect of each
              parameter with the others held fixed, from -1 to 1.
            * ``"src"``: standardised regression coefficients (SRC,
              p_value, conf_low, conf_high) of a linear fit; its R^2 is in
              ``table.attrs["R2"]`` (trust SRCs when it is 0.7 or more).
            * ``"delta"``: Borgonovo's moment-independent delta and a
              first-order Sobol estimate (delta, delta_conf, S1, S1_conf) from
              the sample (SALib, Plischke et al. 2013); slow (seconds per
              parameter for a few hundred runs; fewer ``resamples`` is faster).
            * ``"rbd_fast"``: first-order indices by RBD-FAST (S1, S1_conf)
              from the sample (SALib).

            prcc and src take any points with numeric parameters (a design, a
            grid, a list of points); delta and rbd_fast a random or
            space-filling sample (``lhs``, ``halton``, ``sobol_sequence``) of
            at least 50 runs.
        step: analyse the value at this Step instead of each run's last.
        seed: seed of the bootstraps (sobol, morris, delta, rbd_fast).
        parameters: the parameters analysed by prcc, src, delta and rbd_fast
            (default: every swept one). Categorical parameters (``one_of``
            with strings) are refused, not encoded: leave them out here, or
            analyse each category's runs on their own.
        level: the confidence level of the intervals (``conf_low`` /
            ``conf_high``, ``*_conf``).
        resamples: bootstrap resamples of the ``*_conf`` intervals.

    Replicates: sobol and morris average the runs of each design point (their
    estimators need one value per point). prcc, src, delta and rbd_fast take
    every run as one observation, so replicates add observations and their
    noise stays in the data: an effect that noise hides gets a small
    coefficient and a wide interval, and p-values count runs, not points.

    Returns:
        A DataFrame indexed by parameter, in the sweep's order, with the
        method's columns; ``attrs`` holds ``method``, ``reporter``, ``step``,
        ``runs`` (runs analysed), ``level`` and ``note`` (failed or
        cancelled runs left out).

    Raises:
        ParameterError: a method that does not fit the sweep (the message
            says what it needs, what the sweep had and which methods fit), an
            unknown reporter or parameter, a categorical parameter, a run
            without a value.
    """
    design = _design(data)
    if method is None:
        has_own = design is not None and design.method in ("sobol", "morris")
        method = design.method if has_own else "prcc"
    method = _check_method(method)
    level = check_level(level)
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 2:
        raise ValueError(f"resamples must be a whole number, 2 or more: {resamples!r}")
    table = model_table(data)
    if method in ("sobol", "morris"):
        if design is None or design.method != method:
            raise _needs_design(method, data)
        if parameters is not None:
            raise ParameterError(
                f"parameters= chooses what prcc, src, delta and rbd_fast analyse; "
                f"the {method} analysis takes every parameter of its design."
            )
        out = _design_analysis(data, reporter, method, step, seed, level, resamples)
    else:
        rows, y = run_values(table, reporter, step)
        names = _parameter_names(table, reporter, parameters)
        if method in ("delta", "rbd_fast"):
            _check_spread(data, method, rows[names])
        x = _numbers(rows, names, reporter, method)
        n, k = x.shape
        if np.ptp(y) == 0:
            raise ParameterError(
                f"{reporter!r} takes the same value ({y[0]:g}) in every run: no "
                "parameter changes it, there is nothing to attribute."
            )
        if method in ("prcc", "src"):
            if n < k + 3:
                raise ParameterError(
                    f"method={method!r} over {k} parameter{'s' if k > 1 else ''} "
                    f"needs {k + 3} runs or more (its intervals have n - k - 2 "
                    f"degrees of freedom); these have {n}."
                )
            if method == "prcc":
                values = prcc(x, y, level)
                r2 = None
            else:
                values, r2 = src(x, y, level)
            out = pd.DataFrame(values, index=names, columns=COLUMNS[method])
            if r2 is not None:
                out.attrs["R2"] = r2
        else:
            if n < MIN_SAMPLE:
                raise ParameterError(
                    f"method={method!r} ({LABELS[method]}) estimates from the "
                    f"sample and needs {MIN_SAMPLE} runs or more; these have {n}. "
                    "Run a larger design, or use method='prcc'."
                )
            found = _sample_analysis(method, names, x, y, level, seed, resamples)
            out = pd.DataFrame(
                {c: np.asarray(found[c], dtype=float) for c in COLUMNS[method]},
                index=names,
            )
        out.attrs["runs"] = n
    out.index.name = "parameter"
    out.attrs.update(
        method=method,
        reporter=reporter,
        step=step,
        level=level,
        note=table.excluded_note(),
    )
    return out
