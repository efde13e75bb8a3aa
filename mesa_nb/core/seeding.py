"""Reproducible per-run seeds derived from one master seed."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


def fresh_master_seed() -> int:
    """A new 128-bit master seed from the OS's entropy (recorded, so re-usable)."""
    return int(np.random.SeedSequence().entropy)


def derive_seed(master: int, run_id: int) -> int:
    """The seed of run ``run_id``: independent of the sweep's size and order.

    Uses numpy's ``SeedSequence`` with the run id as spawn key, and returns a
    non-negative 63-bit int (fits a pandas int64 column, accepted by both
    ``random.Random`` and ``numpy.random.default_rng``).
    """
    words = np.random.SeedSequence(master, spawn_key=(run_id,)).generate_state(
        2, np.uint32
    )
    return (int(words[0]) << 31) ^ int(words[1])


def point_seed(master: int, point_key: int, iteration: int) -> int:
    """The seed of replicate ``iteration`` of the point whose key is
    ``point_key`` (:func:`mesa_nb.core.plan.point_keys`): it depends on what
    the run is, not on where it stands in the sweep, so a sweep that grows
    (more values, more iterations) keeps the seeds of the runs it had, and
    equals a fresh sweep of the larger definition run by run."""
    words = np.random.SeedSequence(
        master, spawn_key=(2, point_key, iteration)
    ).generate_state(2, np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def sampling_rng(seed: Any) -> np.random.Generator:
    """The generator callable parameters draw from, distinct from the model's.

    ``seed=None`` (an unseeded run asked for by ``rng=[None, ...]``) gives a
    fresh generator.
    """
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, int | np.integer):
        return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(1,)))
    digest = hashlib.sha256(repr(seed).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))
