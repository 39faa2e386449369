"""The supervisord adapter against the real supervisord: start, update only what changed, shutdown."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from obsctl.errors import ToolError
from obsctl.tools import procs
from obsctl.tools.supervisor import Supervisor

pytestmark = pytest.mark.integration


def conf(tmp: Path, b_env: str) -> Path:
    text = f"""
[unix_http_server]
file = {tmp}/s.sock
[supervisord]
logfile = {tmp}/supervisord.log
pidfile = {tmp}/supervisord.pid
childlogdir = {tmp}
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[program:a]
command = {sys.executable} -c "import time; time.sleep(600)"
startsecs = 0
stopasgroup = true
killasgroup = true
environment = {procs.MARKER}="{tmp}"
[program:b]
command = {sys.executable} -c "import time; time.sleep(600)"
startsecs = 0
environment = {procs.MARKER}="{tmp}",VERSION="{b_env}"
"""
    path = tmp / "supervisord.conf"
    path.write_text(text)
    return path


def wait_running(sup: Supervisor, n: int) -> list[str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        procs_ = sup.processes()
        if sum(p.state == "RUNNING" for p in procs_) == n:
            return sorted(p.name for p in procs_)
        time.sleep(0.05)
    raise AssertionError(sup.processes())


def test_start_update_stop(tmp_path: Path) -> None:
    sup = Supervisor(conf(tmp_path, "1"), tmp_path / "s.sock", tmp_path / "supervisord.pid")
    assert not sup.running()
    sup.start()
    try:
        assert wait_running(sup, 2) == ["a", "b"]
        pid_a = next(p.pid for p in sup.processes() if p.name == "a")
        assert sup.update() == []  # nothing changed, nothing restarted
        conf(tmp_path, "2")
        assert sup.update() == ["b"]
        wait_running(sup, 2)
        assert next(p.pid for p in sup.processes() if p.name == "a") == pid_a, "an unchanged program was restarted"
        sup.stop_process("a")
        assert next(p.state for p in sup.processes() if p.name == "a") == "STOPPED"
        sup.start_process("a")
        sup.start_process("a")  # idempotent
        wait_running(sup, 2)
    finally:
        sup.shutdown()
    assert procs.marked(tmp_path) == []
    assert not sup.running()
    with pytest.raises(ToolError, match="not answering"):
        sup.processes()


def test_alive_counts_a_zombie_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 5
    while procs.alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not procs.alive(child.pid), "an exited, unreaped child must not look alive"
    child.wait()


def test_port_owner_and_bindable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not procs.port_bindable(port)
        import os

        assert procs.port_owner(port) == os.getpid()
    assert procs.port_bindable(port)


def test_start_failure_says_why(tmp_path: Path) -> None:
    """A second supervisord on the same socket is refused; the error keeps supervisord's reason,
    not its closing "For help, use ... -h" line."""
    first = Supervisor(conf(tmp_path, "1"), tmp_path / "s.sock", tmp_path / "supervisord.pid")
    other = tmp_path / "other"
    other.mkdir()
    second_conf = other / "supervisord.conf"
    second_conf.write_text(
        conf(tmp_path, "1")
        .read_text()
        .replace(f"pidfile = {tmp_path}/", f"pidfile = {other}/")
        .replace(f"logfile = {tmp_path}/", f"logfile = {other}/")
    )
    second = Supervisor(second_conf, tmp_path / "s.sock", other / "supervisord.pid")
    first.start()
    try:
        with pytest.raises(ToolError) as failed:
            second.start()
        assert "Another program is already listening" in failed.value.message, failed.value.message
        assert "For help" not in failed.value.message
    finally:
        first.shutdown()


def test_a_hung_supervisord_does_not_hang_a_call(tmp_path: Path) -> None:
    """supervisord stopped with SIGSTOP accepts connections and never answers: every call is
    bounded and says which call hung."""
    import os
    import signal
    import threading

    sup = Supervisor(conf(tmp_path, "1"), tmp_path / "s.sock", tmp_path / "supervisord.pid", call_timeout=1.0)
    sup.start()
    pid = sup.pid()
    assert pid is not None
    outcome: list[BaseException | object] = []

    def call() -> None:
        try:
            outcome.append(sup.processes())
        except ToolError as exc:
            outcome.append(exc)

    os.kill(pid, signal.SIGSTOP)
    try:
        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        thread.join(15)
        assert not thread.is_alive(), "a call to a hung supervisord never returned"
        [error] = outcome
        assert isinstance(error, ToolError) and "did not answer getAllProcessInfo within 1s" in error.message, error
        assert not sup.answering()
    finally:
        os.kill(pid, signal.SIGCONT)
        sup.shutdown()
