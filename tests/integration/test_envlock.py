"""One lock per environment, through the real CLI: a command that changes the environment
waits briefly for another holding it, then refuses (exit 2) naming the holder's pid and command."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from obsctl.tools import envlock
from tests.conftest import free_port_block, local_config, make_project
from tests.integration.test_local_faults import obsctl

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("args", [["up"], ["down"], ["verify", "--fire-drill"], ["rebuild-test"]])
def test_second_command_refused_with_the_holder(tmp_path: Path, args: list[str]) -> None:
    config = make_project(tmp_path, local_config(free_port_block(14)))
    state = tmp_path / ".obsctl" / "local"
    with envlock.hold(state, "local"):
        started = time.monotonic()
        res = obsctl(config, *args)
        waited = time.monotonic() - started
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("error: environment local is busy: pid "), lines
    assert f"pid {os.getpid()} (" in lines[0] and "pytest" in lines[0], lines  # who holds it, and running what
    assert lines[1].startswith("hint: "), lines
    assert waited >= envlock.WAIT, "refused without waiting"
    assert not (state / "run").exists(), "a refused command started something"


def test_waits_for_a_short_holder(tmp_path: Path) -> None:
    config = make_project(tmp_path, local_config(free_port_block(14)))
    state = tmp_path / ".obsctl" / "local"
    taken, release = threading.Event(), threading.Event()

    def holder() -> None:
        with envlock.hold(state, "local"):
            taken.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    taken.wait(5)
    threading.Timer(1.0, release.set).start()
    res = obsctl(config, "down")
    thread.join()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "was not running" in res.stdout


def test_reentrant_and_released(tmp_path: Path) -> None:
    with envlock.hold(tmp_path, "x"), envlock.hold(tmp_path, "x"):
        assert str(os.getpid()) in (tmp_path / "lock").read_text()
    with envlock.hold(tmp_path, "x", wait=0):  # released: taken again at once
        pass


def test_two_ups_at_once_start_one_supervisord(tmp_path: Path) -> None:
    """Two real `obsctl up` racing: one brings the platform up; the other either waits and finds
    it up, or refuses naming the first. Never a second supervisord, never "failed to start"."""
    import subprocess
    import sys

    from obsctl.tools import procs
    from tests.integration.test_local_faults import supervisords

    config = make_project(tmp_path, local_config(free_port_block(14)))
    state = tmp_path / ".obsctl" / "local"
    env = {k: v for k, v in os.environ.items() if k not in ("OBSCTL_ENV", "OBSCTL_CONFIG")}
    cmd = [sys.executable, "-m", "obsctl", "up", "--config", str(config)]
    try:
        runs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in "ab"]
        outs = [run.communicate(timeout=180) for run in runs]
        codes = sorted(run.returncode for run in runs)
        assert codes in ([0, 0], [0, 2]), outs
        for run, (out, err) in zip(runs, outs, strict=True):
            if run.returncode == 2:
                other = next(r for r in runs if r is not run)
                assert f"environment local is busy: pid {other.pid} (" in err, err
            assert "failed to start" not in out + err
        assert len(supervisords(state)) == 1
    finally:
        procs.kill_all([pid for pid, _ in procs.marked(state)] + supervisords(state))
