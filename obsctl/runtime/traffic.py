"""A steady, bounded traffic generator so every graph has data.

It spreads `--rps` requests per second over the replicas and a mix of the app's demo
endpoints (fast reads, a 404, a create, some CPU work, a short sleep) so that traffic,
latency, in-flight and saturation panels all have something to show. It never injects
faults itself: the error-ratio panel shows 0 until a drill or config adds faults.
"""

from __future__ import annotations

import argparse
import itertools
import random
import threading
import time
import urllib.error
import urllib.request

MIX = [
    ("GET", "/api/items", 6),
    ("GET", "/api/items/1", 4),
    ("GET", "/api/items/999", 1),  # a real 404
    ("POST", "/api/items", 1),
    ("GET", "/api/work?ms=5", 2),
    ("GET", "/api/slow?ms=30", 2),
    ("GET", "/", 1),
]


def _one(base: str, method: str, path: str) -> None:
    data = b'{"name": "generated"}' if method == "POST" else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()
    except (urllib.error.URLError, OSError):
        pass  # a replica being down is expected during drills


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", required=True, help="comma-separated base URLs")
    parser.add_argument("--rps", type=float, default=5.0)
    args = parser.parse_args()
    targets = itertools.cycle(args.targets.split(","))
    weighted = [(m, p) for m, p, w in MIX for _ in range(w)]
    interval = 1.0 / args.rps
    next_at = time.monotonic()
    while True:
        method, path = random.choice(weighted)
        threading.Thread(target=_one, args=(next(targets), method, path), daemon=True).start()
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))


if __name__ == "__main__":
    main()
