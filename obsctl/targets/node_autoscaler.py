"""Cluster Autoscaler on eks environments with `aws.node_autoscaler: cluster-autoscaler`.

Terraform (terraform/node_autoscaler.tf) makes its IAM role and the EKS Pod Identity association
for the service account `kube-system/cluster-autoscaler`; this installs the chart
(kubernetes/autoscaler `cluster-autoscaler`, pinned, fetched once like kube-prometheus-stack)
running as exactly that service account, after kube-prometheus-stack and before the app, and
removes it on `down` before the rest (nodes it added are then left to Terraform's destroy, which
deletes the node group with them). Only a release carrying obsctl's mark is ever upgraded or
uninstalled (KubernetesTarget's release checks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from obsctl import render as r
from obsctl.config import EksEnv
from obsctl.targets.charts import PinnedChart
from obsctl.tools import helm as h

if TYPE_CHECKING:
    from obsctl.targets.kubernetes import KubernetesTarget

CHART_NAME = "cluster-autoscaler"
RELEASE = "cluster-autoscaler"
NAMESPACE = "kube-system"  # terraform/node_autoscaler.tf local.cluster_autoscaler_namespace
SERVICE_ACCOUNT = "cluster-autoscaler"  # terraform/node_autoscaler.tf local.cluster_autoscaler_service_account
# It simulates scheduling over every Pod and node each 10 s: a few hundred MiB on small clusters.
RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "50m", "memory": "300Mi"},
    "limits": {"cpu": "500m", "memory": "600Mi"},
}


class NodeAutoscaler:
    """The cluster-autoscaler release of one eks environment."""

    def __init__(self, target: KubernetesTarget) -> None:
        self.t = target
        self.k = target.k

    @property
    def enabled(self) -> bool:
        spec = self.t.spec
        return isinstance(spec, EksEnv) and spec.aws.node_autoscaler == "cluster-autoscaler"

    @property
    def chart(self) -> PinnedChart:
        return PinnedChart(
            name=CHART_NAME,
            chart=self.k.node_autoscaler_chart,
            repo_url=self.k.node_autoscaler_repo_url,
            version=self.k.node_autoscaler_chart_version,
            setting="kubernetes.node_autoscaler_chart",
            state_dir=self.t.env.state_dir,
            relative=self.t._rel,
        )

    def image_tag(self) -> str:
        """The autoscaler's minor version must match the cluster's (its scheduler simulation is
        built from that Kubernetes release): the first patch of that minor."""
        assert isinstance(self.t.spec, EksEnv)
        return f"v{self.t.spec.aws.kubernetes_version}.0"

    def values_text(self) -> str:
        from obsctl.targets.kubernetes import render_helm_values

        spec = self.t.spec
        assert isinstance(spec, EksEnv)
        chart = self.chart.on_disk()
        ctx: dict[str, Any] = {
            "cluster_name": spec.aws.cluster_name,
            "region": spec.aws.region,
            "service_account": SERVICE_ACCOUNT,
            "image_tag": self.image_tag(),
            "resources": RESOURCES,
            "obsctl_marker": {"environment": self.t.owner, **({"chartDigest": r.tree_digest(chart)} if chart else {})},
        }
        return render_helm_values(self.t._content("helm-values"), "cluster-autoscaler.yaml.j2", ctx)

    def chart_stage(self) -> str:
        return self.chart.fetch(self.t.helm)

    def install(self) -> str:
        import yaml

        values = yaml.safe_load(self.values_text()) or {}
        chart = h.ChartRef(str(self.chart.require(self.t.env.name)))
        return self.t.helm.ensure_release(RELEASE, chart, NAMESPACE, values)

    def template(self, helm: h.Helm, values_text: str) -> str | None:
        """The release's manifests (`helm template`), or None while the chart is not on disk."""
        import yaml

        chart = self.chart.on_disk()
        if chart is None:
            return None
        return helm.template(RELEASE, h.ChartRef(str(chart)), NAMESPACE, yaml.safe_load(values_text) or {})
