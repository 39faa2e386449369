"""Namespaces, the cleanup before uninstall, and obsctl's Secrets, against the fake API: what obsctl
creates carries its mark, and only what carries it (or belongs to obsctl's releases) is deleted."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

from obsctl.errors import ToolError, WaitTimeout
from obsctl.tools import kube as k
from tests.fakekube import FakeKube, crd, workload


@pytest.fixture
def kube(fake: FakeKube, kubeconfig: Path) -> k.Kube:
    return k.Kube(kubeconfig, "fake-a")


def test_ensure_namespace_creates_once_with_obsctls_mark(fake: FakeKube, kube: k.Kube) -> None:
    assert kube.ensure_namespace("monitoring", 2, "lab") == "monitoring created"
    assert kube.ensure_namespace("monitoring", 2, "lab") == "monitoring exists"
    meta = fake.get("namespaces", "monitoring")["metadata"]
    assert meta["labels"] == {"app.kubernetes.io/managed-by": "obsctl"}
    assert meta["annotations"]["obsctl.io/environment"] == "lab"
    assert [m for m, p in fake.requests if p.startswith("/api/v1/namespaces") and m == "POST"] == ["POST"]
    assert kube.namespace_owned("monitoring", "lab") is True
    assert kube.namespace_owned("monitoring", "other-env") is False  # another environment's is not ours
    assert kube.namespace_owned("absent", "lab") is None


def test_an_existing_namespace_is_adopted_untouched(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("namespaces", {"metadata": {"name": "monitoring", "labels": {"team": "data"}}})
    before = fake.get("namespaces", "monitoring")
    detail = kube.ensure_namespace("monitoring", 2, "lab")
    assert detail == "monitoring exists and is not obsctl's: adopted (down removes only obsctl's objects from it)"
    assert fake.get("namespaces", "monitoring") == before  # not relabelled, not annotated
    assert kube.namespace_owned("monitoring", "lab") is False
    # a label alone (another tool, or an older obsctl) is not the mark: both are needed
    fake.put("namespaces", {"metadata": {"name": "x", "labels": {"app.kubernetes.io/managed-by": "obsctl"}}})
    assert kube.namespace_owned("x", "lab") is False


def test_a_terminating_namespace_is_waited_for_then_created(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("namespaces", {"metadata": {"name": "monitoring"}})
    fake.namespace_delete_delay = 0.5
    kube.delete_namespace("monitoring")
    assert kube.namespace_phase("monitoring") == "Terminating"
    started = time.monotonic()
    detail = kube.ensure_namespace("monitoring", 5, "lab")
    assert detail == "monitoring created (waited for the old one to finish terminating)"
    assert time.monotonic() - started >= 0.4
    assert kube.namespace_phase("monitoring") == "Active"


def _stuck_namespace(fake: FakeKube) -> None:
    fake.put("customresourcedefinitions", crd("servicemonitors"))
    fake.put("namespaces", {"metadata": {"name": "monitoring"}})
    fake.put(
        "persistentvolumeclaims",
        {"metadata": {"name": "prometheus-db-0", "finalizers": ["kubernetes.io/pvc-protection"]}, "spec": {}},
        "monitoring",
    )
    fake.put(
        "servicemonitors", {"metadata": {"name": "sm", "finalizers": ["example.com/hold"]}, "spec": {}}, "monitoring"
    )
    fake.put("configmaps", {"metadata": {"name": "plain"}, "data": {}}, "monitoring")


def test_a_stuck_namespace_names_what_holds_it(fake: FakeKube, kube: k.Kube) -> None:
    _stuck_namespace(fake)
    assert kube.delete_namespace("monitoring")
    with pytest.raises(WaitTimeout) as info:
        kube.wait_namespace_gone("monitoring", 1.0)
    msg = info.value.message
    assert msg.startswith("namespace monitoring still Terminating after 1.0s; held by:")
    assert "persistentvolumeclaim/prometheus-db-0 (finalizers: kubernetes.io/pvc-protection)" in msg
    assert "servicemonitor/sm (finalizers: example.com/hold)" in msg
    assert "NamespaceFinalizersRemaining" in msg
    assert "--force-finalizers" in (info.value.hint or "")
    # nothing was removed without being asked
    assert fake.get("persistentvolumeclaims", "prometheus-db-0", "monitoring")["metadata"]["finalizers"]
    assert fake.get("configmaps", "plain", "monitoring") is None  # content without finalizers went


def test_force_removes_the_finalizers_and_the_namespace_goes(fake: FakeKube, kube: k.Kube) -> None:
    _stuck_namespace(fake)
    kube.delete_namespace("monitoring")
    detail = kube.wait_namespace_gone("monitoring", 1.0, force=True)
    assert "gone after removing finalizers of" in detail
    assert "persistentvolumeclaim/prometheus-db-0" in detail and "servicemonitor/sm" in detail
    assert kube.namespace_phase("monitoring") is None


def test_force_also_finalizes_a_namespace_held_by_its_own_finalizer(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("namespaces", {"metadata": {"name": "monitoring"}, "spec": {"finalizers": ["example.com/stuck-api"]}})
    kube.delete_namespace("monitoring")
    with pytest.raises(WaitTimeout) as info:
        kube.wait_namespace_gone("monitoring", 0.5)
    assert "namespace/monitoring (finalizers: example.com/stuck-api)" in info.value.message
    assert "namespace/monitoring" in kube.wait_namespace_gone("monitoring", 1.0, force=True)
    assert any(m == "PUT" and p.endswith("/finalize") for m, p in fake.requests)


def test_delete_namespace_that_is_gone(kube: k.Kube) -> None:
    assert kube.delete_namespace("never-there") is False
    assert kube.wait_namespace_gone("never-there", 0.5) == "never-there gone after 0.0s"


def _release(fake: FakeKube, ns: str = "monitoring") -> None:
    """What kube-prometheus-stack and its operator leave in a namespace, next to someone else's."""
    helm = {"meta.helm.sh/release-name": "kps", "meta.helm.sh/release-namespace": ns}
    fake.put("namespaces", {"metadata": {"name": ns}})
    fake.put("prometheuses", {"metadata": {"name": "kps-prometheus", "annotations": helm}, "spec": {}}, ns)
    selector = {"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": "kps-prometheus"}
    owner = [{"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "name": "kps-prometheus", "uid": "u1"}]
    sts = workload("statefulsets", "prometheus-kps-prometheus", 1, labels=selector)
    sts["metadata"]["ownerReferences"] = owner
    sts["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "prometheus-kps-prometheus-db"}, "spec": {}}]
    fake.put("statefulsets", sts, ns)
    claim = "prometheus-kps-prometheus-db-prometheus-kps-prometheus-0"
    fake.put(
        "persistentvolumeclaims", {"metadata": {"name": claim, "labels": selector}, "spec": {"volumeName": "pv-1"}}, ns
    )
    fake.put("services", {"metadata": {"name": "lb", "annotations": helm}, "spec": {"type": "LoadBalancer"}}, ns)
    fake.put("services", {"metadata": {"name": "internal", "annotations": helm}, "spec": {"type": "ClusterIP"}}, ns)
    # someone else's, in the same namespace: a LoadBalancer, a claim (even one named like a
    # StatefulSet claim, and one with the operator's labels but another StatefulSet's name)
    fake.put("services", {"metadata": {"name": "their-lb"}, "spec": {"type": "LoadBalancer"}}, ns)
    other = {"meta.helm.sh/release-name": "theirs", "meta.helm.sh/release-namespace": ns}
    fake.put(
        "services", {"metadata": {"name": "their-helm-lb", "annotations": other}, "spec": {"type": "LoadBalancer"}}, ns
    )
    fake.put("persistentvolumeclaims", {"metadata": {"name": "their-data"}, "spec": {"volumeName": "pv-2"}}, ns)
    fake.put(
        "persistentvolumeclaims",
        {"metadata": {"name": "prometheus-kps-prometheus-db-their-sts-0", "labels": selector}, "spec": {}},
        ns,
    )


def test_only_the_releases_load_balancers_and_claims_are_found(fake: FakeKube, kube: k.Kube) -> None:
    _release(fake)
    found = kube.release_resources("monitoring", {"kps"})
    assert found.load_balancers == ["lb"]
    assert found.claims == ["prometheus-kps-prometheus-db-prometheus-kps-prometheus-0"]
    assert found.volumes == ["pv-1"]
    assert kube.release_resources("monitoring", {"another-release"}) == k.ReleaseResources()


def test_the_releases_load_balancers_and_claims_are_deleted_and_nothing_else(fake: FakeKube, kube: k.Kube) -> None:
    _release(fake)
    # the cloud controller's finalizer is removed a moment after deletion
    fake.update(
        "services", "lb", "monitoring", metadata={"finalizers": ["service.kubernetes.io/load-balancer-cleanup"]}
    )

    def controller() -> None:
        time.sleep(0.3)
        fake.update("services", "lb", "monitoring", metadata={"finalizers": None})

    threading.Thread(target=controller, daemon=True).start()
    found = kube.delete_release_resources("monitoring", {"kps"}, 3)
    assert found.load_balancers == ["lb"] and len(found.claims) == 1
    assert sorted(s["metadata"]["name"] for s in fake.list("services", "monitoring")) == [
        "internal",
        "their-helm-lb",
        "their-lb",
    ]
    assert sorted(c["metadata"]["name"] for c in fake.list("persistentvolumeclaims", "monitoring")) == [
        "prometheus-kps-prometheus-db-their-sts-0",
        "their-data",
    ]


def test_volumes_are_waited_for_unless_retained(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("persistentvolumes", {"metadata": {"name": "pv-1"}, "spec": {"persistentVolumeReclaimPolicy": "Delete"}})
    fake.put("persistentvolumes", {"metadata": {"name": "pv-2"}, "spec": {"persistentVolumeReclaimPolicy": "Retain"}})
    with pytest.raises(WaitTimeout, match="volumes still present: pv-1"):
        kube.wait_volumes_gone(["pv-1", "pv-2"], 0.5)
    threading.Thread(target=lambda: (time.sleep(0.3), fake.remove("persistentvolumes", "pv-1")), daemon=True).start()
    assert kube.wait_volumes_gone(["pv-1", "pv-2"], 3) == "1 volume(s) released; kept (reclaim policy Retain): pv-2"
    assert kube.wait_volumes_gone([], 1) == "no volumes"


def test_admin_secret_created_once_and_kept(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("namespaces", {"metadata": {"name": "monitoring"}})
    assert kube.ensure_admin_secret("monitoring", "obsctl-grafana-admin", "lab") is True
    first = kube.read_secret_key("monitoring", "obsctl-grafana-admin", "admin-password")
    assert len(first) >= 24
    assert kube.ensure_admin_secret("monitoring", "obsctl-grafana-admin", "lab") is False
    assert kube.read_secret_key("monitoring", "obsctl-grafana-admin", "admin-password") == first
    assert kube.read_secret_key("monitoring", "obsctl-grafana-admin", "admin-user") == "admin"
    assert kube.secret_owner_state("monitoring", "obsctl-grafana-admin", "lab") == "owned"


def test_secrets_obsctl_applies_and_deletes_are_only_its_own(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("namespaces", {"metadata": {"name": "monitoring"}})
    assert kube.apply_secret("monitoring", "recv", {"a.url": "https://one"}, "lab") == "created"
    assert kube.apply_secret("monitoring", "recv", {"a.url": "https://one"}, "lab") == "unchanged"
    assert kube.apply_secret("monitoring", "recv", {"a.url": "https://two"}, "lab") == "updated"
    assert kube.read_secret_key("monitoring", "recv", "a.url") == "https://two"
    fake.put("secrets", {"metadata": {"name": "theirs"}, "stringData": {"a.url": "keep"}}, "monitoring")
    with pytest.raises(ToolError, match="exists and is not obsctl's; it was not changed"):
        kube.apply_secret("monitoring", "theirs", {"a.url": "x"}, "lab")
    assert kube.delete_owned_secret("monitoring", "theirs", "lab") == "monitoring/theirs kept (not obsctl's)"
    assert kube.read_secret_key("monitoring", "theirs", "a.url") == "keep"
    assert kube.delete_owned_secret("monitoring", "recv", "other-env") == "monitoring/recv kept (not obsctl's)"
    assert kube.delete_owned_secret("monitoring", "recv", "lab") == "monitoring/recv deleted"
    assert kube.delete_owned_secret("monitoring", "recv", "lab") == "monitoring/recv absent"


def test_every_kind_that_holds_a_finalizer_is_named_custom_ones_included(fake: FakeKube, kube: k.Kube) -> None:
    """Discovery, not a fixed list: v1alpha1 AlertmanagerConfig / ScrapeConfig / PrometheusAgent and
    anyone's CRDs can hold a namespace too (issue 7 section 6)."""
    for plural, group, version in (
        ("alertmanagerconfigs", "monitoring.coreos.com", "v1alpha1"),
        ("scrapeconfigs", "monitoring.coreos.com", "v1alpha1"),
        ("prometheusagents", "monitoring.coreos.com", "v1alpha1"),
        ("widgets", "example.com", "v1"),
    ):
        doc = crd(plural, group)
        doc["spec"]["versions"] = [{"name": version, "served": True, "storage": True}]
        fake.put("customresourcedefinitions", doc)
        fake.put(plural, {"metadata": {"name": f"held-{plural}", "finalizers": ["example.com/hold"]}}, "monitoring")
    fake.put("namespaces", {"metadata": {"name": "monitoring"}})
    fake.put("ingresses", {"metadata": {"name": "web", "finalizers": ["example.com/lb"]}}, "monitoring")
    kube.delete_namespace("monitoring")
    blockers = "; ".join(kube.namespace_blockers("monitoring"))
    assert "ingress/web (finalizers: example.com/lb)" in blockers
    for name in (
        "alertmanagerconfig/held-alertmanagerconfigs",
        "scrapeconfig/held-scrapeconfigs",
        "prometheusagent/held-prometheusagents",
        "widget/held-widgets",
    ):
        assert f"{name} (finalizers: example.com/hold)" in blockers, blockers
    assert kube.wait_namespace_gone("monitoring", 1.0, force=True).startswith("monitoring gone after removing")
    patches = [(m, p) for m, p in fake.requests if m == "PATCH"]
    assert (
        "PATCH",
        "/apis/monitoring.coreos.com/v1alpha1/namespaces/monitoring/alertmanagerconfigs/held-alertmanagerconfigs",
    ) in patches


def test_obsctls_storage_class_is_created_replaced_and_deleted_only_when_its_own(fake: FakeKube, kube: k.Kube) -> None:
    import copy

    from obsctl.targets.kubernetes import EKS_STORAGE_CLASS

    body = copy.deepcopy(EKS_STORAGE_CLASS)
    assert kube.ensure_storage_class(copy.deepcopy(body), "lab") == "StorageClass obsctl-gp3-encrypted created"
    made = fake.get("storageclasses", "obsctl-gp3-encrypted")
    assert made["parameters"] == {"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"}
    assert made["metadata"]["annotations"]["obsctl.io/environment"] == "lab"
    assert made["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert kube.ensure_storage_class(copy.deepcopy(body), "lab") == "StorageClass obsctl-gp3-encrypted exists"
    body["parameters"]["iops"] = "4000"  # parameters are immutable: obsctl's own is recreated
    assert kube.ensure_storage_class(copy.deepcopy(body), "lab") == "StorageClass obsctl-gp3-encrypted replaced"
    assert fake.get("storageclasses", "obsctl-gp3-encrypted")["parameters"]["iops"] == "4000"
    with pytest.raises(ToolError, match="exists and is not obsctl's"):
        kube.ensure_storage_class(copy.deepcopy(body), "other-env")
    assert kube.delete_owned_storage_class("obsctl-gp3-encrypted", "other-env") == (
        "StorageClass obsctl-gp3-encrypted kept (not obsctl's)"
    )
    assert kube.delete_owned_storage_class("obsctl-gp3-encrypted", "lab") == "StorageClass obsctl-gp3-encrypted deleted"
    assert fake.get("storageclasses", "obsctl-gp3-encrypted") is None


def test_obsctls_storage_class_is_a_valid_kubernetes_object() -> None:
    from obsctl.targets.kubernetes import EKS_STORAGE_CLASS
    from obsctl.tools import manifests

    assert manifests.validate_stream(yaml.safe_dump(EKS_STORAGE_CLASS)) == []
    broken = {**EKS_STORAGE_CLASS, "reclaimPolicy": None, "volumeBindingMod": "Immediate"}
    assert manifests.validate_stream(yaml.safe_dump(broken)) != []


def test_an_api_failure_while_tracing_ownership_is_not_taken_for_a_missing_crd(
    fake: FakeKube, kube: k.Kube, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a 404 means "no such CRD here"; a dropped connection must not make down skip the
    operator's claims (and leave their cloud disks behind)."""
    import urllib3

    from obsctl.errors import Unreachable

    _release(fake)

    def gone(*args: object, **kwargs: object) -> None:
        raise urllib3.exceptions.ProtocolError("connection broken")

    monkeypatch.setattr(kube.custom, "list_namespaced_custom_object", gone)
    with pytest.raises(Unreachable):
        kube.release_resources("monitoring", {"kps"})
