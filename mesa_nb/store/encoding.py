"""How values and tables are written: JSON descriptions and Parquet bytes.

Two kinds of JSON live in a store:

* **descriptions** (:func:`to_json`), for the sweep definition in the
  manifest: plain JSON where objects that JSON cannot hold become stable
  descriptions (a callable's name and source hash, an object's class and a
  hash of its public state, never a memory address);
* **tagged JSON** (:func:`encode_value` / :func:`decode_value`), for stored
  values that must come back as they were: reporter values and drawn
  parameter values. It is lossless for ``None``, bools, ints of any size,
  floats (NaN and infinities too), strings, lists, tuples, dicts (any
  keys), sets, frozensets, complex numbers, bytes, bytearrays, numpy scalars
  and arrays, ``datetime`` / ``date`` / ``time`` (with their time zone: a
  ``zoneinfo`` or ``pytz`` zone by name, a ``datetime.timezone``) /
  ``timedelta``, ``Decimal``, pandas ``Timestamp`` (its unit and zone),
  ``Timedelta`` and ``NaT``, nested as deep as wanted. Other objects are
  kept as a description (``{"object": "module.Class", "repr": ...}``), the
  only lossy case (and a time zone of another kind, kept as its offset).

Parquet is written by pyarrow (never pickle) into memory and handed back as
bytes, so the caller decides where and how the file is written and never
gives pyarrow a path (a path with ``:`` in it would be taken for a URI).
Numeric, bool, datetime and all-``str`` columns are native Arrow columns;
every other column is tagged JSON text, listed with its numpy dtype in the
file's metadata (:data:`TAGGED_KEY`) and decoded on read.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import inspect
import json
import math
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..core.parameters import Sampler

#: Key of the Parquet metadata listing tagged-JSON columns and their dtypes.
TAGGED_KEY = b"mesa_nb_tagged"
TAGGED_ENCODING = "mesa_nb-tagged-json/1"
#: Written by stores before the tagged encoding: columns of plain JSON text.
JSON_COLUMNS_KEY = b"mesa_nb_json_columns"

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_MAX_DEPTH = 200  # deeper values (or cycles) are described, not encoded


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "A results store needs pyarrow: pip install 'mesa_nb[parquet]'"
        ) from None
    return pa, pq


# -- descriptions (the manifest) ---------------------------------------------------
def json_default(value: Any) -> Any:
    """A JSON stand-in for ``value`` (for ``json.dumps(default=...)``)."""
    return _describe(value, 0)


def _describe(value: Any, depth: int) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Sampler):
        return describe_callable(value.function)
    if isinstance(value, type):
        return {"class": class_path(value)}
    if callable(value):
        return describe_callable(value)
    if isinstance(value, (set, frozenset)):
        return sorted((to_json(v) for v in value), key=_canonical)
    text = repr(value)
    if _ADDRESS.search(text) is None:
        return {"repr": text}
    return describe_object(value, depth)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def describe_object(value: Any, depth: int = 0) -> dict[str, str]:
    """An object whose repr shows a memory address: its class and a hash of
    its public state (attributes not starting with ``_``), stable across
    kernel restarts."""
    described = {"object": class_path(type(value))}
    if depth > 3:
        return described
    state: dict[str, Any] = {}
    names = list(getattr(value, "__dict__", {}) or {})
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
    for name in names:
        if not name.startswith("_") and name not in state:
            try:
                state[name] = getattr(value, name)
            except AttributeError:
                continue
    try:
        text = json.dumps(
            state, sort_keys=True, default=lambda v: _describe(v, depth + 1)
        )
    except (TypeError, ValueError, RecursionError):
        text = repr(sorted(state))
    described["state_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    return described


def describe_callable(function: Any) -> dict[str, str]:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        source = repr(code.co_code + repr(code.co_consts).encode()) if code else ""
    name = getattr(function, "__qualname__", type(function).__name__)
    return {"callable": name, "sha256": hashlib.sha256(source.encode()).hexdigest()}


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data (non-JSON objects become descriptions)."""
    return json.loads(json.dumps(value, default=json_default))


# -- tagged JSON (stored values) -------------------------------------------------
def encode_value(value: Any, depth: int = 0) -> Any:
    """``value`` as tagged JSON data (see the module docstring)."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if depth > _MAX_DEPTH:
        return _object(value)
    inner = depth + 1
    if kind is list:
        return [encode_value(v, inner) for v in value]
    if kind is tuple:
        return {"$tuple": [encode_value(v, inner) for v in value]}
    if kind is dict:
        return {
            "$dict": [
                [encode_value(k, inner), encode_value(v, inner)]
                for k, v in value.items()
            ]
        }
    if kind in (set, frozenset):
        return {f"${kind.__name__}": [encode_value(v, inner) for v in value]}
    if kind is complex:
        return {"$complex": [encode_value(value.real), encode_value(value.imag)]}
    if kind in (bytes, bytearray):
        return {f"${kind.__name__}": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.generic):
        return _encode_numpy_scalar(value)
    if kind is np.ndarray:
        return _encode_array(value, inner)
    if kind is dt.datetime or kind is dt.time:
        return {f"${kind.__name__}": _clock(value)}
    if kind is dt.date:
        return {"$date": value.isoformat()}
    if kind is pd.Timestamp:
        return {"$timestamp": [*_tick(value.asm8), encode_zone(value.tzinfo)]}
    if kind is pd.Timedelta:
        return {"$pdtimedelta": _tick(value.asm8)}
    if value is pd.NaT:
        return {"$nat": None}
    if kind is dt.timedelta:
        return {"$timedelta": [value.days, value.seconds, value.microseconds]}
    if kind is decimal.Decimal:
        return {"$decimal": str(value)}
    return _object(value)


def _clock(value: dt.datetime | dt.time) -> list[Any]:
    """A datetime or time as ``[isoformat, zone, fold]`` (see :func:`encode_zone`)."""
    return [value.isoformat(), encode_zone(value.tzinfo), value.fold]


def _tick(value: np.generic) -> list[Any]:
    """A numpy datetime64 / timedelta64 as ``[dtype, int64 value]``."""
    return [value.dtype.str, int(np.array(value).view(np.int64))]


def encode_zone(zone: dt.tzinfo | None) -> Any:
    """A time zone as JSON: a named zone (``zoneinfo``, ``pytz``, dateutil's
    zone files) by its name, a ``datetime.timezone`` by its offset and name;
    another kind by the offset it has now (the one lossy case)."""
    if zone is None:
        return None
    module = type(zone).__module__.partition(".")[0]
    if isinstance(zone, zoneinfo.ZoneInfo) and zone.key:
        return {"zone": zone.key}
    if module == "pytz" and isinstance(getattr(zone, "zone", None), str):
        return {"pytz": zone.zone}
    if module == "dateutil":
        name = _dateutil_name(zone)
        if name is not None:
            return {"dateutil": name}
    if isinstance(zone, dt.timezone):
        offset, name = zone.utcoffset(None), zone.tzname(None)
        default = dt.timezone(offset).tzname(None)
        return {"offset": _timedelta(offset), "name": None if name == default else name}
    offset = zone.utcoffset(None)
    if offset is None:  # a zone that needs a date: its current offset
        offset = dt.datetime.now(zone).utcoffset() or dt.timedelta(0)
    return {"offset": _timedelta(offset), "name": zone.tzname(None)}


def _dateutil_name(zone: Any) -> str | None:
    if type(zone).__name__ == "tzutc":
        return "UTC"
    filename = getattr(zone, "_filename", None)
    if isinstance(filename, str) and "zoneinfo/" in filename:
        return filename.rpartition("zoneinfo/")[2]
    return None


def _timedelta(value: dt.timedelta) -> list[int]:
    return [value.days, value.seconds, value.microseconds]


def decode_zone(data: Any) -> dt.tzinfo | None:
    """The time zone :func:`encode_zone` encoded."""
    if data is None:
        return None
    if "zone" in data:
        return zoneinfo.ZoneInfo(data["zone"])
    if "pytz" in data:
        try:
            import pytz
        except ImportError:  # pragma: no cover - pytz is optional
            return zoneinfo.ZoneInfo(data["pytz"])
        return pytz.timezone(data["pytz"])
    if "dateutil" in data:
        from dateutil import tz

        return tz.UTC if data["dateutil"] == "UTC" else tz.gettz(data["dateutil"])
    offset = _decode_timedelta(data["offset"])
    name = data.get("name")
    return dt.timezone(offset) if name is None else dt.timezone(offset, name)


def _object(value: Any) -> dict[str, Any]:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not lose the run
        text = f"<repr failed: {type(exc).__name__}>"
    text = _ADDRESS.sub("", text)  # a memory address means nothing once stored
    return {"$object": {"object": class_path(type(value)), "repr": text}}


def _encode_numpy_scalar(value: np.generic) -> Any:
    dtype = value.dtype
    if dtype.kind in "Mm":
        return {"$np": [dtype.str, int(np.array(value).view(np.int64))]}
    if dtype.kind in "biufcUS":
        return {"$np": [dtype.str, encode_value(value.item())]}
    return _object(value)


def _encode_array(array: np.ndarray, depth: int) -> Any:
    dtype = array.dtype
    if dtype.kind in "Mm":
        flat = array.view(np.int64).ravel().tolist()
    elif dtype.kind in "biufcUS":
        flat = [encode_value(v) for v in array.ravel().tolist()]
    elif dtype.kind == "O":
        flat = [encode_value(v, depth) for v in array.ravel()]
    else:
        return _object(array)
    return {"$ndarray": [dtype.str, list(array.shape), flat]}


def decode_value(data: Any) -> Any:
    """The value :func:`encode_value` encoded."""
    if isinstance(data, list):
        return [decode_value(v) for v in data]
    if not isinstance(data, dict):
        return data
    ((tag, body),) = data.items()
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise ValueError(f"unknown tag {tag!r} in tagged JSON")
    return decoder(body)


def _decode_dict(body: list) -> dict:
    return {decode_value(k): decode_value(v) for k, v in body}


def _decode_numpy_scalar(body: list) -> Any:
    dtype = np.dtype(body[0])
    if dtype.kind in "Mm":
        return np.array(body[1], dtype=np.int64).view(dtype)[()]
    return np.array(decode_value(body[1]), dtype=dtype)[()]


def _decode_array(body: list) -> np.ndarray:
    dtype, shape, flat = np.dtype(body[0]), tuple(body[1]), body[2]
    if dtype.kind in "Mm":
        return np.array(flat, dtype=np.int64).view(dtype).reshape(shape)
    if dtype.kind == "O":
        return object_array([decode_value(v) for v in flat]).reshape(shape)
    return np.array([decode_value(v) for v in flat], dtype=dtype).reshape(shape)


def _decode_timedelta(body: list) -> dt.timedelta:
    days, seconds, microseconds = body
    return dt.timedelta(days=days, seconds=seconds, microseconds=microseconds)


def _decode_clock(parse: Any) -> Any:
    """The decoder of ``$datetime`` / ``$time`` (also the plain ISO text of
    stores written before time zones were kept by name)."""

    def decode(body: Any) -> Any:
        if isinstance(body, str):
            return parse(body)
        text, zone, fold = body
        value, tzinfo = parse(text), decode_zone(zone)
        if tzinfo is None:
            return value.replace(fold=fold)
        if isinstance(value, dt.datetime) and hasattr(tzinfo, "localize"):
            return value.astimezone(tzinfo)  # pytz: from the instant
        return value.replace(tzinfo=tzinfo, fold=fold)  # the wall time, as it was

    return decode


def _tock(body: list) -> np.generic:
    return np.array(body[1], dtype=np.int64).view(np.dtype(body[0]))[()]


def _decode_timestamp(body: list) -> pd.Timestamp:
    stamp = pd.Timestamp(_tock(body[:2]))  # naive, UTC when it has a zone
    zone = decode_zone(body[2])
    return stamp if zone is None else stamp.tz_localize("UTC").tz_convert(zone)


_DECODERS = {
    "$float": float,
    "$tuple": lambda body: tuple(decode_value(v) for v in body),
    "$dict": _decode_dict,
    "$set": lambda body: {decode_value(v) for v in body},
    "$frozenset": lambda body: frozenset(decode_value(v) for v in body),
    "$complex": lambda body: complex(decode_value(body[0]), decode_value(body[1])),
    "$bytes": lambda body: base64.b64decode(body),
    "$bytearray": lambda body: bytearray(base64.b64decode(body)),
    "$np": _decode_numpy_scalar,
    "$ndarray": _decode_array,
    "$datetime": _decode_clock(dt.datetime.fromisoformat),
    "$date": dt.date.fromisoformat,
    "$time": _decode_clock(dt.time.fromisoformat),
    "$timedelta": _decode_timedelta,
    "$decimal": decimal.Decimal,
    "$timestamp": _decode_timestamp,
    "$pdtimedelta": lambda body: pd.Timedelta(_tock(body)),
    "$nat": lambda _body: pd.NaT,
    "$object": dict,
}


#: The manifest metadata key of the sweep's points, as tagged JSON (the
#: definition keeps descriptions, for comparing sweeps).
POINT_VALUES = "point_values"


def encode_points(points: Any) -> Any:
    """Parameter points (dicts) as tagged JSON: every value comes back as it
    was (:func:`decode_points`), a callable as its description."""
    return [encode_value(dict(point)) for point in points]


def decode_points(data: Any) -> list[dict[str, Any]]:
    """The points :func:`encode_points` encoded."""
    return [decode_value(point) for point in data]


def dumps_tagged(value: Any) -> str:
    """``value`` as tagged JSON text."""
    return json.dumps(
        encode_value(value), allow_nan=False, ensure_ascii=False, separators=(",", ":")
    )


def loads_tagged(text: str) -> Any:
    """The value :func:`dumps_tagged` wrote."""
    return decode_value(json.loads(text))


def object_array(values: list[Any]) -> np.ndarray:
    """A 1-d object array holding ``values`` as they are (lists stay items)."""
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return array


# -- Parquet ------------------------------------------------------------------------
def _native_array(pa: Any, values: np.ndarray) -> Any:
    """``values`` as an Arrow array that reads back identical, or None."""
    kind = values.dtype.kind
    if kind in "biuf":
        return pa.array(values)
    if kind in "Mm":
        try:
            array = pa.array(values)
        except (pa.ArrowException, OverflowError, ValueError, TypeError):
            return None
        return (
            array
            if array.to_numpy(zero_copy_only=False).dtype == values.dtype
            else None
        )
    if kind == "O" and all(type(v) is str for v in values):
        return pa.array(values, type=pa.string())
    return None


def chunk_to_parquet(
    chunk: Mapping[str, Any], metadata: Mapping[bytes, bytes] | None = None
) -> tuple[bytes, int]:
    """A chunk ``{column: values}`` as Parquet file bytes, and its row count.

    Columns Arrow cannot hold exactly (objects, mixed values, ints beyond
    64 bits, complex numbers...) are written as tagged JSON text.
    """
    pa, _ = _pyarrow()
    arrays, names, tagged = [], [], {}
    rows = 0
    for name, values in chunk.items():
        if not isinstance(values, np.ndarray) or values.ndim != 1:
            values = object_array(list(values))
        rows = len(values)
        try:
            array = _native_array(pa, values)
        except (pa.ArrowException, OverflowError, ValueError, TypeError):
            array = None
        if array is None:
            tagged[str(name)] = values.dtype.str
            array = pa.array([dumps_tagged(v) for v in values], type=pa.large_string())
        arrays.append(array)
        names.append(str(name))
    table = pa.Table.from_arrays(arrays, names=names)
    meta = dict(metadata or {})
    meta[TAGGED_KEY] = json.dumps(
        {"encoding": TAGGED_ENCODING, "columns": tagged}
    ).encode()
    return table_to_parquet(table.replace_schema_metadata(meta)), rows


def table_to_parquet(table: Any) -> bytes:
    """An Arrow table as Parquet file bytes (with page checksums)."""
    pa, pq = _pyarrow()
    sink = pa.BufferOutputStream()
    try:
        pq.write_table(table, sink, write_page_checksum=True)
    except TypeError:  # pragma: no cover - pyarrow without page checksums
        pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def parquet_table(data: bytes) -> Any:
    """The Arrow table in Parquet file bytes (page checksums verified)."""
    pa, pq = _pyarrow()
    source = pa.BufferReader(data)
    try:
        return pq.read_table(source, page_checksum_verification=True)
    except TypeError:  # pragma: no cover - pyarrow without page checksums
        return pq.read_table(pa.BufferReader(data))


def table_metadata(table: Any, key: bytes) -> Any:
    """The JSON stored under ``key`` in a table's metadata, or None."""
    raw = (table.schema.metadata or {}).get(key)
    return None if raw is None else json.loads(raw)


def parquet_to_chunk(data: bytes) -> tuple[dict[str, np.ndarray], int]:
    """The chunk :func:`chunk_to_parquet` wrote (or an older store's part)."""
    table = parquet_table(data)
    tagged = (table_metadata(table, TAGGED_KEY) or {}).get("columns", {})
    old_json = set(table_metadata(table, JSON_COLUMNS_KEY) or [])
    chunk: dict[str, np.ndarray] = {}
    for name in table.column_names:
        column = table.column(name)
        if name in tagged:
            values = [loads_tagged(v) for v in column.to_pylist()]
            dtype = np.dtype(tagged[name])
            chunk[name] = (
                object_array(values) if dtype.kind == "O" else np.array(values, dtype)
            )
        elif name in old_json:
            chunk[name] = object_array([json.loads(v) for v in column.to_pylist()])
        else:
            chunk[name] = column.to_numpy()
    return chunk, table.num_rows
