"""The cluster checklist (targets kubernetes and eks), and its fire drill.

Each check asks the cluster one question: the Kubernetes API for nodes, pods, Services and
ServiceMonitors; Prometheus and the app through the API server's service proxy (no port has
to be open on this machine); Grafana through a short-lived port-forward on 127.0.0.1 (its API
needs basic auth, which the service proxy does not pass through). Converging conditions (a
first scrape, an alert going firing) retry with `eventually`, never past a deadline.
"""

from __future__ import annotations

from typing import Any

from obsctl import render as r
from obsctl import slo
from obsctl.config import duration_seconds
from obsctl.errors import ObsctlError
from obsctl.targets import autoscaling
from obsctl.targets.kubernetes import GRAFANA_USER, KubernetesTarget
from obsctl.tools.http import HttpApi
from obsctl.verify import Check, CheckFailed, CheckSkipped, content, eventually
from obsctl.verify.drill import Steps, wait_for

# system scrape jobs of kube-prometheus-stack that must be healthy (a managed control plane
# hides the others, so only these are required everywhere)
SYSTEM_JOBS = ("kube-state-metrics", "node-exporter", "kubelet", "apiserver")


def settle(t: KubernetesTarget) -> float:
    """How long a converging check may wait: a few scrape and evaluation rounds."""
    s = t.spec.scrape
    return min(t.wait_timeout, 4 * duration_seconds(s.interval) + 2 * duration_seconds(s.evaluation_interval) + 10)


def checks(t: KubernetesTarget) -> list[Check]:
    out = [
        Check("nodes Ready", lambda: _nodes(t), "kubernetes"),
        Check("app pods Ready", lambda: _app_pods(t), "app"),
        Check("app Service has port http", lambda: _app_service(t), "app"),
        Check("app /metrics is valid and complete", lambda: _app_metrics(t), "app"),
        Check("monitoring components running", lambda: _components(t), "kubernetes"),
        Check("ServiceMonitor selects the app", lambda: _service_monitor(t), "prometheus"),
        Check("prometheus target fastapi up, system targets healthy", lambda: _targets(t), "prometheus"),
        Check("fastapi rules loaded", lambda: _rules(t), "prometheus"),
        Check("grafana datasource and dashboards", lambda: _grafana(t), "grafana"),
    ]
    if t.adapter.enabled:
        out.append(Check("autoscaling metric served for every app pod", lambda: _autoscaling_metric(t), "app"))

    def query(expr: str) -> list[Any]:
        return t.prometheus("api/v1/query", query=expr)["result"]

    return out + content.dashboard_checks(
        t.env.root,
        query,
        t.rate_window(),
        settle(t),
        interval=1.0,
        cluster=True,
        slos=bool(t.spec.slos),
        slo_interval=slo.long_interval(t.spec.scrape.evaluation_interval),
    )


def _nodes(t: KubernetesTarget) -> str:
    nodes = t.kube.nodes()
    if not nodes:
        raise CheckFailed("the cluster has no nodes")
    bad = [f"{n.name} ({n.detail})" for n in nodes if not n.ready]
    if bad:
        raise CheckFailed(f"{len(bad)}/{len(nodes)} nodes not Ready: {', '.join(bad)}")
    return f"{len(nodes)} nodes Ready"


def _app_pods(t: KubernetesTarget) -> str:
    low, high = autoscaling.replica_bounds(t.spec.app)
    want = str(low) if low == high else f"{low}-{high} (autoscaled)"
    pods = t.kube.pods(t.app_ns, t.app_selector)
    ready = [p for p in pods if p.ready and p.phase == "Running"]
    if not low <= len(ready) <= high:
        states = ", ".join(f"{p.name}={p.phase}{'' if p.ready else ' not ready'}" for p in pods) or "none"
        raise CheckFailed(f"{len(ready)}/{want} app pods Ready in {t.app_ns} ({states})")
    return f"{len(ready)}/{want} pods Ready"


def _autoscaling_metric(t: KubernetesTarget) -> str:
    """The query prometheus-adapter sends for the HPA (its rule, its substitution) returns one
    series per Ready app Pod: the labels the rule maps are really on the series."""
    rule = t.adapter.rule()

    def probe() -> str:
        pods = sorted(p.name for p in t.kube.pods(t.app_ns, t.app_selector) if p.ready)
        if not pods:
            raise CheckFailed(f"no Ready app pod in {t.app_ns}")
        query = autoscaling.adapter_query(rule, autoscaling.CLUSTER_LABELS, pods, t.app_ns)
        result = t.prometheus("api/v1/query", query=query)["result"]
        served = {s["metric"].get(autoscaling.CLUSTER_LABELS.pod): s["value"][1] for s in result}
        missing = [p for p in pods if p not in served]
        if missing:
            raise CheckFailed(f"no {autoscaling.METRIC} for {', '.join(missing)} (query: {query})")
        return ", ".join(f"{p}={float(served[p]):.2f}/s" for p in pods)

    return f"{autoscaling.METRIC}: " + eventually(probe, settle(t), interval=1.0)


def _app_service(t: KubernetesTarget) -> str:
    try:
        svc = t.kube.service(t.app_ns, t.app_fullname)
    except ObsctlError as exc:
        raise CheckFailed(f"Service {t.app_ns}/{t.app_fullname}: {exc.message}") from None
    names = {p.name: p.port for p in (svc.spec.ports or [])}
    if "http" not in names:
        raise CheckFailed(f"Service {t.app_fullname} has no port named http (ports: {sorted(n for n in names if n)})")
    return f"{t.app_fullname}:{names['http']} (http)"


def _app_metrics(t: KubernetesTarget) -> str:
    """The app's /metrics, read through a port-forward to one of its Pods: the app's
    NetworkPolicy admits only Prometheus' namespace, so the API server's service proxy (whose
    connection comes from the control plane) is refused wherever NetworkPolicy is enforced
    (kind >= 0.24, EKS with the VPC CNI's policy agent); port-forward enters through the kubelet."""
    with t.forward_to_service(t.app_ns, t.app_fullname, "http") as fwd:
        text = HttpApi(fwd.url, "the app").get_text(t.spec.scrape.path)
    families = content.metrics_complete(text, f"{t.app_fullname}{t.spec.scrape.path}")
    return f"{families} families, the {len(content.EXPECTED_METRICS)} expected present"


def _components(t: KubernetesTarget) -> str:
    workloads = t.kube.workloads(t.mon_ns)
    problems = []
    for component, name in t.monitoring_workloads().items():
        if name not in workloads:
            problems.append(f"{component}: {name} missing")
        elif workloads[name][1] is not None:
            problems.append(f"{component}: {workloads[name][1]}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"{len(t.monitoring_workloads())} components ready"


def _service_monitor(t: KubernetesTarget) -> str:
    monitors = {
        m["metadata"]["name"]: m
        for m in t.kube.custom_objects("monitoring.coreos.com", "v1", t.app_ns, "servicemonitors")
    }
    sm = monitors.get(t.app_fullname)
    if sm is None:
        raise CheckFailed(f"no ServiceMonitor {t.app_ns}/{t.app_fullname} (found: {sorted(monitors) or 'none'})")
    spec = sm.get("spec", {})
    names = spec.get("namespaceSelector", {}).get("matchNames", [])
    if t.app_ns not in names:
        raise CheckFailed(f"namespaceSelector.matchNames is {names}, expected it to include {t.app_ns}")
    endpoints = spec.get("endpoints", [])
    ep = next((e for e in endpoints if e.get("port") == "http"), None)
    if ep is None:
        raise CheckFailed("no endpoint scrapes port http")
    scrape = t.spec.scrape
    if ep.get("path") != scrape.path or ep.get("interval") != scrape.interval:
        raise CheckFailed(
            f"endpoint scrapes {ep.get('path')} every {ep.get('interval')},"
            f" expected {scrape.path} every {scrape.interval}"
        )
    return f"{t.app_fullname}: port http, {scrape.path} every {scrape.interval}, namespace {t.app_ns}"


def _targets(t: KubernetesTarget) -> str:
    want = t.spec.app.replicas

    def probe() -> str:
        targets = t.prometheus("api/v1/targets", state="active")["activeTargets"]
        fastapi = [x for x in targets if x["labels"].get("job") == "fastapi"]
        up = [x for x in fastapi if x["health"] == "up"]
        if len(up) != want:
            seen = {x["labels"].get("instance"): x["health"] for x in fastapi}
            raise CheckFailed(f"{len(up)}/{want} fastapi targets up ({seen or 'none discovered'})")
        jobs: dict[str, list[str]] = {}
        for x in targets:
            jobs.setdefault(x["labels"].get("job", "?"), []).append(x["health"])
        missing = [j for j in SYSTEM_JOBS if j not in jobs]
        down = [f"{j} ({h.count('up')}/{len(h)} up)" for j, h in jobs.items() if j in SYSTEM_JOBS and "up" not in h]
        if missing or down:
            raise CheckFailed(f"system targets: missing {missing or 'none'}, down {down or 'none'}")
        return f"fastapi {want}/{want} up; {', '.join(sorted(jobs))} scraped"

    return eventually(probe, settle(t), interval=1.0)


def _rules(t: KubernetesTarget) -> str:
    slo_groups = slo.group_names(t.spec.slos)
    return eventually(
        lambda: content.rules_healthy(t.prometheus("api/v1/rules")["groups"], t.env.root, slo_groups), settle(t), 1.0
    )


def _grafana(t: KubernetesTarget) -> str:
    with t.open_forward("grafana", 0) as fwd:
        api = HttpApi(fwd.url, "Grafana", auth=(GRAFANA_USER, t.grafana_password()))
        return content.grafana_provisioned(api, t.env.root, settle(t), interval=1.0)


# --- the fire drill ------------------------------------------------------------------------


def _alert_for(t: KubernetesTarget, alert: str) -> float:
    """The longest `for:` of the alert as the cluster runs it (overrides included)."""
    groups = r.rule_groups(t.env.root, t.spec)
    fors = [
        duration_seconds(rule.get("for", "0s") or "0s")
        for g in groups
        for rule in g["rules"]
        if rule.get("alert") == alert
    ]
    return max(fors, default=0.0)


def drill_pod_down(t: KubernetesTarget, timeout: float | None = None) -> list[Check]:
    """Scale the app to 0, watch FastAPIPodDown fire and reach Alertmanager, scale it back,
    watch it resolve. Steps share state and run in order; scaling back always runs."""
    alert = "FastAPIPodDown"
    s = t.spec.scrape
    budget = timeout or (
        _alert_for(t, alert) + 3 * duration_seconds(s.interval) + 3 * duration_seconds(s.evaluation_interval) + 60
    )
    steps = Steps(alert)
    scaled: list[bool] = []

    def prom_alerts(state: str | None = None) -> list[dict[str, Any]]:
        return [
            a
            for a in t.prometheus("api/v1/alerts")["alerts"]
            if a["labels"].get("alertname") == alert and (state is None or a["state"] == state)
        ]

    def wait(what: str, probe: Any) -> float:
        return wait_for(what, probe, budget, interval=1.0)

    def context() -> str:
        # the drill scales a Deployment to zero: only ever on the cluster the environment names
        return t.guard()

    def scale_down() -> str:
        steps.provoked(
            f"scaled {t.app_ns}/{t.app_fullname} back to {t.spec.app.replicas}",
            lambda: t.scale_app(t.spec.app.replicas),
        )
        t.scale_app(0)
        scaled.append(True)
        took = wait("app pods gone", lambda: not t.kube.pods(t.app_ns, t.app_selector))
        return f"scaled {t.app_ns}/{t.app_fullname} to 0; pods gone after {took:.1f}s"

    def firing() -> str:
        took = wait("alert firing in Prometheus", lambda: prom_alerts("firing"))
        return f"firing after {took:.1f}s"

    def in_am() -> str:
        took = wait("alert active in Alertmanager", lambda: t.alertmanager_alerts(alert))
        return f"active in Alertmanager after {took:.1f}s"

    def scale_up() -> str:
        if not scaled:
            raise CheckSkipped("the app was not scaled down")
        t.scale_app(autoscaling.replica_bounds(t.spec.app)[0])  # the HPA takes over from its minimum
        steps.recovered()
        return t.kube.wait_rollouts(t.app_ns, t.wait_timeout)

    def resolved() -> str:
        took = wait("alert resolved in Prometheus", lambda: not prom_alerts())
        return f"resolved after {took:.1f}s"

    return steps.drill(
        [
            steps.step("kube context", context),
            steps.step("scale the app to 0", scale_down),
            steps.step("firing", firing),
            steps.step("reaches Alertmanager", in_am),
            steps.step("scale the app back", scale_up, always=True),
            steps.step("resolves", resolved),
        ]
    )
