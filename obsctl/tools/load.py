"""Bounded HTTP load against the app replicas, in background threads (drills and benches).

Every run has a stop flag and a hard duration, so it always ends by itself; it only ever
targets the URLs it is given (the local app replicas on 127.0.0.1).
"""

from __future__ import annotations

import itertools
import threading
import time

Flag = threading.Event


def _worker(
    urls: list[str], path: str, headers: dict[str, str], interval: float, stop: Flag, until: float, counter: list[int]
) -> None:
    import httpx

    with httpx.Client(timeout=5.0, headers=headers) as client:
        next_at = time.monotonic()
        for base in itertools.cycle(urls):
            if stop.is_set() or time.monotonic() > until:
                return
            try:
                client.get(base + path)
                counter[0] += 1
            except httpx.HTTPError:
                pass  # a replica being down is part of some drills
            if interval:
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))


def start_background(
    urls: list[str],
    rps: float | None,
    headers: dict[str, str],
    stop: Flag,
    duration: float = 120.0,
    path: str = "/api/items",
    threads: int = 4,
) -> list[int]:
    """Send GET `path` round-robin to `urls` at `rps` (None: as fast as `threads` connections go)
    until `stop` is set or `duration` passes. Returns a one-item list counting requests sent."""
    counter = [0]
    interval = threads / rps if rps else 0.0
    until = time.monotonic() + duration
    for _ in range(threads):
        threading.Thread(
            target=_worker, args=(urls, path, headers, interval, stop, until, counter), daemon=True
        ).start()
    return counter


def send(urls: list[str], count: int, headers: dict[str, str], path: str = "/api/items", threads: int = 8) -> int:
    """Send `count` GET `path` round-robin to `urls` as fast as `threads` connections go, and
    return when all are answered (or failed): a burst of a known size, for drills that must
    move a ratio by a computed amount. Returns how many got an HTTP answer."""
    import httpx

    lock = threading.Lock()
    left, answered = [count], [0]

    def worker(offset: int) -> None:
        with httpx.Client(timeout=5.0, headers=headers) as client:
            for base in itertools.islice(itertools.cycle(urls), offset, None):
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                try:
                    client.get(base + path)
                except httpx.HTTPError:
                    continue
                with lock:
                    answered[0] += 1

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(min(threads, count))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return answered[0]
