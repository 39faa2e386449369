"""Shared fixtures: the repository root, free loopback ports, and throwaway environments.

A throwaway local environment lives in tmp_path: its obsctl.yaml sits next to symlinks to
the repository's rules/, dashboards/ and app/, so it runs the real content on ports of its
own and never touches a developer's running platform.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def free_port_block(size: int, start: int = 21000) -> int:
    """The first port p >= start such that p .. p+size-1 are all free on 127.0.0.1."""
    port = start
    while port < 60000:
        ok = True
        for p in range(port, port + size):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
        port += size + 7
    raise RuntimeError("no free port block")


def make_project(tmp: Path, config: str) -> Path:
    """A project folder: config + links to the real content. Returns the config path."""
    for name in ("rules", "dashboards", "app"):
        (tmp / name).symlink_to(ROOT / name)
    path = tmp / "obsctl.yaml"
    path.write_text(textwrap.dedent(config))
    return path


def local_config(base: int, replicas: int = 2, extra: str = "", local_extra: str = "") -> str:
    return f"""
    environments:
      local:
        target: local
        app: {{replicas: {replicas}}}
        scrape: {{interval: 1s, evaluation_interval: 1s}}
        alerting:
          group_wait: 1s
          group_interval: 2s
          for_overrides:
            {{FastAPIHighErrorRate: 5s, FastAPIHighLatency: 10s, FastAPIPodDown: 4s, ErrorBudgetBurn: 2s}}
        local:
          ports:
            {{app: {base}, prometheus: {base + 10}, alertmanager: {base + 11}, grafana: {base + 12}, sink: {base + 13},
              smtp: {base + 9}}}
          traffic: {{rps: 8}}
          {local_extra}
    slos:  # as the repository's obsctl.yaml: the fire drill burns the availability SLO's budget
      - {{name: availability, objective: 99.5, sli: {{type: availability}}}}
      - {{name: latency, objective: 99, sli: {{type: latency, threshold: 1.0}}}}
    {extra}
    """


@pytest.fixture(scope="session")
def helm_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The real helm obsctl uses (.tools/bin first), with a HELM_*_HOME of its own; skips when absent.
    `helm_run(*args)` runs it and returns the completed process (never raises on a failure)."""
    from obsctl.tools import binaries

    exe = binaries.find("helm")
    if exe is None:
        pytest.skip("helm is not installed; run scripts/install-helm.py (make test does)")
    home = tmp_path_factory.mktemp("helm-home")
    env = {**os.environ, **{var: str(home / var.lower()) for var in HELM_HOMES}}

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, env=env, timeout=120, check=False)

    return run


HELM_HOMES = ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")


@pytest.fixture
def local_project(tmp_path: Path) -> Iterator[Path]:
    """A throwaway local environment's config; torn down (processes killed) afterwards."""
    base = free_port_block(14)
    path = make_project(tmp_path, local_config(base))
    yield path
    from obsctl.tools import procs

    left = [pid for pid, _ in procs.marked(tmp_path / ".obsctl" / "local")]
    procs.kill_all(left)


@pytest.fixture(scope="session", autouse=True)
def _no_process_outlives_the_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Whatever a failing test leaves running under the suite's temp dirs is killed at the end."""
    yield
    import os

    from obsctl.tools import procs

    base = str(tmp_path_factory.getbasetemp())
    left = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                environ = Path(f"/proc/{name}/environ").read_bytes()
            except OSError:
                continue
            if f"{procs.MARKER}={base}".encode() in environ:
                left.append(int(name))
    procs.kill_all(left)


def run_obsctl(config: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`python -m obsctl ARGS --config CONFIG` from the project folder, as a user would run it:
    OBSCTL_ENV/OBSCTL_CONFIG from the developer's shell are dropped, and the console is wide
    enough that no message an assertion looks for is wrapped."""
    env = {k: v for k, v in os.environ.items() if k not in ("OBSCTL_ENV", "OBSCTL_CONFIG")}
    env["COLUMNS"] = "250"
    return subprocess.run(
        [sys.executable, "-m", "obsctl", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=config.parent,
    )
