"""What every fire drill shares: waiting for a condition with a deadline, and steps that
share state (they run in order, each reported as its own check, and after a failure the
rest are skipped, except the steps that put the platform back).

A drill breaks the platform on purpose. What it broke is registered (`Steps.provoked`) until
the step that puts it back has run, so an interruption (Ctrl-C, SIGTERM) in between can still
undo it: `lifecycle.verify` calls `Drill.undo()` and says what it undid (`Interrupted`)."""

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


class Interrupted(ObsctlError):
    """The user (Ctrl-C) or the system (SIGTERM) stopped a drill; the message says what was undone."""

    exit_code = 130


class Steps:
    """The steps of one drill, for one alert."""

    def __init__(self, alert: str) -> None:
        self.alert = alert
        self.failed: str | None = None
        self.running: str | None = None  # the step in progress, for an interruption's message
        self._undo: tuple[str, Callable[[], object]] | None = None

    def provoked(self, undo_says: str, undo: Callable[[], object]) -> None:
        """The platform is now broken on purpose; `undo` puts it back (`undo_says` what it did)."""
        self._undo = (undo_says, undo)

    def recovered(self) -> None:
        """The drill's own recovery has put the platform back: nothing left to undo."""
        self._undo = None

    def undo(self) -> str | None:
        """Put back what the drill broke, if it is still broken; returns what was undone."""
        if self._undo is None:
            return None
        says, fn = self._undo
        self._undo = None
        fn()
        return says

    def drill(self, checks: list[Check]) -> Drill:
        return Drill(checks, self)

    def step(self, name: str, fn: Callable[[], str], always: bool = False) -> Check:
        """A check that runs `fn` unless an earlier step failed; `always` steps (restoring the
        platform) run regardless."""

        def run() -> str:
            if self.failed and not always:
                raise CheckSkipped(f"an earlier step failed: {self.failed}")
            self.running = name
            try:
                return fn()
            except (CheckFailed, ObsctlError) as exc:
                self.failed = self.failed or name
                raise CheckFailed(str(exc)) from None

        return Check(f"drill {self.alert}: {name}", run, "fire-drill")


class Drill(list[Check]):
    """A drill's checks, in order, with what can undo the drill when it is interrupted."""

    def __init__(self, checks: list[Check], steps: Steps) -> None:
        super().__init__(checks)
        self.steps = steps

    def interrupted(self, why: str) -> Interrupted:
        """Undo what the drill broke; the error to raise, saying where it stopped and what was undone."""
        where = f"drill {self.steps.alert}" + (f" at '{self.steps.running}'" if self.steps.running else "")
        try:
            undone = self.steps.undo()
        except (ObsctlError, OSError) as exc:
            return Interrupted(
                f"{why} during {where}; could not undo it: {exc}",
                "`obsctl up` starts what the drill stopped",
            )
        said = f"undone: {undone}" if undone else "nothing to undo"
        return Interrupted(f"{why} during {where}; {said}")
