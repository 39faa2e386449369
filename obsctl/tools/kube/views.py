"""Small views of Kubernetes objects (pods, nodes) and the verdicts the waits use: is a workload
rolled out, is a CRD Established."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PodInfo:
    name: str
    phase: str
    ready: bool
    node: str | None
    labels: dict[str, str] = field(default_factory=dict)
    container_ports: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeInfo:
    name: str
    ready: bool
    detail: str


def _conditions(obj: Any) -> dict[str, Any]:
    status = getattr(obj, "status", None)
    return {c.type: c for c in (getattr(status, "conditions", None) or [])}


def _pod_info(pod: Any) -> PodInfo:
    conds = _conditions(pod)
    ready = bool(conds.get("Ready") and conds["Ready"].status == "True")
    ports: dict[str, int] = {}
    for c in pod.spec.containers or []:
        for p in c.ports or []:
            if p.name:
                ports[p.name] = p.container_port
    return PodInfo(
        pod.metadata.name,
        (pod.status.phase if pod.status else None) or "Unknown",
        ready,
        pod.spec.node_name,
        dict(pod.metadata.labels or {}),
        ports,
    )


def rollout_state(kind: str, obj: Any) -> str | None:
    """None when the workload is rolled out and ready, else what it is waiting for."""
    spec, st, meta = obj.spec, obj.status, obj.metadata
    if st is None:
        return "no status yet"
    if (st.observed_generation or 0) < (meta.generation or 0):
        return f"generation {meta.generation} not observed yet"
    if kind == "DaemonSet":
        want = st.desired_number_scheduled or 0
        ready, updated = st.number_ready or 0, st.updated_number_scheduled or 0
        if ready < want or updated < want:
            return f"{ready}/{want} ready, {updated} updated"
        return None
    want = spec.replicas if spec.replicas is not None else 1
    ready, updated = st.ready_replicas or 0, st.updated_replicas or 0
    if kind == "Deployment":
        available = st.available_replicas or 0
        if updated < want or available < want or ready < want or (st.replicas or 0) > want:
            return f"{ready}/{want} ready, {updated} updated, {available} available"
        return None
    if ready < want or updated < want or (st.update_revision and st.current_revision != st.update_revision):
        return f"{ready}/{want} ready, {updated} updated"
    return None


def crd_state(crd: Any | None) -> str | None:
    """None when the CRD is Established, else its last condition."""
    if crd is None:
        return "missing"
    est = _conditions(crd).get("Established")
    if est is None:
        return "no Established condition yet"
    if est.status != "True":
        return f"Established={est.status} ({est.reason or 'no reason'})"
    return None


# Prometheus Operator CRDs (monitoring.coreos.com) that kube-prometheus-stack installs.
MONITORING_PLURALS_V1 = (
    "alertmanagers",
    "podmonitors",
    "probes",
    "prometheuses",
    "prometheusrules",
    "servicemonitors",
    "thanosrulers",
)
MONITORING_CRDS = tuple(f"{p}.monitoring.coreos.com" for p in MONITORING_PLURALS_V1) + (
    "alertmanagerconfigs.monitoring.coreos.com",
    "prometheusagents.monitoring.coreos.com",
    "scrapeconfigs.monitoring.coreos.com",
)
