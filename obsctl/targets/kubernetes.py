"""The `kubernetes` target: the platform installed with Helm on an existing kube context.

`eks` is this target with Terraform before and after it: it constructs `KubernetesTarget`
with the kubeconfig and context it wrote for the new cluster.

up:   kube context guard -> render -> namespaces -> Grafana admin Secret ->
      kube-prometheus-stack (pinned; a pending release is recovered; upgraded only on a change)
      -> its CRDs Established (watched) -> app chart -> rollouts (watched) -> done.
down: kube context guard -> app chart -> Services of type LoadBalancer and PVCs (no cloud load
      balancer or volume orphaned) -> kube-prometheus-stack -> namespaces, waited until gone
      (the finalizers that hold one are named; removed only with --force-finalizers).

Every stage reads the state first and acts on the difference, so each is safe to repeat.
Every wait is bounded by `kubernetes.wait_timeout` and fails with the last state it saw.
What is applied is exactly what `obsctl render` writes under .obsctl/<env>/rendered/.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from obsctl import render as r
from obsctl.config import EksEnv, Environment, KubernetesEnv, KubernetesSettings, duration_seconds
from obsctl.errors import PreflightError, ToolError
from obsctl.targets.base import Rendered, Stage, StatusRow
from obsctl.tools import binaries
from obsctl.tools import helm as h
from obsctl.tools import kube as k

CHECKOUT = Path(__file__).resolve().parents[2]
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
        """A folder of the project (helm-values/, app/chart), else of this checkout."""
        here = self.env.root / rel
        return here if here.exists() else CHECKOUT / rel

    def rate_window(self) -> str:
        return f"{max(1, round(4 * duration_seconds(self.spec.scrape.interval)))}s"

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
        ctx: dict[str, Any] = {
            "target": self.env.target,
            "chart_version": self.k.kps_chart_version,
            "alertmanager_config": r.alertmanager_config(spec.alerting, sink_url=None),
            "grafana_admin_secret": self.k.grafana_admin_secret,
            "retention": self.k.prometheus_retention,
            "scrape_interval": spec.scrape.interval,
            "evaluation_interval": spec.scrape.evaluation_interval,
            "resources": KPS_RESOURCES,
            "storage_size": self.k.prometheus_storage,
            "cluster_name": cluster,
        }
        return render_helm_values(self._content("helm-values"), "kube-prometheus-stack.yaml.j2", ctx)

    def _app_values_text(self) -> str:
        spec, root = self.spec, self.env.root
        ctx: dict[str, Any] = {
            "image_repository": self.image_repository or spec.app.image.repository,
            "image_tag": spec.app.image.tag,
            "image_digest": spec.app.image.digest,
            "app_version": spec.app.version,
            "replicas": spec.app.replicas,
            "scrape_interval": spec.scrape.interval,
            "monitoring_release": self.k.kps_release,
            "monitoring_namespace": self.mon_ns,
            "rule_groups": r.with_for_overrides(r.load_rule_groups(root), spec.alerting.for_overrides),
            "dashboards": r.load_dashboards(root),
            "fault_error_rate": spec.app.fault.error_rate,
            "fault_latency_ms": spec.app.fault.latency_ms,
        }
        return render_helm_values(self._content("helm-values"), "app.yaml.j2", ctx)

    def values(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(kube-prometheus-stack values, app values) exactly as rendered."""
        import yaml

        return yaml.safe_load(self._kps_values_text()) or {}, yaml.safe_load(self._app_values_text()) or {}

    def render(self) -> Rendered:
        """Write the Helm values and the app's manifests into .obsctl/<env>/rendered/; no cluster needed."""
        import yaml

        out = Rendered()

        def put(rel: str, text: str, secret: bool = False) -> None:
            path = self.rendered / rel
            out.files.append(path)
            if r.write_if_changed(path, text, secret):
                out.changed.append(path)

        secret = r.has_secrets(self.spec.alerting)
        put("helm/kube-prometheus-stack.values.yaml", self._kps_values_text(), secret=secret)
        app_text = self._app_values_text()
        put("helm/app.values.yaml", app_text)
        exe = binaries.find("helm")
        if exe is None:
            out.notes.append("helm is not installed: manifests/app.yaml (helm template) was not rendered")
            return out
        manifests = h.Helm(exe, timeout=120).template(
            self.k.app_release, h.ChartRef(str(self.chart_dir())), self.app_ns, yaml.safe_load(app_text) or {}
        )
        header = f"# helm template {self.k.app_release} {self._rel(self.chart_dir())} -n {self.app_ns}; do not edit.\n"
        put("manifests/app.yaml", header + manifests)
        out.notes.append(
            f"kube-prometheus-stack {self.k.kps_chart_version} is installed from {self.k.kps_chart}; its manifests"
            " are not rendered here (the chart is fetched at `up`)"
        )
        return out

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.env.root))
        except ValueError:
            return str(path)

    # -- preflight -----------------------------------------------------------------------------

    def preflight(self) -> None:
        self._preflight_stage()

    def _preflight_stage(self) -> str:
        """up's first stage: the helm client first (building it refuses a known-broken helm, e.g.
        3.18.0, helm/helm#30923; only `helm version` runs), then the kube context guard, so nothing
        on the cluster changes before both pass."""
        _ = self.helm
        return self.guard()

    def guard(self) -> str:
        current = k.guard_context(self.kubeconfig, self._expected_context(), self.env.name)
        return f"current context {current} ({self.kube.server})"

    # -- up ------------------------------------------------------------------------------------

    def up_stages(self) -> list[Stage]:
        return [
            Stage("kube context", self._preflight_stage),
            Stage("render", self._render_stage),
            Stage("namespaces", self._namespaces),
            Stage("grafana admin secret", self._grafana_secret),
            Stage("kube-prometheus-stack", self._install_kps),
            Stage("CRDs established", self._wait_crds),
            Stage("app chart", self._install_app),
            Stage("rollouts", self._wait_rollouts),
        ]

    def _render_stage(self) -> str:
        out = self.render()
        return f"{len(out.files)} files, {len(out.changed)} changed"

    def _namespaces(self) -> str:
        return "; ".join(self.kube.ensure_namespace(ns, self.wait_timeout) for ns in (self.mon_ns, self.app_ns))

    def _grafana_secret(self) -> str:
        created = self.kube.ensure_admin_secret(self.mon_ns, self.k.grafana_admin_secret, GRAFANA_USER)
        name = f"{self.mon_ns}/{self.k.grafana_admin_secret}"
        return f"{name} created with a generated password" if created else f"{name} exists, kept"

    def kps_chart(self) -> h.ChartRef:
        return h.chart_ref(self.k.kps_chart, self.k.kps_repo_url, self.k.kps_chart_version)

    def _install_kps(self) -> str:
        kps_values, _ = self.values()
        return self.helm.ensure_release(self.k.kps_release, self.kps_chart(), self.mon_ns, kps_values)

    def _wait_crds(self) -> str:
        return self.kube.wait_crds_established(list(k.MONITORING_CRDS), self.wait_timeout)

    def _install_app(self) -> str:
        _, app_values = self.values()
        return self.helm.ensure_release(self.k.app_release, h.ChartRef(str(self.chart_dir())), self.app_ns, app_values)

    def _wait_rollouts(self) -> str:
        return "; ".join(self.kube.wait_rollouts(ns, self.wait_timeout) for ns in (self.mon_ns, self.app_ns))

    # -- down ----------------------------------------------------------------------------------

    def down_stages(self, purge: bool) -> list[Stage]:
        stages = [
            Stage("kube context", self.guard),
            Stage("app chart", lambda: self._uninstall(self.k.app_release, self.app_ns)),
            Stage("load balancers and volumes", self._release_cloud_resources),
            Stage("kube-prometheus-stack", lambda: self._uninstall(self.k.kps_release, self.mon_ns)),
            Stage("namespaces gone", self._delete_namespaces),
        ]
        if purge:
            stages.append(Stage("purge rendered files", self._purge))
        return stages

    def _uninstall(self, release: str, namespace: str) -> str:
        if self.kube.namespace_phase(namespace) is None:
            return f"{release}: namespace {namespace} is gone"
        return f"{release} uninstalled" if self.helm.uninstall(release, namespace) else f"{release} not installed"

    def _release_cloud_resources(self) -> str:
        parts = []
        for ns in (self.app_ns, self.mon_ns):
            if self.kube.namespace_phase(ns) is None:
                continue
            lbs, pvcs = self.kube.delete_load_balancers_and_claims(ns, self.wait_timeout)
            if lbs or pvcs:
                parts.append(f"{ns}: {len(lbs)} LoadBalancer service(s), {len(pvcs)} PVC(s) deleted")
        return "; ".join(parts) or "none found"

    def _delete_namespaces(self) -> str:
        force = os.environ.get(FORCE_FINALIZERS_ENV, "") == "1"
        asked = [ns for ns in (self.app_ns, self.mon_ns) if self.kube.delete_namespace(ns)]
        details = [self.kube.wait_namespace_gone(ns, self.wait_timeout, force=force) for ns in asked]
        kept = "; the monitoring.coreos.com CRDs are kept (Helm never deletes CRDs; other releases may use them)"
        return ("; ".join(details) or "already gone") + kept

    def _purge(self) -> str:
        if self.rendered.exists():
            shutil.rmtree(self.rendered)
            return f"removed {self.rendered}"
        return "nothing to remove"

    # -- rebuild-test: what must not survive ------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        return {}

    def survivors(self, before: dict[str, Any], since: float, phase: str) -> list[str]:
        """After down: our namespaces are gone. After up: they are new (created after `since`),
        so nothing of the previous run's objects can have been reused."""
        out = []
        for ns in (self.mon_ns, self.app_ns):
            created = self.kube.namespace_created(ns)
            if phase == "down" and created is not None:
                out.append(f"namespace {ns} still exists after down")
            if phase == "up" and created is not None and created < since - 1:
                out.append(f"namespace {ns} predates the rebuild (created {time.ctime(created)})")
        return out

    # -- status, endpoints, port-forward ------------------------------------------------------------

    def status(self) -> list[StatusRow]:
        try:
            rows = [StatusRow("kube context", "ok", self.guard())]
        except PreflightError as exc:
            return [StatusRow("kube context", "wrong", exc.message)]
        for ns in (self.mon_ns, self.app_ns):
            phase = self.kube.namespace_phase(ns)
            rows.append(StatusRow(f"namespace {ns}", phase or "absent"))
            if phase is None:
                continue
            for name, (kind, state) in sorted(self.kube.workloads(ns).items()):
                rows.append(StatusRow(f"{kind.lower()} {name}", "ready" if state is None else "not ready", state or ""))
        for release, ns in ((self.k.kps_release, self.mon_ns), (self.k.app_release, self.app_ns)):
            try:
                st = self.helm.status(release, ns)
            except (ToolError, PreflightError) as exc:
                rows.append(StatusRow(f"release {release}", "unknown", exc.message))
                continue
            rows.append(
                StatusRow(
                    f"release {release}",
                    st.status if st else "not installed",
                    f"{st.chart} {st.version}, revision {st.revision}" if st else "",
                )
            )
        return rows

    def endpoints(self) -> dict[str, str]:
        return {c: f"obsctl port-forward {c} --env {self.env.name}" for c in self.services()}

    def open_forward(self, component: str, port: int | None = None) -> k.PortForward:
        """A port-forward to a Ready pod behind the component's Service, on 127.0.0.1."""
        if component not in self.services():
            raise PreflightError(f"unknown component {component}", f"use one of {', '.join(self.services())}")
        svc, svc_port, default_local = self.services()[component]
        pod, pod_port = self.kube.ready_pod_for_service(self.mon_ns, svc, svc_port)
        return self.kube.port_forward(self.mon_ns, pod, pod_port, default_local if port is None else port)

    def grafana_password(self) -> str:
        return self.kube.read_secret_key(self.mon_ns, self.k.grafana_admin_secret, "admin-password")

    def port_forward(
        self,
        component: str,
        port: int | None,
        show_password: bool,
        say: Any,
        wait: Callable[[k.PortForward], None] | None = None,
    ) -> None:
        """Forward 127.0.0.1:<port> to the component until Ctrl-C (or until `wait` returns)."""
        self.guard()
        fwd = self.open_forward(component, port)
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
