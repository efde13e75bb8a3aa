"""The package version, and the versions recorded with every sweep."""

from __future__ import annotations

import platform
import sys

import pandas as pd

from . import mesa_adapter

__version__ = "0.1.0"


def versions() -> dict[str, str]:
    """Python, Mesa and mesa_nb versions, as recorded with every sweep."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "mesa": mesa_adapter.MESA_VERSION,
        "mesa_nb": __version__,
        "pandas": pd.__version__,
    }
