"""Columnar chunks: how finished runs' data travel and wait for the result.

A chunk is ``{column: 1-d numpy array}``. Chunks are concatenated one column
at a time, freeing each column's pieces as soon as it is joined, so building
the final table needs little more memory than the table itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .records import Chunk

#: Key columns stored as int32 when their values fit (they nearly always do).
COMPACT_KEYS = ("RunId", "Step", "AgentID")
_INT32 = np.iinfo(np.int32)


def escaped(value: Any) -> Any:
    """``value``, or for a string that cannot be written as UTF-8 (a lone
    surrogate such as ``"\\ud800"``) its faithful escaped form
    (``"\\\\ud800"``): pandas, Arrow and Parquet hold only valid text."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _pandas_array(values: Sequence[Any]) -> np.ndarray:
    """The numpy array pandas infers for ``values``; strings that are not
    valid text are escaped (see :func:`escaped`)."""
    dtype = None if len(values) else object
    try:
        return pd.Series(values, dtype=dtype).to_numpy()
    except UnicodeEncodeError:
        return pd.Series([escaped(v) for v in values], dtype=dtype).to_numpy()


#: With ``exact``, values of only these types become a typed array: its
#: ``tolist()`` gives back the same Python values.
_NATIVE = {float: np.float64, int: np.int64, bool: np.bool_}


def _exact_array(values: Sequence[Any]) -> np.ndarray:
    """``values`` kept as they are: a typed array when every value is of one
    of the plain types that round-trip (:data:`_NATIVE`), else an object array
    holding the values themselves (numpy scalars, ints mixed with floats or
    None...). Text is escaped as in :func:`escaped`."""
    kinds = set(map(type, values))
    if len(kinds) == 1:
        kind = next(iter(kinds))
        if kind is str:
            return _pandas_array(values)
        if kind in _NATIVE:
            try:
                return np.array(values, dtype=_NATIVE[kind])
            except OverflowError:  # ints beyond int64
                pass
    kept = np.empty(len(values), dtype=object)
    kept[:] = [escaped(v) for v in values]
    return kept


def infer_array(values: Sequence[Any], exact: bool = False) -> np.ndarray:
    """A numpy array of Python values, typed as pandas would (object if mixed).

    ``exact`` keeps every value as it was where pandas would change it (ints
    mixed with None or floats become floats and NaN, numpy scalars become
    Python ones): such a column is an object array of the values themselves,
    as ``mesa.batch_run``'s rows hold them. Strings that are not valid text
    are kept in an escaped form (:func:`escaped`), never refused.
    """
    if exact:
        return _exact_array(values)
    return _pandas_array(values)


def join_arrays(pieces: Sequence[np.ndarray], exact: bool = False) -> np.ndarray:
    """Concatenate arrays; with ``exact``, pieces of different kinds (ints and
    floats) are joined as an object array so each value keeps its type."""
    if len(pieces) == 1:
        return pieces[0]
    if exact and len({p.dtype.kind for p in pieces}) > 1:
        return np.concatenate([p.astype(object) for p in pieces])
    return np.concatenate(pieces)


def compact_key(values: np.ndarray) -> np.ndarray:
    """``values`` as int32 if they are integers that fit, else unchanged."""
    if values.dtype.kind not in "iu" or values.dtype.itemsize <= 4 or not len(values):
        return values
    if values.min() >= _INT32.min and values.max() <= _INT32.max:
        return values.astype(np.int32)
    return values


def _join(pieces: list[Any], exact: bool = False) -> np.ndarray:
    if all(isinstance(p, np.ndarray) for p in pieces):
        return join_arrays(pieces, exact)
    flat = itertools.chain.from_iterable(
        p.tolist() if isinstance(p, np.ndarray) else p for p in pieces
    )
    return infer_array(list(flat), exact)


class ChunkBuilder:
    """Collects column pieces (lists or arrays) run by run, joins them once."""

    def __init__(self, exact: bool = False) -> None:
        self.exact = exact  # see infer_array
        self.pieces: dict[str, list[Any]] = {}
        self.sizes: list[int] = []

    @property
    def rows(self) -> int:
        """Rows added so far."""
        return sum(self.sizes)

    def add(self, columns: Mapping[str, Sequence[Any]], rows: int) -> None:
        """Append ``rows`` rows given as ``{column: values}``."""
        for name in columns:
            if name not in self.pieces:
                self.pieces[name] = [[None] * n for n in self.sizes]
        for name, pieces in self.pieces.items():
            pieces.append(columns[name] if name in columns else [None] * rows)
        self.sizes.append(rows)

    def drop_last(self) -> None:
        """Forget the last :meth:`add`."""
        if self.sizes:
            self.sizes.pop()
            for pieces in self.pieces.values():
                pieces.pop()

    def finish(self) -> Chunk | None:
        """The joined chunk, or None if nothing was added."""
        if not self.rows:
            return None
        chunk = {
            name: _join(pieces, self.exact) for name, pieces in self.pieces.items()
        }
        for key in COMPACT_KEYS:
            if key in chunk:
                chunk[key] = compact_key(chunk[key])
        return chunk


def frame_to_chunk(frame: pd.DataFrame) -> Chunk:
    """The columns of ``frame`` as numpy arrays (object for non-numeric)."""
    return {str(c): frame[c].to_numpy() for c in frame.columns}


def chunk_rows(chunk: Chunk) -> int:
    """Number of rows in ``chunk``."""
    for values in chunk.values():
        return len(values)
    return 0


def _column_order(chunks: Sequence[Chunk]) -> list[str]:
    order: dict[str, None] = {}
    for chunk in chunks:
        order.update(dict.fromkeys(chunk))
    return list(order)


def _is_sorted(columns: dict[str, np.ndarray], keys: list[str]) -> bool:
    """Whether rows are in lexicographic order of ``keys`` (no big temporaries)."""
    present = [k for k in keys if k in columns]
    if not present or len(columns[present[0]]) < 2:
        return True
    tied = np.ones(len(columns[present[0]]) - 1, dtype=bool)
    for key in present:
        values = columns[key]
        if values.dtype == object:
            return False  # unusual keys: let the caller sort
        if (tied & (values[1:] < values[:-1])).any():
            return False
        tied &= values[1:] == values[:-1]
        if not tied.any():
            return True
    return True


def keep_types(chunks: list[Chunk], keys: Sequence[str] = ()) -> list[Chunk]:
    """``chunks`` with every column (but ``keys``) whose chunks have values of
    different kinds (ints in one, floats in another) made an object column,
    so that joining them keeps each value's type (see :func:`join_arrays`)."""
    kinds: dict[str, set[str]] = {}
    for chunk in chunks:
        for name, values in chunk.items():
            kinds.setdefault(name, set()).add(values.dtype.kind)
    mixed = [n for n, found in kinds.items() if len(found) > 1 and n not in keys]
    for chunk in chunks:
        for name in mixed:
            if name in chunk:
                chunk[name] = chunk[name].astype(object)
    return chunks


def chunks_to_frame(chunks: list[Chunk], keys: list[str]) -> pd.DataFrame:
    """Join ``chunks`` into one DataFrame sorted by ``keys``; empties ``chunks``.

    Chunks are first ordered by their first key value; if the rows are then
    already sorted (the usual case) nothing is copied again.
    """
    chunks = [c for c in chunks if chunk_rows(c)]
    if not chunks:
        return pd.DataFrame(columns=keys)
    first = keys[0]
    chunks.sort(key=lambda c: c[first][0] if first in c else 0)
    rows = [chunk_rows(c) for c in chunks]
    columns: dict[str, np.ndarray] = {}
    for name in _column_order(chunks):
        pieces = []
        for chunk, n in zip(chunks, rows, strict=True):
            values = chunk.pop(name, None)
            pieces.append(np.full(n, None, dtype=object) if values is None else values)
        columns[name] = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        del pieces
    chunks.clear()
    if not _is_sorted(columns, keys):
        present = [k for k in keys if k in columns]
        frame = pd.DataFrame({k: columns[k] for k in present}, copy=False)
        order = np.lexsort([frame[k].to_numpy() for k in reversed(present)])
        for name in list(columns):
            columns[name] = columns[name][order]
    return pd.DataFrame(columns, copy=False)
