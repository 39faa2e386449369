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
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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


class RecordingHelm:
    """The helm adapter's interface; records calls and makes their effects appear in the fake."""

    def __init__(self, fake: FakeKube, t: KubernetesTarget, timeline: list[str], crd_delay: float = 0.3) -> None:
        self.fake, self.t, self.timeline, self.crd_delay = fake, t, timeline, crd_delay
        self.releases: dict[str, dict[str, Any]] = {}
        self.problems: list[str] = []

    def _check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)

    def ensure_release(self, release: str, chart: Any, namespace: str, values: dict[str, Any]) -> str:
        self.timeline.append(f"helm ensure {release}")
        fake, t = self.fake, self.t
        self._check(fake.get("namespaces", namespace) is not None, f"{release}: namespace {namespace} missing")
        if release == t.k.kps_release:
            secret = fake.get("secrets", t.k.grafana_admin_secret, t.mon_ns)
            self._check(secret is not None, "kps installed before the Grafana admin Secret")
            self._check("existingSecret" in json.dumps(values), "kps values do not reference the Secret")
            for name in k.MONITORING_CRDS:
                fake.put("customresourcedefinitions", crd(name.split(".")[0], established=False))

            def establish() -> None:
                time.sleep(self.crd_delay)
                for name in k.MONITORING_CRDS:
                    fake.put("customresourcedefinitions", crd(name.split(".")[0]))

            threading.Thread(target=establish, daemon=True).start()
            wl = t.monitoring_workloads()
            for comp in ("grafana", "kube-state-metrics", "operator"):
                fake.put("deployments", workload("deployments", wl[comp], 1, 0), t.mon_ns)
            for comp in ("prometheus", "alertmanager"):
                fake.put("statefulsets", workload("statefulsets", wl[comp], 1, 0), t.mon_ns)
            fake.put("daemonsets", workload("daemonsets", wl["node-exporter"], 2, 0), t.mon_ns)
            fake.put("persistentvolumeclaims", {"metadata": {"name": "prometheus-db-0"}, "spec": {}}, t.mon_ns)
            for comp, (svc, port, _) in t.services().items():
                labels = {"app.kubernetes.io/name": comp}
                target = "grafana" if comp == "grafana" else port
                fake.put(
                    "services",
                    {
                        "metadata": {"name": svc},
                        "spec": {"selector": labels, "ports": [{"port": port, "targetPort": target}]},
                    },
                    t.mon_ns,
                )
                fake.put(
                    "pods", pod(f"{comp}-0", labels, ports={"grafana": 3000} if comp == "grafana" else {}), t.mon_ns
                )
        else:
            established = [c for c in k.MONITORING_CRDS if k.crd_state(_crd_model(fake, c)) is None]
            self._check(
                len(established) == len(k.MONITORING_CRDS), "app chart installed before the CRDs were Established"
            )
            labels = {"app.kubernetes.io/name": "obsctl-app", "app.kubernetes.io/instance": release}
            replicas = values["replicas"]
            fake.put("deployments", workload("deployments", t.app_fullname, replicas, 0, labels=labels), namespace)
            fake.put(
                "services",
                {
                    "metadata": {"name": t.app_fullname},
                    "spec": {"selector": labels, "ports": [{"name": "http", "port": 8000}]},
                },
                namespace,
            )
            fake.put("services", {"metadata": {"name": "public"}, "spec": {"type": "LoadBalancer"}}, namespace)
            sm = values["serviceMonitor"]
            fake.put(
                "servicemonitors",
                {
                    "metadata": {"name": t.app_fullname},
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
        t = self.t
        if release == t.k.kps_release:
            self._check(t.k.app_release not in self.releases, "kps uninstalled before the app chart")
            for ns in (t.app_ns, t.mon_ns):
                lbs = [s for s in self.fake.list("services", ns) if s["spec"].get("type") == "LoadBalancer"]
                self._check(not lbs and not self.fake.list("persistentvolumeclaims", ns), f"LB/PVC left in {ns}")
            for res in ("deployments", "statefulsets", "daemonsets", "services", "pods"):
                for o in self.fake.list(res, t.mon_ns):
                    self.fake.remove(res, o["metadata"]["name"], t.mon_ns)
        return self.releases.pop(release, None) is not None

    def status(self, release: str, namespace: str) -> Any:
        return None


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


def serve_platform(fake: FakeKube, t: KubernetesTarget) -> ThreadingHTTPServer:
    """Register the service-proxy answers and start a fake Grafana behind the port-forward."""
    groups = r.load_rule_groups(t.env.root)

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
        if path == "/api/v1/query":
            return ok({"resultType": "vector", "result": [{"metric": {}, "value": [0, "1"]}]})
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

    class Grafana(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            secret = fake.get("secrets", t.k.grafana_admin_secret, t.mon_ns) or {"data": {}}
            password = base64.b64decode(secret["data"].get("admin-password", "")).decode()
            want = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
            if self.headers.get("Authorization") != want:
                body, code = b'{"message": "invalid username or password"}', 401
            elif self.path.startswith("/api/health"):
                body, code = b'{"database": "ok"}', 200
            elif self.path.startswith("/api/datasources"):
                body, code = b'[{"type": "prometheus", "name": "Prometheus"}]', 200
            elif self.path.startswith("/api/search"):
                body, code = json.dumps([{"uid": u} for u in uids]).encode(), 200
            else:
                body, code = b"{}", 404
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    grafana = ThreadingHTTPServer(("127.0.0.1", 0), Grafana)
    threading.Thread(target=grafana.serve_forever, daemon=True).start()
    fake.backends[(t.mon_ns, "grafana-0")] = grafana.server_address  # type: ignore[assignment]
    return grafana
