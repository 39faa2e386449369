"""Namespaces, the cleanup before uninstall, and the Grafana admin Secret, against the fake API."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from obsctl.errors import WaitTimeout
from obsctl.tools import kube as k
from tests.fakekube import FakeKube


@pytest.fixture
def kube(fake: FakeKube, kubeconfig: Path) -> k.Kube:
    return k.Kube(kubeconfig, "fake-a")


def test_ensure_namespace_creates_once(fake: FakeKube, kube: k.Kube) -> None:
    assert kube.ensure_namespace("monitoring", 2) == "monitoring created"
    assert kube.ensure_namespace("monitoring", 2) == "monitoring exists"
    assert fake.get("namespaces", "monitoring")["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "obsctl"}
    assert [m for m, p in fake.requests if p.startswith("/api/v1/namespaces") and m == "POST"] == ["POST"]


def test_a_terminating_namespace_is_waited_for_then_created(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("namespaces", {"metadata": {"name": "monitoring"}})
    fake.namespace_delete_delay = 0.5
    kube.delete_namespace("monitoring")
    assert kube.namespace_phase("monitoring") == "Terminating"
    started = time.monotonic()
    detail = kube.ensure_namespace("monitoring", 5)
    assert detail == "monitoring created (waited for the old one to finish terminating)"
    assert time.monotonic() - started >= 0.4
    assert kube.namespace_phase("monitoring") == "Active"


def _stuck_namespace(fake: FakeKube) -> None:
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


def test_load_balancers_and_claims_are_deleted(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("namespaces", {"metadata": {"name": "monitoring"}})
    fake.put("services", {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer"}}, "monitoring")
    fake.put("services", {"metadata": {"name": "internal"}, "spec": {"type": "ClusterIP"}}, "monitoring")
    fake.put("persistentvolumeclaims", {"metadata": {"name": "data-0"}, "spec": {}}, "monitoring")
    # the cloud controller's finalizer is removed a moment after deletion
    fake.put(
        "services",
        {
            "metadata": {"name": "lb2", "finalizers": ["service.kubernetes.io/load-balancer-cleanup"]},
            "spec": {"type": "LoadBalancer"},
        },
        "monitoring",
    )

    def controller() -> None:
        time.sleep(0.3)
        fake.update("services", "lb2", "monitoring", metadata={"finalizers": None})

    threading.Thread(target=controller, daemon=True).start()
    lbs, pvcs = kube.delete_load_balancers_and_claims("monitoring", 3)
    assert sorted(lbs) == ["lb", "lb2"] and pvcs == ["data-0"]
    assert [s["metadata"]["name"] for s in fake.list("services", "monitoring")] == ["internal"]
    assert fake.list("persistentvolumeclaims", "monitoring") == []


def test_admin_secret_created_once_and_kept(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("namespaces", {"metadata": {"name": "monitoring"}})
    assert kube.ensure_admin_secret("monitoring", "obsctl-grafana-admin") is True
    first = kube.read_secret_key("monitoring", "obsctl-grafana-admin", "admin-password")
    assert len(first) >= 24
    assert kube.ensure_admin_secret("monitoring", "obsctl-grafana-admin") is False
    assert kube.read_secret_key("monitoring", "obsctl-grafana-admin", "admin-password") == first
    assert kube.read_secret_key("monitoring", "obsctl-grafana-admin", "admin-user") == "admin"
