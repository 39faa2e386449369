"""What request instrumentation costs obsapp in throughput.

Starts one single-worker uvicorn per `OBSAPP_INSTRUMENTATION` mode on 127.0.0.1 and
drives the same templated endpoint with wrk, taking turns between modes so that drift
in machine load hits all of them alike. It prints the median requests per second of
each mode and two ratios with their goals:

    ours / uninstrumented  >= 0.9   the middleware costs at most a tenth
    ours / instrumentator  >= 1.0   at least as cheap as the usual library

It prints figures and asserts nothing; every server it starts is stopped at the end.
Run: .venv/bin/python bench/app_throughput.py [--runs 3] [--duration 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[1] / "app"
MODES = ("on", "off", "instrumentator")
ENDPOINT = "/api/items/1"
"""A templated route: the middleware has to resolve `/api/items/{item_id}` for it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def servers(modes: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """One uvicorn per mode; yields mode -> base URL and stops them all on the way out."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["PYTHONPATH"] = str(APP_DIR)
    started: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for mode in modes:
            port = free_port()
            args = ["--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log"]
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "obsapp.main:app", *args, "--log-level", "warning"],
                env={**env, "OBSAPP_INSTRUMENTATION": mode},
            )
            started[mode] = (process, f"http://127.0.0.1:{port}")
        for process, base in started.values():
            wait_ready(process, base)
        yield {mode: base for mode, (_, base) in started.items()}
    finally:
        for process, _ in started.values():
            process.send_signal(signal.SIGTERM)
        for process, _ in started.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_ready(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise SystemExit(f"uvicorn for {base} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"uvicorn for {base} did not become ready") from None
            time.sleep(0.1)


def wrk(url: str, seconds: int, connections: int) -> float:
    """Requests per second wrk measured; refuses a run with errors, since errors are cheap."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors against {url}:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise SystemExit(f"no Requests/sec in wrk output:\n{out}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per mode; the median is reported (>= 3)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if args.runs < 3 or not 1 <= args.duration <= 30:
        parser.error("--runs must be >= 3 and --duration 1..30")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, uvicorn --workers 1, GET {ENDPOINT}")
    print(f"wrk -t1 -c{args.connections} -d{args.duration}s, {args.runs} runs per mode taking turns\n")
    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    with servers(MODES) as bases:
        for base in bases.values():
            wrk(base + ENDPOINT, 1, args.connections)  # warm-up: imports, caches, first series
        for run in range(1, args.runs + 1):
            for mode in MODES:
                results[mode].append(wrk(bases[mode] + ENDPOINT, args.duration, args.connections))
            print(f"run {run}: " + ", ".join(f"{mode} {results[mode][-1]:.0f}" for mode in MODES))

    median = {mode: statistics.median(values) for mode, values in results.items()}
    print("\nmedian requests/s")
    for mode in MODES:
        print(f"  {mode:<15}{median[mode]:>9.0f}   runs: {', '.join(f'{v:.0f}' for v in results[mode])}")
    ours_vs_bare = median["on"] / median["off"]
    ours_vs_lib = median["on"] / median["instrumentator"]
    print(f"\nours / uninstrumented  = {ours_vs_bare:.3f}  (goal >= 0.9: {'met' if ours_vs_bare >= 0.9 else 'MISSED'})")
    print(f"ours / instrumentator  = {ours_vs_lib:.3f}  (goal >= 1.0: {'met' if ours_vs_lib >= 1.0 else 'MISSED'})")


if __name__ == "__main__":
    main()
