"""cluster-autoscaler on eks (`aws.node_autoscaler: cluster-autoscaler`): its values, rendered
with the real helm over a stand-in chart (tests/fakekube/node_autoscaler.py) and validated with the
other manifests; its place in `up` and `down`; nothing of it anywhere else."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from obsctl import config
from obsctl.targets import node_autoscaler as na
from obsctl.targets.kubernetes import KubernetesTarget
from obsctl.tools import binaries
from obsctl.tools import manifests as m
from tests.conftest import make_project
from tests.fakekube.node_autoscaler import write_fake_node_autoscaler_chart

pytestmark = pytest.mark.integration


def eks_env(
    tmp_path: Path, node_autoscaler: str = "cluster-autoscaler", chart: Path | None = None
) -> config.Environment:
    kubernetes = f"kubernetes: {{node_autoscaler_chart: {chart}}}" if chart else ""
    text = f"""
    default_environment: prod
    environments:
      prod:
        target: eks
        aws:
          region: eu-west-1
          cluster_name: obsctl-prod
          kubernetes_version: "1.32"
          node_min_size: 2
          node_max_size: 5
          node_autoscaler: {node_autoscaler}
        {kubernetes}
    """
    return config.load(str(make_project(tmp_path, textwrap.dedent(text))), "prod")


@pytest.fixture(autouse=True)
def helm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if binaries.find("helm") is None:
        pytest.skip("helm is not installed; run scripts/install-helm.py (../shared/TOOLS.md)")
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "helm-home" / var.lower()))


def test_values_and_manifests_name_the_cluster_and_the_pod_identity_account(tmp_path: Path) -> None:
    chart = write_fake_node_autoscaler_chart(tmp_path / "charts")
    env = eks_env(tmp_path, chart=chart)
    KubernetesTarget(env).render()
    values = yaml.safe_load((env.rendered_dir / "helm/cluster-autoscaler.values.yaml").read_text())
    assert values["obsctl"]["environment"] == "prod"
    assert (values["cloudProvider"], values["awsRegion"]) == ("aws", "eu-west-1")
    assert values["autoDiscovery"] == {"clusterName": "obsctl-prod"}
    assert values["rbac"]["serviceAccount"] == {"create": True, "name": na.SERVICE_ACCOUNT}
    assert values["image"]["tag"] == "v1.32.0"  # the cluster's minor version
    docs = m.parse_stream((env.rendered_dir / "manifests/cluster-autoscaler.yaml").read_text())
    assert [p for p in m.Validator().validate(docs)] == []
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["metadata"]["namespace"] == na.NAMESPACE == "kube-system"
    assert pod["serviceAccountName"] == na.SERVICE_ACCOUNT
    command = pod["containers"][0]["command"]
    assert (
        "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/obsctl-prod"
        in (command)
    )
    assert "--balance-similar-node-groups=true" in command and "--expander=least-waste" in command
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    [policy] = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert policy["metadata"]["namespace"] == "kube-system"
    assert label_selector_selects(policy["spec"]["podSelector"], deployment["spec"]["template"]["metadata"]["labels"])
    assert "ingress" not in policy["spec"]  # nothing admitted


def label_selector_selects(selector: dict[str, dict[str, str]], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def test_a_chart_of_another_version_is_refused(tmp_path: Path) -> None:
    from obsctl.errors import PreflightError

    chart = write_fake_node_autoscaler_chart(tmp_path / "charts", version="9.40.0")
    with pytest.raises(PreflightError) as info:
        KubernetesTarget(eks_env(tmp_path, chart=chart)).render()
    assert "is version 9.40.0, kubernetes.node_autoscaler_chart_version pins 9.59.0" in info.value.message


def test_its_place_in_up_and_down(tmp_path: Path) -> None:
    t = KubernetesTarget(eks_env(tmp_path))
    up = [s.name for s in t.up_stages()]
    assert up.index("cluster-autoscaler chart") < up.index("cluster-autoscaler") < up.index("kube-prometheus-stack")
    down = [s.name for s in t.down_stages(purge=False)]
    assert down.index("app chart") < down.index("cluster-autoscaler") < down.index("kube-prometheus-stack")
    assert (na.RELEASE, na.NAMESPACE) in t.releases()  # checked for a foreign release by preflight


@pytest.mark.parametrize("setting", ["none", None])
def test_nothing_without_it(tmp_path: Path, setting: str | None) -> None:
    if setting is None:  # a kubernetes environment has no node group of obsctl's
        path = make_project(
            tmp_path,
            "default_environment: k\nenvironments:\n  k: {target: kubernetes, kubernetes: {context: c}}\n",
        )
        t = KubernetesTarget(config.load(str(path), "k"))
    else:
        t = KubernetesTarget(eks_env(tmp_path, node_autoscaler=setting))
    assert not t.node_autoscaler.enabled
    assert "cluster-autoscaler" not in [s.name for s in t.up_stages()] + [s.name for s in t.down_stages(False)]
    assert (na.RELEASE, na.NAMESPACE) not in t.releases()
    t.render()
    assert not (t.env.rendered_dir / "helm/cluster-autoscaler.values.yaml").exists()
