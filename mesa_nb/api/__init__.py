"""The public functions: :func:`sweep`, :func:`batch_run`, :func:`load_store`.

They wire the core to a backend and a store; :mod:`.progress` turns the core's
progress callback into a text (or ``tqdm.auto``) bar.
"""

from .compat import batch_run
from .engine import load_store, plan, run_plan, sweep

__all__ = ["batch_run", "load_store", "plan", "run_plan", "sweep"]
