"""`obsctl status` colours a healthy platform green on every target: each target says whether a
row is healthy in one vocabulary (targets.base.Health), next to its own word for the state
(a cluster's `ok`, `Active`, `ready`, `deployed`; supervisord's RUNNING)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from obsctl import cli
from obsctl import console as obsctl_console
from obsctl.targets.base import Health
from obsctl.targets.kubernetes import KubernetesTarget
from obsctl.tools import binaries
from tests.fakekube import FakeKube, workload
from tests.fakekube.fakehelm import FakeHelm

GREEN, YELLOW, RED = "\x1b[32m", "\x1b[33m", "\x1b[31m"


def _healthy_cluster(fake: FakeKube, t: KubernetesTarget, helm: FakeHelm) -> None:
    for ns in (t.mon_ns, t.app_ns):
        fake.put("namespaces", {"metadata": {"name": ns}})
    fake.put("statefulsets", workload("statefulsets", t.monitoring_workloads()["prometheus"]), t.mon_ns)
    fake.put("deployments", workload("deployments", t.monitoring_workloads()["grafana"]), t.mon_ns)
    fake.put("daemonsets", workload("daemonsets", t.monitoring_workloads()["node-exporter"], 2), t.mon_ns)
    fake.put("deployments", workload("deployments", t.app_fullname, 2), t.app_ns)
    helm.set_release(t.k.kps_release, t.mon_ns, "deployed", "kube-prometheus-stack", "88.5.3", {})
    helm.set_release(t.k.app_release, t.app_ns, "deployed", "obsctl-app", "0.1.0", {})


@pytest.fixture
def status_output(
    fake: FakeKube, target: KubernetesTarget, fake_helm: FakeHelm, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setattr(binaries, "PROJECT_BIN", fake_helm.executable.parent)
    _healthy_cluster(fake, target, fake_helm)
    return target.env.config_path


def _status(config: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(obsctl_console, "_console", None)  # a console of its own, made with colour
    res = CliRunner().invoke(cli.app, ["status", "--config", str(config), "--env", "lab"])
    assert res.exit_code == 0, res.output
    return res.output


def test_a_healthy_cluster_is_green(
    status_output: Path, target: KubernetesTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = target.status()
    states = {r.component: r.state for r in rows}
    assert states["kube context"] == "ok" and states["namespace monitoring"] == "Active"
    assert states["deployment obsctl-app"] == "ready"
    assert states["release obsctl-app"] == "deployed", states
    assert all(r.health == Health.ok for r in rows), rows
    out = _status(status_output, monkeypatch)
    for state in ("ok", "Active", "ready", "deployed"):
        assert f"{GREEN}{state}" in out, out
    assert YELLOW not in out and RED not in out, out


def test_what_is_not_healthy_is_not_green(
    fake: FakeKube, status_output: Path, target: KubernetesTarget, fake_helm: FakeHelm, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.put("deployments", workload("deployments", target.app_fullname, 2, ready=1), target.app_ns)
    fake_helm.set_release(target.k.app_release, target.app_ns, "failed", "obsctl-app", "0.1.0", {})
    health = {r.component: r.health for r in target.status()}
    assert health["deployment obsctl-app"] == Health.waiting
    assert health[f"release {target.k.app_release}"] == Health.failed
    out = _status(status_output, monkeypatch)
    assert f"{YELLOW}not ready" in out and f"{RED}failed" in out, out
