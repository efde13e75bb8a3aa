"""The results store: a directory of Parquet parts that grows as runs finish.

:class:`RunStore` writes and reads it; :mod:`.manifest` describes the sweep it
holds; :mod:`.encoding` turns values and tables into JSON and Parquet.
"""

from ..core.errors import StoreError
from .runstore import RunStore

__all__ = ["RunStore", "StoreError"]
