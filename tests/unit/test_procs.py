"""procs.started: when a process started, which rebuild-test uses to prove that every process
after `up` is new (the same test Kubernetes namespaces get, by creation time)."""

from __future__ import annotations

import subprocess
import time

from obsctl.tools import procs


def test_started_is_when_the_process_started() -> None:
    before = time.time()
    child = subprocess.Popen(["sleep", "30"])
    try:
        started = procs.started(child.pid)
        assert started is not None
        assert before - 1 <= started <= time.time() + 0.05  # boot time in /proc/stat is whole seconds
        assert procs.started(1) is not None and procs.started(1) < before  # PID 1 was there first
    finally:
        child.kill()
        child.wait()
    assert procs.started(child.pid) is None
