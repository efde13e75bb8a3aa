"""The public functions: :func:`sweep`, :func:`batch_run`, :func:`load_store`.

They wire the core to a backend and a store; :mod:`.progress` turns the core's
progress callback into a text (or ``tqdm.auto``) bar.
"""

from ..core.result import register_extension
from .compat import batch_run
from .engine import compact, load_store, run_plan
from .experiment import save_result_experiment
from .session import plan, sweep

register_extension("save_experiment", save_result_experiment)

__all__ = ["batch_run", "compact", "load_store", "plan", "run_plan", "sweep"]
