"""obsapp.procstats: process metrics for all workers of a multiprocess directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from obsapp.procstats import WorkerProcessCollector, read_proc, worker_pids
from prometheus_client import CollectorRegistry, ProcessCollector

NO_SUCH_PID = 99_999_999  # above the kernel's largest pid_max (2**22)


def exited_child() -> subprocess.Popen[bytes]:
    """A child that has exited but is not reaped yet: a zombie, which still has /proc files."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.monotonic() < deadline, "child did not exit"
        time.sleep(0.01)
    return child


def test_read_proc_of_this_process() -> None:
    stat = read_proc(os.getpid())

    assert stat is not None
    assert stat.cpu_seconds > 0
    assert stat.rss_bytes > 10 * 2**20


def test_read_proc_of_missing_and_zombie_processes() -> None:
    assert read_proc(NO_SUCH_PID) is None
    zombie = exited_child()
    try:
        assert read_proc(zombie.pid) is None
    finally:
        zombie.wait()


def test_worker_pids_come_from_live_gauge_files(tmp_path: Path) -> None:
    for name in ("gauge_livemax_11.db", "gauge_livesum_12.db", "counter_13.db", "gauge_max_14.db", "x.db"):
        (tmp_path / name).write_bytes(b"")

    assert worker_pids(tmp_path) == {11, 12}


def test_collector_sums_live_workers_and_marks_dead_ones(tmp_path: Path) -> None:
    zombie = exited_child()
    try:
        for pid in (os.getpid(), NO_SUCH_PID, zombie.pid):
            (tmp_path / f"gauge_livesum_{pid}.db").write_bytes(b"")
        (tmp_path / f"counter_{NO_SUCH_PID}.db").write_bytes(b"")
        registry = CollectorRegistry()
        WorkerProcessCollector(tmp_path, registry=registry)
        reference = CollectorRegistry()
        ProcessCollector(registry=reference)

        before = read_proc(os.getpid())
        cpu = registry.get_sample_value("process_cpu_seconds_total")
        rss = registry.get_sample_value("process_resident_memory_bytes")
        after = read_proc(os.getpid())
    finally:
        zombie.wait()

    assert before is not None and after is not None
    assert before.cpu_seconds <= cpu <= after.cpu_seconds
    assert abs(rss - after.rss_bytes) < 4 * 2**20
    assert registry.get_sample_value("process_start_time_seconds") == reference.get_sample_value(
        "process_start_time_seconds"
    )
    # Dead workers stop counting in live gauges; their counters stay, as counters must.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"counter_{NO_SUCH_PID}.db",
        f"gauge_livesum_{os.getpid()}.db",
    ]


def test_collector_always_counts_its_own_process(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    WorkerProcessCollector(tmp_path, registry=registry)

    assert registry.get_sample_value("process_cpu_seconds_total") > 0
    assert registry.get_sample_value("process_resident_memory_bytes") > 0
