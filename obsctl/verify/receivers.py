"""Receivers: every configured one is reachable from the routing tree (all targets), and, in the
local fire drill, every one pointed at obsctl's own sinks got the page and the resolve.

Reachability is asked of amtool (`amtool config routes test`) on the configuration obsctl renders
(with placeholders: no secret is read): one alert per severity (critical pages, warning tickets),
per team that has receivers of its own, per explicit route (its equality matchers as labels), and
Watchdog for the heartbeat. A receiver none of them reaches is a failed check that says so.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from obsctl import render as r
from obsctl.config import AlertingSettings, Receiver, duration_seconds
from obsctl.targets.local import LocalTarget
from obsctl.tools.alertmanager import Sink
from obsctl.tools.amtool import Amtool
from obsctl.verify import Check, CheckFailed, CheckSkipped
from obsctl.verify.drill import wait_for

# FastAPIPodDown when no replica is up, with the labels its rule (rules/) gives it: the drill's page
POD_DOWN = {"alertname": "FastAPIPodDown", "severity": "critical", "team": "platform", "scope": "all", "job": "fastapi"}
PROBE_ALERT = "ObsctlRoutingProbe"  # an alert name no rule uses, so only labels we set decide the route
_EQUALITY = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"?([^"~!=]*)"?\s*$')


def label_sets(alerting: AlertingSettings) -> list[tuple[str, dict[str, str]]]:
    """(what it stands for, labels) for every way the config says an alert should travel."""
    sets: list[tuple[str, dict[str, str]]] = []
    for severity in ("critical", "warning"):
        sets.append((f"severity={severity}", {"alertname": PROBE_ALERT, "severity": severity}))
        for team in alerting.teams:
            sets.append(
                (f"severity={severity} team={team}", {"alertname": PROBE_ALERT, "severity": severity, "team": team})
            )
    for i, route in enumerate(alerting.routes):
        labels = {"alertname": PROBE_ALERT}
        for matcher in route.matchers:
            found = _EQUALITY.match(matcher)
            if found:  # a regex or negative matcher gives no single label value to try
                labels[found.group(1)] = found.group(2)
        sets.append((f"routes[{i}] ({', '.join(route.matchers) or 'any alert'})", labels))
    if alerting.heartbeat:
        sets.append(("Watchdog (heartbeat)", {"alertname": "Watchdog", "severity": "none"}))
    return sets


def routing_checks(alerting: AlertingSettings, sink_url: str | None) -> list[Check]:
    """One check per configured receiver: which tested alert reaches it, as amtool says."""
    if not alerting.receivers:
        return []
    lock = threading.Lock()
    cache: dict[str, Any] = {}

    def reach() -> dict[str, list[str]]:
        with lock:  # one amtool run for every receiver's check (they run concurrently)
            if "reach" not in cache:
                config = r.alertmanager_config(alerting, sink_url, resolve=False)
                sets = label_sets(alerting)
                routed = Amtool().routes_of(config, [labels for _, labels in sets])
                found: dict[str, list[str]] = {}
                for (what, _), receivers in zip(sets, routed, strict=True):
                    for name in receivers:
                        found.setdefault(name, []).append(what)
                cache["reach"] = found
            return cache["reach"]

    def check(rec: Receiver) -> Callable[[], str]:
        def run() -> str:
            how = reach().get(rec.name)
            if not how:
                tried = "; ".join(what for what, _ in label_sets(alerting))
                raise CheckFailed(
                    f"no route reaches receiver {rec.name} (amtool config routes test with: {tried}); list it under"
                    " alerting.page / ticket / teams / heartbeat, or give it a route"
                )
            return f"{', '.join(how)} -> {rec.name} ({', '.join(kinds(rec))})"

        return run

    return [
        Check(f"receiver {rec.name} reachable from the routing tree", check(rec), "alertmanager")
        for rec in alerting.receivers
    ]


def kinds(rec: Receiver) -> list[str]:
    return [k for k in ("webhooks", "slack", "pagerduty", "email", "opsgenie") if getattr(rec, k)]


# --- the fire drill: every receiver got the page and the resolve --------------------------------


def _is_sink(url: str, sink_base: str) -> bool:
    return urlsplit(url).netloc == urlsplit(sink_base).netloc


def expectations(
    rec: Receiver, secret: Callable[[str], str], sink_base: str, smtp_port: int
) -> list[tuple[str, Callable[[dict[str, Any]], bool]]] | None:
    """(integration, does this record belong to it) for each integration of the receiver, or
    None when one of them does not point at obsctl's own sinks (then the drill cannot see it)."""
    out: list[tuple[str, Callable[[dict[str, Any]], bool]]] = []
    for hook in rec.webhooks:
        url = hook.url or secret(hook.url_env or "")
        if not _is_sink(url, sink_base):
            return None
        out.append(("webhook", _belongs("webhook", target=rec.name)))
    for s in rec.slack:
        url = secret(s.api_url_env or "")
        if not _is_sink(url, sink_base):
            return None
        path = urlsplit(url).path
        out.append(("slack", _belongs("slack", path=path, target=s.channel)))
    for pd in rec.pagerduty:
        if not pd.url or not _is_sink(pd.url, sink_base):
            return None
        key = secret(pd.routing_key_env or "")[:4] + "…"
        out.append(("pagerduty", _belongs("pagerduty", target=key)))
    for og in rec.opsgenie:
        if not og.api_url or not _is_sink(og.api_url, sink_base):
            return None
        key = secret(og.api_key_env or "")[:4] + "…"
        out.append(("opsgenie", _belongs("opsgenie", target=key)))
    for mail in rec.email:
        if mail.smarthost not in (f"127.0.0.1:{smtp_port}", f"localhost:{smtp_port}"):
            return None
        out.append(("email", _belongs("email", target=mail.to)))
    return out


def _belongs(kind: str, **fields: str) -> Callable[[dict[str, Any]], bool]:
    """Does a sink record come from this integration: its kind, and what identifies the receiver
    (the webhook's receiver name, Slack's path and channel, the key's first characters, the recipient)."""

    def match(record: dict[str, Any]) -> bool:
        return bool(record.get("kind") == kind and all(record.get(k) == v for k, v in fields.items()))

    return match


def delivered(records: list[dict[str, Any]], belongs: Callable[[dict[str, Any]], bool], alert: str) -> str:
    """'' when the page and its resolve arrived, else what is missing. A resolve is tied to its
    page by the key the protocol carries (dedup_key, alias, group) or by the alert's title."""
    mine = [n for n in records if belongs(n)]
    pages = [n for n in mine if n["status"] == "firing" and alert in n["summary"] + str(n["payload"])]
    if not pages:
        return "no page"
    keys = {n["key"] for n in pages if n["key"]}
    resolves = [
        n for n in mine if n["status"] == "resolved" and (n["key"] in keys or alert in n["summary"] + str(n["payload"]))
    ]
    return "" if resolves else "page arrived, no resolve"


def delivery_checks(
    alerting: AlertingSettings,
    sink: Sink,
    secret: Callable[[str], str],
    sink_base: str,
    smtp_port: int,
    labels: dict[str, str],
    since: Callable[[], float],
    timeout: float = 20.0,
) -> list[Check]:
    """Per receiver: the drill's page and resolve reached it (run after the drill resolved).
    A receiver the drill's alert (`labels`) is not routed to is skipped, saying so."""
    alert = labels["alertname"]

    lock = threading.Lock()
    routed: list[list[str]] = []

    def receives(name: str) -> bool:
        with lock:  # one amtool run: which receivers the drill's alert goes to
            if not routed:
                config = r.alertmanager_config(alerting, f"{sink_base}/", resolve=False)
                routed.extend(Amtool().routes_of(config, [labels]))
            return name in routed[0]

    def check(rec: Receiver) -> Callable[[], str]:
        def run() -> str:
            if not receives(rec.name):
                raise CheckSkipped(f"the routing tree does not send {alert} to {rec.name}")
            wanted = expectations(rec, secret, sink_base, smtp_port)
            if wanted is None:
                raise CheckSkipped(
                    f"{rec.name} does not point at obsctl's local sinks; its delivery is not visible here"
                )
            if not wanted:
                raise CheckSkipped(f"{rec.name} has no integration")
            started = time.monotonic()
            missing: dict[str, str] = {}

            def probe() -> bool:
                records = sink.notifications(since(), kind=None)
                missing.clear()
                for kind, belongs in wanted:
                    gap = delivered(records, belongs, alert)
                    if gap:
                        missing[kind] = gap
                return not missing

            try:
                wait_for(f"{alert} page and resolve at {rec.name}", probe, timeout, interval=0.25)
            except CheckFailed:
                raise CheckFailed(
                    f"{rec.name}: {'; '.join(f'{k}: {v}' for k, v in missing.items())} within {timeout:.0f}s"
                ) from None
            took = time.monotonic() - started
            return f"{' + '.join(k for k, _ in wanted)}: page and resolve of {alert} arrived (+{took:.1f}s)"

        return run

    return [
        Check(f"drill delivery: {rec.name} got the page and the resolve", check(rec), "fire-drill")
        for rec in alerting.receivers
    ]


def heartbeat_check(alerting: AlertingSettings, sink: Sink, secret: Callable[[str], str], sink_base: str) -> Check:
    """The dead man's switch works: Watchdog reached the heartbeat receiver (local sinks only)."""

    def run() -> str:
        if not alerting.heartbeat:
            raise CheckSkipped("no alerting.heartbeat receiver: Watchdog goes to null")
        rec = next(x for x in alerting.receivers if x.name == alerting.heartbeat.receiver)
        wanted = expectations(rec, secret, sink_base, 0)
        if not wanted:
            raise CheckSkipped(f"{rec.name} does not point at obsctl's local sinks")
        wait = 5.0 + 2 * duration_seconds(alerting.heartbeat.repeat_interval)
        recent = time.time() - wait

        def probe() -> list[dict[str, Any]]:
            return [
                n
                for n in sink.notifications(recent, kind=None)
                if any(b(n) for _, b in wanted) and "Watchdog" in str(n["payload"])
            ]

        wait_for(f"Watchdog heartbeat at {rec.name}", probe, wait, interval=0.5)
        return f"Watchdog heartbeat arrives at {rec.name} (every {alerting.heartbeat.repeat_interval})"

    return Check("dead man's switch: Watchdog reaches the heartbeat receiver", run, "alertmanager")


# --- wiring for the local target ------------------------------------------------------------------


def local_checks(t: LocalTarget) -> list[Check]:
    alerting = t.alerting  # `sink: obsctl` receivers pointed at this target's own sink
    return [
        *routing_checks(alerting, f"{t.url('sink')}/"),
        heartbeat_check(alerting, t.sink, _secret(t), t.url("sink")),
    ]


def local_delivery(t: LocalTarget, labels: dict[str, str], since: float) -> list[Check]:
    """After a drill journey: each receiver its alert (`labels`, as the rule sets them) is routed
    to got the page and the resolve, in its own wire format, at obsctl's sink."""
    return delivery_checks(t.alerting, t.sink, _secret(t), t.url("sink"), t.ports.smtp, labels, lambda: since)


def _secret(t: LocalTarget) -> Callable[[str], str]:
    """A receiver's secret as Alertmanager got it (the environment, else obsctl's own local value);
    used only to tell which sink a receiver points at, never printed."""
    own = t.own_secrets()
    return lambda name: os.environ.get(name) or own.get(name, "")
