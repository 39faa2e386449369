"""The whole EKS loop against a real AWS account, through the real CLI: up, up again (nothing
to change), verify, status, down --yes (Kubernetes layer, destroy, leftover scan).

It creates an EKS cluster, NAT gateways and nodes: it costs money (≈ $0.35/hour with the
defaults) and takes ~30 minutes, so it never runs in CI and runs here only on explicit
opt-in:

    OBSCTL_E2E_EKS=1 \\
    OBSCTL_E2E_EKS_CONFIG=/path/to/obsctl.yaml OBSCTL_E2E_EKS_ENV=<an eks environment> \\
    AWS_PROFILE=... .venv/bin/pytest tests/e2e/test_eks_loop.py -m e2e -s

`down` runs even when a step before it fails, so a failed run still leaves nothing behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def _skip_reason() -> str | None:
    if os.environ.get("OBSCTL_E2E_EKS") != "1":
        return "EKS e2e is opt-in (it costs money): set OBSCTL_E2E_EKS=1, OBSCTL_E2E_EKS_CONFIG and OBSCTL_E2E_EKS_ENV"
    config = os.environ.get("OBSCTL_E2E_EKS_CONFIG")
    if not config or not Path(config).is_file():
        return "OBSCTL_E2E_EKS_CONFIG must name an obsctl.yaml with an eks environment"
    if not os.environ.get("OBSCTL_E2E_EKS_ENV"):
        return "OBSCTL_E2E_EKS_ENV must name the eks environment to use"
    from obsctl import config as c
    from obsctl.errors import ObsctlError
    from obsctl.tools.aws import Aws

    env = c.load(config, os.environ["OBSCTL_E2E_EKS_ENV"])
    if env.target != "eks":
        return f"environment {env.name} is a {env.target} environment, not eks"
    try:
        Aws(env.spec.aws.region, env.spec.aws.profile).credentials_source()  # type: ignore[union-attr]
    except ObsctlError as exc:
        return f"no AWS credentials: {exc.message}"
    return None


def run(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    config = os.environ["OBSCTL_E2E_EKS_CONFIG"]
    res = subprocess.run(
        [sys.executable, "-m", "obsctl", *args, "--config", config, "--env", os.environ["OBSCTL_E2E_EKS_ENV"]],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(config).parent,
    )
    sys.stdout.write(f"$ obsctl {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}\n")
    return res


def test_eks_loop() -> None:
    reason = _skip_reason()
    if reason:
        print(f"skipped: {reason}")
        pytest.skip(reason)
    try:
        first = run("up", "--yes")  # no terminal to confirm on
        assert first.returncode == 0
        assert "terraform apply" in first.stdout and "kubeconfig" in first.stdout
        assert "estimated cost" in first.stdout

        again = run("up", "--yes")
        assert again.returncode == 0 and "0/0 resource changes applied" in again.stdout

        verify = run("verify")
        assert verify.returncode == 0, "verify failed"
        assert "eks cluster ACTIVE" in verify.stdout

        status = run("status")
        assert status.returncode == 0 and "eks cluster" in status.stdout
    finally:
        down = run("down", "--yes", timeout=5400)
    assert down.returncode == 0, "down failed or something survived it"
    assert "leftover scan" in down.stdout
