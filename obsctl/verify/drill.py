"""What every fire drill shares: waiting for a condition with a deadline, and steps that
share state (they run in order, each reported as its own check, and after a failure the
rest are skipped, except the steps that put the platform back)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from obsctl.errors import ObsctlError
from obsctl.verify import Check, CheckFailed, CheckSkipped


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float) -> float:
    """Seconds until `probe()` is truthy. At the deadline: CheckFailed naming `what` and the
    last error the probe raised, if any (a component restarting mid-drill is not yet a failure)."""
    started = time.monotonic()
    deadline = started + timeout
    last = ""
    while True:
        try:
            if probe():
                return time.monotonic() - started
        except ObsctlError as exc:
            last = f" (last error: {exc.message})"
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what}: not seen within {timeout:.0f}s{last}")
        time.sleep(interval)


class Steps:
    """The steps of one drill, for one alert."""

    def __init__(self, alert: str) -> None:
        self.alert = alert
        self.failed: str | None = None

    def step(self, name: str, fn: Callable[[], str], always: bool = False) -> Check:
        """A check that runs `fn` unless an earlier step failed; `always` steps (restoring the
        platform) run regardless."""

        def run() -> str:
            if self.failed and not always:
                raise CheckSkipped(f"an earlier step failed: {self.failed}")
            try:
                return fn()
            except (CheckFailed, ObsctlError) as exc:
                self.failed = self.failed or name
                raise CheckFailed(str(exc)) from None

        return Check(f"drill {self.alert}: {name}", run, "fire-drill")
