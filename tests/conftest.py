"""Shared fixtures: execution modes every core test runs under."""

from __future__ import annotations

import pytest


@pytest.fixture(params=[1, 2], ids=["in-process", "2-processes"])
def processes(request: pytest.FixtureRequest) -> int:
    """Run the test once in-process and once on 2 worker processes."""
    return request.param
