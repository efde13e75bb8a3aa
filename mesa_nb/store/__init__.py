"""The results store: a directory of Parquet parts that grows as runs finish.

:class:`RunStore` writes and reads it, a thin facade over small parts
(:mod:`.names`, :mod:`.lock`, :mod:`.atomic`, :mod:`.opening`,
:mod:`.writer`, :mod:`.crash_notes`, :mod:`.reader`, :mod:`.compaction`);
:mod:`.manifest` describes the sweep it holds; :mod:`.encoding` turns values
and tables into JSON and Parquet.
"""

from ..core.errors import StoreError
from .runstore import RunStore

__all__ = ["RunStore", "StoreError"]
