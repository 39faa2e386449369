"""pytest fixtures around the fake API: import them into a test module (`from ... import *`-free:
name each one) so tests under unit/ and integration/ share them without a shared conftest."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from obsctl import config
from obsctl.targets.kubernetes import KubernetesTarget
from tests.conftest import make_project
from tests.fakekube import FakeKube
from tests.fakekube.fakehelm import FakeHelm


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        yield server


@pytest.fixture
def kubeconfig(fake: FakeKube, tmp_path: Path) -> Path:
    return fake.kubeconfig(tmp_path / "kubeconfig", current="fake-a")


def cluster_config(kubeconfig: Path, wait_timeout: str = "3s", extra_alerting: str = "") -> str:
    return textwrap.dedent(
        f"""
        default_environment: lab
        environments:
          lab:
            target: kubernetes
            app: {{replicas: 2}}
            scrape: {{interval: 1s, evaluation_interval: 1s}}
            alerting:
              for_overrides: {{FastAPIPodDown: 2s}}
              {extra_alerting}
            kubernetes:
              context: fake-a
              kubeconfig: {kubeconfig}
              kps_chart_version: 88.5.3
              wait_timeout: {wait_timeout}
        slos:  # the SLO rules reach the PrometheusRule and the checklist looks for them
          - {{name: availability, objective: 99.5, sli: {{type: availability}}}}
        """
    )


def make_env(
    tmp_path: Path, kubeconfig: Path, wait_timeout: str = "3s", extra_alerting: str = ""
) -> config.Environment:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    path = make_project(project, cluster_config(kubeconfig, wait_timeout, extra_alerting))
    return config.load(str(path), "lab")


@pytest.fixture
def cluster_env(tmp_path: Path, kubeconfig: Path) -> config.Environment:
    return make_env(tmp_path, kubeconfig)


@pytest.fixture
def target(cluster_env: config.Environment) -> Iterator[KubernetesTarget]:
    t = KubernetesTarget(cluster_env)
    yield t
    if t._kube is not None:
        t._kube.close()


@pytest.fixture
def fake_helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHelm:
    helm = FakeHelm(tmp_path / "fakehelm")
    for key, value in helm.env().items():
        monkeypatch.setenv(key, value)
    return helm
