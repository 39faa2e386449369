"""What every target offers the lifecycle, verify and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class StatusRow:
    component: str
    state: str
    detail: str = ""


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
