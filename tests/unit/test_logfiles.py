"""Reading and following log files as supervisord writes and rotates them (obsctl/tools/logfiles.py)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from obsctl.tools import logfiles
from obsctl.tools.logfiles import LogSource


def _follow(sources: list[LogSource], **kw: object) -> tuple[list[tuple[str, str]], threading.Event, threading.Thread]:
    got: list[tuple[str, str]] = []
    stop = threading.Event()
    t = threading.Thread(
        target=logfiles.follow,
        args=(sources, lambda s, line: got.append((s, line)), stop),
        kwargs={"poll": 0.02, **kw},
        daemon=True,
    )
    t.start()
    return got, stop, t


def _wait(got: list[tuple[str, str]], n: int) -> None:
    deadline = time.monotonic() + 5
    while len(got) < n:
        assert time.monotonic() < deadline, got
        time.sleep(0.01)


def test_line_time_reads_the_stamps_the_platform_writes() -> None:
    prom = "ts=2026-01-02T03:04:05.678Z caller=main.go:585 level=info msg=Starting"
    assert logfiles.line_time(prom) == 1767323045.678
    grafana = 'logger=server t=2026-01-02T03:04:05.678901234Z level=info msg="HTTP Server Listen"'
    assert abs(logfiles.line_time(grafana) - 1767323045.678901) < 1e-5  # type: ignore[operator]
    sup = "2026-01-02 03:04:05,678 INFO spawned: 'prometheus' with pid 4"
    assert logfiles.line_time(sup) == time.mktime((2026, 1, 2, 3, 4, 5, 0, 0, -1)) + 0.678
    assert logfiles.line_time("INFO:     Application startup complete.") is None


def test_read_takes_rotated_files_first_then_tail_then_since(tmp_path: Path) -> None:
    now = time.time()

    def stamp(t: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

    (tmp_path / "p.log.1").write_text(f"ts={stamp(now - 3600)} msg=old\nunstamped after old\n")
    (tmp_path / "p.log").write_text(f"ts={stamp(now - 30)} msg=recent\nunstamped after recent\npartial")
    src = [LogSource("p", tmp_path / "p.log")]
    assert [line for _, line in logfiles.read(src)] == [
        f"ts={stamp(now - 3600)} msg=old",
        "unstamped after old",
        f"ts={stamp(now - 30)} msg=recent",
        "unstamped after recent",
    ]
    assert [line for _, line in logfiles.read(src, tail=1)] == ["unstamped after recent"]
    since = [line for _, line in logfiles.read(src, since=now - 600)]
    assert since == [f"ts={stamp(now - 30)} msg=recent", "unstamped after recent"]
    assert list(logfiles.read(src, tail=3, since=now - 10)) == []  # tail first, then since
    assert list(logfiles.read(src, tail=0)) == []


def test_a_file_without_stamps_counts_as_written_at_its_mtime(tmp_path: Path) -> None:
    path = tmp_path / "app-0.log"
    path.write_text("INFO: started\nINFO: ready\n")
    os.utime(path, (time.time() - 7200, time.time() - 7200))
    src = [LogSource("app-0", path)]
    assert list(logfiles.read(src, since=time.time() - 600)) == []
    assert len(list(logfiles.read(src, since=time.time() - 10000))) == 2


def test_follow_survives_rotation_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "p.log"
    path.write_text("one\ntwo\n")
    got, stop, t = _follow([LogSource("p", path)], tail=1)
    try:
        _wait(got, 1)
        assert got == [("p", "two")]
        with path.open("a") as fh:
            fh.write("three\nhalf")
        _wait(got, 2)
        with path.open("a") as fh:
            fh.write(" done\nlast before rotation\n")
        path.rename(tmp_path / "p.log.1")  # supervisord's rotation: rename, then a new file
        time.sleep(0.1)
        path.write_text("after rotation\n")
        _wait(got, 5)
        path.write_text("")  # truncated in place (copytruncate)
        time.sleep(0.1)
        with path.open("a") as fh:
            fh.write("after truncation\n")
        _wait(got, 6)
    finally:
        stop.set()
        t.join(5)
    assert [line for _, line in got] == [
        "two",
        "three",
        "half done",
        "last before rotation",
        "after rotation",
        "after truncation",
    ]


def test_follow_several_files_and_one_that_appears_later(tmp_path: Path) -> None:
    a, b = tmp_path / "app-0.log", tmp_path / "app-1.log"
    a.write_text("a0\n")
    got, stop, t = _follow([LogSource("app-0", a), LogSource("app-1", b)])
    try:
        _wait(got, 1)
        b.write_text("b0\n")
        with a.open("a") as fh:
            fh.write("a1\n")
        _wait(got, 3)
    finally:
        stop.set()
        t.join(5)
    assert sorted(got) == [("app-0", "a0"), ("app-0", "a1"), ("app-1", "b0")]
