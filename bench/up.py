"""Time from `obsctl up` to all checks passing on the local target (median of N cold runs).

Each run starts from nothing (down --purge), so it measures a cold start: supervisord,
two app replicas, Prometheus, Alertmanager, the sink, traffic, first scrapes, then verify.
Goal: under 10 s without the fire drill. Runs on its own ports in a temp dir.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import throwaway

RUNS = 5


def obsctl(config: Path, *args: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OBSCTL_ENV", "OBSCTL_CONFIG")}
    started = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "obsctl", *args, "--config", str(config)], capture_output=True, text=True, env=env
    )
    if res.returncode != 0:
        raise SystemExit(f"obsctl {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = throwaway(Path(tmp))
        ups, verifies, totals = [], [], []
        try:
            for i in range(RUNS):
                obsctl(config, "down", "--purge")
                up = obsctl(config, "up")
                check = obsctl(config, "verify")
                ups.append(up)
                verifies.append(check)
                totals.append(up + check)
                print(f"run {i + 1}: up {up:5.2f}s  verify {check:5.2f}s  total {up + check:5.2f}s")
            again = obsctl(config, "up")
        finally:
            obsctl(config, "down", "--purge")
    print(
        f"median over {RUNS} cold runs: up {statistics.median(ups):.2f}s, verify {statistics.median(verifies):.2f}s,"
        f" up -> all checks passing {statistics.median(totals):.2f}s (goal < 10 s)"
    )
    print(f"second `up` on a running platform (no change): {again:.2f}s")


if __name__ == "__main__":
    main()
