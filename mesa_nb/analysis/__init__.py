"""Statistics and plots over a sweep's tables (matplotlib and scipy load lazily).

Importing this package gives every :class:`~mesa_nb.SweepResult` its
``.plot`` accessor and its ``.stats()``, ``.sensitivity()`` and ``.discover()``
methods.
"""

from ..core.result import register_extension
from .discovery import discover
from .plots import PlotAccessor
from .sensitivity import sensitivity
from .stats import replicate_stats

register_extension("plot", PlotAccessor)
register_extension("stats", replicate_stats)
register_extension("sensitivity", sensitivity)
register_extension("discover", discover)

__all__ = ["PlotAccessor", "discover", "replicate_stats", "sensitivity"]
