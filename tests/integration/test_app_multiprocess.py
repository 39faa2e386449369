"""obsapp under real uvicorn workers in prometheus-client multiprocess mode.

Runs the command line the local target uses, on a free loopback port, and checks what a
unit test cannot: counts merged over worker processes, process metrics summed over
workers, live gauges cleaned up at worker exit, and a bad multiprocess directory
stopping the whole server rather than sending its workers into a restart loop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

APP_DIR = Path(__file__).resolve().parents[2] / "app"
WORK_MS = 600
"""Long enough that the first worker is still busy when the second request arrives."""

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def uvicorn(port: int, workers: int, multiproc_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(APP_DIR), "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    args = ["obsapp.main:app", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", *args, "--no-access-log"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so cleanup can reach every worker
        )


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # one connection per request
        return response.read()


def proc_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat, or None once the process is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields


def cpu_seconds(pid: int) -> float:
    fields = proc_fields(pid)
    assert fields is not None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := proc_fields(int(entry.name))) and fields[1] == str(pid):
            found.append(int(entry.name))
    return found


def is_worker(pid: int) -> bool:
    """A uvicorn worker, not multiprocessing's resource tracker, its other child."""
    return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()


def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    """The processes still running after `timeout`: multiprocessing's resource tracker
    leaves only when it sees its parent's pipe close, a moment after the parent exits."""
    deadline = time.monotonic() + timeout
    while (running := [pid for pid in pids if proc_fields(pid) is not None]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return running


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    multiproc_dir: Path
    log: Path
    workers: list[int]
    processes: list[int]
    """Every process of the server: parent, workers and helpers."""

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        text = get(self.base + "/metrics").decode()
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }


def wait_started(process: subprocess.Popen[bytes], log: Path, workers: int) -> None:
    deadline = time.monotonic() + 30
    while log.read_text().count("Application startup complete.") < workers:
        assert process.poll() is None, f"uvicorn exited:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"uvicorn did not start:\n{log.read_text()}"
        time.sleep(0.05)


@pytest.fixture(params=[2, 1], ids=["2-workers", "1-worker"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    workers: int = request.param
    multiproc_dir = tmp_path / "multiproc"
    multiproc_dir.mkdir()
    port = free_port()
    log = tmp_path / "uvicorn.log"
    process = uvicorn(port, workers, multiproc_dir, log)
    try:
        wait_started(process, log, workers)
        helpers = children(process.pid)
        pids = [pid for pid in helpers if is_worker(pid)] if workers > 1 else [process.pid]
        assert len(pids) == workers, helpers
        yield Server(process, f"http://127.0.0.1:{port}", multiproc_dir, log, pids, [process.pid, *helpers])
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_counts_are_merged_over_workers_and_nothing_is_left(server: Server) -> None:
    # While one worker burns CPU its event loop cannot accept, so with two workers the
    # second request lands on the other one; with one worker they queue.
    threads = [threading.Thread(target=get, args=(f"{server.base}/api/work?ms={WORK_MS}",)) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.3)
    for _ in range(10):
        get(server.base + "/api/items/1")
    for thread in threads:
        thread.join()
    for path in ("/nope", "/api/items/999"):
        with pytest.raises(urllib.error.HTTPError):
            get(server.base + path)

    cpu_before = sum(cpu_seconds(pid) for pid in server.workers)
    rss_before = sum(rss_bytes(pid) for pid in server.workers)
    got = server.metrics()
    cpu_after = sum(cpu_seconds(pid) for pid in server.workers)
    rss_after = sum(rss_bytes(pid) for pid in server.workers)

    def value(name: str, **labels: str) -> float | None:
        return got.get((name, frozenset(labels.items())))

    counters = {p.name for p in server.multiproc_dir.glob("counter_*.db")}
    assert counters == {f"counter_{pid}.db" for pid in server.workers}, "each worker served a request"
    assert value("http_requests_total", method="GET", handler="/api/work", status="200") == 2
    assert value("http_requests_total", method="GET", handler="/api/items/{item_id}", status="200") == 10
    assert value("http_requests_total", method="GET", handler="/api/items/{item_id}", status="404") == 1
    assert value("http_requests_total", method="GET", handler="unmatched", status="404") == 1
    assert value("http_request_duration_seconds_count", method="GET", handler="/api/work") == 2
    assert value("http_request_duration_seconds_bucket", method="GET", handler="/api/work", le="0.5") == 0
    assert value("http_requests_in_progress", method="GET", handler="/api/work") == 0
    assert not [key for key in got if key[0] == "http_requests_total" and ("handler", "/metrics") in key[1]]
    assert [key for key in got if key[0] == "app_info"] == [("app_info", frozenset({("version", "0.1.0")}))]
    assert value("app_info", version="0.1.0") == 1

    # Summed over every worker: each burned WORK_MS of CPU on top of its start-up.
    cpu = value("process_cpu_seconds_total")
    assert cpu is not None and cpu_before - 0.01 <= cpu <= cpu_after + 0.01
    rss = value("process_resident_memory_bytes")
    assert rss is not None and 0.8 * rss_before <= rss <= 1.2 * rss_after
    assert value("process_start_time_seconds") is not None

    server.process.send_signal(signal.SIGTERM)
    # The parent exits 0; a lone worker re-raises the signal once it has shut down cleanly.
    assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)
    assert "Application shutdown complete." in server.log.read_text()
    assert wait_gone(server.processes) == []
    assert list(server.multiproc_dir.glob("gauge_live*.db")) == [], "workers marked themselves dead"


def test_bad_multiproc_dir_stops_the_whole_server(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    log = tmp_path / "uvicorn.log"
    process = uvicorn(free_port(), 2, missing, log)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    output = log.read_text()
    assert f"PROMETHEUS_MULTIPROC_DIR='{missing}'" in output
    assert "is not an existing directory" in output
    assert output.count("Started server process") == 2, "no worker was restarted"
