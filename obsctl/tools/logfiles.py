"""Reading and following the log files supervisord writes (the local target's `obsctl logs`).

supervisord rotates a program's log by renaming `name.log` to `name.log.1` (and so on) and
opening a new `name.log`, so reading takes the rotated files first, and following works like
`tail -F`: a file replaced under the same name (another inode) or truncated is read again from
its start, after what was left in the old one.

`tail` and `since` mean what they mean for Pod logs (the kubelet's order): the last `tail`
lines, then of those only the ones written at or after `since`. A line's time is its own
timestamp where it has one (Prometheus and Alertmanager `ts=`, Grafana `t=`, supervisord's
leading date); a line without one (uvicorn's output) goes with the stamped line before it, and
a file with no stamp at all counts as written when it was last modified.

Nothing here prints: lines go to an `emit(source, line)` callback.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

Emit = Callable[[str, str], None]

_LOGFMT_TS = re.compile(r'(?:^|\s)(?:ts|t|time)="?(\d{4}-\d{2}-\d{2}T[^\s"]+)')
_LEADING_TS = re.compile(r"^\[?(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")


@dataclass(frozen=True)
class LogSource:
    """One log file and the name its lines are prefixed with."""

    name: str
    path: Path

    def rotated(self) -> list[Path]:
        """The rotated files, oldest first (name.log.2 before name.log.1)."""
        found = []
        n = 1
        while (p := self.path.with_name(f"{self.path.name}.{n}")).is_file():
            found.append(p)
            n += 1
        return found[::-1]


def line_time(line: str) -> float | None:
    """The epoch seconds a line carries, or None. A naive time is local (supervisord's)."""
    m = _LOGFMT_TS.search(line) or _LEADING_TS.match(line)
    if not m:
        return None
    text = m.group(1).replace(",", ".")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _select(lines: list[str], fallback: float, tail: int | None, since: float | None) -> list[str]:
    """The last `tail` lines, then those of them at or after `since` (epoch seconds)."""
    if since is not None:
        times: list[float | None] = []
        last: float | None = None
        for line in lines:
            last = line_time(line) or last
            times.append(last)
        if all(t is None for t in times):
            times = [fallback] * len(lines)
    if tail is not None:
        start = max(0, len(lines) - tail)
        lines = lines[start:]
        if since is not None:
            times = times[start:]
    if since is None:
        return lines
    return [line for line, t in zip(lines, times, strict=True) if t is not None and t >= since]


def _split(data: bytes) -> tuple[list[str], bytes]:
    """Complete lines (decoded) and the unterminated rest."""
    *done, rest = data.split(b"\n")
    return [d.decode("utf-8", errors="replace").rstrip("\r") for d in done], rest


class _Follower:
    """`tail -F` of one file: keeps its file open, notices rotation and truncation."""

    def __init__(self, source: LogSource) -> None:
        self.source = source
        self.fh: BinaryIO | None = None
        self.ino: int | None = None
        self.partial = b""

    def _open(self) -> bool:
        try:
            fh = self.source.path.open("rb")
        except OSError:
            return False
        self.fh, self.ino = fh, os.fstat(fh.fileno()).st_ino
        return True

    def initial(self, tail: int | None, since: float | None) -> list[str]:
        """What is there now (rotated files, then the current one), selected; the file stays
        open at its end, so nothing written meanwhile is lost."""
        data = b"".join(p.read_bytes() for p in self.source.rotated() if _readable(p))
        mtime = 0.0
        if self._open() and self.fh is not None:
            data += self.fh.read()
            mtime = os.fstat(self.fh.fileno()).st_mtime
        lines, self.partial = _split(data)
        return _select(lines, mtime, tail, since)

    def poll(self) -> list[str]:
        """Lines written since the last poll, across a rotation or a truncation."""
        if self.fh is None and not self._open():
            return []
        assert self.fh is not None
        out = self._read()
        try:
            st = self.source.path.stat()
        except OSError:
            return out  # rotated and not re-created yet: keep the old file until it is
        if st.st_ino != self.ino:  # replaced: the rest of the old file, then the new one from 0
            out += self._read()
            if self.partial:
                out.append(self.partial.decode("utf-8", errors="replace"))
                self.partial = b""
            self.fh.close()
            self.fh = None
            if self._open():
                out += self._read()
        elif st.st_size < self.fh.tell():  # truncated in place
            self.fh.seek(0)
            self.partial = b""
            out += self._read()
        return out

    def _read(self) -> list[str]:
        if self.fh is None:
            return []
        data = self.fh.read()
        if not data:
            return []
        lines, self.partial = _split(self.partial + data)
        return lines

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def _readable(p: Path) -> bool:
    return os.access(p, os.R_OK)


def read(sources: list[LogSource], tail: int | None = None, since: float | None = None) -> Iterator[tuple[str, str]]:
    """(source name, line) for what each file holds now, source after source."""
    for src in sources:
        f = _Follower(src)
        try:
            for line in f.initial(tail, since):
                yield src.name, line
        finally:
            f.close()


def follow(
    sources: list[LogSource],
    emit: Emit,
    stop: threading.Event,
    tail: int | None = None,
    since: float | None = None,
    poll: float = 0.2,
) -> None:
    """Emit what each file holds now (selected), then every line written after, until `stop`."""
    followers = [_Follower(s) for s in sources]
    try:
        for f in followers:
            for line in f.initial(tail, since):
                emit(f.source.name, line)
        while not stop.is_set():
            for f in followers:
                for line in f.poll():
                    emit(f.source.name, line)
            stop.wait(poll)
    finally:
        for f in followers:
            f.close()


def since_cutoff(seconds: float | None) -> float | None:
    """`--since 10m` as an epoch cutoff."""
    return None if seconds is None else time.time() - seconds
