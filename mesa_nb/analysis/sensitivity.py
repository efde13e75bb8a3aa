"""Sensitivity analysis of a sweep run on a design: Sobol indices, Morris.

``result.sensitivity("Gini")`` takes each run's final value of a model
reporter (or its value at ``step``), averages it over the replicates of each
design point, and hands the values to SALib's analysers in the design's
order. A point without a value (its runs failed, or the reporter is NaN or
infinite there) makes the analysis refuse, naming the points and RunIds:
never a silent NaN, nor indices of 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import ParameterError
from .stats import check_reporter, model_table, numeric_values

#: The columns of each method's table.
SOBOL_COLUMNS = ["S1", "S1_conf", "ST", "ST_conf"]
MORRIS_COLUMNS = ["mu", "mu_star", "mu_star_conf", "sigma"]


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


def _listed(numbers: Any, most: int = 10) -> str:
    """``"3, 7, 12 ..."``: the first ``most`` of ``numbers``, sorted."""
    numbers = sorted({int(n) for n in numbers})
    return ", ".join(map(str, numbers[:most])) + (" ..." if len(numbers) > most else "")


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


def sensitivity(
    result: Any,
    reporter: str,
    method: str | None = None,
    step: int | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Sobol indices or Morris measures of ``reporter``, indexed by parameter.

    Args:
        method: ``"sobol"`` (S1, S1_conf, ST, ST_conf) or ``"morris"`` (mu,
            mu_star, mu_star_conf, sigma); by default the design's own.
        step: analyse the value at this Step instead of each run's last.
        seed: seed of SALib's bootstrap for the confidence intervals.
    """
    design = result.design
    if design is None:
        raise ParameterError(
            "This sweep was not run on a sampling design: run it on one, e.g. "
            "sweep(Model, mesa_nb.designs.sobol({'x': between(0, 1)}, 512))."
        )
    method = method or design.method
    if method != design.method or method not in ("sobol", "morris"):
        raise ParameterError(
            f"method={method!r} needs a {method} design; this sweep ran a "
            f"{design.method} design (Sobol indices need designs.sobol, Morris "
            "measures designs.morris)."
        )
    y = _values_per_point(result, reporter, step)
    problem = design.salib_problem()
    if method == "sobol":
        from SALib.analyze import sobol as analyze

        second = design.options.get("second_order", False)
        found = analyze.analyze(problem, y, calc_second_order=second, seed=seed)
        columns = SOBOL_COLUMNS
    else:
        from SALib.analyze import morris as analyze

        found = analyze.analyze(
            problem,
            design.unit,
            y,
            num_levels=design.options["levels"],
            seed=seed,
        )
        columns = MORRIS_COLUMNS
    table = pd.DataFrame(
        {c: np.asarray(found[c], dtype=float) for c in columns}, index=design.names
    )
    table.index.name = "parameter"
    return table
