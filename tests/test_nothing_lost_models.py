"""A slow model importable by name, shared by a driver script and the tests."""

from __future__ import annotations

import time

from models import Money


class SlowMoney(Money):
    """Money, 10 ms per step."""

    def step(self) -> None:
        time.sleep(0.01)
        super().step()
