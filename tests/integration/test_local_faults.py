"""The local target under faults, through the real CLI with real supervisord and real processes:
stale and garbage pid files, a deleted socket, a killed supervisord.

obsctl must never signal a process it has not proven to be this environment's supervisord,
and must find (and recover) its supervisord when the pid file or the socket lies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from obsctl.tools import procs
from tests.conftest import free_port_block, local_config, make_project
from tests.conftest import run_obsctl as obsctl

pytestmark = pytest.mark.integration


def supervisords(state: Path) -> list[int]:
    """Every supervisord whose command line names this environment's config (read here from
    /proc, independently of the adapter under test)."""
    conf = str(state / "rendered" / "supervisord.conf")
    return [pid for pid in procs.pids() if "supervisord" in procs.cmdline(pid) and conf in procs.argv(pid)]


def test_down_never_signals_a_reused_pid(tmp_path: Path) -> None:
    """A stale supervisord.pid whose PID now belongs to an unrelated process: down leaves it alone and says so."""
    config = make_project(tmp_path, local_config(free_port_block(14)))
    bystander = subprocess.Popen(["sleep", "120"])
    try:
        run = tmp_path / ".obsctl" / "local" / "run"
        run.mkdir(parents=True)
        (run / "supervisord.pid").write_text(f"{bystander.pid}\n")
        res = obsctl(config, "down")
        assert res.returncode == 0, res.stdout + res.stderr
        time.sleep(0.2)
        assert bystander.poll() is None and procs.alive(bystander.pid), "down killed an unrelated process"
        assert f"pid {bystander.pid}, which is not this environment's supervisord" in res.stdout, res.stdout
        assert "was not running" in res.stdout
    finally:
        bystander.kill()
        bystander.wait()


@pytest.fixture
def platform(tmp_path: Path):
    config = make_project(tmp_path, local_config(free_port_block(14)))
    state = tmp_path / ".obsctl" / "local"
    res = obsctl(config, "up")
    assert res.returncode == 0, res.stdout + res.stderr
    yield config, state
    obsctl(config, "down")
    procs.kill_all([pid for pid, _ in procs.marked(state)] + supervisords(state))


def test_garbage_pid_file_then_deleted_socket(platform: tuple[Path, Path]) -> None:
    config, state = platform
    pidfile = state / "run" / "supervisord.pid"
    [sup_pid] = supervisords(state)
    before = {pid for pid, _ in procs.marked(state)}

    pidfile.write_text("garbage\n")
    status = obsctl(config, "status")
    assert status.returncode == 0 and "stopped" not in status.stdout, status.stdout
    assert f"pid {sup_pid}" in status.stdout and status.stdout.count("RUNNING") >= 6, status.stdout
    again = obsctl(config, "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running, nothing changed" in again.stdout
    assert {pid for pid, _ in procs.marked(state)} == before, "up restarted programs of a running platform"

    (state / "run" / "supervisor.sock").unlink()
    status = obsctl(config, "status")
    assert "NOT ANSWERING" in status.stdout and f"pid {sup_pid}" in status.stdout, status.stdout
    fresh = obsctl(config, "up")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert f"pid {sup_pid} was not answering" in fresh.stdout, fresh.stdout
    after = supervisords(state)
    assert len(after) == 1 and after != [sup_pid], f"supervisords running: {after}"

    pidfile.write_text("12x\n")
    down = obsctl(config, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert f"supervisord {after[0]} stopped" in down.stdout, down.stdout
    assert supervisords(state) == [] and procs.marked(state) == []


def test_status_shows_orphans_of_a_killed_supervisord(platform: tuple[Path, Path]) -> None:
    import socket

    config, state = platform
    [sup_pid] = supervisords(state)
    os.kill(sup_pid, signal.SIGKILL)
    assert procs.wait_gone(sup_pid, 5)
    status = obsctl(config, "status")
    assert "supervisord" in status.stdout and "stopped" in status.stdout
    rows = {line.split()[1]: line for line in status.stdout.splitlines() if line.startswith("│")}
    # an orphan that writes to its (now closed) log pipe may die: check what really still serves
    urls = {line.split()[0]: line.split()[1] for line in status.stdout.splitlines() if "http://127.0.0.1:" in line}
    serving = []
    for component, url in urls.items():
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex(("127.0.0.1", int(url.rsplit(":", 1)[1]))) == 0:
                serving.append(component)
    assert serving, "no orphan survived the kill; nothing to show"
    for component in serving:
        assert "ORPHANED" in rows.get(component, "") and "still serves" in rows[component], (component, status.stdout)
    down = obsctl(config, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert procs.marked(state) == []


def test_up_in_a_project_path_with_spaces_percent_and_quotes() -> None:
    """supervisord shell-splits and %-expands `command` and reads `environment` with quotes:
    a project path holding all of those still comes up, and down leaves nothing. (Under a short
    temp dir: a unix socket path holds at most 107 bytes.)"""
    import shutil
    import tempfile

    from tests.unit.test_supervisord_conf import HOSTILE

    short = Path(tempfile.mkdtemp(prefix="obs"))
    project = short / HOSTILE
    project.mkdir()
    config = make_project(project, local_config(free_port_block(14)))
    state = project / ".obsctl" / "local"
    try:
        up = obsctl(config, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "metrics flowing" in up.stdout
        status = obsctl(config, "status")
        assert status.stdout.count("RUNNING") >= 6, status.stdout
        assert (state / "logs" / "app-0.log").is_file()
        down = obsctl(config, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert procs.marked(state) == [] and supervisords(state) == []
    finally:
        procs.kill_all([pid for pid, _ in procs.marked(state)] + supervisords(state))
        shutil.rmtree(short, ignore_errors=True)


def test_socket_path_too_long_is_refused_before_anything_starts(tmp_path: Path) -> None:
    project = tmp_path / ("deep-" * 12)
    project.mkdir()
    config = make_project(project, local_config(free_port_block(14)))
    res = obsctl(config, "up")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "over the 107 a unix socket allows" in res.stderr and "hint: set state_dir" in res.stderr, res.stderr
    assert not (project / ".obsctl" / "local" / "run").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_fire_drill_starts_the_app_again(platform: tuple[Path, Path], sig: signal.Signals) -> None:
    """Ctrl-C (or SIGTERM) while the pod-down drill has every app replica stopped: the drill's
    recovery still runs, and the error says what it undid."""
    config, state = platform
    base = int(
        next(line for line in config.read_text().splitlines() if "app:" in line and "prometheus" in line)
        .split()[1]
        .rstrip(",")
    )
    app_ports = [base, base + 1]
    env = {k: v for k, v in os.environ.items() if k not in ("OBSCTL_ENV", "OBSCTL_CONFIG")}
    drill = subprocess.Popen(
        [sys.executable, "-m", "obsctl", "verify", "--fire-drill", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "COLUMNS": "250"},
        cwd=config.parent,
    )
    try:
        deadline = time.monotonic() + 90
        while procs.port_owners(app_ports) and time.monotonic() < deadline:  # until the drill stopped both
            assert drill.poll() is None, drill.communicate()
            time.sleep(0.1)
        assert not procs.port_owners(app_ports), "the drill never stopped the app replicas"
        drill.send_signal(sig)
        out, err = drill.communicate(timeout=60)
    finally:
        if drill.poll() is None:
            drill.kill()
    assert drill.returncode == 130, out + err
    assert "undone: started app:app-0, app:app-1 again" in err, err
    assert ("SIGTERM" if sig == signal.SIGTERM else "Ctrl-C") in err
    assert "Traceback" not in err
    deadline = time.monotonic() + 30  # started again; uvicorn takes a few seconds to listen
    while set(procs.port_owners(app_ports)) != set(app_ports) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert set(procs.port_owners(app_ports)) == set(app_ports), "the app replicas were left stopped"


def _alertmanager_crash_loops(config: Path, state: Path):  # noqa: ANN202 - (target, supervisor)
    """Break alertmanager's rendered config by hand and kill it: supervisord restarts it, it
    exits at once, and supervisord backs off (BACKOFF, then FATAL). Returns the in-process target."""
    from obsctl import config as cfg
    from obsctl.targets.local import LocalTarget

    target = LocalTarget(cfg.load(str(config), None))
    (target.rendered / "alertmanager.yml").write_text("route: [this is not an alertmanager config\n")
    pid = next(p.pid for p in target.supervisor.processes() if p.name == "alertmanager")
    os.kill(pid, signal.SIGKILL)
    return target


def _state(target, name: str) -> str:  # noqa: ANN001
    return next(p.state for p in target.supervisor.processes() if p.name == name)


def test_up_restarts_a_crash_looping_program(platform: tuple[Path, Path]) -> None:
    config, state = platform
    target = _alertmanager_crash_loops(config, state)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _state(target, "alertmanager") == "BACKOFF":
            target.render(resolve_binaries=True)  # up re-renders first: the config is good again
            if _state(target, "alertmanager") == "BACKOFF":
                break
        time.sleep(0.02)
    else:
        raise AssertionError("alertmanager never crash-looped")
    detail = target._supervise()
    assert "restarted crash-looping: alertmanager (was BACKOFF)" in detail, detail
    assert _state(target, "alertmanager") == "RUNNING"


def test_up_reports_the_log_tail_of_a_program_that_keeps_failing(platform: tuple[Path, Path]) -> None:
    from obsctl.errors import ToolError

    config, state = platform
    target = _alertmanager_crash_loops(config, state)
    deadline = time.monotonic() + 30
    while _state(target, "alertmanager") not in ("BACKOFF", "FATAL") and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(ToolError) as failed:
        target._supervise()  # the config on disk is still broken (no render in between)
    message = failed.value.message
    assert message.startswith("alertmanager does not start"), message
    assert "alertmanager.yml" in message and "ALREADY_STARTED" not in message, message


def test_metrics_flowing_counts_only_samples_newer_than_the_restart(platform: tuple[Path, Path]) -> None:
    """The stage must not pass on samples from before the run (re)started something. With the
    restart set 4s ahead, it can only pass once real scrapes newer than that exist."""
    from obsctl import config as cfg
    from obsctl.targets.local import LocalTarget

    config, _ = platform
    target = LocalTarget(cfg.load(str(config), None))
    target.fresh_since = time.time() + 4
    started = time.monotonic()
    detail = target._wait_metrics(30)
    assert time.monotonic() - started >= 4, f"passed on samples older than the restart: {detail}"
    newest = target.prometheus.query('min(timestamp(up{job="fastapi"}))')
    assert float(newest[0]["value"][1]) > target.fresh_since
