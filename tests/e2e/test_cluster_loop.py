"""The whole loop on a real cluster: up, up again, verify --fire-drill, port-forward, down.

Runs only when OBSCTL_E2E_KUBE_CONTEXT names a kube context (kind, k3d, a disposable cluster:
it installs kube-prometheus-stack and deletes the namespaces `monitoring` and `observability`).
The cluster must be able to pull the app image (OBSCTL_E2E_IMAGE=repo:tag, default the
configured one) and reach the kube-prometheus-stack chart repository."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import make_project

pytestmark = pytest.mark.e2e

CONTEXT = os.environ.get("OBSCTL_E2E_KUBE_CONTEXT", "")
if not CONTEXT:
    reason = "set OBSCTL_E2E_KUBE_CONTEXT=<kube context> to run the cluster loop (it changes that cluster)"
    print(f"tests/e2e/test_cluster_loop.py skipped: {reason}")
    pytestmark = [pytest.mark.e2e, pytest.mark.skip(reason=reason)]


def run(config: Path, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "obsctl", *args, "--config", str(config), "--env", "e2e"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
        cwd=config.parent,
    )


def test_cluster_loop(tmp_path: Path) -> None:
    image = os.environ.get("OBSCTL_E2E_IMAGE", "ghcr.io/obsctl/obsctl-app:0.1.0")
    repo, tag = image.rsplit(":", 1)
    config = make_project(
        tmp_path,
        textwrap.dedent(
            f"""
            default_environment: e2e
            environments:
              e2e:
                target: kubernetes
                app: {{replicas: 2, image: {{repository: {repo}, tag: "{tag}"}}}}
                scrape: {{interval: 15s, evaluation_interval: 15s}}
                alerting:
                  for_overrides: {{FastAPIPodDown: 30s}}
                kubernetes:
                  context: {CONTEXT}
                  prometheus_storage: ""
                  wait_timeout: 10m
            """
        ),
    )
    try:
        first = run(config, "up")
        assert first.returncode == 0, first.stdout + first.stderr
        again = run(config, "up")
        assert again.returncode == 0 and "unchanged" in again.stdout, again.stdout
        verify = run(config, "verify", "--fire-drill")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "FastAPIPodDown" in verify.stdout
    finally:
        down = run(config, "down", "--yes")
        assert down.returncode == 0, down.stdout + down.stderr
    from obsctl.tools.kube import Kube

    kube = Kube(None, CONTEXT)
    assert kube.namespace_phase("monitoring") is None and kube.namespace_phase("observability") is None
