"""Waits by WATCH with a deadline, against the fake API (the real client's watch code runs):
a CRD that becomes Established only after a while, rollouts, 410 Gone, a silent server, and a
wait that times out naming the last state it saw."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from obsctl.errors import WaitTimeout
from obsctl.tools import kube as k
from tests.fakekube import FakeKube, crd, workload

SM = "servicemonitors.monitoring.coreos.com"
PR = "prometheusrules.monitoring.coreos.com"


def later(delay: float, fn: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        fn()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.fixture
def kube(fake: FakeKube, kubeconfig: Path) -> k.Kube:
    return k.Kube(kubeconfig, "fake-a")


def _lists_and_watches(fake: FakeKube, resource: str) -> tuple[int, int]:
    hits = [p for m, p in fake.requests if m == "GET" and f"/{resource}" in p]
    watches = [p for p in hits if "watch=" in p.lower()]
    return len(hits) - len(watches), len(watches)


def test_crd_established_only_after_a_while_is_seen_by_watch(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("customresourcedefinitions", crd("servicemonitors", established=None))
    fake.put("customresourcedefinitions", crd("prometheusrules", established=False))
    later(0.3, lambda: fake.put("customresourcedefinitions", crd("servicemonitors")))
    later(0.6, lambda: fake.put("customresourcedefinitions", crd("prometheusrules")))
    started = time.monotonic()
    assert kube.wait_crds_established([SM, PR], timeout=5) == "2 CRDs Established"
    took = time.monotonic() - started
    assert 0.55 < took < 2.0, took  # returned on the event, not at the deadline
    lists, watches = _lists_and_watches(fake, "customresourcedefinitions")
    assert lists == 1 and watches == 1  # one list, then one watch stream: no polling


def test_crd_wait_times_out_with_the_last_state_seen(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("customresourcedefinitions", crd("servicemonitors", established=None))
    later(0.2, lambda: fake.put("customresourcedefinitions", crd("servicemonitors", established=False)))
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        kube.wait_crds_established([SM, PR], timeout=1.0)
    assert time.monotonic() - started < 3.0
    msg = info.value.message
    assert "not done after 1.0s" in msg
    assert f"{SM}: Established=False (Installing)" in msg  # the state the watch delivered last
    assert f"{PR}: missing" in msg
    assert info.value.hint


def test_watch_history_gone_relists(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("customresourcedefinitions", crd("servicemonitors", established=False))
    fake.compact()
    fake.stale_lists = 1  # the first list reports a version whose history is gone: its watch gets 410
    later(0.3, lambda: fake.put("customresourcedefinitions", crd("servicemonitors")))
    assert kube.wait_crds_established([SM], timeout=5)
    lists, watches = _lists_and_watches(fake, "customresourcedefinitions")
    assert (lists, watches) == (2, 2)  # list, watch (410), list again, watch


def test_a_server_that_stops_talking_cannot_hang_a_wait(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("customresourcedefinitions", crd("servicemonitors", established=False))
    fake.watch_silence = True
    later(0.2, lambda: fake.put("customresourcedefinitions", crd("servicemonitors")))
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        kube.wait_crds_established([SM], timeout=1.0)
    assert time.monotonic() - started < 4.0
    assert "Established=False" in info.value.message


def test_rollouts_wait_for_every_kind(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("namespaces", {"metadata": {"name": "monitoring"}})
    fake.put("deployments", workload("deployments", "grafana", 1, 0), "monitoring")
    fake.put("statefulsets", workload("statefulsets", "prometheus", 1, 0), "monitoring")
    fake.put("daemonsets", workload("daemonsets", "node-exporter", 3, 1), "monitoring")
    later(0.2, lambda: fake.put("deployments", workload("deployments", "grafana", 1, 1), "monitoring"))
    later(0.4, lambda: fake.put("statefulsets", workload("statefulsets", "prometheus", 1, 1), "monitoring"))
    later(0.6, lambda: fake.put("daemonsets", workload("daemonsets", "node-exporter", 3, 3), "monitoring"))
    detail = kube.wait_rollouts("monitoring", timeout=5)
    assert detail == "monitoring: 1 deployments, 1 statefulsets, 1 daemonsets ready"


def test_rollout_timeout_names_the_workload_and_its_state(fake: FakeKube, kube: k.Kube) -> None:
    fake.put("namespaces", {"metadata": {"name": "observability"}})
    fake.put("deployments", workload("deployments", "obsctl-app", 2, 1), "observability")
    with pytest.raises(WaitTimeout) as info:
        kube.wait_rollouts("observability", timeout=1.0)
    assert "deployment/obsctl-app: 1/2 ready" in info.value.message
    assert "kubectl -n observability" in (info.value.hint or "")


def test_rollout_state_rules() -> None:
    from kubernetes import client

    def dep(replicas: int, ready: int, gen: int = 1, observed: int = 1) -> client.V1Deployment:
        return client.V1Deployment(
            metadata=client.V1ObjectMeta(name="d", generation=gen),
            spec=client.V1DeploymentSpec(replicas=replicas, selector={}, template={}),
            status=client.V1DeploymentStatus(
                replicas=replicas,
                ready_replicas=ready,
                updated_replicas=ready,
                available_replicas=ready,
                observed_generation=observed,
            ),
        )

    assert k.rollout_state("Deployment", dep(2, 2)) is None
    assert k.rollout_state("Deployment", dep(2, 1)) == "1/2 ready, 1 updated, 1 available"
    assert k.rollout_state("Deployment", dep(2, 2, gen=3, observed=2)) == "generation 3 not observed yet"
    assert k.rollout_state("Deployment", dep(0, 0)) is None  # scaled to zero is rolled out
