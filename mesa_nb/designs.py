"""Sampling designs for sweeps: Latin hypercube, Sobol (Saltelli), Morris, QMC.

``sweep(Model, designs.sobol({"x": between(0, 1), "k": integers(1, 5)}, 512))``
runs every point of the design; ``result.sensitivity("Y")`` analyses it. In a
notebook, ``%%batchrun Model --design sobol --samples 512`` with
``x = between(0, 1)`` lines in the cell does the same.
"""

from .core.designs import (
    DESIGNS,
    Design,
    Range,
    between,
    halton,
    integers,
    lhs,
    make_design,
    morris,
    one_of,
    sobol,
    sobol_sequence,
)

__all__ = [
    "DESIGNS",
    "Design",
    "Range",
    "between",
    "halton",
    "integers",
    "lhs",
    "make_design",
    "morris",
    "one_of",
    "sobol",
    "sobol_sequence",
]
