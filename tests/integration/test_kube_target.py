"""The kubernetes target against the fake API: the order of `up` and `down`, teardown with a
stuck namespace, the cluster checklist and the fire drill. Helm is a recording seam here (helm
itself would talk to the API too; its adapter is tested against a fake helm executable in
tests/unit/kube/test_helm_adapter.py); everything Kubernetes goes through the real client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obsctl import lifecycle
from obsctl.errors import WaitTimeout
from obsctl.targets.kubernetes import KubernetesTarget
from obsctl.verify import cluster as cv
from obsctl.verify import run_checks
from tests.fakekube import FakeKube
from tests.fakekube.platform import Controllers, RecordingHelm, serve_platform

pytestmark = pytest.mark.integration


class Observer:
    def __init__(self, timeline: list[str]) -> None:
        self.timeline = timeline

    def stage_started(self, verb: str, stage: str) -> None:
        self.timeline.append(f"{verb}: {stage}")

    def stage_done(self, verb: str, stage: str, seconds: float, detail: str, ok: bool) -> None:
        self.timeline.append(f"  {'ok' if ok else 'FAILED'}: {detail}")


@pytest.fixture
def platform(fake: FakeKube, target: KubernetesTarget, monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingHelm]:
    monkeypatch.setattr(KubernetesTarget, "render", lambda self: __import__("obsctl").targets.base.Rendered())
    timeline: list[str] = []
    helm = RecordingHelm(fake, target, timeline)
    target._helm = helm  # type: ignore[assignment]
    grafana = serve_platform(fake, target)
    with Controllers(fake, target):
        yield helm
    grafana.shutdown()
    grafana.server_close()


def stages(timeline: list[str]) -> list[str]:
    return [line for line in timeline if not line.startswith("  ")]


def test_up_runs_in_order_and_is_safe_to_repeat(
    fake: FakeKube, target: KubernetesTarget, platform: RecordingHelm
) -> None:
    env = target.env
    lifecycle.up(env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert platform.problems == []
    assert stages(platform.timeline) == [
        "up: kube context",
        "up: render",
        "up: namespaces",
        "up: grafana admin secret",
        "up: kube-prometheus-stack",
        "helm ensure kube-prometheus-stack",
        "up: CRDs established",
        "up: app chart",
        "helm ensure obsctl-app",
        "up: rollouts",
    ]
    details = [line for line in platform.timeline if line.startswith("  ")]
    assert details[2] == "  ok: monitoring created; observability created"
    assert "10 CRDs Established" in details[5]
    assert "monitoring: 3 deployments, 2 statefulsets, 1 daemonsets ready" in details[7]
    password = target.grafana_password()
    assert all(password not in line for line in platform.timeline)
    # again: namespaces and the Secret are kept (the password does not change)
    platform.timeline.clear()
    lifecycle.up(env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert "  ok: monitoring exists; observability exists" in platform.timeline
    assert "  ok: monitoring/obsctl-grafana-admin exists, kept" in platform.timeline
    assert target.grafana_password() == password
    journal = (env.state_dir / "journal.jsonl").read_text()
    assert password not in journal


def test_checklist_and_fire_drill_pass_on_a_healthy_platform(target: KubernetesTarget, platform: RecordingHelm) -> None:
    lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    results = run_checks(cv.checks(target))
    failed = [(r.name, r.detail) for r in results if r.status != "pass"]
    assert failed == []
    names = [r.name for r in results]
    assert "dashboard fastapi-golden-signals: every panel returns data" in names
    drill = run_checks(cv.drill_pod_down(target, timeout=10), concurrent=False)
    assert [(r.name, r.status) for r in drill] == [
        ("drill FastAPIPodDown: scale the app to 0", "pass"),
        ("drill FastAPIPodDown: firing", "pass"),
        ("drill FastAPIPodDown: reaches Alertmanager", "pass"),
        ("drill FastAPIPodDown: scale the app back", "pass"),
        ("drill FastAPIPodDown: resolves", "pass"),
    ], drill


def test_checklist_reports_what_is_wrong(fake: FakeKube, target: KubernetesTarget, platform: RecordingHelm) -> None:
    lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    fake.update(
        "nodes", "node-2", status={"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}
    )
    fake.update(
        "servicemonitors",
        target.app_fullname,
        target.app_ns,
        spec={"endpoints": [{"port": "http", "path": "/metrics", "interval": "5m"}]},
    )
    fake.remove("statefulsets", target.monitoring_workloads()["alertmanager"], target.mon_ns)
    by_name = {r.name: r for r in run_checks(cv.checks(target)[:6])}
    assert by_name["nodes Ready"].detail == "1/2 nodes not Ready: node-2 (KubeletNotReady)"
    assert "every 5m, expected /metrics every 1s" in by_name["ServiceMonitor selects the app"].detail
    assert "alertmanager: alertmanager-kube-prometheus-stack-alertmanager missing" in (
        by_name["monitoring components running"].detail
    )
    assert by_name["app pods Ready"].status == "pass"


def test_down_runs_in_reverse_and_leaves_nothing(
    fake: FakeKube, target: KubernetesTarget, platform: RecordingHelm
) -> None:
    lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    platform.timeline.clear()
    lifecycle.down(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert platform.problems == []
    assert stages(platform.timeline) == [
        "down: kube context",
        "down: app chart",
        "helm uninstall obsctl-app",
        "down: load balancers and volumes",
        "down: kube-prometheus-stack",
        "helm uninstall kube-prometheus-stack",
        "down: namespaces gone",
    ]
    assert (
        "observability: 1 LoadBalancer service(s), 0 PVC(s) deleted; monitoring: 0 LoadBalancer"
        in (platform.timeline[platform.timeline.index("down: load balancers and volumes") + 1])
    )
    assert fake.get("namespaces", "monitoring") is None and fake.get("namespaces", "observability") is None
    # again: nothing to do, nothing fails
    platform.timeline.clear()
    lifecycle.down(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert "  ok: obsctl-app: namespace observability is gone" in platform.timeline


def test_rebuild_survivors_are_namespaces_that_outlive_down_or_predate_up(
    fake: FakeKube, target: KubernetesTarget, platform: RecordingHelm
) -> None:
    import time

    rebuild_started = time.time()
    lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert target.survivors({}, rebuild_started, "up") == []  # created by this up
    old = target.survivors({}, time.time() + 3600, "up")  # a rebuild that "started" in the future
    assert old and all("predates the rebuild" in s for s in old)
    assert target.survivors({}, time.time(), "down") == [
        "namespace monitoring still exists after down",
        "namespace observability still exists after down",
    ]
    lifecycle.down(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert target.survivors({}, time.time(), "down") == []


def test_down_with_a_stuck_namespace(
    fake: FakeKube,
    target: KubernetesTarget,
    platform: RecordingHelm,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    fake.put(
        "servicemonitors",
        {"metadata": {"name": "orphan", "finalizers": ["example.com/operator-gone"]}, "spec": {}},
        target.app_ns,
    )
    target.wait_timeout = 1.0  # keep the test short: every wait gets a second
    monkeypatch.setenv("OBSCTL_FORCE_FINALIZERS", "")
    with pytest.raises(WaitTimeout) as info:
        lifecycle.down(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert "namespace observability still Terminating" in info.value.message
    assert "servicemonitor/orphan (finalizers: example.com/operator-gone)" in info.value.message
    assert fake.get("servicemonitors", "orphan", target.app_ns)["metadata"]["finalizers"]  # not touched
    monkeypatch.setenv("OBSCTL_FORCE_FINALIZERS", "1")  # what `down --force-finalizers` sets
    lifecycle.down(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert fake.get("namespaces", "observability") is None


def test_status_rows(target: KubernetesTarget, platform: RecordingHelm) -> None:
    lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    rows = {row.component: row for row in target.status()}
    assert rows["kube context"].state == "ok"
    assert rows["namespace monitoring"].state == "Active"
    assert rows["deployment obsctl-app"].state == "ready"
    assert rows["release obsctl-app"].state == "not installed"  # the recording seam reports none
