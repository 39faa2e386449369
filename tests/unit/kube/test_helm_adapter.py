"""The helm adapter through pyhelm3's real code path, against a fake `helm` executable that
records its arguments and serves canned `status` / `get values` JSON: pending releases are
recovered, an upgrade happens only on a change, values never reach the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from obsctl.errors import ObsctlError, ToolError, Unreachable
from obsctl.tools import helm as h
from tests.fakekube.fakehelm import FakeHelm

KPS = h.ChartRef("kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "88.5.3")
VALUES = {"grafana": {"admin": {"existingSecret": "obsctl-grafana-admin"}}, "alertmanager": {"config": {"a": None}}}


@pytest.fixture
def helm(fake_helm: FakeHelm, tmp_path: Path) -> h.Helm:
    return h.Helm(str(fake_helm.executable), tmp_path / "kubeconfig", "fake-a", timeout=30)


def verbs(fake: FakeHelm) -> list[str]:
    return [c[0] if c[0] not in ("get", "show") else f"{c[0]} {c[1]}" for c in fake.calls]


def test_install_when_missing(helm: h.Helm, fake_helm: FakeHelm) -> None:
    detail = helm.ensure_release("kps", KPS, "monitoring", VALUES)
    assert detail == "installed kube-prometheus-stack 88.5.3, revision 1 deployed"
    assert verbs(fake_helm) == ["status", "status", "show chart", "upgrade"]
    upgrade = fake_helm.calls[-1]
    assert upgrade[:3] == ["upgrade", "kps", "kube-prometheus-stack"]
    for flag, value in (
        ("--repo", KPS.repo),
        ("--version", "88.5.3"),
        ("--namespace", "monitoring"),
        ("--kube-context", "fake-a"),
        ("--values", "-"),
    ):
        assert upgrade[upgrade.index(flag) + 1] == value
    assert "--create-namespace" not in upgrade  # obsctl creates and labels the namespaces itself
    assert "existingSecret" not in " ".join(upgrade)  # values go on stdin, never argv
    assert fake_helm.state()["releases"]["kps"]["values"] == VALUES


def test_unchanged_release_is_not_upgraded(helm: h.Helm, fake_helm: FakeHelm) -> None:
    fake_helm.set_release("kps", "monitoring", "deployed", "kube-prometheus-stack", "88.5.3", VALUES)
    assert helm.ensure_release("kps", KPS, "monitoring", VALUES) == (
        "unchanged at revision 2 (kube-prometheus-stack 88.5.3)"
    )
    assert "upgrade" not in verbs(fake_helm)
    assert "get values" in verbs(fake_helm)


def test_changed_values_upgrade(helm: h.Helm, fake_helm: FakeHelm) -> None:
    fake_helm.set_release("kps", "monitoring", "deployed", "kube-prometheus-stack", "88.5.3", {"old": True})
    assert helm.ensure_release("kps", KPS, "monitoring", VALUES).startswith("upgraded kube-prometheus-stack 88.5.3")
    assert verbs(fake_helm)[-1] == "upgrade"


def test_changed_chart_version_upgrades(helm: h.Helm, fake_helm: FakeHelm) -> None:
    fake_helm.set_release("kps", "monitoring", "deployed", "kube-prometheus-stack", "88.0.0", VALUES)
    assert "upgraded kube-prometheus-stack 88.5.3, revision 3" in helm.ensure_release("kps", KPS, "monitoring", VALUES)
    assert "get values" not in verbs(fake_helm)  # the version alone decides


def test_pending_install_is_uninstalled_then_installed(helm: h.Helm, fake_helm: FakeHelm) -> None:
    fake_helm.set_release("kps", "monitoring", "pending-install", "kube-prometheus-stack", "88.5.3", VALUES)
    detail = helm.ensure_release("kps", KPS, "monitoring", VALUES)
    assert detail.startswith("recovered from pending-install (revision 2, uninstalled); installed")
    v = verbs(fake_helm)
    assert v.index("uninstall") < v.index("upgrade")


def test_pending_upgrade_is_rolled_back_then_compared(helm: h.Helm, fake_helm: FakeHelm) -> None:
    fake_helm.set_release("kps", "monitoring", "pending-upgrade", "kube-prometheus-stack", "88.5.3", VALUES)
    detail = helm.ensure_release("kps", KPS, "monitoring", VALUES)
    assert detail.startswith("recovered from pending-upgrade (revision 2, rolled back)")
    assert "rollback" in verbs(fake_helm)
    assert "unchanged at revision 3" in detail  # the rollback restored the same values: no upgrade
    assert "upgrade" not in verbs(fake_helm)


def test_local_chart_path(helm: h.Helm, fake_helm: FakeHelm, repo_root: Path) -> None:
    chart = h.chart_ref(str(repo_root / "app" / "chart"), None, None)
    assert chart.is_path and chart.repo is None
    assert helm.ensure_release("obsctl-app", chart, "observability", {"replicas": 2}).startswith(
        "installed obsctl-app 0.1.0"
    )
    upgrade = fake_helm.calls[-1]
    assert upgrade[2] == str(repo_root / "app" / "chart") and "--repo" not in upgrade


def test_chart_refs() -> None:
    assert h.chart_ref("prometheus-community/kube-prometheus-stack", "https://x", "1.0.0") == h.ChartRef(
        "kube-prometheus-stack", "https://x", "1.0.0"
    )
    oci = h.chart_ref("oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack", "https://x", "1.0.0")
    assert oci.repo is None and oci.version == "1.0.0" and not oci.is_path


def test_uninstall(helm: h.Helm, fake_helm: FakeHelm) -> None:
    assert helm.uninstall("kps", "monitoring") is False
    fake_helm.set_release("kps", "monitoring", "deployed", "kube-prometheus-stack", "88.5.3", VALUES)
    assert helm.uninstall("kps", "monitoring") is True
    assert fake_helm.calls[-1][:2] == ["uninstall", "kps"] and "--wait" in fake_helm.calls[-1]


def test_chart_not_found_is_a_tool_error_with_a_hint(helm: h.Helm, fake_helm: FakeHelm) -> None:
    fake_helm.set(missing_charts=["kube-prometheus-stack"])
    with pytest.raises(ToolError) as info:
        helm.ensure_release("kps", KPS, "monitoring", VALUES)
    assert "chart not found" in info.value.message and "kps_chart_version" in (info.value.hint or "")


def test_a_failed_upgrade_says_what_helm_said(helm: h.Helm, fake_helm: FakeHelm) -> None:
    fake_helm.set(fail_upgrade="Error: UPGRADE FAILED: admission webhook denied the request")
    with pytest.raises(ToolError) as info:
        helm.ensure_release("kps", KPS, "monitoring", VALUES)
    assert "admission webhook denied" in info.value.message


def test_status(helm: h.Helm, fake_helm: FakeHelm) -> None:
    assert helm.status("kps", "monitoring") is None
    fake_helm.set_release("kps", "monitoring", "deployed", "kube-prometheus-stack", "88.5.3", VALUES)
    assert helm.status("kps", "monitoring") == h.ReleaseState(2, "deployed", "kube-prometheus-stack", "88.5.3")


def test_release_marker_reads_back_who_installed_a_release(helm: h.Helm, fake_helm: FakeHelm) -> None:
    assert helm.release_marker("kps", "monitoring") is h.NOT_INSTALLED
    fake_helm.set_release("kps", "monitoring", "deployed", "kube-prometheus-stack", "88.5.3", {"grafana": {}})
    assert helm.release_marker("kps", "monitoring") is None  # someone else's
    values = {**VALUES, "obsctl": {"environment": "lab", "chartDigest": "0" * 16}}
    fake_helm.set_release("kps", "monitoring", "deployed", "kube-prometheus-stack", "88.5.3", values)
    assert helm.release_marker("kps", "monitoring") == {"environment": "lab", "chartDigest": "0" * 16}


def test_skip_crds_reaches_helm(helm: h.Helm, fake_helm: FakeHelm) -> None:
    helm.ensure_release("kps", KPS, "monitoring", VALUES, skip_crds=True)
    assert "--skip-crds" in fake_helm.calls[-1]


def test_receiver_secrets_never_reach_helm_or_its_release(
    fake_helm: FakeHelm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real adapter and pyhelm3: no secret value in helm's argv, on its stdin values,
    or in what `helm get values` gives back (issue 7 section 3)."""
    from obsctl.targets.kubernetes import KubernetesTarget
    from tests.fakekube.fixtures import make_env
    from tests.fakekube.platform import write_fake_kps_chart

    receivers = (
        "receivers: [{name: team, webhooks: [{url_env: TEAM_HOOK}], slack: [{api_url_env: SLACK_HOOK, channel: '#a'}]}]"
    )
    env = make_env(tmp_path, tmp_path / "kubeconfig", extra_alerting=receivers)
    monkeypatch.setenv("TEAM_HOOK", "https://hooks.invalid/S3CRET-team")
    monkeypatch.setenv("SLACK_HOOK", "https://hooks.invalid/S3CRET-slack")
    t = KubernetesTarget(env)
    write_fake_kps_chart(t.chart_cache.parent)
    t._helm = h.Helm(str(fake_helm.executable), tmp_path / "kubeconfig", "fake-a", timeout=30)
    assert t._install_kps().startswith("installed kube-prometheus-stack 88.5.3")
    assert "S3CRET" not in json.dumps(fake_helm.state())  # argv, stdin values, stored release
    upgrade = fake_helm.calls[-1]
    assert "--skip-crds" in upgrade  # obsctl applies the CRDs itself
    got = t.helm.release_marker(t.k.kps_release, t.mon_ns)
    assert isinstance(got, dict) and got["environment"] == "lab" and len(got["chartDigest"]) == 16


# --- helm's stderr -> obsctl errors ----------------------------------------------------------
# Each message below is what the real helm 4.1.4 printed (command in the comment; the API at
# 127.0.0.1:PORT was tests/fakekube/helmapi.py); tests/integration/test_helm_binary.py provokes
# most of them again with the real binary.
HELM4_STDERR = {
    # helm status x --kube-apiserver http://127.0.0.1:1
    "unreachable": 'Error: kubernetes cluster unreachable: Get "http://127.0.0.1:1/version": dial tcp 127.0.0.1:1:'
    " connect: connection refused",
    # helm status x --kube-apiserver http://no-such-host.invalid:6443
    "unknown host": 'Error: kubernetes cluster unreachable: Get "http://no-such-host.invalid:6443/version": dial tcp:'
    " lookup no-such-host.invalid on 10.255.255.53:53: no such host",
    # helm status x -n mon (no such release)
    "no release": "Error: release: not found",
    # helm uninstall x -n mon (no such release)
    "no release to uninstall": "Error: uninstall: Release not loaded: x: release: not found",
    # helm show chart empty --repo http://127.0.0.1:PORT --version 9.9.9
    "no version": 'Error: chart "empty" version "9.9.9" not found in http://127.0.0.1:18570 repository',
    # helm show chart nope --repo http://127.0.0.1:PORT
    "no chart": 'Error: chart "nope" not found in http://127.0.0.1:18570 repository',
    # helm show chart empty --repo http://127.0.0.1:1 --version 1.2.3
    "repo down": 'Error: looks like "http://127.0.0.1:1" is not a valid chart repository or cannot be reached:'
    ' Get "http://127.0.0.1:1/index.yaml": dial tcp 127.0.0.1:1: connect: connection refused',
    # helm show chart oci://127.0.0.1:1/charts/x --version 1.0.0
    "registry down": 'Error: failed to perform "FetchReference" on source: Get'
    ' "https://127.0.0.1:1/v2/charts/x/manifests/1.0.0": dial tcp 127.0.0.1:1: connect: connection refused',
    # helm upgrade other CHART --install ... (a ConfigMap of that name exists, not helm's)
    "exists": 'Error: unable to continue with install: ConfigMap "other-cm" in namespace "mon" exists and cannot be'
    " imported into the current release: invalid ownership metadata; label validation error: missing key"
    ' "app.kubernetes.io/managed-by": must be set to "Helm"',
    # helm upgrade ... (the API server answers 422), here the kube-prometheus-stack symptom of helm/helm#30923
    "invalid": 'Error: UPGRADE FAILED: Prometheus.monitoring.coreos.com "kps-kube-prometheus-stack-prometheus" is'
    " invalid: spec.maximumStartupDurationSeconds: Invalid value: 0: spec.maximumStartupDurationSeconds in body"
    " should be greater than or equal to 60",
    # helm template r CHART (a template calls fail)
    "fail": "Error: execution error at (failc/templates/x.yaml:1:3): boom: bad value\n\n"
    "Use --debug flag to render out invalid YAML",
    # helm template r CHART (a template reads .Values.nope.x)
    "nil": 'Error: failc/templates/x.yaml:5:16\n  executing "failc/templates/x.yaml" at <.Values.nope.x>:\n'
    "    nil pointer evaluating interface {}.x\n\nUse --debug flag to render out invalid YAML",
    # helm template r CHART (a template renders broken YAML)
    "yaml": "Error: YAML parse error on failc/templates/x.yaml: error converting YAML to JSON: yaml: line 5: did"
    " not find expected node content\n\nUse --debug flag to render out invalid YAML",
}


def failing_helm(folder: Path, stderr: str) -> str:
    """A helm that knows its version (v4.1.4) and fails everything else with `stderr`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stderr.txt").write_text(stderr + "\n")
    exe = folder / "helm"
    exe.write_text(
        f'#!/bin/sh\nif [ "$1" = version ]; then printf v4.1.4; exit 0; fi\ncat "{folder / "stderr.txt"}" >&2\nexit 1\n'
    )
    exe.chmod(0o755)
    return str(exe)


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("unreachable", "ConnectionError"),
        ("unknown host", "ConnectionError"),
        ("no release", "ReleaseNotFoundError"),
        ("no release to uninstall", "ReleaseNotFoundError"),
        ("no version", "ChartNotFoundError"),
        ("no chart", "ChartNotFoundError"),
        ("repo down", "ChartNotFoundError"),
        ("registry down", "ChartNotFoundError"),
        ("exists", "ResourceAlreadyExistsError"),
        ("invalid", "InvalidResourceError"),
        ("fail", "FailedToRenderChartError"),
        ("nil", "FailedToRenderChartError"),
        ("yaml", "FailedToRenderChartError"),
    ],
)
def test_helm4_stderr_maps_to_pyhelm3_errors(tmp_path: Path, case: str, error: str) -> None:
    import asyncio

    from pyhelm3 import errors as e

    command = h._exec_command_class()(executable=failing_helm(tmp_path, HELM4_STDERR[case]))
    with pytest.raises(e.Error) as info:
        asyncio.run(command.run(["status", "x"]))
    assert type(info.value).__name__ == error


@pytest.mark.parametrize(
    ("case", "kind", "says", "hint"),
    [
        ("unreachable", Unreachable, "helm cannot reach the cluster", "kube context"),  # exit 1: not bad input
        ("repo down", ToolError, "the chart repository cannot be reached", "kps_repo_url"),
        ("registry down", ToolError, "the chart repository cannot be reached", "oci://"),
        ("no version", ToolError, "chart not found", "kps_chart_version"),
        ("exists", ToolError, "a resource already exists outside this release", "delete it"),
        ("invalid", ToolError, "the API server rejected a resource", None),
        ("nil", ToolError, "the chart failed to render", "obsctl render"),
    ],
)
def test_helm4_failures_become_one_line_obsctl_errors(
    tmp_path: Path, case: str, kind: type[ObsctlError], says: str, hint: str | None
) -> None:
    helm = h.Helm(failing_helm(tmp_path, HELM4_STDERR[case]), tmp_path / "kubeconfig", "fake-a", timeout=30)
    with pytest.raises(ObsctlError) as info:
        helm.ensure_release("kps", KPS, "monitoring", VALUES)
    assert type(info.value) is kind
    assert says in info.value.message and "\n" not in info.value.message
    assert hint is None or hint in (info.value.hint or "")


def test_status_of_a_missing_release_is_none_with_helm4s_message(tmp_path: Path) -> None:
    helm = h.Helm(failing_helm(tmp_path, HELM4_STDERR["no release"]), tmp_path / "kubeconfig", "fake-a", timeout=30)
    assert helm.status("kps", "monitoring") is None
