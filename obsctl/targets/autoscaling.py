"""Autoscaling the app on its own request rate: the prometheus-adapter rule, and the HPA's values.

Why prometheus-adapter and not KEDA: docs/autoscaling.md. In short, the HPA then reads a plain
Pods metric from the custom metrics API (v1beta1.custom.metrics.k8s.io), the chart keeps its own
HorizontalPodAutoscaler, and the cluster gains one Deployment and no CRDs.

The rule turns `http_requests_total{job="fastapi"}` (the counter the dashboards and the
alert rules read) into `http_requests_per_second` per Pod. How a series is tied to a Pod is the
one thing that differs between the platforms (`LabelMapping`):

- clusters: the Prometheus Operator's ServiceMonitor relabelling gives every scraped series
  `namespace` and `pod` labels, which the adapter maps to the namespace and pod resources;
- local: a replica is a process, its series carry `instance` (127.0.0.1:<port>) and no
  namespace, so `instance` stands where `pod` does and the query is not namespaced.

`adapter_query` applies the adapter's own template substitution (sigs.k8s.io/prometheus-adapter
pkg/naming/metrics_query.go `Build`, v0.12) to the rule, so the exact query the adapter sends for
an HPA's Pods metric can be run against a real Prometheus (tests/integration/test_autoscaling_live.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from obsctl.config import AppSettings, AutoscalingSettings, duration_seconds

SOURCE_SERIES = "http_requests_total"
METRIC = "http_requests_per_second"
JOB = "fastapi"  # the ServiceMonitor's job label and the local scrape job (rules select on it)


@dataclass(frozen=True)
class LabelMapping:
    """Which series labels name a Pod's namespace and the Pod itself."""

    pod: str
    namespace: str | None  # None: the resource is not namespaced (the local platform)


CLUSTER_LABELS = LabelMapping(pod="pod", namespace="namespace")
LOCAL_LABELS = LabelMapping(pod="instance", namespace=None)


def rate_window(scrape_interval: str) -> str:
    """Four scrape intervals: rate() needs two samples, four ride out a missed scrape
    (the same choice as the dashboards' windows)."""
    return f"{max(1, round(4 * duration_seconds(scrape_interval)))}s"


def adapter_rule(labels: LabelMapping, window: str, job: str = JOB) -> dict[str, Any]:
    """One prometheus-adapter `rules.custom` entry: per-Pod request rate from http_requests_total.

    seriesQuery is what the adapter lists (every series must carry the mapped labels, else it
    cannot be tied to a Pod); metricsQuery repeats the job, because the adapter only adds the
    resource matchers to <<.LabelMatchers>>, never the seriesQuery's own."""
    mapped = [labels.namespace, labels.pod] if labels.namespace else [labels.pod]
    matchers = [f'job="{job}"', *(f'{label}!=""' for label in mapped)]
    overrides = {labels.pod: {"resource": "pod"}}
    if labels.namespace:
        overrides[labels.namespace] = {"resource": "namespace"}
    return {
        "seriesQuery": f"{SOURCE_SERIES}{{{','.join(matchers)}}}",
        "resources": {"overrides": overrides},
        "name": {"matches": f"^{SOURCE_SERIES}$", "as": METRIC},
        "metricsQuery": f'sum(rate(<<.Series>>{{<<.LabelMatchers>>,job="{job}"}}[{window}])) by (<<.GroupBy>>)',
    }


def _matcher(label: str, values: list[str]) -> str:
    """prom.LabelEq for one value, prom.LabelMatches over `a|b` for several (Go's %q quoting;
    json.dumps quotes the same for these label values)."""
    return f"{label}={json.dumps(values[0])}" if len(values) == 1 else f"{label}=~{json.dumps('|'.join(values))}"


def adapter_query(rule: dict[str, Any], labels: LabelMapping, pods: list[str], namespace: str | None) -> str:
    """The PromQL the adapter sends when the HPA asks for the metric of `pods` in `namespace`:
    namespace matcher first, then the resource matcher, grouped by the resource label."""
    if not pods:
        raise ValueError("the HPA always asks for at least one Pod")
    exprs = []
    if namespace is not None:
        if labels.namespace is None:
            raise ValueError("this label mapping has no namespace label")
        exprs.append(_matcher(labels.namespace, [namespace]))
    exprs.append(_matcher(labels.pod, pods))
    return (
        rule["metricsQuery"]
        .replace("<<.Series>>", SOURCE_SERIES)
        .replace("<<.LabelMatchers>>", ",".join(exprs))
        .replace("<<.GroupBy>>", labels.pod)
    )


def quantity(value: float) -> str:
    """A Kubernetes quantity for a target rate: whole numbers as they are, else in milli-units
    (quantities stop at milli precision; config refuses less than 0.001)."""
    milli = round(value * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def app_values(settings: AutoscalingSettings | None) -> dict[str, Any]:
    """The `autoscaling` context of helm-values/app.yaml.j2; empty when autoscaling is off."""
    if settings is None:
        return {}
    return {
        "min": settings.min,
        "max": settings.max,
        "metric": METRIC,
        "target": quantity(settings.target_rps_per_pod),
    }


def replica_bounds(app: AppSettings) -> tuple[int, int]:
    """How many app Pods may be running: exactly `replicas`, or anywhere from the HPA's min to
    its max (the HPA, not the config, chooses the count)."""
    scaling = app.autoscaling
    return (app.replicas, app.replicas) if scaling is None else (scaling.min, scaling.max)
