"""Sensitivity analysis of a sweep run on a design: Sobol indices, Morris.

``result.sensitivity("Gini")`` takes each run's final value of a model
reporter (or its value at ``step``), averages it over the replicates of each
design point, and hands the values to SALib's analysers in the design's
order. A point without a value (its runs failed) makes the analysis refuse,
naming the points: never a silent NaN.
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
    values = numeric_values(frame, reporter, "model reporter")
    n_points = len(design)
    points = frame["RunId"].to_numpy() % n_points
    means = pd.Series(values.to_numpy()).groupby(points).mean()
    missing = sorted(set(range(n_points)) - set(means.index))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (
            " ..." if len(missing) > 10 else ""
        )
        where = f"at step {step}" if step is not None else "at its end"
        raise ParameterError(
            f"{len(missing)} of the design's {n_points} points have no value of "
            f"{reporter!r} {where} (their runs failed or were cancelled): points "
            f"{shown}. Run them again (a store with retry_failed=True), or give "
            "a step every run reached."
        )
    return means.sort_index().to_numpy(dtype=float)


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
