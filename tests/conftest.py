"""Shared fixtures: execution modes every core test runs under."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell


@pytest.fixture(params=[1, 2], ids=["in-process", "2-processes"])
def processes(request: pytest.FixtureRequest) -> int:
    """Run the test once in-process and once on 2 worker processes."""
    return request.param


class RaisingShell(InteractiveShell):
    """A shell whose run_cell re-raises what the cell raised (as jupysql's)."""

    def run_cell(self, *args, **kwargs):
        result = super().run_cell(*args, **kwargs)
        result.raise_error()
        return result


@pytest.fixture(scope="session")
def ipython() -> RaisingShell:
    """The one real IPython shell of the test session, with mesa_nb loaded."""
    shell = RaisingShell.instance()
    shell.run_line_magic("load_ext", "mesa_nb")
    return shell


@pytest.fixture(scope="session", autouse=True)
def no_workers_left_behind():
    """The suite ends with the shared worker pool shut down: no worker
    process outlives the test run."""
    yield
    from mesa_nb.backends import shutdown_workers

    shutdown_workers()
