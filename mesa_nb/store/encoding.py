"""How values and tables are written: JSON descriptions and Parquet files.

Parquet via pyarrow (never pickle); a column pyarrow cannot type is written
as JSON text and listed in the file's metadata, so it reads back.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.parameters import Sampler

JSON_COLUMNS_KEY = b"mesa_nb_json_columns"


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "A results store needs pyarrow: pip install 'mesa_nb[parquet]'"
        ) from None
    return pa, pq


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Sampler):
        return describe_callable(value.function)
    if isinstance(value, type):
        return {"class": f"{value.__module__}.{value.__qualname__}"}
    if callable(value):
        return describe_callable(value)
    return {"repr": repr(value)}


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


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    pa, pq = _pyarrow()
    json_columns = []
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        frame = frame.copy()
        for column in frame.columns:
            try:
                pa.array(frame[column])
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                frame[column] = [
                    json.dumps(v, default=json_default) for v in frame[column]
                ]
                json_columns.append(str(column))
        table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[JSON_COLUMNS_KEY] = json.dumps(json_columns).encode()
    table = table.replace_schema_metadata(metadata)
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_parquet(path: Path) -> pd.DataFrame:
    _, pq = _pyarrow()
    table = pq.read_table(path)
    frame = table.to_pandas()
    raw = (table.schema.metadata or {}).get(JSON_COLUMNS_KEY)
    for column in json.loads(raw) if raw else []:
        frame[column] = [json.loads(v) for v in frame[column]]
    return frame
