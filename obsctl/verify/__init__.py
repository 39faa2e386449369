"""The verification checklist: independent checks, a concurrent runner, and reports.

A check is a name and a function. The function returns a short detail when the check
passes, raises CheckFailed (or any ObsctlError) when it fails and CheckSkipped when it
cannot apply here; the runner turns every outcome, even an unexpected exception, into a
Result, so one broken check never hides the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Literal

from obsctl.errors import ObsctlError

Status = Literal["pass", "fail", "skip"]


class CheckFailed(Exception):
    """The check ran and the platform is not as it should be; the message says how."""


class CheckSkipped(Exception):
    """The check does not apply here (say why)."""


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], str]
    group: str = "platform"


@dataclass(frozen=True)
class Result:
    name: str
    group: str
    status: Status
    detail: str
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def run_one(check: Check) -> Result:
    started = time.monotonic()
    status: Status
    try:
        detail, status = check.run(), "pass"
    except CheckFailed as exc:
        detail, status = str(exc), "fail"
    except CheckSkipped as exc:
        detail, status = str(exc), "skip"
    except ObsctlError as exc:
        detail, status = exc.message, "fail"
    except Exception as exc:  # a bug in a check is still a failed check, not a crash
        detail, status = f"check crashed: {exc.__class__.__name__}: {exc}", "fail"
    return Result(check.name, check.group, status, detail, round(time.monotonic() - started, 3))


def run_checks(
    checks: list[Check], concurrent: bool = True, on_result: Callable[[Result], None] | None = None
) -> list[Result]:
    """Run checks (concurrently unless told otherwise); results come back in check order."""
    if not concurrent:
        results = []
        for check in checks:
            results.append(run_one(check))
            if on_result:
                on_result(results[-1])
        return results
    with ThreadPoolExecutor(max_workers=min(8, max(1, len(checks)))) as pool:
        futures = [pool.submit(run_one, c) for c in checks]
        results = []
        for fut in futures:
            results.append(fut.result())
            if on_result:
                on_result(results[-1])
        return results


def eventually(probe: Callable[[], str], timeout: float, interval: float = 0.25) -> str:
    """Retry `probe` until it passes or `timeout` seconds pass; then fail with its last word.
    For conditions that converge (a first scrape, an alert going pending), never for masking:
    only CheckFailed is retried; a component that does not answer fails at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return probe()
        except CheckFailed as exc:
            if time.monotonic() >= deadline:
                raise CheckFailed(f"{exc} (still so after {timeout:.0f}s)") from None
        time.sleep(interval)


def passed(results: list[Result]) -> bool:
    """The verdict of a run: no check failed (a skipped one does not fail it)."""
    return all(r.status != "fail" for r in results)
