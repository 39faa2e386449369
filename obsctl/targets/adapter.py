"""prometheus-adapter on the cluster targets: installed only with `app.autoscaling`, after
kube-prometheus-stack (it queries that release's Prometheus) and before the app chart (whose
HorizontalPodAutoscaler reads the metric it serves), removed before kube-prometheus-stack.

The chart is handled like kube-prometheus-stack's: pinned (`kubernetes.adapter_chart_version`),
fetched once into .obsctl/<env>/charts/prometheus-adapter-<version>/ (later runs need no chart
repository), or read from a local unpacked copy whose Chart.yaml must be the pinned version. The
release carries obsctl's mark in its values and is upgraded or uninstalled only when the mark
says this environment installed it (KubernetesTarget's release checks do that).

The chart registers the APIService v1beta1.custom.metrics.k8s.io (cluster-scoped): while its
Pods are not ready the API server reports that group unavailable, so `down` removes the release
before the namespaces, and the adapter runs two replicas behind a PodDisruptionBudget.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from obsctl import render as r
from obsctl.targets import autoscaling
from obsctl.targets.charts import PinnedChart
from obsctl.tools import helm as h

if TYPE_CHECKING:
    from obsctl.targets.kubernetes import KubernetesTarget

ADAPTER_CHART_NAME = "prometheus-adapter"
APISERVICE = "v1beta1.custom.metrics.k8s.io"
# The adapter lists series every relist interval and answers each HPA query (every 15 s) with one
# PromQL query: a small, steady load. Sized from the chart's own commented example.
ADAPTER_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "50m", "memory": "128Mi"},
    "limits": {"cpu": "250m", "memory": "256Mi"},
}
RELIST_INTERVAL = "1m"  # the chart's default; new Pods' series are seen within it
# `helm template` knows only client-go's built-in API groups; the chart picks the APIService's
# apiVersion with .Capabilities.APIVersions.Has "apiregistration.k8s.io/v1", which every
# supported cluster (>= 1.25) serves and `helm install` reads from the cluster.
TEMPLATE_API_VERSIONS = ("apiregistration.k8s.io/v1",)


class Adapter:
    """prometheus-adapter for one KubernetesTarget."""

    def __init__(self, target: KubernetesTarget) -> None:
        self.t = target
        self.k = target.k

    @property
    def enabled(self) -> bool:
        return self.t.spec.app.autoscaling is not None

    @property
    def release(self) -> str:
        return self.k.adapter_release

    # -- the chart ---------------------------------------------------------------------------------

    @property
    def chart(self) -> PinnedChart:
        return PinnedChart(
            name=ADAPTER_CHART_NAME,
            chart=self.k.adapter_chart,
            repo_url=self.k.kps_repo_url,
            version=self.k.adapter_chart_version,
            setting="kubernetes.adapter_chart",
            state_dir=self.t.env.state_dir,
            relative=self.t._rel,
        )

    def chart_dir(self) -> Path | None:
        return self.chart.on_disk()

    def chart_stage(self) -> str:
        return self.chart.fetch(self.t.helm)

    def require_chart(self) -> Path:
        return self.chart.require(self.t.env.name)

    # -- values ------------------------------------------------------------------------------------

    def prometheus_url(self) -> tuple[str, int]:
        """kube-prometheus-stack's Prometheus Service, by its in-cluster DNS name."""
        service, port, _ = self.t.services()["prometheus"]
        return f"http://{service}.{self.t.mon_ns}.svc", port

    def rule(self) -> dict[str, Any]:
        window = autoscaling.rate_window(self.t.spec.scrape.interval)
        return autoscaling.adapter_rule(autoscaling.CLUSTER_LABELS, window)

    def values_text(self) -> str:
        from obsctl.targets.kubernetes import render_helm_values

        url, port = self.prometheus_url()
        chart = self.chart_dir()
        ctx: dict[str, Any] = {
            "release": self.release,
            "prometheus_url": url,
            "prometheus_port": port,
            "rule": self.rule(),
            "relist_interval": RELIST_INTERVAL,
            "resources": ADAPTER_RESOURCES,
            "obsctl_marker": {"environment": self.t.owner, **({"chartDigest": r.tree_digest(chart)} if chart else {})},
        }
        return render_helm_values(self.t._content("helm-values"), "prometheus-adapter.yaml.j2", ctx)

    # -- up / down ---------------------------------------------------------------------------------

    def install(self) -> str:
        import yaml

        values = yaml.safe_load(self.values_text()) or {}
        chart = h.ChartRef(str(self.require_chart()))
        return self.t.helm.ensure_release(self.release, chart, self.t.mon_ns, values)

    def template(self, helm: h.Helm, values_text: str) -> str | None:
        """The release's manifests (`helm template`), or None while the chart is not on disk."""
        import yaml

        chart = self.chart_dir()
        if chart is None:
            return None
        values = yaml.safe_load(values_text) or {}
        return helm.template(
            self.release, h.ChartRef(str(chart)), self.t.mon_ns, values, api_versions=TEMPLATE_API_VERSIONS
        )
