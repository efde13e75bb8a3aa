"""Priors of a calibration: one distribution per calibrated parameter.

A prior is a :class:`~mesa_nb.core.designs.Range` (``between(lo, hi)``: a
uniform float; ``integers(lo, hi)``: a uniform whole number, both ends
included; ``one_of(*choices)``: a uniform category) or a frozen distribution
of ``scipy.stats`` (``norm(0, 1)``, ``lognorm(0.5)``: a float;
``poisson(3)``, ``binom(10, 0.3)``: a whole number).

Calibration methods work on ``thetas``, a float array of shape ``(n, d)``
with one column per parameter in :attr:`Priors.names` order: float
parameters hold their value, whole numbers their value as a float, choices
the index of the choice. :meth:`Priors.points` turns rows into the values a
model takes, :meth:`Priors.to_thetas` turns them back.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core.designs import Range, between, integers, one_of
from ..core.errors import ParameterError

__all__ = ["Priors"]

#: The quantiles taken as the bounds of a distribution without finite support.
_TAIL = 0.0005

_FIX = (
    "give between(lo, hi), integers(lo, hi), one_of(...) or a scipy.stats "
    "distribution such as norm(0, 1)"
)
_RANGE_KINDS = {"float": "between", "int": "integers", "choice": "one_of"}


def _plain(value: Any) -> Any:
    """``value`` as a Python object JSON writes (numpy scalars unwrapped)."""
    return value.item() if isinstance(value, np.generic) else value


def _number(name: str, dist: str, value: Any) -> int | float:
    value = _plain(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(
            f"Prior {name!r} = {dist}(...): its arguments must be single "
            f"numbers (one distribution per parameter), got {value!r}; {_FIX}.",
            field=name,
        )
    if not math.isfinite(value):
        raise ParameterError(
            f"Prior {name!r} = {dist}(...): argument {value!r} is not finite; "
            "give finite numbers.",
            field=name,
        )
    return value


def _scipy_prior(name: str, value: Any) -> Any:
    """``value`` rebuilt from its name and arguments, checked to be a named,
    valid, univariate ``scipy.stats`` distribution (so it can be recorded)."""
    dist = value.dist
    label = getattr(dist, "name", None) or type(dist).__name__
    named = getattr(_scipy_stats(), label, None)
    if type(named) is not type(dist):
        raise ParameterError(
            f"Prior {name!r} = {value!r} is a custom distribution, which a "
            "calibration cannot record and load back; give one of scipy.stats' "
            "own distributions such as norm(0, 1), lognorm(0.5) or poisson(3).",
            field=name,
        )
    args = [_number(name, label, a) for a in value.args]
    kwds = {str(k): _number(name, label, v) for k, v in value.kwds.items()}
    frozen = named(*args, **kwds)
    low, high = frozen.support()
    if math.isnan(low) or math.isnan(high):
        shown = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwds.items())])
        raise ParameterError(
            f"Prior {name!r} = {label}({shown}): these arguments are outside "
            f"the distribution's valid ones (e.g. a scale of 0 or less).",
            field=name,
        )
    return frozen, {"kind": "scipy", "dist": label, "args": args, "kwds": kwds}


def _scipy_stats() -> Any:
    """``scipy.stats``, imported on first use: it is a third of a second, and
    ``import mesa_nb`` (in every worker process too) does not need it."""
    from scipy import stats

    return stats


def _is_scipy(value: Any) -> bool:
    stats = sys.modules.get("scipy.stats")  # loaded if value is one of its
    return stats is not None and isinstance(
        getattr(value, "dist", None), stats.rv_continuous | stats.rv_discrete
    )


def _range_dict(spec: Range) -> dict[str, Any]:
    if spec.kind == "choice":
        return {"kind": "one_of", "choices": [_plain(c) for c in spec.choices]}
    return {"kind": _RANGE_KINDS[spec.kind], "low": spec.low, "high": spec.high}


class Priors:
    """The priors of the calibrated parameters, in order.

    Attributes:
        names: the parameters, in the column order of ``thetas``.
        kinds: ``"float"``, ``"int"`` or ``"choice"`` per parameter.
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]

    def __init__(self, priors: Mapping[str, Any]) -> None:
        if not isinstance(priors, Mapping) or not priors:
            raise ParameterError(
                f"priors must map each calibrated parameter to its prior, e.g. "
                f"{{'beta': between(0, 1)}}: {_FIX}."
            )
        self._specs: list[Any] = []
        self._records: list[dict[str, Any]] = []
        kinds = []
        for name, value in priors.items():
            spec, record, kind = self._read(str(name), value)
            self._specs.append(spec)
            self._records.append(record)
            kinds.append(kind)
        self.names = tuple(str(name) for name in priors)
        self.kinds = tuple(kinds)
        self._bounds = [
            self._support(s, k) for s, k in zip(self._specs, kinds, strict=True)
        ]

    @classmethod
    def of(cls, priors: Mapping[str, Any] | Priors) -> Priors:
        """Priors from ``{name: prior}`` (a Priors is returned as it is)."""
        return priors if isinstance(priors, Priors) else cls(priors)

    @staticmethod
    def _read(name: str, value: Any) -> tuple[Any, dict[str, Any], str]:
        if isinstance(value, Range):
            return value, _range_dict(value), value.kind
        if _is_scipy(value):
            frozen, record = _scipy_prior(name, value)
            discrete = isinstance(frozen.dist, _scipy_stats().rv_discrete)
            kind = "int" if discrete else "float"
            return frozen, record, kind
        raise ParameterError(f"Prior {name!r} = {value!r}: {_FIX}.", field=name)

    @staticmethod
    def _support(spec: Any, kind: str) -> tuple[float, float]:
        if isinstance(spec, Range):
            if kind == "choice":
                return 0.0, float(len(spec.choices) - 1)
            return float(spec.low), float(spec.high)
        low, high = (float(v) for v in spec.support())
        if not math.isfinite(low):
            low = float(spec.ppf(_TAIL))
        if not math.isfinite(high):
            high = float(spec.ppf(1 - _TAIL))
        return low, high

    # -- drawing and densities ---------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws from the priors, shape ``(n, d)``."""
        columns = [
            self._draw(s, k, rng, n)
            for s, k in zip(self._specs, self.kinds, strict=True)
        ]
        return np.column_stack(columns).astype(float).reshape(n, len(self.names))

    @staticmethod
    def _draw(spec: Any, kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
        if not isinstance(spec, Range):
            return np.asarray(spec.rvs(size=n, random_state=rng), dtype=float)
        if kind == "float":
            return rng.uniform(spec.low, spec.high, n)
        if kind == "int":
            return rng.integers(spec.low, spec.high, n, endpoint=True).astype(float)
        return rng.integers(0, len(spec.choices), n).astype(float)

    def density(self, thetas: np.ndarray) -> np.ndarray:
        """The prior density (pmf for whole numbers and choices) of each row,
        shape ``(n,)``: the product over parameters, 0 outside the support."""
        thetas = self._thetas(thetas)
        result = np.ones(len(thetas))
        for j, (spec, kind) in enumerate(zip(self._specs, self.kinds, strict=True)):
            result *= self._density(spec, kind, thetas[:, j])
        return result

    @staticmethod
    def _density(spec: Any, kind: str, x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            if not isinstance(spec, Range):
                value = spec.pmf(x) if kind == "int" else spec.pdf(x)
                return np.nan_to_num(np.asarray(value, dtype=float), nan=0.0)
            if kind == "float":
                inside = (x >= spec.low) & (x <= spec.high)
                return inside / (spec.high - spec.low)
            low, high = (
                (spec.low, spec.high) if kind == "int" else (0, len(spec.choices) - 1)
            )
            inside = (x >= low) & (x <= high) & (x == np.rint(x))
            return inside / (high - low + 1)

    # -- values ------------------------------------------------------------------
    def points(self, thetas: np.ndarray) -> list[dict[str, Any]]:
        """The rows of ``thetas`` as ``{name: value}``: floats, ints, choices."""
        thetas = self._thetas(thetas)
        return [
            {
                name: self._value(spec, kind, x)
                for name, spec, kind, x in zip(
                    self.names, self._specs, self.kinds, row, strict=True
                )
            }
            for row in thetas
        ]

    @staticmethod
    def _value(spec: Any, kind: str, x: float) -> Any:
        if kind == "float":
            return float(x)
        if kind == "int":
            return int(np.rint(x))
        return spec.choices[int(np.rint(x))]

    def to_thetas(self, points: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The inverse of :meth:`points`: shape ``(len(points), d)``."""
        rows = [
            [
                self._theta(name, spec, kind, point)
                for name, spec, kind in zip(
                    self.names, self._specs, self.kinds, strict=True
                )
            ]
            for point in points
        ]
        return np.asarray(rows, dtype=float).reshape(len(rows), len(self.names))

    @staticmethod
    def _theta(name: str, spec: Any, kind: str, point: Mapping[str, Any]) -> float:
        if name not in point:
            raise ParameterError(
                f"The point {dict(point)!r} has no value for {name!r}: give one "
                "value per calibrated parameter.",
                field=name,
            )
        value = _plain(point[name])
        if kind == "choice":
            for i, choice in enumerate(spec.choices):
                if choice is value or (type(choice) is type(value) and choice == value):
                    return float(i)
            for i, choice in enumerate(spec.choices):
                if choice == value:
                    return float(i)
            raise ParameterError(
                f"{name!r} = {value!r} is not one of its choices "
                f"{list(spec.choices)!r}.",
                field=name,
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParameterError(f"{name!r} = {value!r} is not a number.", field=name)
        if kind == "int" and not float(value).is_integer():
            raise ParameterError(
                f"{name!r} = {value!r} is not a whole number.", field=name
            )
        return float(value)

    def _thetas(self, thetas: np.ndarray) -> np.ndarray:
        thetas = np.asarray(thetas, dtype=float)
        if thetas.ndim != 2 or thetas.shape[1] != len(self.names):
            raise ValueError(
                f"thetas must have shape (n, {len(self.names)}), got {thetas.shape}."
            )
        return thetas

    # -- support -------------------------------------------------------------------
    def bounds(self) -> list[tuple[float, float]]:
        """The support of each parameter; for a distribution without finite
        ends, its 0.0005 and 0.9995 quantiles; for choices ``(0, k - 1)``."""
        return list(self._bounds)

    def widths(self) -> np.ndarray:
        """The width of each parameter's :meth:`bounds`."""
        return np.array([high - low for low, high in self._bounds], dtype=float)

    # -- records -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-writable data, read back by :meth:`from_dict`."""
        return {
            name: copy.deepcopy(record)
            for name, record in zip(self.names, self._records, strict=True)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Priors:
        """The priors of :meth:`to_dict`'s output."""
        if not isinstance(data, Mapping):
            raise ParameterError(f"Priors must be read from a mapping, got {data!r}.")
        return cls(
            {str(name): _prior_of(str(name), record) for name, record in data.items()}
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Priors):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [
            f"{n}={_describe(r)}"
            for n, r in zip(self.names, self._records, strict=True)
        ]
        return f"Priors({', '.join(parts)})"


def _prior_of(name: str, record: Any) -> Any:
    kind = record.get("kind") if isinstance(record, Mapping) else None
    try:
        if kind == "between":
            return between(record["low"], record["high"])
        if kind == "integers":
            return integers(record["low"], record["high"])
        if kind == "one_of":
            return one_of(*record["choices"])
        if kind == "scipy":
            stats = _scipy_stats()
            dist = getattr(stats, str(record["dist"]), None)
            if not isinstance(dist, stats.rv_continuous | stats.rv_discrete):
                raise ParameterError(
                    f"Prior {name!r}: scipy.stats has no distribution "
                    f"{record['dist']!r}.",
                    field=name,
                )
            return dist(*record.get("args", []), **record.get("kwds", {}))
    except KeyError as missing:
        raise ParameterError(
            f"Prior {name!r} = {record!r} lacks {missing}.", field=name
        ) from None
    raise ParameterError(
        f"Prior {name!r} = {record!r}: kind must be between, integers, one_of "
        "or scipy.",
        field=name,
    )


def _describe(record: Mapping[str, Any]) -> str:
    kind = record["kind"]
    if kind == "one_of":
        return f"one_of({', '.join(map(repr, record['choices']))})"
    if kind == "scipy":
        shown = [
            *map(repr, record["args"]),
            *(f"{k}={v!r}" for k, v in record["kwds"].items()),
        ]
        return f"{record['dist']}({', '.join(shown)})"
    return f"{kind}({record['low']!r}, {record['high']!r})"
