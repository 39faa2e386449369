"""The local target's checklist, and its fire drill.

Each check asks the running platform one question through its real API. Checks whose
condition converges (a first scrape after a restart) retry briefly with `eventually`;
none of them can pass without the component answering.
"""

from __future__ import annotations

import time
from typing import Any

from obsctl import render as r
from obsctl import slo
from obsctl.config import duration_seconds
from obsctl.targets.local import LocalTarget
from obsctl.tools.http import HttpApi
from obsctl.verify import Check, CheckFailed, CheckSkipped, content, eventually
from obsctl.verify.drill import Steps, wait_for

SETTLE = 10.0  # seconds a converging check may wait


def checks(t: LocalTarget) -> list[Check]:
    out = [
        Check("processes running", lambda: _processes(t), "processes"),
        Check("app /metrics is valid and complete", lambda: _app_metrics(t), "app"),
        Check("prometheus target fastapi up (every replica)", lambda: _targets(t), "prometheus"),
        Check("alert and recording rules loaded", lambda: _rules(t), "prometheus"),
        Check("alertmanager ready and wired to prometheus", lambda: _alertmanager(t), "alertmanager"),
        Check("alert routing reaches the webhook sink", lambda: _routing(t), "alertmanager"),
        Check("grafana datasource and dashboards", lambda: _grafana(t), "grafana"),
    ]
    return out + content.dashboard_checks(
        t.env.root,
        t.prometheus.query,
        t.rate_window(),
        SETTLE,
        slos=bool(t.spec.slos),
        slo_interval=slo.long_interval(t.spec.scrape.evaluation_interval),
    )


def _processes(t: LocalTarget) -> str:
    if not t.supervisor.running():
        raise CheckFailed(f"supervisord is not running; run `obsctl up --env {t.env.name}`")
    procs = t.supervisor.processes()
    bad = [f"{p.name}={p.state}" for p in procs if p.state != "RUNNING"]
    if bad:
        raise CheckFailed(f"not running: {', '.join(bad)}")
    expected = len(t.app_ports) + 3 + (1 if t.spec.local.traffic.enabled else 0) + (1 if t.grafana_binary() else 0)
    if len(procs) != expected:
        raise CheckFailed(f"{len(procs)} programs under supervisord, expected {expected}")
    return f"{len(procs)} programs RUNNING"


def _app_metrics(t: LocalTarget) -> str:
    for url in t.app_urls():
        content.metrics_complete(HttpApi(url, "app").get_text(t.spec.scrape.path), f"{url}{t.spec.scrape.path}")
    return f"{len(t.app_urls())} replicas expose the {len(content.EXPECTED_METRICS)} expected families"


def _targets(t: LocalTarget) -> str:
    want = {f"127.0.0.1:{p}" for p in t.app_ports}

    def probe() -> str:
        targets = [x for x in t.prometheus.targets() if x["labels"].get("job") == "fastapi"]
        seen = {x["labels"]["instance"]: x["health"] for x in targets}
        if set(seen) != want:
            raise CheckFailed(f"fastapi targets are {sorted(seen)}, expected {sorted(want)}")
        down = {i: h for i, h in seen.items() if h != "up"}
        if down:
            raise CheckFailed(f"targets not up: {down}")
        return f"{len(seen)}/{len(want)} up"

    return eventually(probe, SETTLE)


def _rules(t: LocalTarget) -> str:
    return content.rules_healthy(t.prometheus.rule_groups(), t.env.root, slo.group_names(t.spec.slos))


def _alertmanager(t: LocalTarget) -> str:
    if not t.alertmanager.ready():
        raise CheckFailed(f"Alertmanager at {t.url('alertmanager')} is not ready")

    def probe() -> str:
        urls = t.prometheus.alertmanagers()
        if not any(f":{t.ports.alertmanager}/" in u for u in urls):
            raise CheckFailed(f"Prometheus sends alerts to {urls or 'nothing'}, not to port {t.ports.alertmanager}")
        return f"Prometheus -> {urls[0]}"

    return eventually(probe, SETTLE)


def _routing(t: LocalTarget) -> str:
    import yaml

    original = yaml.safe_load(t.alertmanager.status()["config"]["original"])
    sinks = [
        hook["url"]
        for rec in original.get("receivers", [])
        if rec["name"] == r.SINK_RECEIVER
        for hook in rec.get("webhook_configs", [])
    ]
    if not any(f":{t.ports.sink}/" in u for u in sinks):
        raise CheckFailed("the running Alertmanager config has no route to the obsctl sink")
    if not HttpApi(t.url("sink"), "sink").ok("/healthz"):
        raise CheckFailed(f"the webhook sink at {t.url('sink')} is not answering")
    return f"route -> {r.SINK_RECEIVER} ({sinks[0]}), sink answering"


def _grafana(t: LocalTarget) -> str:
    if not t.grafana_binary():
        raise CheckSkipped("Grafana is not installed here; every dashboard query is checked against Prometheus")
    return content.grafana_provisioned(HttpApi(t.url("grafana"), "Grafana"), t.env.root, SETTLE)


# --- the fire drill ------------------------------------------------------------------------


def _is(labels: dict[str, str], alert: str, match: dict[str, str] | None) -> bool:
    """The alert named `alert` whose labels also hold every pair of `match` (one of several
    rules sharing a name, e.g. the 1h/5m page of one SLO among its ErrorBudgetBurn alerts)."""
    return labels.get("alertname") == alert and all(labels.get(k) == v for k, v in (match or {}).items())


def _prom_state(t: LocalTarget, alert: str, state: str, match: dict[str, str] | None = None) -> Any:
    return lambda: [a for a in t.prometheus.alerts() if _is(a["labels"], alert, match) and a["state"] == state]


def _notified(t: LocalTarget, alert: str, status: str, since: float, match: dict[str, str] | None = None) -> Any:
    """Notifications that carry the alert in `status`. The alert's own status counts, not the
    payload's: a group's notification stays "firing" while another alert of it (another
    window pair of the same SLO) still fires, and lists the resolved one as resolved."""

    def probe() -> list[dict[str, Any]]:
        return [
            n
            for n in t.sink.notifications(since)
            if any(
                _is(a["labels"], alert, match) and a.get("status", n["payload"].get("status")) == status
                for a in n["payload"].get("alerts", [])
            )
        ]

    return probe


def _journey(
    t: LocalTarget,
    alert: str,
    provoke: Any,
    recover: Any,
    timeout: float,
    settle: Any = None,
    done: Any = None,
    match: dict[str, str] | None = None,
    undo: tuple[str, Any] | None = None,
) -> list[Check]:
    """pending -> firing -> in Alertmanager -> notified -> recover -> resolved -> resolved notification.
    The steps share state, so they run in order; each is reported as its own check. Recovery
    runs even after a failed step, so a failed drill never leaves the app stopped or flooded.
    `match` narrows every step to the alerts of that name carrying those labels too."""
    since = time.time()
    steps = Steps(alert)

    def wait(what: str, probe: Any) -> float:
        return wait_for(what, probe, timeout, interval=0.2)

    def pending() -> str:
        nonlocal since
        since = time.time()  # only notifications of this journey count, not an earlier drill's
        if undo:
            steps.provoked(*undo)  # before provoking: an interruption mid-way still undoes it
        provoke()
        s = wait("alert pending in Prometheus", _prom_state(t, alert, "pending", match))
        return f"pending after {s:.1f}s"

    def firing() -> str:
        s = wait("alert firing in Prometheus", _prom_state(t, alert, "firing", match))
        if settle:
            settle()
        return f"firing after {s:.1f}s more"

    def in_am() -> str:
        s = wait(
            "alert active in Alertmanager",
            lambda: [a for a in t.alertmanager.alerts(alert) if _is(a["labels"], alert, match)],
        )
        return f"active in Alertmanager after {s:.1f}s"

    def notified() -> str:
        s = wait("firing notification at the sink", _notified(t, alert, "firing", since, match))
        return f"webhook sink got a firing notification after {s:.1f}s"

    def resolved() -> str:
        if settle:
            settle()  # idempotent; stops the provocation even when `firing` never got to
        recover()
        steps.recovered()

        def gone() -> bool:
            return not [a for a in t.prometheus.alerts() if _is(a["labels"], alert, match)]

        try:
            s = wait("alert gone from Prometheus", gone)
        finally:
            if done:
                done()
        return f"resolved in Prometheus after {s:.1f}s"

    def resolved_note() -> str:
        s = wait("resolved notification at the sink", _notified(t, alert, "resolved", since, match))
        return f"webhook sink got a resolved notification after {s:.1f}s"

    return steps.drill(
        [
            steps.step("pending", pending),
            steps.step("firing", firing),
            steps.step("reaches Alertmanager", in_am),
            steps.step("notifies the sink", notified),
            steps.step("resolves", resolved, always=True),  # always puts the platform back
            steps.step("sends resolved", resolved_note),
        ]
    )


# the page of the pod-down drill: no replica up (rules/fastapi.rules.yaml), not the per-replica warnings
POD_DOWN_PAGE = {"severity": "critical", "scope": "all"}


def drill_pod_down(t: LocalTarget, timeout: float = 60.0) -> list[Check]:
    """Stop every app replica, watch FastAPIPodDown's page (no replica up) travel to the sink,
    start them, watch it resolve. The per-replica warnings share the alert name and can fire
    first; a journey that followed them could restart the app before the page ever fired, and
    the page receivers then got nothing (seen under load)."""
    undo = (f"started {', '.join(t.app_programs())} again", t.start_app)
    return _journey(t, "FastAPIPodDown", t.stop_app, t.start_app, timeout, match=POD_DOWN_PAGE, undo=undo)


def drill_error_rate(t: LocalTarget, timeout: float = 60.0) -> list[Check]:
    """Fault injection: requests asking for 500s (X-Fault-Error-Rate: 1) until FastAPIHighErrorRate
    fires; then healthy traffic until the 5xx ratio over the rule's 5m window is back under the
    threshold (the alert is a ratio over traffic, so more good traffic is what resolves it)."""
    from obsctl.tools import load

    errors, healthy = load.Flag(), load.Flag()

    def provoke() -> None:
        load.start_background(t.app_urls(), rps=20, headers={"X-Fault-Error-Rate": "1"}, stop=errors)

    def recover() -> None:
        load.start_background(t.app_urls(), rps=None, headers={}, stop=healthy, duration=timeout)

    def stop_faults() -> None:
        errors.set()
        healthy.set()

    undo = ("stopped the fault-injection traffic", stop_faults)
    return _journey(
        t, "FastAPIHighErrorRate", provoke, recover, timeout, settle=errors.set, done=healthy.set, undo=undo
    )


def drill_slo_burn(t: LocalTarget, timeout: float = 60.0) -> list[Check]:
    """The page of the first availability SLO (ErrorBudgetBurn, 14.4x over 1h and 5m), with
    the rule expressions as the clusters run them: nothing is compressed but `for:`.

    The 1h window holds up to an hour of traffic, so a fixed burst is either too small (an
    old platform: 8 rps for an hour is 28,800 requests, 7.2 % of that is ~2,240 errors) or
    far more than needed (a fresh one), and every error too many must later be diluted by
    ~14 good requests. So the drill reads both windows' request and error counts from the
    SLO's own recordings, sends just enough error requests (X-Fault-Error-Rate: 1) to lift
    both over 14.4x the budget (plus 15 % and 20 requests of margin), and, once the page has
    fired, floods good requests until the page resolves and the 5m error ratio is back under
    FastAPIHighErrorRate's threshold, so the platform is left as the drill found it."""
    from obsctl.slo import ALERT, BURN_ALERTS
    from obsctl.tools import load

    target = next((s for s in t.spec.slos if s.sli.type == "availability"), None)
    if target is None:

        def skip() -> str:
            raise CheckSkipped("no availability SLO in this environment's slos: nothing to burn")

        return [Check(f"drill {ALERT}: page", skip, "fire-drill")]
    page = BURN_ALERTS[0]
    threshold = page.factor * target.error_budget  # as an error ratio, e.g. 14.4 * 0.005 = 0.072
    urls, healthy = t.app_urls(), load.Flag()
    error = {"X-Fault-Error-Rate": "1"}
    sel = f'{{slo="{target.name}"}}'
    match = {"slo": target.name, "severity": page.severity, "long_window": page.long}

    def value(expr: str) -> float:
        result = t.prometheus.query(expr)
        return float(result[0]["value"][1]) if result else 0.0

    def needed() -> int:
        """Errors that lift the error ratio of both windows over the threshold. rate() divides
        by the whole range even while Prometheus is younger than it, so rate x range is the
        window's count."""
        most = 0.0
        for window, seconds in ((page.long, 3600), (page.short, 300)):
            total = value(f"sum(slo:sli_requests:rate{window}{sel})") * seconds
            errors = value(f"sum(slo:sli_errors:rate{window}{sel})") * seconds
            most = max(most, (threshold * total - errors) / (1 - threshold))
        return int(most * 1.15) + 20

    settle = 2 * duration_seconds(t.spec.scrape.interval) + duration_seconds(t.spec.scrape.evaluation_interval)

    def provoke() -> None:
        # A replica's first 500 creates its status="500" series; rate() cannot count what
        # happened before that series' first scrape, so make sure it exists first.
        have = value('count(http_requests_total{job="fastapi", handler="/api/items", status="500"})')
        if have < len(urls):
            load.send(urls, 2 * len(urls), error)
        # let what came before (the previous drill's flood) reach the recordings, else the
        # windows hold more than they say and the burst falls short
        time.sleep(settle)
        for _ in range(3):
            load.send(urls, needed(), error)
            try:  # return as soon as it is pending: the journey watches it from there
                wait_for("page pending", _prom_state(t, ALERT, "pending", match), 2 * settle, 0.2)
                return
            except CheckFailed:
                continue  # still short: measure again and top up

    def recover() -> None:
        load.start_background(urls, rps=None, headers={}, stop=healthy, duration=timeout)

    def done() -> None:
        # Leave the 5m error ratio as the error-rate drill expects to find it: ~9 s on a young
        # platform. After a big burst (a busy hour in the 1h window) it would take minutes, so
        # give up after 15 s and let the alert resolve as the burst leaves the 5m window.
        try:
            wait_for("FastAPIHighErrorRate gone", lambda: not _active(t, "FastAPIHighErrorRate"), min(15, timeout), 0.2)
        except CheckFailed:
            pass
        finally:
            healthy.set()

    undo = ("stopped the drill's traffic", healthy.set)
    return _journey(t, ALERT, provoke, recover, timeout, done=done, match=match, undo=undo)


def _active(t: LocalTarget, alert: str) -> list[dict[str, Any]]:
    return [a for a in t.prometheus.alerts() if a["labels"]["alertname"] == alert]
