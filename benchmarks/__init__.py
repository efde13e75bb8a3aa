"""Benchmarks of mesa_nb against a plain loop and ``mesa.batch_run``.

Run from the repository root: ``python -m benchmarks.run`` (see README.md).
"""
