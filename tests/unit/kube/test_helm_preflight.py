"""A helm that obsctl refuses (3.18.0: helm/helm#30923) stops the cluster targets before anything
happens. `KubernetesTarget.preflight()`, its `helm` property, `EksTarget.check_tools()` and
`obsctl doctor` ask `helm version` and nothing else: no other helm call, no Kubernetes API request."""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from obsctl import cli, config, console, lifecycle
from obsctl.errors import PreflightError
from obsctl.targets.eks import EksTarget
from obsctl.targets.kubernetes import KubernetesTarget
from obsctl.tools import binaries
from tests.fakekube import FakeKube
from tests.fakekube.fakehelm import PINNED_VERSION, FakeHelm


def helm_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str) -> FakeHelm:
    """The only helm obsctl can find: no project .tools/bin, a fake helm first on PATH."""
    monkeypatch.setattr(binaries, "PROJECT_BIN", tmp_path / "no-project-tools")
    helm = FakeHelm(tmp_path / "bin", version=version)
    for key, value in helm.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", f"{helm.executable.parent}{os.pathsep}{os.environ['PATH']}")
    return helm


@pytest.fixture
def helm318(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHelm:
    return helm_on_path(tmp_path, monkeypatch, "v3.18.0")


def assert_refused_for_30923(error: PreflightError) -> None:
    assert error.message.startswith("helm 3.18.0 at ") and "helm/helm#30923" in error.message
    assert "scripts/install-helm.py installs Helm 4.1.4" in (error.hint or "")


def test_cluster_preflight_refuses_318_before_any_api_call(
    target: KubernetesTarget, fake: FakeKube, helm318: FakeHelm
) -> None:
    with pytest.raises(PreflightError) as info:
        target.preflight()
    assert_refused_for_30923(info.value)
    assert helm318.all_calls == [["version", "--short"]]
    assert fake.requests == []


class Stages:
    def __init__(self) -> None:
        self.started: list[str] = []

    def stage_started(self, verb: str, stage: str) -> None:
        self.started.append(stage)

    def stage_done(self, verb: str, stage: str, seconds: float, detail: str, ok: bool) -> None:
        pass


def test_up_refuses_318_in_its_first_stage(
    cluster_env: config.Environment, target: KubernetesTarget, fake: FakeKube, helm318: FakeHelm
) -> None:
    """`obsctl up` on a cluster: refused before the namespaces, the Grafana Secret or any release."""
    seen = Stages()
    with pytest.raises(PreflightError) as info:
        lifecycle.up(cluster_env, seen, target=target)
    assert seen.started == ["preflight"]
    assert_refused_for_30923(info.value)
    assert helm318.all_calls == [["version", "--short"]]
    assert fake.requests == []


def test_the_helm_client_refuses_318_too(target: KubernetesTarget, fake: FakeKube, helm318: FakeHelm) -> None:
    """A stage that reaches helm without the preflight (status, down) is refused the same way."""
    with pytest.raises(PreflightError) as info:
        _ = target.helm
    assert_refused_for_30923(info.value)
    assert helm318.all_calls == [["version", "--short"]]
    assert fake.requests == []


def test_cluster_preflight_passes_with_the_pinned_helm(
    target: KubernetesTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helm = helm_on_path(tmp_path, monkeypatch, PINNED_VERSION)
    target.preflight()
    assert helm.all_calls == [["version", "--short"]]


def test_eks_check_tools_refuses_318(tmp_path: Path, helm318: FakeHelm, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "obsctl.yaml"
    path.write_text(
        textwrap.dedent(
            """
            default_environment: dev
            environments:
              dev:
                target: eks
                aws: {region: eu-west-1, cluster_name: obsctl-dev}
            """
        )
    )
    eks = EksTarget(config.load(str(path), "dev"))
    monkeypatch.setattr(eks.terraform, "version", lambda: (1, 11, 4))  # asked first; not what this test is about
    with pytest.raises(PreflightError) as info:
        eks.check_tools()
    assert_refused_for_30923(info.value)
    assert helm318.all_calls == [["version", "--short"]]


def doctor(cluster_env: config.Environment, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    out = io.StringIO()
    monkeypatch.setattr(console, "_console", Console(file=out, width=1000, color_system=None))
    result = CliRunner().invoke(cli.app, ["doctor", "--config", str(cluster_env.config_path), "--env", "lab"])
    return result.exit_code, out.getvalue()


def test_doctor_lists_318_as_broken_and_exits_1(
    cluster_env: config.Environment, fake: FakeKube, helm318: FakeHelm, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = doctor(cluster_env, monkeypatch)
    assert code == 1, out
    row = next(line for line in out.splitlines() if line.strip("│ ").startswith("helm "))
    assert "broken" in row and "helm 3.18.0" in row and "helm/helm#30923" in row
    assert "broken: helm 3.18.0 at" in out and "fix: python3 scripts/install-helm.py installs Helm 4.1.4" in out
    assert helm318.all_calls == [["version", "--short"]]
    assert fake.requests == []


def test_doctor_passes_the_pinned_helm(
    cluster_env: config.Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helm_on_path(tmp_path, monkeypatch, PINNED_VERSION)
    code, out = doctor(cluster_env, monkeypatch)
    row = next(line for line in out.splitlines() if line.strip("│ ").startswith("helm "))
    assert "found" in row and f"{PINNED_VERSION}+g05fa379" in row
    assert code == 0, out


def test_render_refuses_318_too(cluster_env: config.Environment, helm318: FakeHelm) -> None:
    """`obsctl render` is how a user reviews what `up` applies: never with a helm that renders it wrong."""
    with pytest.raises(PreflightError, match="helm 3.18.0 .* is known to break the platform"):
        KubernetesTarget(cluster_env).render()
