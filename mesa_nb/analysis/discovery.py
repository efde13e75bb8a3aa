"""Scenario discovery: which region of the parameter space gives an outcome?

``result.discover("Gini > 0.6")`` marks the runs where a condition on their
final values holds (the *cases*) and looks for the parameters behind them:

* ``method="prim"``: the Patient Rule Induction Method (Friedman & Fisher
  1999, "Bump hunting in high-dimensional data", Statistics and Computing
  9:123-143), as used for scenario discovery (Bryant & Lempert 2010), by the
  `prim <https://github.com/Project-Platypus/PRIM>`_ package: a box (a range
  per parameter, a set of values per category) peeled down from the whole
  sample towards the cases, then pasted back out. Each box has a *coverage*
  (the share of all cases inside it) and a *density* (the share of runs
  inside it that are cases): peeling trades coverage for density, and
  ``result.plot.discovery`` draws that trade-off.
* ``method="trees"`` (or ``"scores"``): feature scores, the impurity
  importances of scikit-learn's extra-trees classifier of the cases
  (Geurts et al. 2006; as the EMA workbench scores features): which
  parameters tell cases from the other runs, summing to 1.

Every run is one observation: replicates of a point are separate runs, and
a stochastic outcome shows as a density below 1. Any sweep result works (a
design, a grid, a list of points, a loaded store), or a DataFrame shaped like
``result.model``. ``prim`` and scikit-learn load when first used.

The condition is either a function of the final-values table (one row per
run, indexed by RunId: the parameters, then each reporter's final value; see
:func:`final_values`) returning one boolean per run, or a text read by a
small parser (never ``eval``): comparisons of a reporter or parameter with a
number (``Gini > 0.6``, ``0.2 <= Gini < 0.6``, ``market == 'wild'``), joined
by ``and`` / ``or`` (``&`` / ``|``) with parentheses; names with spaces in
backquotes (```Mean Wealth` > 100``); a boolean reporter alone (``Done``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import ParameterError
from ..core.result import SweepResult
from .stats import ModelTable, last_rows, model_table, unknown_name

__all__ = ["Discovery", "discover", "final_values", "find", "parse_condition"]

METHODS = ("prim", "trees", "scores")

#: The columns of the PRIM boxes before the parameters' bounds.
BOX_COLUMNS = ["coverage", "density", "mass", "runs", "cases", "restricted"]
#: The columns of the feature scores.
SCORE_COLUMNS = ["score", "score_std"]


# -- the final values -----------------------------------------------------------------
def final_values(
    data: SweepResult | pd.DataFrame | ModelTable, step: int | None = None
) -> pd.DataFrame:
    """One row per finished run, indexed by RunId: its parameters, then each
    model reporter's last value (or its value at ``step``; runs without a
    record at ``step`` are left out)."""
    table = model_table(data)
    frame = table.frame
    rows = last_rows(frame) if step is None else frame[frame["Step"] == step]
    rows = rows.drop_duplicates("RunId", keep="last")
    if table.loose:
        columns = list(table.other_columns)
    else:
        columns = [*table.parameters, *table.reporters]
    return rows.set_index("RunId")[columns]


# -- conditions -----------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<op><=|>=|==|!=|<|>|=)
    | (?P<logic>&&?|\|\|?)
    | (?P<paren>[()])
    | `(?P<quoted>[^`]+)`
    | (?P<string>'[^']*'|"[^"]*")
    | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
}

_EXAMPLE = "e.g. 'Gini > 0.6', '0.2 <= Gini < 0.6 and market == \"wild\"'"


def _tokens(text: str) -> list[tuple[str, Any, int]]:
    """``(kind, value, position)`` of each token of ``text``."""
    out, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            rest = text[position:].strip()
            raise ParameterError(
                f"Cannot read the condition {text!r} at {rest!r}: give comparisons "
                f"of reporters or parameters with numbers, {_EXAMPLE}."
            )
        kind = match.lastgroup
        value: Any = match.group(kind)
        start = match.start(kind) - (kind == "quoted")  # at the backquote
        if kind == "number":
            value = float(value)
        elif kind == "quoted":
            kind = "name"
        elif kind == "string":
            value = value[1:-1]
        elif kind == "logic":
            value = "and" if value.startswith("&") else "or"
        elif kind == "name" and value in ("and", "or"):
            kind = "logic"
        elif kind == "name" and value in ("True", "False", "true", "false"):
            kind, value = "bool", value.lower() == "true"
        out.append((kind, value, start))
        position = match.end()
    return out


class _Parser:
    """Recursive descent over the tokens of a condition, evaluated on a frame:

    ``expr := term ('or' term)*``, ``term := factor ('and' factor)*``,
    ``factor := '(' expr ')' | operand (op operand)+ | name``.
    """

    def __init__(self, text: str, frame: pd.DataFrame) -> None:
        self.text, self.frame = text, frame
        self.tokens = _tokens(text)
        self.i = 0
        self.names: list[str] = []

    def fail(self, what: str) -> ParameterError:
        if self.i < len(self.tokens):
            rest = self.text[self.tokens[self.i][2] :].strip()
            where = f" at {rest!r}"
        else:
            where = " at its end"
        return ParameterError(
            f"Cannot read the condition {self.text!r}{where}: expected {what}; "
            f"{_EXAMPLE}."
        )

    def peek(self) -> tuple[str, Any, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> np.ndarray:
        if not self.tokens:
            raise self.fail("a comparison")
        mask = self.expr()
        if self.peek() is not None:
            raise self.fail("'and', 'or' or the end")
        return mask

    def expr(self) -> np.ndarray:
        mask = self.term()
        while (token := self.peek()) is not None and token[:2] == ("logic", "or"):
            self.i += 1
            mask = mask | self.term()
        return mask

    def term(self) -> np.ndarray:
        mask = self.factor()
        while (token := self.peek()) is not None and token[:2] == ("logic", "and"):
            self.i += 1
            mask = mask & self.factor()
        return mask

    def factor(self) -> np.ndarray:
        token = self.peek()
        if token is None:
            raise self.fail("a comparison")
        if token[:2] == ("paren", "("):
            self.i += 1
            mask = self.expr()
            if self.peek() is None or self.peek()[:2] != ("paren", ")"):
                raise self.fail("')'")
            self.i += 1
            return mask
        left = self.operand()
        if (token := self.peek()) is None or token[0] != "op":
            if self.tokens[self.i - 1][0] == "name" and _is_bool(left):
                return np.asarray(left, dtype=bool)
            raise self.fail("a comparison operator (<, <=, >, >=, ==, !=)")
        mask = None
        while (token := self.peek()) is not None and token[0] == "op":
            self.i += 1
            right = self.operand()
            compared = self.compare(token[1], left, right)
            mask = compared if mask is None else mask & compared
            left = right
        return mask

    def operand(self) -> Any:
        token = self.peek()
        if token is None or token[0] not in ("number", "name", "string", "bool"):
            raise self.fail("a reporter, a parameter or a number")
        self.i += 1
        kind, value, _ = token
        if kind != "name":
            return value
        if value not in self.frame.columns:
            raise unknown_name("reporter or parameter", value, list(self.frame.columns))
        self.names.append(value)
        return self.frame[value].to_numpy()

    def compare(self, op: str, left: Any, right: Any) -> np.ndarray:
        sides = (left, right)
        if not any(isinstance(side, np.ndarray) for side in sides):
            raise ParameterError(
                f"The condition {self.text!r} compares {left!r} {op} {right!r}: "
                "name a reporter or a parameter on one side."
            )
        texts = [_is_text(side) for side in sides]
        if any(texts) and op not in ("==", "=", "!="):
            raise ParameterError(
                f"The condition {self.text!r} orders text ({op}): compare "
                "categories with == or != only."
            )
        if any(texts) and not all(texts):
            raise ParameterError(
                f"The condition {self.text!r} compares text with a number ({op}): "
                "compare a category with a quoted value ('wild'), a number with "
                "a number."
            )
        with np.errstate(invalid="ignore"):
            return np.asarray(_COMPARE[op](left, right), dtype=bool)


def _is_text(side: Any) -> bool:
    if isinstance(side, str):
        return True
    return isinstance(side, np.ndarray) and not (
        np.issubdtype(side.dtype, np.number) or side.dtype == bool
    )


def _is_bool(values: Any) -> bool:
    return isinstance(values, np.ndarray) and values.dtype == bool


def parse_condition(text: str, frame: pd.DataFrame) -> np.ndarray:
    """The rows of ``frame`` where the condition ``text`` holds (a boolean
    array). See the module's docstring for what a condition may say.
    Columns it names may not be missing (NaN): the refusal names the rows."""
    return _parsed(text, frame)[0]


def _parsed(text: str, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """:func:`parse_condition`, and the columns the condition names."""
    parser = _Parser(text, frame)
    mask = parser.parse()
    for name in dict.fromkeys(parser.names):
        column = frame[name]
        missing = column.isna().to_numpy()
        if missing.any():
            ids = ", ".join(str(i) for i in frame.index[missing][:10])
            raise ParameterError(
                f"{name!r} is missing (NaN) in {int(missing.sum())} runs (RunIds "
                f"{ids}{' ...' if missing.sum() > 10 else ''}): the condition "
                f"{text!r} cannot say whether they are cases. Make the reporter "
                "defined everywhere, or give a function of the final values that "
                "decides them."
            )
    return np.asarray(mask, dtype=bool), list(dict.fromkeys(parser.names))


def _cases(condition: Any, frame: pd.DataFrame) -> tuple[np.ndarray, str, list[str]]:
    """The boolean case of each run, the condition as text, the columns it
    names (none for a function)."""
    if isinstance(condition, str):
        mask, names = _parsed(condition, frame)
        return mask, condition.strip(), names
    if not callable(condition):
        raise TypeError(
            "condition must be a text such as 'Gini > 0.6' or a function of the "
            f"final-values table returning one boolean per run, got {condition!r}."
        )
    name = getattr(condition, "__name__", "condition")
    text = "condition" if name == "<lambda>" else name
    found = condition(frame.copy())
    values = np.asarray(found)
    if values.shape != (len(frame),):
        raise ParameterError(
            f"The condition {text} gave {values.shape} values for {len(frame)} runs: "
            "it must return one boolean per row of the final-values table."
        )
    if values.dtype != bool:
        numeric = pd.to_numeric(pd.Series(values), errors="coerce")
        if numeric.isna().any() or not numeric.isin([0, 1]).all():
            raise ParameterError(
                f"The condition {text} must return booleans (True for a case), "
                f"got values of dtype {values.dtype}."
            )
        values = numeric.to_numpy().astype(bool)
    return values, text, []


# -- the analysis ---------------------------------------------------------------------
@dataclass
class Discovery:
    """What :func:`find` found.

    Attributes:
        method: ``prim`` or ``trees``.
        condition: the condition, as text.
        table: the boxes (PRIM) or the feature scores (trees), as
            :func:`discover` returns them.
        trajectories: PRIM only: one DataFrame per box, one row per step of
            its peeling and pasting (coverage, density, mass, restricted:
            how many parameters are restricted, chosen: the step kept).
        runs: how many runs were analysed; ``cases``: how many are cases.
        parameters: the analysed parameters; ``ranges``: their observed
            (min, max), or their values for categories.
        note: failed or cancelled runs left out, as the plots say it.
    """

    method: str
    condition: str
    table: pd.DataFrame
    runs: int
    cases: int
    parameters: list[str]
    ranges: dict[str, Any]
    trajectories: list[pd.DataFrame] = field(default_factory=list)
    note: str = ""

    @property
    def base_density(self) -> float:
        """The share of all runs that are cases (the density of no box)."""
        return self.cases / self.runs if self.runs else float("nan")


def _parameters(
    table: ModelTable, frame: pd.DataFrame, parameters: str | Sequence[str] | None
) -> list[str]:
    reporters = set(table.reporters)
    if parameters is None:
        names = [p for p in table.swept if p not in reporters]
        if not names:
            raise ParameterError(
                "No parameter varies in these runs: scenario discovery needs swept "
                "parameters (a design, a grid or a list of points)."
            )
        return names
    names = [parameters] if isinstance(parameters, str) else list(parameters)
    allowed = [c for c in frame.columns if table.loose or c not in reporters]
    for name in names:
        if name not in allowed:
            raise unknown_name("parameter", name, list(table.parameters) or allowed)
    if len(set(names)) != len(names) or not names:
        raise ParameterError(f"parameters must name parameters once each: {names!r}.")
    return names


def _prim_inputs(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The parameters as prim reads them: floats, whole numbers (int64),
    booleans, and categories as Python objects (not pandas' string dtype)."""
    columns = {}
    for name in names:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column):
            dtype: Any = bool
        elif pd.api.types.is_integer_dtype(column):
            dtype = "int64"
        elif pd.api.types.is_numeric_dtype(column):
            dtype = "float64"
        else:
            dtype = object
        columns[name] = pd.Series(list(column), dtype=dtype)
    return pd.DataFrame(columns)


def _is_category(column: pd.Series) -> bool:
    """True for a category (text, objects) or a boolean: a set of values."""
    return pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(
        column
    )


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _ranges(x: pd.DataFrame) -> dict[str, Any]:
    ranges: dict[str, Any] = {}
    for name in x.columns:
        column = x[name]
        if _is_category(column):
            ranges[name] = tuple(sorted({_native(v) for v in column}, key=str))
        else:
            ranges[name] = (_native(column.min()), _native(column.max()))
    return ranges


def _bounds(limits: Any, ranges: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """One box's bounds as columns (``p_min`` / ``p_max``, or ``p``: the kept
    categories) and the parameters it restricts."""
    row: dict[str, Any] = {}
    restricted = []
    for name, whole in ranges.items():
        if limits.dtype.fields[name][0] in (np.dtype(object), np.dtype(bool)):
            kept = tuple(sorted({_native(v) for v in limits[name][0]}, key=str))
            row[name] = kept
            if set(kept) != set(whole):
                restricted.append(name)
        else:
            low, high = _native(limits[name][0]), _native(limits[name][1])
            row[f"{name}_min"], row[f"{name}_max"] = low, high
            if low > whole[0] or high < whole[1]:
                restricted.append(name)
    return row, restricted


def _chosen(trajectory: pd.DataFrame, min_coverage: float | None) -> int:
    """The step kept: prim's last (peeled to ``mass_min``, then pasted), or
    the densest with at least ``min_coverage``."""
    if min_coverage is None:
        return len(trajectory) - 1
    ok = trajectory[trajectory["coverage"] >= min_coverage - 1e-12]
    if ok.empty:
        return len(trajectory) - 1
    best = ok["density"].max()
    return int(ok.index[ok["density"] >= best - 1e-12][0])


def _check_fraction(name: str, value: Any, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (low < value < high)
    ):
        raise ValueError(f"{name} must be a number between {low} and {high}: {value!r}")
    return float(value)


def _denser(cases: int, runs: int, share: float, alpha: float = 0.05) -> bool:
    """Is a box of ``runs`` runs with ``cases`` cases denser than the share of
    cases around it? One-sided binomial test at level ``alpha``."""
    from scipy.stats import binom

    return cases > share * runs and float(binom.sf(cases - 1, runs, share)) < alpha


def _prim_boxes(
    x: pd.DataFrame,
    y: np.ndarray,
    *,
    max_boxes: int,
    min_coverage: float | None,
    peel_alpha: float,
    paste_alpha: float,
    mass_min: float,
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    try:
        import prim
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "method='prim' needs the prim package (GPL-3.0, so an optional "
            'extra): pip install "mesa_nb[discovery]"'
        ) from exc
    finder = prim.Prim(
        x,
        y,
        peel_alpha=peel_alpha,
        paste_alpha=paste_alpha,
        mass_min=mass_min,
    )
    ranges = _ranges(x)
    rows, trajectories = [], []
    total_cases = int(y.sum())
    taken = np.zeros(len(y), dtype=bool)  # runs in the boxes found so far
    for number in range(1, max_boxes + 1):
        left = int(y[~taken].sum())
        if left == 0:
            break
        box = finder.find_box()
        if box is None:  # pragma: no cover - no run left
            break
        trajectory = box.peeling_trajectory.reset_index(drop=True)
        step = _chosen(trajectory, min_coverage)
        if step != len(trajectory) - 1:
            box.select(step)
        inside = np.asarray(box.yi)
        cases = int(y[inside].sum())
        density = cases / len(inside) if len(inside) else 0.0
        if number > 1 and not _denser(cases, len(inside), left / (~taken).sum()):
            break  # no denser than the runs left: nothing more to find
        taken[inside] = True
        limits = box._box_lims[step]  # prim's PrimBox.limits fails on pandas 3
        bounds, restricted = _bounds(limits, ranges)
        rows.append(
            {
                "coverage": cases / total_cases,
                "density": density,
                "mass": len(inside) / len(y),
                "runs": len(inside),
                "cases": cases,
                "restricted": tuple(restricted),
                **bounds,
            }
        )
        trajectories.append(
            pd.DataFrame(
                {
                    "coverage": trajectory["coverage"].astype(float),
                    "density": trajectory["density"].astype(float),
                    "mass": trajectory["mass"].astype(float),
                    "restricted": trajectory["res dim"].astype(int),
                    "chosen": np.arange(len(trajectory)) == step,
                }
            )
        )
    boxes = pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1, name="box"))
    return boxes, trajectories


def _feature_scores(
    x: pd.DataFrame, y: np.ndarray, trees: int, seed: int | None
) -> pd.DataFrame:
    try:
        from sklearn.ensemble import ExtraTreesClassifier
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "method='trees' needs scikit-learn: pip install \"mesa_nb[discovery]\""
        ) from exc
    encoded = pd.DataFrame(
        {
            name: (
                pd.factorize(column, sort=True)[0]
                if _is_category(column)
                else column.astype(float)
            )
            for name, column in x.items()
        }
    )
    forest = ExtraTreesClassifier(n_estimators=trees, random_state=seed, n_jobs=1)
    forest.fit(encoded.to_numpy(), y)
    each = np.array([tree.feature_importances_ for tree in forest.estimators_])
    scores = pd.DataFrame(
        {"score": forest.feature_importances_, "score_std": each.std(axis=0)},
        index=pd.Index(list(x.columns), name="parameter"),
    )
    return scores.sort_values("score", ascending=False, kind="stable")


def find(
    data: SweepResult | pd.DataFrame,
    condition: str | Callable[[pd.DataFrame], Any],
    method: str = "prim",
    *,
    step: int | None = None,
    parameters: str | Sequence[str] | None = None,
    max_boxes: int = 1,
    min_coverage: float | None = None,
    peel_alpha: float = 0.05,
    paste_alpha: float = 0.05,
    mass_min: float = 0.05,
    trees: int = 250,
    seed: int | None = None,
) -> Discovery:
    """:func:`discover` with what the plots draw too (a :class:`Discovery`)."""
    if method not in METHODS:
        raise ParameterError(
            f"No discovery method {method!r}: choose 'prim' (boxes) or 'trees' "
            "(feature scores)."
        )
    method = "trees" if method == "scores" else method
    table = model_table(data)
    frame = final_values(table, step)
    if step is not None:
        missing = sorted(set(table.frame["RunId"]) - set(frame.index))
        if missing:
            shown = ", ".join(map(str, missing[:10]))
            raise ParameterError(
                f"{len(missing)} run{'s' if len(missing) > 1 else ''} have no record "
                f"at step {step} (they stopped earlier, or that step was not "
                f"kept): RunIds {shown}{' ...' if len(missing) > 10 else ''}. Give "
                "a step every run reached, or leave step out to judge each run by "
                "its last values."
            )
    if frame.empty:
        raise ParameterError("No finished run to analyse.")
    names = _parameters(table, frame, parameters)
    y, text, used = _cases(condition, frame)
    cases = int(y.sum())
    if cases in (0, len(y)):
        which = "no run" if cases == 0 else f"every run ({len(y)})"
        spans = [
            f"{name} from {frame[name].min():g} to {frame[name].max():g}"
            for name in used
            if pd.api.types.is_numeric_dtype(frame[name])
            and not pd.api.types.is_bool_dtype(frame[name])
        ]
        seen = f" ({', '.join(spans)} over {len(y)} runs)" if spans else ""
        raise ParameterError(
            f"The condition {text!r} holds in {which}{seen}: there is nothing to "
            "tell apart. Choose a threshold inside the outcome's range."
        )
    x = _prim_inputs(frame, names)
    discovery = Discovery(
        method=method,
        condition=text,
        table=pd.DataFrame(),
        runs=len(y),
        cases=cases,
        parameters=names,
        ranges=_ranges(x),
        note=table.excluded_note(),
    )
    if method == "prim":
        if (
            isinstance(max_boxes, bool)
            or not isinstance(max_boxes, int)
            or (max_boxes < 1)
        ):
            raise ValueError(
                f"max_boxes must be a whole number, 1 or more: {max_boxes!r}"
            )
        if min_coverage is not None:
            min_coverage = _check_fraction("min_coverage", min_coverage, 0, 1.0001)
        boxes, trajectories = _prim_boxes(
            x,
            y,
            max_boxes=max_boxes,
            min_coverage=min_coverage,
            peel_alpha=_check_fraction("peel_alpha", peel_alpha, 0, 0.5),
            paste_alpha=_check_fraction("paste_alpha", paste_alpha, 0, 0.5),
            mass_min=_check_fraction("mass_min", mass_min, 0, 1),
        )
        discovery.table, discovery.trajectories = boxes, trajectories
    else:
        if isinstance(trees, bool) or not isinstance(trees, int) or trees < 1:
            raise ValueError(f"trees must be a whole number, 1 or more: {trees!r}")
        discovery.table = _feature_scores(x, y, trees, seed)
    discovery.table.attrs.update(
        method=method,
        condition=text,
        runs=len(y),
        cases=cases,
        step=step,
        note=discovery.note,
    )
    return discovery


def discover(
    data: SweepResult | pd.DataFrame,
    condition: str | Callable[[pd.DataFrame], Any],
    method: str = "prim",
    *,
    step: int | None = None,
    parameters: str | Sequence[str] | None = None,
    max_boxes: int = 1,
    min_coverage: float | None = None,
    peel_alpha: float = 0.05,
    paste_alpha: float = 0.05,
    mass_min: float = 0.05,
    trees: int = 250,
    seed: int | None = None,
) -> pd.DataFrame:
    """Which parameters, and which region of them, give the runs where
    ``condition`` holds.

    Args:
        data: a SweepResult (run now, or loaded with ``mesa_nb.load_store``),
            or a DataFrame shaped like ``result.model``.
        condition: ``"Gini > 0.6"`` and the like (comparisons of reporters or
            parameters with numbers, ``and`` / ``or``, parentheses; parsed,
            never evaluated as Python), or a function of the final-values
            table (one row per run: parameters, then final reporter values;
            see :func:`final_values`) returning one boolean per run.
        method: ``"prim"`` (boxes) or ``"trees"`` / ``"scores"`` (feature
            scores).
        step: judge each run by its values at this Step instead of its last.
        parameters: the parameters the boxes may restrict, or the trees
            score (default: every swept one). Categories are kept as
            categories by PRIM (a box keeps a set of them) and coded
            0, 1, 2... for the trees.
        max_boxes: PRIM: find up to this many boxes, each among the runs the
            boxes before it left; it stops early when no case is left or a
            box is not denser than the runs left (one-sided binomial test at
            5%).
        min_coverage: PRIM: keep, on each box's peeling trajectory, the
            densest box covering at least this share of the cases; by
            default the last one (peeled down to ``mass_min``, then pasted).
        peel_alpha, paste_alpha: PRIM: the share of runs each peeling
            (pasting) step removes (adds).
        mass_min: PRIM: the smallest share of all runs a box may hold.
        trees: the number of extra trees.
        seed: the random state of the extra trees.

    Every run is one observation: replicates count separately, so a
    stochastic outcome shows as a density below 1.

    Returns:
        PRIM: one row per box (index ``box``: 1, 2, ...) with ``coverage``
        (share of all cases in the box), ``density`` (share of the box's
        runs that are cases), ``mass`` (share of all runs in it), ``runs``,
        ``cases``, ``restricted`` (the parameters it limits, a tuple), then
        the bounds: ``<p>_min`` and ``<p>_max`` for a number (the whole
        observed range when unrestricted), ``<p>`` (the kept values, a
        tuple) for a category or boolean.

        trees: one row per parameter (index ``parameter``), highest first:
        ``score`` (mean decrease in impurity, summing to 1) and
        ``score_std`` (its spread over the trees).

        ``attrs`` holds ``method``, ``condition``, ``runs``, ``cases``,
        ``step`` and ``note`` (failed or cancelled runs left out).

    Raises:
        ParameterError: a condition that cannot be read, names an unknown
            reporter, is missing in some runs, or holds in no run or in all.
    """
    return find(
        data,
        condition,
        method,
        step=step,
        parameters=parameters,
        max_boxes=max_boxes,
        min_coverage=min_coverage,
        peel_alpha=peel_alpha,
        paste_alpha=paste_alpha,
        mass_min=mass_min,
        trees=trees,
        seed=seed,
    ).table
