"""What obsctl owns on a cluster: the mark it puts on what it creates and reads back before any
delete, and which objects belong to its Helm releases (README.md, "What obsctl owns")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# The mark obsctl puts on what it creates (namespaces, Secrets, a StorageClass) and reads back
# before any delete: the managed-by label AND the environment's name. Objects without both are
# someone else's: read, never changed or deleted.
OWNER_LABEL = "app.kubernetes.io/managed-by"
OWNER_VALUE = "obsctl"
ENV_ANNOTATION = "obsctl.io/environment"
MANAGED_BY = {OWNER_LABEL: OWNER_VALUE}
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
# Helm (>= 3.2) annotates every object a release creates with these two.
HELM_RELEASE = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
# Custom resources whose operator creates StatefulSets (and so PVCs and Services) for them.
OPERATOR_WORKLOAD_KINDS = (
    ("monitoring.coreos.com", "v1", "prometheuses", "Prometheus"),
    ("monitoring.coreos.com", "v1", "alertmanagers", "Alertmanager"),
    ("monitoring.coreos.com", "v1", "thanosrulers", "ThanosRuler"),
    ("monitoring.coreos.com", "v1alpha1", "prometheusagents", "PrometheusAgent"),
)


def _meta_maps(meta: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) of a V1ObjectMeta or of a plain `metadata` dict."""
    if isinstance(meta, dict):
        return dict(meta.get("labels") or {}), dict(meta.get("annotations") or {})
    return dict(getattr(meta, "labels", None) or {}), dict(getattr(meta, "annotations", None) or {})


def owner_marks(owner: str) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) that mark an object as created by obsctl for environment `owner`."""
    return dict(MANAGED_BY), {ENV_ANNOTATION: owner}


def owned_by(meta: Any, owner: str) -> bool:
    """True when the object carries obsctl's mark for this environment (label and annotation)."""
    labels, annotations = _meta_maps(meta)
    return labels.get(OWNER_LABEL) == OWNER_VALUE and annotations.get(ENV_ANNOTATION) == owner


def helm_release_of(meta: Any, namespace: str) -> str | None:
    """The Helm release that created the object (its meta.helm.sh annotations), if any."""
    _, annotations = _meta_maps(meta)
    if annotations.get(HELM_RELEASE_NAMESPACE, namespace) != namespace:
        return None
    return annotations.get(HELM_RELEASE)


@dataclass(frozen=True)
class ReleaseResources:
    """What obsctl's releases left in a namespace that must go before it (cloud resources)."""

    load_balancers: list[str] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)  # PersistentVolumes bound to those claims


def _claim_of_statefulset(claim: Any, sts: Any) -> bool:
    """A PVC the StatefulSet controller made: named `<template>-<statefulset>-<ordinal>` and
    labelled with the StatefulSet's selector (the controller copies matchLabels onto it)."""
    templates = [t.metadata.name for t in (sts.spec.volume_claim_templates or []) if t.metadata]
    name = claim.metadata.name
    if not any(re.fullmatch(rf"{re.escape(t)}-{re.escape(sts.metadata.name)}-\d+", name) for t in templates):
        return False
    want = (sts.spec.selector.match_labels if sts.spec.selector else None) or {}
    have = claim.metadata.labels or {}
    return all(have.get(k) == v for k, v in want.items())
