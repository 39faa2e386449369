"""One lock per environment: `up`, `down`, `rebuild-test` and fire drills never overlap.

Without it `up` racing `down` waits half a minute on a Prometheus that is gone, and two `up`s
at once both start supervisord. The lock is an exclusive `flock` on `<state dir>/lock`: the
kernel drops it when its holder dies, so a crashed run never leaves a stale lock behind. The
holder writes its pid and command line into the file so a refused command can say who holds it.
It is re-entrant within one process (rebuild-test runs down and up under its own lock).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from obsctl import statedir
from obsctl.errors import PreflightError
from obsctl.tools import procs

WAIT = 5.0  # seconds a second command waits for the first before refusing

_held: dict[str, int] = {}  # lock path -> depth, for this process


class LockHeld(PreflightError):
    """Another obsctl command is changing this environment: nothing was done (exit 2)."""


@contextmanager
def hold(state_dir: Path, env_name: str, wait: float = WAIT) -> Iterator[None]:
    """Hold the environment's lock for the duration of the block; wait up to `wait` seconds
    for another holder, then refuse with its pid and command line."""
    path = state_dir / "lock"
    key = str(path)
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:  # a stray file where the state dir should be, no permission ...
        raise statedir.problem(state_dir, exc) from None
    try:
        _acquire(fd, path, env_name, wait)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {procs.cmdline(os.getpid())}\n".encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, env_name: str, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockHeld(
                    f"environment {env_name} is busy: {holder(path)} holds {path} (waited {wait:.0f}s)",
                    "wait until that command finishes (or stop it), then run this one again",
                ) from None
            time.sleep(0.1)


def holder(path: Path) -> str:
    """Who holds the lock, as its holder wrote it: `pid N (command line)`."""
    try:
        pid, _, command = path.read_text(encoding="utf-8", errors="replace").strip().partition(" ")
        return f"pid {int(pid)} ({command[:100]})"
    except (OSError, ValueError):
        return "another obsctl command"
