"""Process metrics summed over the live uvicorn workers, for multiprocess mode.

prometheus-client's multiprocess mode serves metrics merged from the workers' files and
leaves out the process collector, because in a scrape only the answering worker is at
hand. The dashboards still need `process_cpu_seconds_total` and
`process_resident_memory_bytes` for the whole service, so this collector finds the live
workers and reads their /proc entries at scrape time.

A worker is known by the `gauge_live*_<pid>.db` files it writes (every worker sets
`app_info` at start, so each has one) and counted while /proc says it runs. A worker that
died without its shutdown hook (SIGKILL, OOM kill) is marked dead here, so its
`http_requests_in_progress` stops counting. A recycled PID of a crashed worker would be
counted until the directory is emptied, which the launcher does at each start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from prometheus_client import multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class ProcStat(NamedTuple):
    """The figures of one process that the dashboards use."""

    cpu_seconds: float
    rss_bytes: int
    start_ticks: int
    """Clock ticks after boot, as /proc gives it; converted once per scrape."""


def read_proc(pid: int) -> ProcStat | None:
    """Read `pid`'s CPU time, resident memory and start time, or None if it is not running."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        statm = Path(f"/proc/{pid}/statm").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; the fields after the
    # last ")" start at field 3 (state). See proc_pid_stat(5).
    fields = stat.rpartition(")")[2].split()
    if fields[0] in ("Z", "X"):  # a zombie is dead, whatever kill -0 says
        return None
    utime, stime, start_ticks = int(fields[11]), int(fields[12]), int(fields[19])
    return ProcStat((utime + stime) / CLOCK_TICKS, int(statm.split()[1]) * PAGE_SIZE, start_ticks)


def boot_time() -> float:
    """Seconds since the epoch at which the machine booted (`btime` in /proc/stat)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("/proc/stat has no btime line")


def worker_pids(multiproc_dir: Path) -> set[int]:
    """PIDs that own a live-gauge file in `multiproc_dir`, running or not."""
    pids = set()
    for path in multiproc_dir.glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit():
            pids.add(int(pid))
    return pids


class WorkerProcessCollector(Collector):
    """`process_*` metrics for all live workers that share one multiprocess directory.

    CPU seconds and resident memory are sums; `process_start_time_seconds` is the newest
    worker's start, so a restart of any worker shows as a change.
    """

    def __init__(self, multiproc_dir: Path, registry: CollectorRegistry | None = None) -> None:
        self._dir = multiproc_dir
        self._boot_time = boot_time()
        if registry is not None:
            registry.register(self)

    def collect(self) -> Iterator[Metric]:
        stats = []
        for pid in worker_pids(self._dir) | {os.getpid()}:
            stat = read_proc(pid)
            if stat is None:
                multiprocess.mark_process_dead(pid, str(self._dir))
            else:
                stats.append(stat)
        cpu = CounterMetricFamily(
            "process_cpu_seconds_total", "Total user and system CPU time of all workers in seconds."
        )
        cpu.add_metric([], sum(s.cpu_seconds for s in stats))
        rss = GaugeMetricFamily("process_resident_memory_bytes", "Resident memory of all workers in bytes.")
        rss.add_metric([], sum(s.rss_bytes for s in stats))
        start = GaugeMetricFamily(
            "process_start_time_seconds", "Start time of the newest worker since unix epoch in seconds."
        )
        start.add_metric([], self._boot_time + max(s.start_ticks for s in stats) / CLOCK_TICKS)
        yield from (cpu, rss, start)
