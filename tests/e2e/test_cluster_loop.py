"""The whole loop on a real cluster: up, up again, verify --fire-drill, down, and what survives.

Runs only when OBSCTL_E2E_KUBE_CONTEXT names a kube context (kind, k3d, a disposable cluster:
it installs kube-prometheus-stack into a namespace the test creates first, holding another
"team's" Deployment, PVC and LoadBalancer Service, and into `obsctl-e2e-app`). The cluster must
be able to run the app image (OBSCTL_E2E_IMAGE=repo:tag, e.g. loaded with `kind load`) and reach
the kube-prometheus-stack chart repository once. OBSCTL_E2E_DISTRIBUTION (kind, k3d, kubeadm,
managed, generic; default generic) is the cluster's kubernetes.distribution: with anything but
generic, the test also requires that no alert fires except Watchdog and InfoInhibitor.

What it proves on a real API server: the release is accepted (the CRD schemas, the operator),
the adopted namespace and the foreign objects in it survive up and down untouched, the app's
metrics are read past its NetworkPolicy, and the alerts of a fresh cluster are quiet."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

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


FOREIGN_NS = "obsctl-e2e-theirs"
QUIET = {"Watchdog", "InfoInhibitor"}


def _foreign(core: Any, apps: Any) -> dict[str, str]:
    """Another team's namespace and objects; returns kind -> resourceVersion to compare after."""
    from kubernetes import client

    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=FOREIGN_NS)))
    labels = {"app": "theirs"}
    apps.create_namespaced_deployment(
        FOREIGN_NS,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="theirs"),
            spec=client.V1DeploymentSpec(
                replicas=0,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="registry.k8s.io/pause:3.9")]),
                ),
            ),
        ),
    )
    core.create_namespaced_persistent_volume_claim(
        FOREIGN_NS,
        client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name="theirs"),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                resources=client.V1VolumeResourceRequirements(requests={"storage": "1Mi"}),
            ),
        ),
    )
    core.create_namespaced_service(
        FOREIGN_NS,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="theirs"),
            spec=client.V1ServiceSpec(type="LoadBalancer", selector=labels, ports=[client.V1ServicePort(port=80)]),
        ),
    )
    return _versions(core, apps)


def _versions(core: Any, apps: Any) -> dict[str, str]:
    return {
        "deployment": apps.read_namespaced_deployment("theirs", FOREIGN_NS).metadata.uid,
        "pvc": core.read_namespaced_persistent_volume_claim("theirs", FOREIGN_NS).metadata.uid,
        "service": core.read_namespaced_service("theirs", FOREIGN_NS).metadata.uid,
        "namespace": core.read_namespace(FOREIGN_NS).metadata.uid,
    }


def test_cluster_loop(tmp_path: Path) -> None:
    from kubernetes import client
    from kubernetes import config as kconfig

    image = os.environ.get("OBSCTL_E2E_IMAGE", "ghcr.io/obsctl/obsctl-app:0.1.0")
    distribution = os.environ.get("OBSCTL_E2E_DISTRIBUTION", "generic")
    repo, tag = image.rsplit(":", 1)
    api = kconfig.new_client_from_config(context=CONTEXT)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    theirs = _foreign(core, apps)
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
                  distribution: {distribution}
                  monitoring_namespace: {FOREIGN_NS}
                  app_namespace: obsctl-e2e-app
                  prometheus_storage: 1Gi
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
        if distribution != "generic":  # a fresh cluster of a known kind is quiet
            from obsctl import config as obsconfig
            from obsctl.targets.kubernetes import KubernetesTarget

            target = KubernetesTarget(obsconfig.load(str(config), "e2e"))
            firing = {a["labels"]["alertname"] for a in target.prometheus("api/v1/alerts")["alerts"]}
            assert firing - QUIET == set(), firing
    finally:
        down = run(config, "down", "--yes")
        assert down.returncode == 0, down.stdout + down.stderr
        try:
            assert _versions(core, apps) == theirs  # the adopted namespace and its objects: untouched
            assert "kept: obsctl did not create it" in down.stdout
        finally:
            core.delete_namespace(FOREIGN_NS)
    from obsctl.tools.kube import Kube

    kube = Kube(None, CONTEXT)
    assert kube.namespace_phase("obsctl-e2e-app") is None
