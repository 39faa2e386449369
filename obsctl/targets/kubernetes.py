"""The `kubernetes` target: the platform installed with Helm on an existing kube context.

`eks` is this target with Terraform before and after it: it constructs `KubernetesTarget`
with the kubeconfig and context it wrote for the new cluster.

up:   preflight (kube context, API reachable, a helm that renders values right, no foreign
      release or Secret in the way, every receiver secret set) -> kube-prometheus-stack chart
      (pinned, fetched once into .obsctl/<env>/charts/) -> render (and validate the chart's
      manifests against its own CRD schemas) -> namespaces -> Secrets -> CRDs at the chart's
      version (server-side apply; Helm never upgrades crds/) -> CRDs Established ->
      kube-prometheus-stack -> app chart -> rollouts.
down: preflight -> app chart -> obsctl's LoadBalancer Services and PVCs -> kube-prometheus-stack
      -> their volumes released -> obsctl's Secrets -> obsctl's namespaces, waited until gone.

Ownership (README.md, "What obsctl owns"): obsctl deletes only what it created. Namespaces and Secrets carry its
mark (tools/kube/ownership.py `owner_marks`), releases carry it in their values (`obsctl.environment`),
and PVCs / LoadBalancer Services are obsctl's only when they belong to one of its releases. A
namespace that existed before is adopted as it is and never deleted; a release or Secret of
the same name that is not obsctl's makes `up` refuse before anything changes.

Every stage reads the state first and acts on the difference, so each is safe to repeat.
Every wait is bounded by `kubernetes.wait_timeout` and fails with the last state it saw.
What is applied is exactly what `obsctl render` writes under .obsctl/<env>/rendered/.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from obsctl import bundled
from obsctl import render as r
from obsctl.config import (
    CONTROL_PLANE_COMPONENTS,
    CONTROL_PLANE_SCRAPED,
    LAPTOP_DISTRIBUTIONS,
    EksEnv,
    Environment,
    KubernetesEnv,
    KubernetesSettings,
    duration_seconds,
)
from obsctl.errors import ConfigError, InputError, PreflightError, ToolError, Unreachable
from obsctl.targets import autoscaling, node_autoscaler
from obsctl.targets.adapter import Adapter
from obsctl.targets.base import Health, LogOutput, Rendered, Stage, StatusRow
from obsctl.targets.charts import PinnedChart
from obsctl.targets.node_autoscaler import NodeAutoscaler
from obsctl.tools import binaries
from obsctl.tools import helm as h
from obsctl.tools import kube as k

APP_CHART_NAME = "obsctl-app"
GRAFANA_USER = "admin"
# requests/limits per kube-prometheus-stack component (helm-values/kube-prometheus-stack.yaml.j2):
# sized for a two-node cluster running the demo; raise them for real traffic.
KPS_RESOURCES: dict[str, dict[str, Any]] = {
    "prometheus": {"requests": {"cpu": "200m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
    "alertmanager": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
    "grafana": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    "prometheus_operator": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    "kube_state_metrics": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
    "node_exporter": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
}
FORCE_FINALIZERS_ENV = "OBSCTL_FORCE_FINALIZERS"
KPS_CHART_NAME = "kube-prometheus-stack"
# The Prometheus CRD (88.5.3: charts/crds/crds/crd-prometheuses.yaml) requires
# maximumStartupDurationSeconds >= 60. The chart's own default is 0 behind `{{ if }}`, and helm
# 3.18.0 hands a number from a chart's values.yaml to templates as a json.Number that `if` finds
# true (helm/helm#30923; prometheus-community/helm-charts#5690), so it renders the 0 and the API
# server rejects the object. A number obsctl supplies (JSON on stdin) arrives as a float and every
# helm, 3.18.0 included, skips a 0; so obsctl restates 0 rather than leaving the default to helm.
# 0 keeps the operator's own startup probe (15 s x 60); any value >= 60 would switch it to a 60 s
# period. Checked by hand with the real chart under helm 3.18.0 and 4.1.4 (see the issue 7 note);
# `obsctl render` validates the result against the chart's CRDs whenever the chart is on disk.
PROMETHEUS_MAX_STARTUP_SECONDS = 0
# On eks, Prometheus' volume is an EBS volume made by the EBS CSI driver. Its add-on cannot make
# an encrypted default class (its configuration has no StorageClass parameters), so obsctl makes
# this one: gp3, encrypted with the account's aws/ebs key (no extra IAM), deleted with its claim
# (a Retain volume would outlive `down`), bound where the Pod lands (volumes are zonal). The
# driver tags every volume with obsctl.io/cluster (terraform/eks.tf extraVolumeTags), which is how
# `down` waits for them and the leftover scan finds them.
EKS_STORAGE_CLASS: dict[str, Any] = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {
        "name": "obsctl-gp3-encrypted",
        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
    },
    "provisioner": "ebs.csi.aws.com",
    "parameters": {"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
    "reclaimPolicy": "Delete",
    "volumeBindingMode": "WaitForFirstConsumer",
    "allowVolumeExpansion": True,
}
# helm-values key of each control-plane component (config.CONTROL_PLANE_COMPONENTS)
CONTROL_PLANE_VALUES = {
    "controller_manager": "kubeControllerManager",
    "scheduler": "kubeScheduler",
    "etcd": "kubeEtcd",
    "kube_proxy": "kubeProxy",
}


def render_helm_values(folder: Path, name: str, context: dict[str, Any]) -> str:
    """Render a helm-values/*.j2 template (jinja's default whitespace handling)."""
    return r.render_template(folder, name, context, trim=False)


def _trunc(name: str, n: int) -> str:
    return name[:n].rstrip("-")


class KubernetesTarget:
    def __init__(self, env: Environment, kubeconfig: Path | None = None, context: str | None = None) -> None:
        assert isinstance(env.spec, KubernetesEnv | EksEnv)
        self.env = env
        self.spec: KubernetesEnv | EksEnv = env.spec
        self.k: KubernetesSettings = env.spec.kubernetes
        configured = Path(self.k.kubeconfig).expanduser() if self.k.kubeconfig else None
        self.kubeconfig: Path | None = kubeconfig or configured
        self.context: str | None = context or self.k.context
        self.wait_timeout: float = duration_seconds(self.k.wait_timeout)
        self.rendered = env.rendered_dir
        # eks sets this to its ECR repository before `up`
        self.image_repository: str | None = None
        self._kube: k.Kube | None = None
        self._helm: h.Helm | None = None
        self._crds: dict[Path, list[dict[str, Any]]] = {}  # chart folder -> its CRDs, parsed once
        self.adapter = Adapter(self)  # prometheus-adapter, only with app.autoscaling
        self.node_autoscaler = NodeAutoscaler(self)  # cluster-autoscaler, eks with aws.node_autoscaler only

    # -- names -------------------------------------------------------------------------------

    @property
    def mon_ns(self) -> str:
        return self.k.monitoring_namespace

    @property
    def app_ns(self) -> str:
        return self.k.app_namespace

    @property
    def kps_fullname(self) -> str:
        """kube-prometheus-stack.fullname (its _helpers.tpl: truncated at 26 characters)."""
        rel = self.k.kps_release
        return _trunc(rel if "kube-prometheus-stack" in rel else f"{rel}-kube-prometheus-stack", 26)

    @property
    def app_fullname(self) -> str:
        """obsctl-app.fullname (app/chart/templates/_helpers.tpl)."""
        rel = self.k.app_release
        return _trunc(rel if APP_CHART_NAME in rel else f"{rel}-{APP_CHART_NAME}", 63)

    @property
    def app_selector(self) -> str:
        return f"app.kubernetes.io/name={APP_CHART_NAME},app.kubernetes.io/instance={self.k.app_release}"

    def services(self) -> dict[str, tuple[str, int, int]]:
        """component -> (Service name, Service port, default local port)."""
        rel = self.k.kps_release
        return {
            "grafana": (rel if "grafana" in rel else f"{rel}-grafana", 80, 3000),
            "prometheus": (f"{self.kps_fullname}-prometheus", 9090, 9090),
            "alertmanager": (f"{self.kps_fullname}-alertmanager", 9093, 9093),
        }

    def monitoring_workloads(self) -> dict[str, str]:
        """component -> workload name in the monitoring namespace (kube-prometheus-stack 88.x)."""
        rel, full = self.k.kps_release, self.kps_fullname
        return {
            "prometheus": f"prometheus-{full}-prometheus",
            "alertmanager": f"alertmanager-{full}-alertmanager",
            "grafana": self.services()["grafana"][0],
            "kube-state-metrics": f"{rel}-kube-state-metrics",
            "node-exporter": f"{rel}-prometheus-node-exporter",
            "operator": f"{full}-operator",
        }

    def chart_dir(self) -> Path:
        return self._content("app/chart")

    def _content(self, rel: str) -> Path:
        """A folder of the project (helm-values/, app/chart), else the one shipped with obsctl."""
        here = self.env.root / rel
        return here if here.exists() else bundled.content(rel) or here

    def rate_window(self) -> str:
        return f"{max(1, round(4 * duration_seconds(self.spec.scrape.interval)))}s"

    @property
    def owner(self) -> str:
        """The mark obsctl leaves on what it creates for this environment (and reads back)."""
        return self.env.name

    @property
    def distribution(self) -> str:
        return "managed" if isinstance(self.spec, EksEnv) else self.k.distribution

    def control_plane_scraped(self) -> dict[str, bool]:
        scraped = CONTROL_PLANE_SCRAPED[self.distribution]
        return {c: c in scraped for c in CONTROL_PLANE_COMPONENTS}

    def image_pull_policy(self) -> str:
        image = self.spec.app.image
        if image.pull_policy:
            return image.pull_policy
        return "IfNotPresent" if image.digest or self.distribution in LAPTOP_DISTRIBUTIONS else "Always"

    def storage_class(self) -> dict[str, Any] | None:
        """The StorageClass obsctl creates for Prometheus' volume, with obsctl's mark (eks only;
        elsewhere the cluster's default class is used)."""
        if not isinstance(self.spec, EksEnv) or not self.k.prometheus_storage:
            return None
        import copy

        body = copy.deepcopy(EKS_STORAGE_CLASS)
        labels, annotations = k.owner_marks(self.owner)
        body["metadata"]["labels"] = labels
        body["metadata"]["annotations"].update(annotations)
        return body

    def release_marker(self, chart_dir: Path) -> dict[str, str]:
        """What obsctl writes into each release's values: who installed it (read back before any
        uninstall or upgrade) and a digest of the chart's files, so a chart whose templates
        changed without a version bump still differs from the deployed release and is applied."""
        return {"environment": self.owner, "chartDigest": r.tree_digest(chart_dir)}

    # -- the kube-prometheus-stack chart ----------------------------------------------------------

    @property
    def kps_pinned(self) -> PinnedChart:
        """kube-prometheus-stack at its pin (`kubernetes.kps_chart_version`), like the other charts."""
        return PinnedChart(
            name=KPS_CHART_NAME,
            chart=self.k.kps_chart,
            repo_url=self.k.kps_repo_url,
            version=self.k.kps_chart_version,
            setting="kubernetes.kps_chart",
            state_dir=self.env.state_dir,
            relative=self._rel,
        )

    @property
    def chart_cache(self) -> Path:
        """Where the pinned chart is fetched once: .obsctl/<env>/charts/<name>-<version>/<name>."""
        return self.kps_pinned.cache

    def kps_chart_dir(self) -> Path | None:
        """The chart on disk: the configured local path, else the cached copy of the pinned
        version; None when it has not been fetched yet. A local path whose Chart.yaml is not
        the pinned version is refused (the pin is never dropped silently)."""
        return self.kps_pinned.on_disk()

    def _chart_stage(self) -> str:
        """Make the pinned chart available on disk; only the first `up` needs the repository."""
        return self.kps_pinned.fetch(self.helm)

    def crd_documents(self, chart_dir: Path) -> list[dict[str, Any]]:
        """The CRDs the chart ships (kube-prometheus-stack keeps them in its `crds` subchart),
        parsed once per run: `up` applies them, then waits for them."""
        from obsctl.tools import manifests

        if chart_dir in self._crds:
            return self._crds[chart_dir]
        docs: list[dict[str, Any]] = []
        for folder in (chart_dir / "charts" / "crds" / "crds", chart_dir / "crds"):
            for path in sorted(folder.glob("*.y*ml")):
                # the real CRDs hold plain `=` scalars (matcher enums), which PyYAML's SafeLoader
                # refuses (yaml/pyyaml#89): parsed by the manifests adapter's loader
                docs.extend(
                    d
                    for d in manifests.parse_stream(path.read_text(encoding="utf-8"), str(path))
                    if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
                )
        self._crds[chart_dir] = docs
        return docs

    # -- clients -------------------------------------------------------------------------------

    @property
    def kube(self) -> k.Kube:
        if self._kube is None:
            self._kube = k.Kube(self.kubeconfig, self._expected_context())
        return self._kube

    @property
    def helm(self) -> h.Helm:
        if self._helm is None:
            helm = binaries.require_helm()  # refuses a known-broken helm (helm/helm#30923)
            self._helm = h.Helm(helm, self.kubeconfig, self._expected_context(), self.wait_timeout)
        return self._helm

    def _expected_context(self) -> str:
        if not self.context:
            raise PreflightError(
                f"environment {self.env.name} names no kube context",
                f"set environments.{self.env.name}.kubernetes.context in {self.env.config_path.name}",
            )
        return self.context

    # -- render --------------------------------------------------------------------------------

    def _kps_values_text(self) -> str:
        spec = self.spec
        cluster = spec.aws.cluster_name if isinstance(spec, EksEnv) else self.env.name
        refs = r.receiver_secrets(spec.alerting)
        chart = self.kps_chart_dir()
        storage_class = self.storage_class()
        ctx: dict[str, Any] = {
            "target": self.env.target,
            "chart_version": self.k.kps_chart_version,
            "alertmanager_config": r.alertmanager_config(
                spec.alerting, sink_url=None, secrets_dir=f"{r.CLUSTER_SECRETS_DIR}/{self.k.alertmanager_secret}"
            ),
            "alertmanager_secrets": [self.k.alertmanager_secret] if refs else [],
            "grafana_admin_secret": self.k.grafana_admin_secret,
            "retention": self.k.prometheus_retention,
            "scrape_interval": spec.scrape.interval,
            "evaluation_interval": spec.scrape.evaluation_interval,
            "resources": KPS_RESOURCES,
            "storage_size": self.k.prometheus_storage,
            "storage_class": storage_class["metadata"]["name"] if storage_class else "",
            "cluster_name": cluster,
            "maximum_startup_seconds": PROMETHEUS_MAX_STARTUP_SECONDS,
            "control_plane": {CONTROL_PLANE_VALUES[c]: on for c, on in self.control_plane_scraped().items()},
            "obsctl_marker": {"environment": self.owner, **({"chartDigest": r.tree_digest(chart)} if chart else {})},
        }
        return render_helm_values(self._content("helm-values"), "kube-prometheus-stack.yaml.j2", ctx)

    def _app_values_text(self) -> str:
        spec, root = self.spec, self.env.root
        ctx: dict[str, Any] = {
            "image_repository": self.image_repository or spec.app.image.repository,
            "image_tag": spec.app.image.tag,
            "image_digest": spec.app.image.digest,
            "image_pull_policy": self.image_pull_policy(),
            "app_version": spec.app.version,
            "replicas": spec.app.replicas,
            "scrape_interval": spec.scrape.interval,
            "monitoring_release": self.k.kps_release,
            "monitoring_namespace": self.mon_ns,
            "rule_groups": r.rule_groups(root, spec),
            "dashboards": r.load_dashboards(root),
            "fault_error_rate": spec.app.fault.error_rate,
            "fault_latency_ms": spec.app.fault.latency_ms,
            "obsctl_marker": self.release_marker(self.chart_dir()),
            "autoscaling": autoscaling.app_values(spec.app.autoscaling),
        }
        return render_helm_values(self._content("helm-values"), "app.yaml.j2", ctx)

    def values(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(kube-prometheus-stack values, app values) exactly as rendered."""
        import yaml

        return yaml.safe_load(self._kps_values_text()) or {}, yaml.safe_load(self._app_values_text()) or {}

    def render(self) -> Rendered:
        """Write the Helm values and the manifests into .obsctl/<env>/rendered/; no cluster and no
        secret needed. When the kube-prometheus-stack chart is on disk (kps_chart is a path, or an
        earlier `up` cached it), its manifests are rendered too and every object is validated
        against the chart's own CRD schemas and the Kubernetes schemas: a failure is reported
        here, before `up` could send it to the API server."""
        import yaml

        out = Rendered()

        def put(rel: str, text: str) -> None:
            path = self.rendered / rel
            out.files.append(path)
            if r.write_if_changed(path, text):
                out.changed.append(path)

        kps_text = self._kps_values_text()
        put("helm/kube-prometheus-stack.values.yaml", kps_text)
        app_text = self._app_values_text()
        put("helm/app.values.yaml", app_text)
        out.notes.extend(self._secret_notes())
        if binaries.find("helm") is None:
            out.notes.append("helm is not installed: the manifests (helm template) were not rendered")
            return out
        helm = h.Helm(binaries.require_helm(), timeout=120)  # a known-broken helm renders wrong objects
        manifests = helm.template(
            self.k.app_release, h.ChartRef(str(self.chart_dir())), self.app_ns, yaml.safe_load(app_text) or {}
        )
        header = f"# helm template {self.k.app_release} {self._rel(self.chart_dir())} -n {self.app_ns}; do not edit.\n"
        put("manifests/app.yaml", header + manifests)
        if self.adapter.enabled:
            manifests += self._render_adapter(put, helm, out)
        if self.node_autoscaler.enabled:
            manifests += self._render_node_autoscaler(put, helm, out)
        storage_class = self.storage_class()
        if storage_class is not None:
            manifests += "\n---\n" + yaml.safe_dump(storage_class, sort_keys=False)
            put(
                "manifests/storage-class.yaml",
                "# obsctl's StorageClass (eks); do not edit.\n" + yaml.safe_dump(storage_class, sort_keys=False),
            )
        chart = self.kps_chart_dir()
        if chart is None:
            out.notes.append(
                f"{KPS_CHART_NAME} {self.k.kps_chart_version} is not on disk yet (`up` fetches it once into"
                f" {self._rel(self.chart_cache)}; or set kubernetes.kps_chart to an unpacked copy): its manifests"
                " were not rendered or validated"
            )
            return out
        kps_manifests = helm.template(
            self.k.kps_release, h.ChartRef(str(chart)), self.mon_ns, yaml.safe_load(kps_text) or {}, include_crds=True
        )
        header = (
            f"# helm template {self.k.kps_release} {self._rel(chart)} -n {self.mon_ns} --include-crds; do not edit.\n"
        )
        put("manifests/kube-prometheus-stack.yaml", header + kps_manifests)
        out.notes.append(self.validate_manifests(kps_manifests + "\n---\n" + manifests))
        return out

    def _render_adapter(self, put: Callable[[str, str], None], helm: h.Helm, out: Rendered) -> str:
        """prometheus-adapter's values, and its manifests when the chart is on disk (they are
        validated with the rest); returns the manifests to validate."""
        values = self.adapter.values_text()
        put("helm/prometheus-adapter.values.yaml", values)
        manifests = self.adapter.template(helm, values)
        if manifests is None:
            out.notes.append(
                f"prometheus-adapter {self.k.adapter_chart_version} is not on disk yet (`up` fetches it once into"
                f" {self._rel(self.adapter.chart.cache)}; or set kubernetes.adapter_chart to an unpacked copy): its"
                " manifests were not rendered or validated"
            )
            return ""
        chart = self._rel(self.adapter.require_chart())
        put(
            "manifests/prometheus-adapter.yaml",
            f"# helm template {self.adapter.release} {chart}; do not edit.\n" + manifests,
        )
        return "\n---\n" + manifests

    def _render_node_autoscaler(self, put: Callable[[str, str], None], helm: h.Helm, out: Rendered) -> str:
        """cluster-autoscaler's values, and its manifests when the chart is on disk."""
        na = self.node_autoscaler
        values = na.values_text()
        put("helm/cluster-autoscaler.values.yaml", values)
        manifests = na.template(helm, values)
        if manifests is None:
            out.notes.append(
                f"cluster-autoscaler {na.chart.version} is not on disk yet (`up` fetches it once into"
                f" {self._rel(na.chart.cache)}; or set kubernetes.node_autoscaler_chart to an unpacked copy): its"
                " manifests were not rendered or validated"
            )
            return ""
        header = f"# helm template cluster-autoscaler {self._rel(na.chart.require(self.env.name))}; do not edit.\n"
        put("manifests/cluster-autoscaler.yaml", header + manifests)
        return "\n---\n" + manifests

    def validate_manifests(self, manifests: str) -> str:
        """Validate rendered manifests against the CRD schemas they carry (`helm template
        --include-crds`: the chart's own) and Kubernetes' own; one ConfigError listing what the
        API server would reject."""
        from obsctl.tools import manifests as m

        problems = m.validate_stream(manifests)
        if problems:
            shown = "; ".join(str(p) for p in problems[:5])
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise ConfigError(
                f"{len(problems)} rendered object(s) would be rejected by the API server: {shown}{more}",
                f"see {self._rel(self.rendered / 'manifests')}; a value obsctl renders or the helm in use is wrong"
                " (`obsctl doctor`)",
            )
        return "every rendered object passes the chart's CRD schemas and the Kubernetes schemas"

    def _secret_notes(self) -> list[str]:
        secret, folder = self.k.alertmanager_secret, f"{r.CLUSTER_SECRETS_DIR}/{self.k.alertmanager_secret}"
        return [
            ref.note(f"Secret {self.mon_ns}/{secret} key {ref.key}, read by Alertmanager from {folder}/{ref.key}")
            for ref in r.receiver_secrets(self.spec.alerting)
        ]

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.env.root))
        except ValueError:
            return str(path)

    # -- preflight -----------------------------------------------------------------------------

    def guard(self) -> str:
        """The kube context is the one the environment names, and its API server answers."""
        current = k.guard_context(self.kubeconfig, self._expected_context(), self.env.name)
        try:
            version = self.kube.server_version()
        except Unreachable as exc:
            raise PreflightError(exc.message, exc.hint) from None
        return f"current context {current} ({self.kube.server}, Kubernetes {version})"

    def preflight(self) -> str:
        """Everything `up` can find wrong before it changes anything (exit 2). A known-broken helm
        first (e.g. 3.18.0, helm/helm#30923; only `helm version` runs), before any API call."""
        binaries.require_helm()
        found = [self.guard(), "helm usable"]
        r.secret_values(r.receiver_secrets(self.spec.alerting))  # every receiver secret is set
        for release, ns in self.releases():
            owner = self._release_owner(release, ns)
            if owner not in (None, self.owner):
                raise PreflightError(
                    f"Helm release {release} in namespace {ns} exists and was not installed by obsctl for"
                    f" environment {self.env.name} ({owner}); obsctl will not take it over",
                    _foreign_release_hint(release, self.k),
                )
        if self.kube.namespace_phase(self.mon_ns) is not None and r.has_secrets(self.spec.alerting):
            state = self.kube.secret_owner_state(self.mon_ns, self.k.alertmanager_secret, self.owner)
            if state == "foreign":
                raise PreflightError(
                    f"Secret {self.mon_ns}/{self.k.alertmanager_secret} exists and is not obsctl's",
                    "set kubernetes.alertmanager_secret to another name, or remove that Secret yourself",
                )
        self.kps_chart_dir()  # a local chart of the wrong version is refused here
        if self.adapter.enabled:
            self.adapter.chart_dir()  # the same for prometheus-adapter's
        if self.node_autoscaler.enabled:
            self.node_autoscaler.chart.on_disk()  # and cluster-autoscaler's
        return "; ".join(found) + "; releases and Secrets free or obsctl's; receiver secrets set"

    def _release_owner(self, release: str, namespace: str) -> str | None:
        """None when the release is not installed; else who installed it ("obsctl:<env>" or a
        phrase saying it was not obsctl)."""
        if self.kube.namespace_phase(namespace) is None:
            return None
        marker = self.helm.release_marker(release, namespace)
        if marker is h.NOT_INSTALLED:
            return None
        env = marker.get("environment") if isinstance(marker, dict) else None
        if env == self.owner:
            return self.owner
        return f"obsctl environment {env}" if env else "its values carry no obsctl mark"

    def releases(self) -> list[tuple[str, str]]:
        """(release, namespace) of obsctl's releases, in install order."""
        adapter = [(self.adapter.release, self.mon_ns)] if self.adapter.enabled else []
        nodes = [(node_autoscaler.RELEASE, node_autoscaler.NAMESPACE)] if self.node_autoscaler.enabled else []
        return [*nodes, (self.k.kps_release, self.mon_ns), *adapter, (self.k.app_release, self.app_ns)]

    # -- up ------------------------------------------------------------------------------------

    def up_stages(self) -> list[Stage]:
        return [
            Stage("preflight", self.preflight, changes=False),
            Stage("kube-prometheus-stack chart", self._chart_stage, changes=False),
            *(
                [Stage("prometheus-adapter chart", self.adapter.chart_stage, changes=False)]
                if self.adapter.enabled
                else []
            ),
            *(
                [Stage("cluster-autoscaler chart", self.node_autoscaler.chart_stage, changes=False)]
                if self.node_autoscaler.enabled
                else []
            ),
            Stage("render", self._render_stage, changes=False),
            Stage("namespaces", self._namespaces),
            *([Stage("storage class", self._storage_class)] if self.storage_class() else []),
            Stage("secrets", self._secrets),
            Stage("CRDs at the chart's version", self._apply_crds),
            Stage("CRDs established", self._wait_crds),
            *([Stage("cluster-autoscaler", self.node_autoscaler.install)] if self.node_autoscaler.enabled else []),
            Stage("kube-prometheus-stack", self._install_kps),
            *([Stage("prometheus-adapter", self.adapter.install)] if self.adapter.enabled else []),
            Stage("app chart", self._install_app),
            Stage("rollouts", self._wait_rollouts),
        ]

    def _render_stage(self) -> str:
        out = self.render()
        checked = next((n for n in out.notes if n.startswith("every rendered object")), "")
        return f"{len(out.files)} files, {len(out.changed)} changed" + (f"; {checked}" if checked else "")

    def _namespaces(self) -> str:
        return "; ".join(
            self.kube.ensure_namespace(ns, self.wait_timeout, self.owner)
            for ns in dict.fromkeys((self.mon_ns, self.app_ns))
        )

    def _storage_class(self) -> str:
        body = self.storage_class()
        assert body is not None
        return self.kube.ensure_storage_class(body, self.owner)

    def _delete_storage_class(self) -> str:
        body = self.storage_class()
        assert body is not None
        return self.kube.delete_owned_storage_class(body["metadata"]["name"], self.owner)

    def _secrets(self) -> str:
        created = self.kube.ensure_admin_secret(self.mon_ns, self.k.grafana_admin_secret, self.owner, GRAFANA_USER)
        name = f"{self.mon_ns}/{self.k.grafana_admin_secret}"
        parts = [f"{name} created with a generated password" if created else f"{name} exists, kept"]
        refs = r.receiver_secrets(self.spec.alerting)
        receivers = f"{self.mon_ns}/{self.k.alertmanager_secret}"
        if refs:
            done = self.kube.apply_secret(self.mon_ns, self.k.alertmanager_secret, r.secret_values(refs), self.owner)
            parts.append(f"{receivers} {done} ({len(refs)} receiver secret(s))")
        else:  # no receiver needs one (any more): obsctl's own is removed, anyone else's kept
            parts.append(self.kube.delete_owned_secret(self.mon_ns, self.k.alertmanager_secret, self.owner))
        return "; ".join(parts)

    def kps_chart(self) -> h.ChartRef:
        return self.kps_pinned.ref()

    def _require_chart(self) -> Path:
        chart = self.kps_chart_dir()
        if chart is None:
            raise PreflightError(
                f"{KPS_CHART_NAME} {self.k.kps_chart_version} is not on disk", f"run `obsctl up --env {self.env.name}`"
            )
        return chart

    def crd_names(self) -> list[str]:
        return sorted(d["metadata"]["name"] for d in self.crd_documents(self._require_chart()))

    def _apply_crds(self) -> str:
        """Bring the chart's CRDs to its version before the release is installed or upgraded:
        Helm installs crds/ once and never upgrades them. Server-side apply, field manager obsctl;
        a CRD newer than the chart's (another installation upgraded it) is never downgraded."""
        chart = self._require_chart()
        docs = self.crd_documents(chart)
        if not docs:
            raise ToolError(f"the {KPS_CHART_NAME} chart at {chart} ships no CRDs")
        existing = self.kube.crd_annotations()
        applied, kept, same = [], [], 0
        for doc in docs:
            name = doc["metadata"]["name"]
            want = (doc["metadata"].get("annotations") or {}).get(OPERATOR_VERSION_ANNOTATION)
            have = existing[name].get(OPERATOR_VERSION_ANNOTATION) if name in existing else None
            if name in existing and have == want:
                same += 1
                continue
            have_v, want_v = binaries.parse_version(have or ""), binaries.parse_version(want or "")
            if have_v and want_v and have_v > want_v:
                kept.append(f"{name} ({have})")
                continue
            self.kube.apply_crd(doc)
            applied.append(name.split(".")[0])
        version = next(iter({(d["metadata"].get("annotations") or {}).get(OPERATOR_VERSION_ANNOTATION) for d in docs}))
        parts = [f"{len(applied)} applied ({', '.join(applied)})" if applied else "none needed applying"]
        parts.append(f"{same} already at {version}")
        if kept:
            parts.append(f"kept newer: {', '.join(kept)}")
        return "; ".join(parts)

    def _wait_crds(self) -> str:
        return self.kube.wait_crds_established(self.crd_names(), self.wait_timeout)

    def _install_kps(self) -> str:
        import yaml

        kps_values = yaml.safe_load(self._kps_values_text()) or {}
        chart = h.ChartRef(str(self._require_chart()))
        return self.helm.ensure_release(self.k.kps_release, chart, self.mon_ns, kps_values, skip_crds=True)

    def _install_app(self) -> str:
        import yaml

        app_values = yaml.safe_load(self._app_values_text()) or {}
        done = self.helm.ensure_release(self.k.app_release, h.ChartRef(str(self.chart_dir())), self.app_ns, app_values)
        # after the app: its HPA (if autoscaling was just turned off) is gone before the adapter goes
        return "; ".join([done, *self._remove_switched_off()])

    def _switched_off(self) -> list[tuple[str, str]]:
        """(release, namespace) of optional releases the config no longer asks for."""
        off = [] if self.adapter.enabled else [(self.adapter.release, self.mon_ns)]
        if isinstance(self.spec, EksEnv) and not self.node_autoscaler.enabled:
            off.append((node_autoscaler.RELEASE, node_autoscaler.NAMESPACE))
        return off

    def _remove_switched_off(self) -> list[str]:
        """Uninstall obsctl's own prometheus-adapter / cluster-autoscaler when the config turned
        them off (`app.autoscaling` removed, `aws.node_autoscaler: none`); anyone else's is kept
        and not mentioned. Empty when there was nothing of obsctl's."""
        return [
            self._uninstall(release, ns)
            for release, ns in self._switched_off()
            if self._release_owner(release, ns) == self.owner
        ]

    def _uninstall_kps(self) -> str:
        """kube-prometheus-stack, after an adapter a config change left behind (it queries it)."""
        return "; ".join([*self._remove_switched_off(), self._uninstall(self.k.kps_release, self.mon_ns)])

    def _wait_rollouts(self) -> str:
        return "; ".join(
            self.kube.wait_rollouts(ns, self.wait_timeout) for ns in dict.fromkeys((self.mon_ns, self.app_ns))
        )

    # -- down ----------------------------------------------------------------------------------

    def down_stages(self, purge: bool) -> list[Stage]:
        volumes: list[str] = []  # PersistentVolumes of obsctl's claims, waited for after the release goes
        stages = [
            Stage("preflight", self.guard, changes=False),
            Stage("app chart", lambda: self._uninstall(self.k.app_release, self.app_ns)),
            *(
                [Stage("prometheus-adapter", lambda: self._uninstall(self.adapter.release, self.mon_ns))]
                if self.adapter.enabled
                else []
            ),
            *([Stage("cluster-autoscaler", self._uninstall_node_autoscaler)] if self.node_autoscaler.enabled else []),
            Stage("load balancers and volumes", lambda: self._release_cloud_resources(volumes)),
            Stage("kube-prometheus-stack", self._uninstall_kps),
            Stage("volumes released", lambda: self.kube.wait_volumes_gone(volumes, self.wait_timeout)),
            *([Stage("storage class", self._delete_storage_class)] if self.storage_class() else []),
            Stage("obsctl's secrets", self._delete_secrets),
            Stage("namespaces gone", self._delete_namespaces),
        ]
        if purge:
            stages.append(Stage("purge rendered files", self._purge))
        return stages

    def _uninstall(self, release: str, namespace: str) -> str:
        if self.kube.namespace_phase(namespace) is None:
            return f"{release}: namespace {namespace} is gone"
        owner = self._release_owner(release, namespace)
        if owner is None:
            return f"{release} not installed"
        if owner != self.owner:
            return f"{release} kept: not installed by obsctl for environment {self.env.name} ({owner})"
        return f"{release} uninstalled" if self.helm.uninstall(release, namespace) else f"{release} not installed"

    def _uninstall_node_autoscaler(self) -> str:
        return self._uninstall(node_autoscaler.RELEASE, node_autoscaler.NAMESPACE)

    def _release_cloud_resources(self, volumes: list[str]) -> str:
        """Delete the LoadBalancer Services and PVCs of obsctl's releases (nobody else's), before
        the releases go, so no cloud load balancer or disk is orphaned; remember their volumes."""
        parts = []
        ours = {self.k.app_release, self.k.kps_release}
        for ns in dict.fromkeys((self.app_ns, self.mon_ns)):
            if self.kube.namespace_phase(ns) is None:
                continue
            found = self.kube.delete_release_resources(ns, ours, self.wait_timeout)
            volumes.extend(found.volumes)
            if found.load_balancers or found.claims:
                lbs = f"{len(found.load_balancers)} LoadBalancer service(s) ({', '.join(found.load_balancers) or '-'})"
                parts.append(f"{ns}: {lbs}, {len(found.claims)} PVC(s) ({', '.join(found.claims) or '-'}) deleted")
        return "; ".join(parts) or "none of obsctl's found"

    def _delete_secrets(self) -> str:
        if self.kube.namespace_phase(self.mon_ns) is None:
            return f"namespace {self.mon_ns} is gone"
        return "; ".join(
            self.kube.delete_owned_secret(self.mon_ns, name, self.owner)
            for name in (self.k.grafana_admin_secret, self.k.alertmanager_secret)
        )

    def _delete_namespaces(self) -> str:
        force = os.environ.get(FORCE_FINALIZERS_ENV, "") == "1"
        asked, details = [], []
        for ns in dict.fromkeys((self.app_ns, self.mon_ns)):
            owned = self.kube.namespace_owned(ns, self.owner)
            if owned is False:
                details.append(f"{ns} kept: obsctl did not create it (only obsctl's objects were removed)")
            elif owned and self.kube.delete_namespace(ns):
                asked.append(ns)
        details = [self.kube.wait_namespace_gone(ns, self.wait_timeout, force=force) for ns in asked] + details
        kept = "; the monitoring.coreos.com CRDs are kept (Helm never deletes CRDs; other releases may use them)"
        return ("; ".join(details) or "already gone") + kept

    def _purge(self) -> str:
        if self.rendered.exists():
            shutil.rmtree(self.rendered)
            return f"removed {self.rendered}"
        return "nothing to remove"

    # -- rebuild-test: what must not survive ------------------------------------------------------

    def survivors(self, since: float, phase: str) -> list[str]:
        """After down: obsctl's namespaces are gone, and in an adopted one none of obsctl's
        releases or Secrets is left. After up: obsctl's namespaces are new (created after
        `since`), so nothing of the previous run's objects can have been reused."""
        out = []
        for ns in dict.fromkeys((self.mon_ns, self.app_ns)):
            created = self.kube.namespace_created(ns)
            owned = self.kube.namespace_owned(ns, self.owner)
            if phase == "down" and owned:
                out.append(f"namespace {ns} still exists after down")
            if phase == "down" and owned is False:
                out += [
                    f"release {rel} still installed in {n}"
                    for rel, n in self.releases()
                    if n == ns and self._release_owner(rel, n)
                ]
                for name in (self.k.grafana_admin_secret, self.k.alertmanager_secret):
                    if ns == self.mon_ns and self.kube.secret_owner_state(ns, name, self.owner) == "owned":
                        out.append(f"Secret {ns}/{name} still exists after down")
            if phase == "up" and owned and created is not None and created < since - 1:
                out.append(f"namespace {ns} predates the rebuild (created {time.ctime(created)})")
        return out

    # -- status, endpoints, port-forward ------------------------------------------------------------

    def status(self) -> list[StatusRow]:
        try:
            rows = [StatusRow("kube context", "ok", self.guard(), Health.ok)]
        except PreflightError as exc:
            return [StatusRow("kube context", "wrong", exc.message, Health.failed)]
        for ns in (self.mon_ns, self.app_ns):
            phase = self.kube.namespace_phase(ns)
            health = {"Active": Health.ok, "Terminating": Health.waiting, None: Health.off}.get(phase, Health.unknown)
            rows.append(StatusRow(f"namespace {ns}", phase or "absent", "", health))
            if phase is None:
                continue
            for name, (kind, state) in sorted(self.kube.workloads(ns).items()):
                rows.append(
                    StatusRow(
                        f"{kind.lower()} {name}",
                        "ready" if state is None else "not ready",
                        state or "",
                        Health.ok if state is None else Health.waiting,
                    )
                )
        for release, ns in self.releases():  # prometheus-adapter and cluster-autoscaler too, when on
            try:
                st = self.helm.status(release, ns)
            except (ToolError, PreflightError) as exc:
                rows.append(StatusRow(f"release {release}", "unknown", exc.message, Health.unknown))
                continue
            rows.append(
                StatusRow(
                    f"release {release}",
                    st.status if st else "not installed",
                    f"{st.chart} {st.version}, revision {st.revision}" if st else "",
                    _release_health(st.status if st else None),
                )
            )
        return rows

    def endpoints(self) -> dict[str, str]:
        return {c: f"obsctl port-forward {c} --env {self.env.name}" for c in self.services()}

    def open_forward(
        self, component: str, port: int | None = None, on_error: Callable[[str], None] | None = None
    ) -> k.PortForward:
        """A port-forward to a Ready pod behind the component's Service, on 127.0.0.1."""
        if component not in self.services():
            raise PreflightError(f"unknown component {component}", f"use one of {', '.join(self.services())}")
        svc, svc_port, default_local = self.services()[component]
        return self.forward_to_service(self.mon_ns, svc, svc_port, default_local if port is None else port, on_error)

    def forward_to_service(
        self,
        namespace: str,
        service: str,
        port: int | str,
        local_port: int = 0,
        on_error: Callable[[str], None] | None = None,
    ) -> k.PortForward:
        """A port-forward to a Ready pod behind any Service (another one when it goes). Port-forward
        traffic enters the Pod through the kubelet, so a NetworkPolicy (the app's admits only
        Prometheus' namespace) does not block it, where the API server's service proxy would be."""
        return self.kube.port_forward_service(namespace, service, port, local_port, on_error)

    def grafana_password(self) -> str:
        return self.kube.read_secret_key(self.mon_ns, self.k.grafana_admin_secret, "admin-password")

    def port_forward(
        self,
        component: str,
        port: int | None,
        show_password: bool,
        say: Any,
        wait: Callable[[k.PortForward], None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        """Forward 127.0.0.1:<port> to the component until Ctrl-C (or until `wait` returns).
        A connection that fails, and a switch to another Pod, are told to `warn` as they happen."""
        self.guard()
        fwd = self.open_forward(component, port, warn)
        try:
            say(f"{component}: {fwd.url}  (forwarding to {self.mon_ns}/{self.services()[component][0]}; Ctrl-C stops)")
            if component == "grafana":
                say(f"user: {GRAFANA_USER}")
                if show_password:
                    say(f"password: {self.grafana_password()}")
                else:
                    say(
                        f"password: in Secret {self.mon_ns}/{self.k.grafana_admin_secret}, key admin-password"
                        " (--show-password prints it)"
                    )
            (wait or k.PortForward.wait)(fwd)
        finally:
            fwd.close()

    # -- logs ----------------------------------------------------------------------------------------

    def log_components(self) -> list[str]:
        """What `obsctl logs` reads on a cluster: the app's Pods and each monitoring workload's."""
        return ["app", *self.monitoring_workloads()]

    def logs(self, component: str, follow: bool, tail: int | None, since: float | None, out: LogOutput) -> None:
        """Every Pod of the component (its workload's selector), each line tagged with the Pod."""
        known = self.log_components()
        if component not in known:
            raise InputError(f"unknown component '{component}' for a cluster", f"use one of: {', '.join(known)}")
        self.guard()
        if component == "app":
            namespace, selector = self.app_ns, self.app_selector
        else:
            namespace, workload = self.mon_ns, self.monitoring_workloads()[component]
            try:
                selector = self.kube.workload_selector(namespace, workload)
            except k.NotFound:
                raise ToolError(
                    f"{component} is not running: no workload {namespace}/{workload}",
                    f"run `obsctl up --env {self.env.name}`",
                ) from None
        seconds = None if since is None else max(1, math.ceil(since))
        if follow:
            self.kube.follow_logs(namespace, selector, out.emit, out.stop, tail, seconds, on_error=out.error)
            return
        lines = self.kube.read_logs(namespace, selector, tail, seconds, on_error=out.error)
        if not lines and not self.kube.pods(namespace, selector):
            raise ToolError(f"no Pod of {component} in {namespace} ({selector})", "see `obsctl status`")
        for pod, line in lines:
            out.emit(pod, line)

    # -- for verify ----------------------------------------------------------------------------------

    def prometheus(self, path: str, **params: Any) -> Any:
        """`data` of a Prometheus HTTP API answer, through the API server's service proxy."""
        svc, port, _ = self.services()["prometheus"]
        body = self.kube.proxy_get_json(self.mon_ns, svc, port, path, **params)
        if not isinstance(body, dict) or body.get("status") != "success":
            raise ToolError(f"Prometheus {path} failed: {body.get('error', body) if isinstance(body, dict) else body}")
        return body["data"]

    def alertmanager_alerts(self, alertname: str) -> list[dict[str, Any]]:
        svc, port, _ = self.services()["alertmanager"]
        alerts = self.kube.proxy_get_json(
            self.mon_ns, svc, port, "api/v2/alerts", filter=f'alertname="{alertname}"', active="true"
        )
        return [a for a in alerts if a.get("status", {}).get("state") == "active"]

    def scale_app(self, replicas: int) -> None:
        self.kube.scale(self.app_ns, self.app_fullname, replicas)


OPERATOR_VERSION_ANNOTATION = "operator.prometheus.io/version"


def _release_health(status: str | None) -> Health:
    """A Helm release status (helm's release.Status) in obsctl's status vocabulary."""
    if status is None or status in ("uninstalled", "superseded"):
        return Health.off
    if status == "deployed":
        return Health.ok
    if status == "failed":
        return Health.failed
    if status.startswith("pending") or status == "uninstalling":
        return Health.waiting
    return Health.unknown


def _foreign_release_hint(release: str, k: KubernetesSettings) -> str:
    if release == node_autoscaler.RELEASE:  # its name and namespace are fixed by terraform's Pod Identity association
        return "set aws.node_autoscaler: none to keep using that cluster-autoscaler, or remove that release yourself"
    key = {k.adapter_release: "adapter_release", k.kps_release: "kps_release"}.get(release, "app_release")
    return f"pick another name (kubernetes.{key}) or remove that release yourself"
