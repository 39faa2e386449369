"""`obsctl logs` on the local target, for real: the platform up under supervisord, the CLI in a
subprocess reading its log files; and following a file that the real supervisord rotates."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from obsctl import config
from obsctl.targets.base import Health
from obsctl.targets.local import LocalTarget
from obsctl.tools import logfiles, procs
from obsctl.tools.logfiles import LogSource
from obsctl.tools.supervisor import Supervisor
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def obsctl(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OBSCTL_ENV", "OBSCTL_CONFIG")}
    env.update(COLUMNS="200", PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "obsctl", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def platform(local_project: Path) -> Iterator[Path]:
    res = obsctl("up", cwd=local_project.parent, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    yield local_project.parent
    obsctl("down", cwd=local_project.parent)


def test_logs_on_the_local_platform(platform: Path) -> None:
    before = obsctl("logs", "nope", cwd=platform)
    assert before.returncode == 2
    assert before.stderr.splitlines()[0] == "error: unknown component 'nope' for the local target"
    assert before.stderr.splitlines()[1].startswith("hint: use one of: app, prometheus, alertmanager, grafana, sink")
    assert "supervisord" in before.stderr

    app = obsctl("logs", "app", "--tail", "2", cwd=platform)
    assert app.returncode == 0, app.stderr
    lines = app.stdout.splitlines()
    assert len(lines) == 4, lines  # two lines of each replica, each prefixed
    assert [line.split(" ", 1)[0] for line in lines] == ["[app-0]", "[app-0]", "[app-1]", "[app-1]"]

    prom = obsctl("logs", "prometheus", "--since", "5m", cwd=platform)
    assert prom.returncode == 0, prom.stderr
    assert any("Server is ready to receive web requests" in line for line in prom.stdout.splitlines())
    assert all(line.startswith("[prometheus] ") for line in prom.stdout.splitlines())
    old = obsctl("logs", "prometheus", "--since", "1s", cwd=platform)
    assert len(old.stdout.splitlines()) < len(prom.stdout.splitlines())

    sup = obsctl("logs", "supervisord", cwd=platform)
    assert "spawned: 'prometheus'" in sup.stdout

    # follow: supervisord's log gets a line when a replica is stopped and started again
    env = {k: v for k, v in os.environ.items() if k not in ("OBSCTL_ENV", "OBSCTL_CONFIG")}
    follower = subprocess.Popen(
        [sys.executable, "-m", "obsctl", "logs", "supervisord", "--follow", "--tail", "0"],
        cwd=platform,
        env={**env, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)  # the follower is reading from the end
        target = LocalTarget(config.load(str(platform / "obsctl.yaml"), "local"))
        rows = target.status()  # `obsctl status` colours these green: healthy in the shared vocabulary
        assert all(r.health == Health.ok for r in rows if r.state != "skipped"), rows
        target.supervisor.stop_process("app:app-1")
        target.supervisor.start_process("app:app-1")
        seen: list[str] = []

        def read() -> None:
            assert follower.stdout is not None
            for line in follower.stdout:
                seen.append(line)
                if "spawned: 'app-1'" in line:
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(20)
        assert any("stopped: app-1" in line for line in seen), seen
        assert any("spawned: 'app-1'" in line for line in seen), seen
        assert all(line.startswith("[supervisord] ") for line in seen)
    finally:
        follower.terminate()
        follower.communicate(timeout=10)  # also closes its pipes


def test_logs_before_up_says_so(local_project: Path) -> None:
    res = obsctl("logs", "app", cwd=local_project.parent)
    assert res.returncode == 2
    assert "no log for app" in res.stderr and "obsctl up" in res.stderr


def test_follow_across_real_supervisord_rotations(tmp_path: Path) -> None:
    """A program writes numbered lines; supervisord rotates its log every 2 kB (one backup):
    following reads every line once, in order, across several rotations."""
    count = 400
    writer = (
        "import sys, time\n"
        f"for i in range({count}):\n"
        "    print(f'line {i:05d} ' + 'x' * 40, flush=True)\n"
        "    time.sleep(0.005)\n"
        "time.sleep(600)\n"
    )
    (tmp_path / "writer.py").write_text(writer)
    conf = tmp_path / "supervisord.conf"
    conf.write_text(
        f"""
[unix_http_server]
file = {tmp_path}/s.sock
[supervisord]
logfile = {tmp_path}/supervisord.log
pidfile = {tmp_path}/supervisord.pid
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[program:writer]
command = {sys.executable} {tmp_path}/writer.py
autostart = false
startsecs = 0
stopasgroup = true
killasgroup = true
redirect_stderr = true
stdout_logfile = {tmp_path}/writer.log
stdout_logfile_maxbytes = 2KB
stdout_logfile_backups = 1
environment = {procs.MARKER}="{tmp_path}"
"""
    )
    sup = Supervisor(conf, tmp_path / "s.sock", tmp_path / "supervisord.pid")
    sup.start()
    got: list[str] = []
    stop = threading.Event()
    follower = threading.Thread(
        target=logfiles.follow,
        args=([LogSource("writer", tmp_path / "writer.log")], lambda _s, line: got.append(line), stop),
        kwargs={"poll": 0.01},
        daemon=True,
    )
    try:
        follower.start()
        sup.start_process("writer")
        deadline = time.monotonic() + 30
        while len(got) < count and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        follower.join(5)
        sup.shutdown()
    assert (tmp_path / "writer.log.1").exists(), "supervisord never rotated: the test proves nothing"
    assert got == [f"line {i:05d} " + "x" * 40 for i in range(count)]


def test_a_reader_that_stops_early_is_not_an_error(local_project: Path) -> None:
    """`obsctl logs prometheus | head -1`: the closed pipe ends obsctl quietly, exit 0."""
    logs = local_project.parent / ".obsctl" / "local" / "logs"
    logs.mkdir(parents=True)
    (logs / "prometheus.log").write_text("".join(f"ts=2026-01-01T00:00:00Z line {i}\n" for i in range(100_000)))
    env = {k: v for k, v in os.environ.items() if k not in ("OBSCTL_ENV", "OBSCTL_CONFIG")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "obsctl", "logs", "prometheus"],
        cwd=local_project.parent,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"[prometheus] ts=2026-01-01T00:00:00Z line 0\n"
    proc.stdout.close()
    assert proc.wait(30) == 0
    assert proc.stderr.read() == b""
    proc.stderr.close()
