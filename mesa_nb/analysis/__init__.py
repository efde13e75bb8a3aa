"""Statistics and plots over a sweep's tables (matplotlib and scipy load lazily).

Importing this package gives every :class:`~mesa_nb.SweepResult` its
``.plot`` accessor and ``.stats()`` method.
"""

from ..core.result import register_extension
from .plots import PlotAccessor
from .sensitivity import sensitivity
from .stats import replicate_stats

register_extension("plot", PlotAccessor)
register_extension("stats", replicate_stats)
register_extension("sensitivity", sensitivity)

__all__ = ["PlotAccessor", "replicate_stats", "sensitivity"]
