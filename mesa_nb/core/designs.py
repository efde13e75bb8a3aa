"""Sampling designs: Latin hypercube, Sobol (Saltelli), Morris, QMC sequences.

A design maps each parameter to a range (:func:`between` for floats,
:func:`integers` for whole numbers, :func:`one_of` for categories), draws
points in the unit cube with ``scipy.stats.qmc`` or SALib (no sampler is
written here), and turns them into parameter values. A :class:`Design` is a
sweep definition of its own (``sweep(Model, design)``), and it remembers how
it was made, so its sweep can be analysed (Sobol indices, Morris screening)
and reproduced: same method, ranges and seed, same points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import ParameterError
from .limits import MAX_RUNS


# -- ranges ----------------------------------------------------------------------
@dataclass(frozen=True)
class Range:
    """Where a parameter's values come from: ``kind`` is float, int or choice."""

    kind: str
    low: Any = None
    high: Any = None
    choices: tuple[Any, ...] = ()

    def value(self, unit: float) -> Any:
        """The value at ``unit`` in [0, 1]: a float, an int, or a choice."""
        if self.kind == "float":
            return float(self.low + unit * (self.high - self.low))
        if self.kind == "int":
            span = self.high - self.low + 1
            return int(self.low + min(math.floor(unit * span), span - 1))
        return self.choices[
            min(math.floor(unit * len(self.choices)), len(self.choices) - 1)
        ]

    def describe(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"kind": "choice", "choices": list(self.choices)}
        return {"kind": self.kind, "low": self.low, "high": self.high}


def between(low: float, high: float) -> Range:
    """Floats from ``low`` to ``high``."""
    low, high = _numbers(low, high, "between")
    return Range("float", float(low), float(high))


def integers(low: int, high: int) -> Range:
    """Whole numbers from ``low`` to ``high``, both included."""
    for value in (low, high):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ParameterError(
                f"integers({low!r}, {high!r}) takes whole numbers; use "
                "between(low, high) for floats."
            )
    low, high = _numbers(low, high, "integers")
    return Range("int", int(low), int(high))


def one_of(*choices: Any) -> Range:
    """One of ``choices`` (categories), each as likely as the others."""
    if len(choices) < 2:
        raise ParameterError(
            f"one_of{choices!r} needs two choices or more: a single value is a "
            "constant (give it as name = value)."
        )
    return Range("choice", choices=tuple(choices))


def _numbers(low: Any, high: Any, name: str) -> tuple[Any, Any]:
    for value in (low, high):
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise ParameterError(f"{name}({low!r}, {high!r}) takes two numbers.")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ParameterError(
            f"{name}({low!r}, {high!r}): a range is sampled between two finite "
            "numbers, so points would be inf or nan; give the widest finite "
            f"values the model takes, e.g. {name}(0, 1000)."
        )
    if not low < high:
        raise ParameterError(f"{name}({low!r}, {high!r}): low must be below high.")
    return low, high


def as_range(name: str, spec: Any) -> Range:
    """A :class:`Range` from ``spec``: a Range, a ``(low, high)`` pair of floats
    or ints, or a list of categories."""
    if isinstance(spec, Range):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in spec):
            return integers(*spec)
        return between(*spec)
    if isinstance(spec, list):
        return one_of(*spec)
    raise ParameterError(
        f"Bound {name!r} = {spec!r}: give between(low, high), integers(low, high), "
        "one_of('a', 'b'), a (low, high) pair or a list of choices.",
        field=name,
    )


# -- designs -----------------------------------------------------------------------
@dataclass(eq=False)
class Design:
    """A sampled design: its points, and how they were made.

    Attributes:
        method: ``lhs``, ``sobol``, ``morris``, ``halton`` or ``sobol_sequence``.
        ranges: the sampled parameters and their ranges, in order.
        unit: the points in the unit cube (one row per point).
        seed: the seed the points were drawn with.
        options: the method's own options (``n``, ``second_order``, ...).
        fixed: constants added to every point.
    """

    method: str
    ranges: dict[str, Range]
    unit: np.ndarray
    seed: int | None
    options: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        both = [name for name in self.fixed if name in self.ranges]
        if both:
            name = both[0]
            raise ParameterError(
                f"{name!r} is both a sampled range and a constant (fixed "
                f"{name} = {self.fixed[name]!r}), so every point would run at "
                f"{self.fixed[name]!r}: give {name!r} either as a range to "
                "sample or in fixed=, not both.",
                field=name,
            )

    @property
    def names(self) -> list[str]:
        return list(self.ranges)

    @property
    def points(self) -> pd.DataFrame:
        """One row per point: the sampled values (typed), then the constants."""
        columns = {
            name: [rng.value(u) for u in self.unit[:, i]]
            for i, (name, rng) in enumerate(self.ranges.items())
        }
        frame = pd.DataFrame(columns)
        for name, value in self.fixed.items():
            frame[name] = [value] * len(frame)
        return frame

    def records(self) -> list[dict[str, Any]]:
        """The points as ``{name: value}`` dicts, values as Python objects."""
        rows = []
        for row in self.unit:
            point = {
                n: r.value(u)
                for (n, r), u in zip(self.ranges.items(), row, strict=True)
            }
            rows.append({**point, **self.fixed})
        return rows

    def __len__(self) -> int:
        return len(self.unit)

    def describe(self) -> dict[str, Any]:
        """How the design was made, as plain data (recorded with the sweep)."""
        return {
            "method": self.method,
            "ranges": {n: r.describe() for n, r in self.ranges.items()},
            "seed": self.seed,
            "options": dict(self.options),
            "n_points": len(self),
        }

    def salib_problem(self) -> dict[str, Any]:
        """The SALib problem of the design, in the unit cube."""
        return {
            "num_vars": len(self.ranges),
            "names": self.names,
            "bounds": [[0.0, 1.0]] * len(self.ranges),
        }

    def __repr__(self) -> str:
        return (
            f"<{self.method} design: {len(self)} points of "
            f"{', '.join(self.names)}; seed {self.seed}>"
        )


def _ranges(bounds: Mapping[str, Any]) -> dict[str, Range]:
    if not isinstance(bounds, Mapping) or not bounds:
        raise ParameterError(
            "bounds must map parameter names to ranges, e.g. {'x': between(0, 1)}."
        )
    return {str(name): as_range(name, spec) for name, spec in bounds.items()}


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ParameterError(
            f"{what} must be a whole number, 1 or more, got {value!r}."
        )
    return int(value)


def _salib(module: str) -> Any:
    try:
        import importlib

        return importlib.import_module(f"SALib.sample.{module}")
    except ImportError:  # pragma: no cover - SALib is a dependency
        raise ImportError(
            "Sobol and Morris designs need SALib: pip install SALib"
        ) from None


def design_points(
    method: str, n_parameters: int, size: int, second_order: bool = False
) -> int:
    """How many points a design of ``size`` (``n``, or Morris trajectories)
    over ``n_parameters`` draws: ``n`` (lhs, halton, sobol_sequence),
    ``n * (d + 2)`` (sobol; ``n * (2d + 2)`` with ``second_order``),
    ``trajectories * (d + 1)`` (morris)."""
    if method == "sobol":
        return size * ((2 if second_order else 1) * n_parameters + 2)
    if method == "morris":
        return size * (n_parameters + 1)
    return size


def _drawn(
    method: str,
    ranges: dict[str, Range],
    seed: int | None,
    fixed: Mapping[str, Any] | None,
    options: dict[str, Any],
    draw: Callable[[Design, int], np.ndarray],
) -> Design:
    """The design of ``method``: made (its names checked) and its size checked
    against :data:`~.limits.MAX_RUNS` before ``draw(design, size)`` draws its
    points in the unit cube. ``options`` holds the size (``n`` or
    ``trajectories``) and the method's other options."""
    design = Design(
        method, ranges, np.zeros((0, len(ranges))), seed, options, dict(fixed or {})
    )
    what = "trajectories" if method == "morris" else "n"
    size = options[what]
    points = design_points(
        method, len(ranges), size, options.get("second_order", False)
    )
    if points > MAX_RUNS:
        raise ParameterError(
            f"The {method} design with {what}={size:,} over {len(ranges)} "
            f"parameter{'s' if len(ranges) > 1 else ''} has {points:,} points, "
            f"more than the {MAX_RUNS:,} runs one sweep may hold: give a smaller "
            f"{what} (samples), or split the sweep.",
            field="samples",
        )
    design.unit = draw(design, size)
    return design


def _qmc_design(method: str, engine: str, doc: str) -> Callable[..., Design]:
    """The design function ``method``: ``n`` points of ``scipy.stats.qmc``'s
    ``engine`` (LatinHypercube, Halton, Sobol), documented by ``doc``."""

    def design(
        bounds: Mapping[str, Any],
        n: int,
        seed: int | None = None,
        *,
        fixed: Mapping[str, Any] | None = None,
    ) -> Design:
        from scipy.stats import qmc

        def draw(design: Design, size: int) -> np.ndarray:
            return getattr(qmc, engine)(d=len(design.ranges), seed=seed).random(size)

        options = {"n": _count(n, "n")}
        return _drawn(method, _ranges(bounds), seed, fixed, options, draw)

    design.__name__ = design.__qualname__ = method
    design.__doc__ = doc
    return design


#: Latin hypercube, scrambled Halton and Sobol' sequences: the same design
#: function over a different ``scipy.stats.qmc`` engine.
lhs = _qmc_design(
    "lhs",
    "LatinHypercube",
    """A Latin hypercube of ``n`` points: each range cut in ``n`` equal bins,
    one point in every bin of every parameter (``scipy.stats.qmc``).""",
)
halton = _qmc_design(
    "halton",
    "Halton",
    """``n`` points of a scrambled Halton sequence (``scipy.stats.qmc``).""",
)
sobol_sequence = _qmc_design(
    "sobol_sequence",
    "Sobol",
    """``n`` points of a scrambled Sobol' sequence (``scipy.stats.qmc``); ``n``
    a power of 2 keeps its balance.""",
)


def _salib_draw(
    method: str, seed: int | None, **sample: Any
) -> Callable[[Design, int], np.ndarray]:
    """How SALib's ``method`` sampler draws a design's points:
    ``SALib.sample.<method>.sample`` with the ``sample`` keywords."""

    def draw(design: Design, size: int) -> np.ndarray:
        sampler = _salib(method)
        return sampler.sample(design.salib_problem(), size, seed=seed, **sample)

    return draw


def sobol(
    bounds: Mapping[str, Any],
    n: int,
    seed: int | None = None,
    *,
    second_order: bool = False,
    fixed: Mapping[str, Any] | None = None,
) -> Design:
    """A Saltelli design for Sobol indices (SALib): ``n * (d + 2)`` points
    (``n * (2d + 2)`` with ``second_order``); ``n`` a power of 2."""
    ranges = _ranges(bounds)
    n, second_order = _count(n, "n"), bool(second_order)
    options = {"n": n, "second_order": second_order}
    draw = _salib_draw("sobol", seed, calc_second_order=second_order)
    return _drawn("sobol", ranges, seed, fixed, options, draw)


def _levels(value: Any) -> int:
    """Morris levels: SALib puts each trajectory's start on ``levels / 2``
    grid values and steps by ``levels / (2 (levels - 1))``, so it needs an
    even number, 2 or more (1 divides by zero; an odd number, SALib warns,
    biases the sample)."""
    whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not whole or value < 2 or value % 2:
        raise ParameterError(
            f"levels={value!r}: a Morris design needs an even number of levels, "
            "2 or more (SALib's grid steps by levels / (2 (levels - 1)) from "
            "levels / 2 starting values; an odd number biases the sample): "
            "give e.g. levels=4 (the default)."
        )
    return int(value)


def morris(
    bounds: Mapping[str, Any],
    trajectories: int,
    levels: int = 4,
    seed: int | None = None,
    *,
    fixed: Mapping[str, Any] | None = None,
) -> Design:
    """A Morris design (SALib): ``trajectories * (d + 1)`` points on a grid of
    ``levels`` levels per parameter (an even number, 2 or more), for
    elementary effects."""
    ranges = _ranges(bounds)
    trajectories, levels = _count(trajectories, "trajectories"), _levels(levels)
    options = {"trajectories": trajectories, "levels": levels}
    draw = _salib_draw("morris", seed, num_levels=levels)
    return _drawn("morris", ranges, seed, fixed, options, draw)


#: A design's size when none is given (n, or Morris trajectories).
DEFAULT_SAMPLES = {"sobol": 256, "morris": 10, "lhs": 100, "halton": 128}

#: The designs by name (``%%batchrun --design NAME``).
DESIGNS = {
    "lhs": lhs,
    "sobol": sobol,
    "morris": morris,
    "halton": halton,
    "sobol_sequence": sobol_sequence,
}


def make_design(
    method: str,
    bounds: Mapping[str, Any],
    samples: int,
    seed: int | None = None,
    fixed: Mapping[str, Any] | None = None,
) -> Design:
    """``DESIGNS[method]`` with ``samples`` (n, or Morris trajectories; None:
    :data:`DEFAULT_SAMPLES`)."""
    if method not in DESIGNS:
        raise ParameterError(
            f"No design {method!r}: choose one of {', '.join(DESIGNS)}.", field="design"
        )
    samples = DEFAULT_SAMPLES.get(method, 128) if samples is None else samples
    return DESIGNS[method](bounds, samples, seed=seed, fixed=fixed)
