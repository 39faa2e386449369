"""A simulated platform on the fake API, for the target and checklist tests.

`RecordingHelm` stands in for the helm adapter (helm itself would talk to the API too; here the
seam records the calls and applies what each release would create). `Controllers` reconcile
workload status with spec (so scaling and rollouts converge), and `serve_platform` answers the
service-proxy requests of Prometheus, Alertmanager and the app, and runs a fake Grafana behind
the port-forward, all derived from the fake's state (so scaling the app to 0 fires the alert).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from obsctl import render as r
from obsctl.targets.kubernetes import KubernetesTarget
from obsctl.tools import kube as k
from tests.fakekube import FakeKube, crd, node, pod, workload

METRICS = b"""# HELP http_requests_total Total requests.
# TYPE http_requests_total counter
http_requests_total{method="GET",handler="/items/{item_id}",status="2xx"} 5.0
# HELP http_request_duration_seconds Latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{handler="/",le="0.1",method="GET"} 1.0
http_request_duration_seconds_bucket{handler="/",le="+Inf",method="GET"} 1.0
http_request_duration_seconds_count{handler="/",method="GET"} 1.0
http_request_duration_seconds_sum{handler="/",method="GET"} 0.01
# HELP http_requests_in_progress In progress.
# TYPE http_requests_in_progress gauge
http_requests_in_progress{handler="/",method="GET"} 0.0
# HELP app_info App.
# TYPE app_info gauge
app_info{version="0.1.0"} 1.0
# HELP process_cpu_seconds_total CPU.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.0
# HELP process_resident_memory_bytes RSS.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.0
"""


def write_fake_kps_chart(folder: Path, version: str = "88.5.3", operator: str = "0.93.1") -> Path:
    """A stand-in for the kube-prometheus-stack chart on disk: Chart.yaml and, like the real
    chart, its CRDs in the `crds` subchart (charts/crds/crds/), annotated with the operator
    version. Returns the chart folder (folder/kube-prometheus-stack)."""
    chart = folder / "kube-prometheus-stack"
    crds = chart / "charts" / "crds" / "crds"
    crds.mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: kube-prometheus-stack\nversion: {version}\n")
    for name in k.MONITORING_CRDS:
        plural, group = name.split(".", 1)
        doc = crd(plural, group, established=None)
        doc = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", **doc}
        doc["metadata"]["annotations"] = {"operator.prometheus.io/version": operator}
        if plural in ("alertmanagerconfigs", "prometheusagents", "scrapeconfigs"):
            doc["spec"]["versions"] = [{"name": "v1alpha1", "served": True, "storage": True}]
        doc.pop("status")
        (crds / f"crd-{plural}.yaml").write_text(yaml.safe_dump(doc))
    return chart


def _helm_meta(name: str, release: str, namespace: str, **extra: Any) -> dict[str, Any]:
    """metadata of an object a release creates: Helm's ownership annotations."""
    annotations = {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": namespace}
    return {"name": name, "annotations": annotations, "labels": {"app.kubernetes.io/managed-by": "Helm"}, **extra}


class RecordingHelm:
    """The helm adapter's interface; records calls and makes their effects appear in the fake.

    What a release creates carries Helm's release annotations; what the operator creates for
    it (the Prometheus StatefulSet, its PVC and PersistentVolume) carries an ownerReference to
    the release's Prometheus object, as on a real cluster. `uninstall` removes exactly those."""

    def __init__(self, fake: FakeKube, t: KubernetesTarget, timeline: list[str], crd_delay: float = 0.3) -> None:
        self.fake, self.t, self.timeline, self.crd_delay = fake, t, timeline, crd_delay
        self.releases: dict[str, dict[str, Any]] = {}
        self.problems: list[str] = []
        self.pulls: list[str] = []
        fake.crd_establish_delay = crd_delay

    def _check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)

    def pull(self, chart: Any, destination: Path) -> Path:
        self.timeline.append(f"helm pull {chart.ref} {chart.version}")
        self.pulls.append(chart.ref)
        if chart.ref.endswith("prometheus-adapter"):
            from tests.fakekube.adapter import write_fake_adapter_chart

            return write_fake_adapter_chart(destination)
        return write_fake_kps_chart(destination)

    def release_marker(self, release: str, namespace: str) -> Any:
        from obsctl.tools import helm as h

        rel = self.releases.get(release)
        if rel is None or rel["namespace"] != namespace:
            return h.NOT_INSTALLED
        marker = rel["values"].get("obsctl")
        return marker if isinstance(marker, dict) else None

    def ensure_release(
        self, release: str, chart: Any, namespace: str, values: dict[str, Any], skip_crds: bool = False
    ) -> str:
        self.timeline.append(f"helm ensure {release}")
        fake, t = self.fake, self.t
        self._check(fake.get("namespaces", namespace) is not None, f"{release}: namespace {namespace} missing")
        established = [c for c in k.MONITORING_CRDS if k.crd_state(_crd_model(fake, c)) is None]
        self._check(len(established) == len(k.MONITORING_CRDS), f"{release} installed before the CRDs were Established")
        self._check(values.get("obsctl", {}).get("environment") == t.owner, f"{release} values carry no obsctl mark")
        if release == t.k.kps_release:
            self._check(skip_crds, "kps installed without --skip-crds although obsctl applied the CRDs")
            secret = fake.get("secrets", t.k.grafana_admin_secret, t.mon_ns)
            self._check(secret is not None, "kps installed before the Grafana admin Secret")
            self._check("existingSecret" in json.dumps(values), "kps values do not reference the Secret")

            def meta(name: str, **extra: Any) -> dict[str, Any]:
                return _helm_meta(name, release, namespace, **extra)

            wl = t.monitoring_workloads()
            for comp in ("grafana", "kube-state-metrics", "operator"):
                fake.put(
                    "deployments",
                    {**workload("deployments", wl[comp], 1, 0), "metadata": meta(wl[comp], generation=1)},
                    namespace,
                )
            fake.put(
                "daemonsets",
                {
                    **workload("daemonsets", wl["node-exporter"], 2, 0),
                    "metadata": meta(wl["node-exporter"], generation=1),
                },
                namespace,
            )
            # the operator's part: a StatefulSet per Prometheus / Alertmanager object of the release
            for comp, kind, plural in (
                ("prometheus", "Prometheus", "prometheuses"),
                ("alertmanager", "Alertmanager", "alertmanagers"),
            ):
                cr_name = f"{t.kps_fullname}-{comp}"
                fake.put(plural, {"metadata": meta(cr_name), "spec": {}}, namespace)
                selector = {"app.kubernetes.io/name": comp, "operator.prometheus.io/name": cr_name}
                sts = workload("statefulsets", wl[comp], 1, 0, labels=selector)
                owner = [
                    {
                        "apiVersion": "monitoring.coreos.com/v1",
                        "kind": kind,
                        "name": cr_name,
                        "uid": "u-" + cr_name,
                        "controller": True,
                    }
                ]
                sts["metadata"] = {"name": wl[comp], "generation": 1, "labels": selector, "ownerReferences": owner}
                if comp == "prometheus":
                    db = f"prometheus-{cr_name}-db"
                    sts["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": db}, "spec": {}}]
                    claim = f"{db}-{wl[comp]}-0"
                    fake.put(
                        "persistentvolumes",
                        {
                            "metadata": {"name": f"pvc-{claim}"},
                            "spec": {
                                "persistentVolumeReclaimPolicy": "Delete",
                                "claimRef": {"namespace": namespace, "name": claim},
                            },
                            "status": {"phase": "Bound"},
                        },
                    )
                    fake.put(
                        "persistentvolumeclaims",
                        {"metadata": {"name": claim, "labels": dict(selector)}, "spec": {"volumeName": f"pvc-{claim}"}},
                        namespace,
                    )
                fake.put("statefulsets", sts, namespace)
            # a LoadBalancer Service of the release (as prometheus.service.type=LoadBalancer makes)
            lb = {"type": "LoadBalancer", "selector": {"app.kubernetes.io/name": "prometheus"}}
            fake.put("services", {"metadata": meta(f"{t.kps_fullname}-prometheus-lb"), "spec": lb}, namespace)
            for comp, (svc, port, _) in t.services().items():
                labels = {"app.kubernetes.io/name": comp}
                target = "grafana" if comp == "grafana" else port
                fake.put(
                    "services",
                    {
                        "metadata": meta(svc),
                        "spec": {"selector": labels, "ports": [{"port": port, "targetPort": target}]},
                    },
                    namespace,
                )
                labels = {**labels, "fake/release": release}
                fake.put(
                    "pods", pod(f"{comp}-0", labels, ports={"grafana": 3000} if comp == "grafana" else {}), namespace
                )
        elif release == t.k.adapter_release:
            self._check(t.k.kps_release in self.releases, "prometheus-adapter installed before kube-prometheus-stack")
            labels = {"app.kubernetes.io/name": "prometheus-adapter", "app.kubernetes.io/instance": release}
            dep = workload("deployments", release, values["replicas"], 0, labels=labels)
            dep["metadata"] = _helm_meta(release, release, namespace, generation=1)
            fake.put("deployments", dep, namespace)
        else:
            self._check(
                t.spec.app.autoscaling is None or t.k.adapter_release in self.releases,
                "the app's HPA installed before prometheus-adapter serves its metric",
            )
            labels = {"app.kubernetes.io/name": "obsctl-app", "app.kubernetes.io/instance": release}
            replicas = values["replicas"]
            dep = workload("deployments", t.app_fullname, replicas, 0, labels=labels)
            dep["metadata"] = _helm_meta(t.app_fullname, release, namespace, generation=1)
            fake.put("deployments", dep, namespace)
            fake.put(
                "services",
                {
                    "metadata": _helm_meta(t.app_fullname, release, namespace),
                    "spec": {"selector": labels, "ports": [{"name": "http", "port": 8000}]},
                },
                namespace,
            )
            fake.put(
                "services",
                {"metadata": _helm_meta("public", release, namespace), "spec": {"type": "LoadBalancer"}},
                namespace,
            )
            for doc in _app_network_policies(values, release, namespace):
                fake.put("networkpolicies", doc, namespace)
            sm = values["serviceMonitor"]
            fake.put(
                "servicemonitors",
                {
                    "metadata": _helm_meta(t.app_fullname, release, namespace),
                    "spec": {
                        "namespaceSelector": {"matchNames": [namespace]},
                        "endpoints": [{"port": "http", "path": "/metrics", "interval": sm["interval"]}],
                    },
                },
                namespace,
            )
        self.releases[release] = {"namespace": namespace, "values": values}
        return f"installed {release}"

    def uninstall(self, release: str, namespace: str) -> bool:
        self.timeline.append(f"helm uninstall {release}")
        t, fake = self.t, self.fake
        if release == t.k.kps_release:
            # by now obsctl has deleted its releases' LoadBalancer Services and claims itself
            self._check(t.k.app_release not in self.releases, "kps uninstalled before the app chart")
            self._check(t.k.adapter_release not in self.releases, "kps uninstalled before prometheus-adapter")
            ours = {t.k.app_release, t.k.kps_release}
            for ns in (t.app_ns, t.mon_ns):
                for svc in fake.list("services", ns):
                    if svc["spec"].get("type") == "LoadBalancer" and any(_of_release(svc, r, ns) for r in ours):
                        self.problems.append(f"LoadBalancer {ns}/{svc['metadata']['name']} left at kps uninstall")
                for claim in fake.list("persistentvolumeclaims", ns):
                    if claim["metadata"]["name"].startswith(f"prometheus-{t.kps_fullname}"):
                        self.problems.append(f"PVC {ns}/{claim['metadata']['name']} left at kps uninstall")
        crs = {
            o["metadata"]["name"]
            for plural in ("prometheuses", "alertmanagers")
            for o in fake.list(plural, namespace)
            if _of_release(o, release, namespace)
        }
        for res in (
            "deployments",
            "statefulsets",
            "daemonsets",
            "services",
            "pods",
            "networkpolicies",
            "servicemonitors",
            "prometheuses",
            "alertmanagers",
        ):
            for o in fake.list(res, namespace):
                owned_by_cr = any(ref.get("name") in crs for ref in o["metadata"].get("ownerReferences", []))
                if (
                    _of_release(o, release, namespace)
                    or owned_by_cr
                    or (o["metadata"].get("labels") or {}).get("fake/release") == release
                ):
                    fake.remove(res, o["metadata"]["name"], namespace)
        return self.releases.pop(release, None) is not None

    def status(self, release: str, namespace: str) -> Any:
        return None


def _of_release(obj: dict[str, Any], release: str, namespace: str) -> bool:
    ann = obj["metadata"].get("annotations") or {}
    return ann.get("meta.helm.sh/release-name") == release and ann.get("meta.helm.sh/release-namespace") == namespace


def _app_network_policies(values: dict[str, Any], release: str, namespace: str) -> list[dict[str, Any]]:
    """The app chart's NetworkPolicy as the real helm renders it from these values (so the fake
    enforces the policy the chart really ships); none when helm is not installed."""
    from obsctl.tools import binaries
    from obsctl.tools import helm as h

    exe = binaries.find("helm")
    if exe is None:
        return []
    chart = Path(__file__).resolve().parents[2] / "app" / "chart"
    text = h.Helm(exe, timeout=60).template(release, h.ChartRef(str(chart)), namespace, values)
    return [d for d in yaml.safe_load_all(text) if d and d.get("kind") == "NetworkPolicy"]


def _crd_model(fake: FakeKube, name: str) -> Any:
    from kubernetes import client

    obj = fake.get("customresourcedefinitions", name)
    if obj is None:
        return None
    conds = [client.V1CustomResourceDefinitionCondition(**c) for c in obj["status"].get("conditions", [])]
    return client.V1CustomResourceDefinition(
        metadata=client.V1ObjectMeta(name=name),
        spec=obj["spec"],
        status=client.V1CustomResourceDefinitionStatus(conditions=conds, accepted_names=None, stored_versions=None),
    )


class Controllers:
    """Deployment/StatefulSet/DaemonSet controllers and kubelet, much simplified: status follows
    spec after `delay`, and the app's pods follow its Deployment."""

    def __init__(self, fake: FakeKube, t: KubernetesTarget, delay: float = 0.2) -> None:
        self.fake, self.t, self.delay = fake, t, delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Controllers:
        self.fake.put("nodes", node("node-1"))
        self.fake.put("nodes", node("node-2"))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.wait(self.delay):
            # the storage provisioner: a volume whose claim is gone is deleted (reclaim policy Delete)
            for pv in self.fake.list("persistentvolumes"):
                ref = pv["spec"].get("claimRef") or {}
                gone = self.fake.get("persistentvolumeclaims", ref.get("name", ""), ref.get("namespace", "")) is None
                if gone and pv["spec"].get("persistentVolumeReclaimPolicy", "Delete") == "Delete":
                    self.fake.remove("persistentvolumes", pv["metadata"]["name"])
            for res in ("deployments", "statefulsets", "daemonsets"):
                for o in self.fake.list(res):
                    ns, name = o["metadata"]["namespace"], o["metadata"]["name"]
                    gen = o["metadata"].get("generation", 1)
                    if res == "daemonsets":
                        want = o["status"]["desiredNumberScheduled"]
                        status = {"numberReady": want, "updatedNumberScheduled": want, "observedGeneration": gen}
                    else:
                        want = o["spec"]["replicas"]
                        status = {"replicas": want, "readyReplicas": want, "updatedReplicas": want}
                        status["observedGeneration"] = gen
                        if res == "deployments":
                            status["availableReplicas"] = want
                    if any(o["status"].get(key) != v for key, v in status.items()):
                        self.fake.update(res, name, ns, status=status)
                    if ns == self.t.app_ns and res == "deployments" and self.fake.get("namespaces", ns):
                        self._pods(ns, o, want)

    def _pods(self, ns: str, dep: dict[str, Any], want: int) -> None:
        labels = dep["spec"]["selector"]["matchLabels"]
        have = [p["metadata"]["name"] for p in self.fake.list("pods", ns)]
        for i in range(want):
            if f"app-{i}" not in have:
                self.fake.put("pods", pod(f"app-{i}", labels, ports={"http": 8000}), ns)
        for name in have:
            if int(name.split("-")[1]) >= want:
                self.fake.remove("pods", name, ns)


def _http_server(answer: Callable[[str, Any], tuple[int, str, bytes]]) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 (a Pod behind the port-forward) whose GETs `answer(path,
    headers)` answers with (status, content type, body)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            code, ctype, body = answer(self.path, self.headers)
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Servers(list[ThreadingHTTPServer]):
    """The platform's HTTP servers (Grafana, the app's pods), stopped together."""

    def shutdown(self) -> None:
        for server in self:
            server.shutdown()

    def server_close(self) -> None:
        for server in self:
            server.server_close()


# What the fake Prometheus answers to `obsctl slo`'s queries: every SLO at an error ratio of
# 0.1 % in every window, 80 % of its budget left, the 3d/6h ticket firing.
SLO_ERROR_RATIO = 0.001
SLO_BUDGET_LEFT = 0.8


def slo_answer(expr: str) -> list[dict[str, Any]]:
    from obsctl import slo

    names = re.findall(r'slo=~"([^"]*)"', expr)
    slos = names[0].split("|") if names else []
    if "slo:sli_error:ratio_rate" in expr:
        return [
            {
                "metric": {"__name__": f"slo:sli_error:ratio_rate{w}", "slo": n, "job": "fastapi"},
                "value": [0, str(SLO_ERROR_RATIO)],
            }
            for n in slos
            for w in (*slo.RAW_WINDOWS, *slo.DERIVED_WINDOWS, "30d", "28d")
        ]
    if "slo:period_error_budget_remaining:ratio" in expr:
        return [{"metric": {"slo": n, "job": "fastapi"}, "value": [0, str(SLO_BUDGET_LEFT)]} for n in slos]
    if expr.startswith("ALERTS{") and slo.ALERT in expr:
        labels = {"severity": "warning", "long_window": "3d", "short_window": "6h", "job": "fastapi"}
        return [{"metric": {"slo": n, **labels}, "value": [0, "1"]} for n in slos]
    return []


def serve_platform(fake: FakeKube, t: KubernetesTarget) -> Servers:
    """Register the service-proxy answers and start a fake Grafana behind the port-forward."""
    groups = r.rule_groups(t.env.root, t.spec)

    def app_replicas() -> int:
        dep = fake.get("deployments", t.app_fullname, t.app_ns)
        return len(fake.list("pods", t.app_ns)) if dep else 0

    def ok(data: Any) -> tuple[int, str, bytes]:
        return 200, "application/json", json.dumps({"status": "success", "data": data}).encode()

    def prometheus(path: str, q: dict[str, str]) -> tuple[int, str, bytes]:
        n = app_replicas()
        if path == "/api/v1/targets":
            active = [{"labels": {"job": "fastapi", "instance": f"app-{i}"}, "health": "up"} for i in range(n)]
            for job in ("kube-state-metrics", "node-exporter", "kubelet", "apiserver", "coredns"):
                active.append({"labels": {"job": job, "instance": job}, "health": "up"})
            return ok({"activeTargets": active})
        if path == "/api/v1/rules":
            return ok(
                {
                    "groups": [
                        {
                            "name": g["name"],
                            "rules": [
                                {
                                    "name": rule.get("alert") or rule["record"],
                                    "type": "alerting" if "alert" in rule else "recording",
                                    "health": "ok",
                                }
                                for rule in g["rules"]
                            ],
                        }
                        for g in groups
                    ]
                }
            )
        if path == "/api/v1/query" and q.get("query", "").endswith(" by (pod)"):
            # prometheus-adapter's per-Pod query: one series per Ready app pod, labelled `pod`
            # (what a real Prometheus returns for it: tests/integration/test_autoscaling_live.py)
            pods = [p["metadata"]["name"] for p in fake.list("pods", t.app_ns)]
            return ok({"resultType": "vector", "result": [{"metric": {"pod": p}, "value": [0, "2"]} for p in pods]})
        if path == "/api/v1/query":
            return ok(
                {
                    "resultType": "vector",
                    "result": slo_answer(q.get("query", "")) or [{"metric": {}, "value": [0, "1"]}],
                }
            )
        if path == "/api/v1/alerts":
            alerts = [] if n else [{"labels": {"alertname": "FastAPIPodDown", "scope": "all"}, "state": "firing"}]
            return ok({"alerts": alerts})
        return 404, "text/plain", b"not found"

    def alertmanager(path: str, q: dict[str, str]) -> tuple[int, str, bytes]:
        firing = [] if app_replicas() else [{"labels": {"alertname": "FastAPIPodDown"}, "status": {"state": "active"}}]
        return 200, "application/json", json.dumps(firing).encode()

    def app(path: str, q: dict[str, str]) -> tuple[int, str, bytes]:
        if not app_replicas():
            return 503, "text/plain", b"no endpoints"
        return 200, "text/plain; version=0.0.4", METRICS

    fake.proxies[(t.mon_ns, t.services()["prometheus"][0])] = prometheus
    fake.proxies[(t.mon_ns, t.services()["alertmanager"][0])] = alertmanager
    fake.proxies[(t.app_ns, t.app_fullname)] = app

    uids = [json.loads(text)["uid"] for text in r.load_dashboards(t.env.root).values()]

    def grafana_api(path: str, headers: Any) -> tuple[int, str, bytes]:
        secret = fake.get("secrets", t.k.grafana_admin_secret, t.mon_ns) or {"data": {}}
        password = base64.b64decode(secret["data"].get("admin-password", "")).decode()
        want = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
        if headers.get("Authorization") != want:
            return 401, "application/json", b'{"message": "invalid username or password"}'
        if path.startswith("/api/health"):
            return 200, "application/json", b'{"database": "ok"}'
        if path.startswith("/api/datasources"):
            return 200, "application/json", b'[{"type": "prometheus", "name": "Prometheus"}]'
        if path.startswith("/api/search"):
            return 200, "application/json", json.dumps([{"uid": u} for u in uids]).encode()
        return 404, "application/json", b"{}"

    grafana = _http_server(grafana_api)
    fake.backends[(t.mon_ns, "grafana-0")] = grafana.server_address  # type: ignore[assignment]
    app_pod = _http_server(
        lambda path, headers: (200, "text/plain; version=0.0.4", METRICS if path.startswith("/metrics") else b"ok")
    )
    for i in range(20):  # the Controllers name the app's pods app-0, app-1, ...
        fake.backends[(t.app_ns, f"app-{i}")] = app_pod.server_address  # type: ignore[assignment]
    return Servers([grafana, app_pod])
