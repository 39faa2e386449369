"""A throwaway real Prometheus for tests that query live data: started on a config of the
test's own, ready before the test sees its URL, stopped afterwards."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

READY_S = 10.0


def api(url: str, path: str, **params: str) -> Any:
    """The `data` of a successful answer of Prometheus's HTTP API."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{url}{path}{query}", timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


@contextmanager
def running(workdir: Path, config: dict[str, Any], port: int) -> Iterator[str]:
    """Prometheus on 127.0.0.1:port with this configuration (data and log in workdir); yields
    its URL once /-/ready answers, and fails with the log's tail when it exits or never does."""
    exe = shutil.which("prometheus")
    if exe is None:
        pytest.skip("prometheus is not on PATH; scripts/install-system-deps.sh installs it")
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = workdir / "prometheus.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [
                exe,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"prometheus exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail(f"prometheus not ready after {READY_S:.0f}s:\n{log.read_text()[-3000:]}")
