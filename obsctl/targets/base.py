"""What every target offers the lifecycle, verify and the CLI."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from obsctl.config import Environment


@dataclass(frozen=True)
class Stage:
    """One named, timed step of `up` or `down`. `run` returns a short detail for the journal;
    it must be safe to repeat: read the state first, act only on the difference.

    `changes` is False for stages that only look (preflight, render, a chart fetched into the
    local cache): a failure before the first changing stage exits 2, "nothing was changed";
    a failure from the first changing stage on exits 1 with how to converge."""

    name: str
    run: Callable[[], str]
    changes: bool = True


class Health(StrEnum):
    """What a status row means, in one vocabulary for every target. The state beside it stays
    the system's own word (supervisord's RUNNING, a namespace's Active, Helm's deployed, EKS's
    ACTIVE), so only the target that knows that word can say whether it is healthy."""

    ok = "ok"  # running, ready, applied: as it should be
    waiting = "waiting"  # on its way (starting, rolling out, terminating)
    off = "off"  # not there or not running, by design or not yet (stopped, absent, skipped)
    failed = "failed"  # broken (FATAL, a failed release, the wrong kube context)
    unknown = "unknown"  # could not be asked


@dataclass(frozen=True)
class StatusRow:
    component: str
    state: str
    detail: str = ""
    health: Health = Health.unknown


@dataclass
class LogOutput:
    """Where `obsctl logs` sends what it reads: `emit(source, line)` for each line (source: the
    program, replica or Pod it came from), `error(message)` for a source that could not be read
    while the others go on, and `stop`, set to end a follow (Ctrl-C)."""

    emit: Callable[[str, str], None]
    error: Callable[[str], None]
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class Rendered:
    """What `render` wrote: every file, and which of them changed."""

    files: list[Path] = field(default_factory=list)
    changed: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Target(Protocol):
    env: Environment

    def render(self) -> Rendered: ...

    def up_stages(self) -> list[Stage]: ...

    def down_stages(self, purge: bool) -> list[Stage]: ...

    def status(self) -> list[StatusRow]: ...

    def endpoints(self) -> dict[str, str]: ...

    def survivors(self, since: float, phase: str) -> list[str]: ...
