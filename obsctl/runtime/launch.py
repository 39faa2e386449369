"""Start one app replica: empty its prometheus-client multiprocess dir, then exec uvicorn.

Multiprocess mode keeps one file per worker pid; files left by a previous run would be
summed into the new process's counters, so they are removed before the server starts.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def main() -> None:
    multiproc = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(multiproc, ignore_errors=True)
    multiproc.mkdir(parents=True)
    os.execv(sys.executable, [sys.executable, "-m", "uvicorn", *sys.argv[1:]])


if __name__ == "__main__":
    main()
