"""Start-up time of `obsctl --help` against `python -c "import typer"` (median of N runs).

Goal: obsctl --help under 2x the bare typer import, which needs heavy clients imported lazily.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15


def median_seconds(cmd: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    subprocess.run([sys.executable, "-m", "obsctl", "--help"], check=True, capture_output=True)  # warm caches
    base = median_seconds([sys.executable, "-c", "import typer"])
    ours = median_seconds([sys.executable, "-m", "obsctl", "--help"])
    print(f"python -c 'import typer'   median {base * 1000:7.1f} ms  ({RUNS} runs)")
    print(f"obsctl --help              median {ours * 1000:7.1f} ms  ({RUNS} runs)")
    print(f"ratio                      {ours / base:7.2f}x  (goal < 2.0x)")


if __name__ == "__main__":
    main()
