"""The kubernetes target against the fake API: the order of `up` and `down`, teardown with a
stuck namespace, the cluster checklist and the fire drill. Helm is a recording seam here (helm
itself would talk to the API too; its adapter is tested against a fake helm executable in
tests/unit/kube/test_helm_adapter.py); everything Kubernetes goes through the real client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from obsctl import lifecycle
from obsctl.errors import PreflightError, StageFailed, ToolError, Unreachable, WaitTimeout
from obsctl.targets.kubernetes import KubernetesTarget
from obsctl.verify import cluster as cv
from obsctl.verify import run_checks
from tests.fakekube import FakeKube, crd, workload
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
        "up: preflight",
        "up: kube-prometheus-stack chart",
        "helm pull kube-prometheus-stack 88.5.3",
        "up: render",
        "up: namespaces",
        "up: secrets",
        "up: CRDs at the chart's version",
        "up: CRDs established",
        "up: kube-prometheus-stack",
        "helm ensure kube-prometheus-stack",
        "up: app chart",
        "helm ensure obsctl-app",
        "up: rollouts",
    ]
    details = [line for line in platform.timeline if line.startswith("  ")]
    assert details[3] == "  ok: monitoring created; observability created"
    assert details[5].startswith("  ok: 10 applied (alertmanagerconfigs, alertmanagers,")
    assert "10 CRDs Established" in details[6]
    assert "monitoring: 3 deployments, 2 statefulsets, 1 daemonsets ready" in details[9]
    password = target.grafana_password()
    assert all(password not in line for line in platform.timeline)
    # again: namespaces and the Secret are kept (the password does not change), the chart comes
    # from the cache (no repository needed), the CRDs are already at the chart's version
    platform.timeline.clear()
    lifecycle.up(env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert platform.pulls == ["kube-prometheus-stack"]
    assert any(line.startswith("  ok: kube-prometheus-stack 88.5.3: cached at") for line in platform.timeline)
    assert "  ok: monitoring exists; observability exists" in platform.timeline
    assert any(line.startswith("  ok: monitoring/obsctl-grafana-admin exists, kept") for line in platform.timeline)
    assert "  ok: none needed applying; 10 already at 0.93.1" in platform.timeline
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
        ("drill FastAPIPodDown: kube context", "pass"),
        ("drill FastAPIPodDown: scale the app to 0", "pass"),
        ("drill FastAPIPodDown: firing", "pass"),
        ("drill FastAPIPodDown: reaches Alertmanager", "pass"),
        ("drill FastAPIPodDown: scale the app back", "pass"),
        ("drill FastAPIPodDown: resolves", "pass"),
    ], drill


def test_slo_status_reads_the_clusters_prometheus_through_the_service_proxy(
    target: KubernetesTarget, platform: RecordingHelm
) -> None:
    from obsctl.verify import slo_status
    from tests.fakekube.platform import SLO_BUDGET_LEFT, SLO_ERROR_RATIO

    lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    rows = slo_status.for_environment(target.env, target)
    assert [(r.slo, r.job) for r in rows] == [("availability", "fastapi")]
    row = rows[0]
    assert row.sli == pytest.approx(1 - SLO_ERROR_RATIO)
    assert row.budget_remaining == pytest.approx(SLO_BUDGET_LEFT)
    assert row.burn_rates == {w: pytest.approx(SLO_ERROR_RATIO / 0.005) for w in slo_status.BURN_WINDOWS}
    assert row.firing == ["warning 3d/6h"]


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
        "down: preflight",
        "down: app chart",
        "helm uninstall obsctl-app",
        "down: load balancers and volumes",
        "down: kube-prometheus-stack",
        "helm uninstall kube-prometheus-stack",
        "down: volumes released",
        "down: obsctl's secrets",
        "down: namespaces gone",
    ]
    claim = f"prometheus-{target.kps_fullname}-prometheus-db-prometheus-{target.kps_fullname}-prometheus-0"
    assert platform.timeline[platform.timeline.index("down: load balancers and volumes") + 1] == (
        f"  ok: monitoring: 1 LoadBalancer service(s) ({target.kps_fullname}-prometheus-lb), 1 PVC(s) ({claim}) deleted"
    )
    assert platform.timeline[platform.timeline.index("down: volumes released") + 1] == "  ok: 1 volume(s) released"
    assert fake.list("persistentvolumes") == []
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
    assert target.survivors(rebuild_started, "up") == []  # created by this up
    old = target.survivors(time.time() + 3600, "up")  # a rebuild that "started" in the future
    assert old and all("predates the rebuild" in s for s in old)
    assert target.survivors(time.time(), "down") == [
        "namespace monitoring still exists after down",
        "namespace observability still exists after down",
    ]
    lifecycle.down(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert target.survivors(time.time(), "down") == []


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
    with pytest.raises(StageFailed) as info:
        lifecycle.down(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert isinstance(info.value.cause, WaitTimeout)
    assert "namespace observability still Terminating" in info.value.message
    assert "servicemonitor/orphan (finalizers: example.com/operator-gone)" in info.value.message
    assert info.value.exit_code == 1  # after a change: never "nothing was changed"
    assert "down stopped at 'namespaces gone'" in (info.value.hint or "")
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


# --- ownership: obsctl deletes only what it created (issue 7 section 2) ------------------------


def _foreign_workloads(fake: FakeKube, ns: str) -> dict[str, dict]:
    """Another team's namespace and objects, there before obsctl: what must survive untouched."""
    fake.put("namespaces", {"metadata": {"name": ns, "labels": {"team": "data"}}})
    fake.put("deployments", workload("deployments", "their-api", 1), ns)
    fake.put("persistentvolumeclaims", {"metadata": {"name": "their-data"}, "spec": {"volumeName": "pv-theirs"}}, ns)
    fake.put("services", {"metadata": {"name": "their-lb"}, "spec": {"type": "LoadBalancer"}}, ns)
    fake.put("secrets", {"metadata": {"name": "their-secret"}, "stringData": {"k": "v"}}, ns)
    return {
        res: fake.get(res, name, ns)
        for res, name in (
            ("deployments", "their-api"),
            ("persistentvolumeclaims", "their-data"),
            ("services", "their-lb"),
            ("secrets", "their-secret"),
        )
    }


def test_a_foreign_namespace_and_its_objects_survive_up_and_down(
    fake: FakeKube, target: KubernetesTarget, platform: RecordingHelm
) -> None:
    theirs = _foreign_workloads(fake, target.mon_ns)
    namespace = fake.get("namespaces", target.mon_ns)
    lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert "  ok: monitoring exists and is not obsctl's: adopted (down removes only obsctl's objects from it);" in (
        " ".join(platform.timeline) + ";"
    ) or any("monitoring exists and is not obsctl's: adopted" in line for line in platform.timeline)
    lifecycle.down(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert platform.problems == []
    # theirs: exactly as before (same resourceVersion: never written to)
    for res, obj in theirs.items():
        assert fake.get(res, obj["metadata"]["name"], target.mon_ns) == obj, res
    assert fake.get("namespaces", target.mon_ns)["metadata"] == namespace["metadata"]
    # ours: gone from the adopted namespace; our own namespace is gone entirely
    assert [d["metadata"]["name"] for d in fake.list("deployments", target.mon_ns)] == ["their-api"]
    assert [s["metadata"]["name"] for s in fake.list("secrets", target.mon_ns)] == ["their-secret"]
    assert fake.get("namespaces", target.app_ns) is None
    assert any("monitoring kept: obsctl did not create it" in line for line in platform.timeline)
    assert target.survivors(0, "down") == []


def test_a_release_obsctl_did_not_install_is_refused_before_anything_changes(
    fake: FakeKube, target: KubernetesTarget, platform: RecordingHelm
) -> None:
    fake.put("namespaces", {"metadata": {"name": target.mon_ns}})
    platform.releases[target.k.kps_release] = {"namespace": target.mon_ns, "values": {"grafana": {}}}
    before = len(fake.requests)
    with pytest.raises(PreflightError) as info:
        lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert info.value.exit_code == 2
    assert "Helm release kube-prometheus-stack in namespace monitoring exists and was not installed by obsctl" in (
        info.value.message
    )
    assert [r for r in fake.requests[before:] if r[0] != "GET"] == []  # nothing was changed
    # down keeps it too
    lifecycle.down(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert target.k.kps_release in platform.releases
    assert any("kube-prometheus-stack kept: not installed by obsctl" in line for line in platform.timeline)


def test_the_fire_drill_refuses_another_context_and_scales_nothing(
    fake: FakeKube, target: KubernetesTarget, platform: RecordingHelm, tmp_path: Path
) -> None:
    lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    fake.kubeconfig(target.kubeconfig, current="fake-b")  # someone switched the context meanwhile
    before = len(fake.requests)
    drill = run_checks(cv.drill_pod_down(target, timeout=5), concurrent=False)
    assert [(r.name.split(": ")[1], r.status) for r in drill] == [
        ("kube context", "fail"),
        ("scale the app to 0", "skip"),
        ("firing", "skip"),
        ("reaches Alertmanager", "skip"),
        ("scale the app back", "skip"),
        ("resolves", "skip"),
    ]
    assert "current kube context is fake-b, environment lab expects fake-a" in drill[0].detail
    assert [r for r in fake.requests[before:] if r[0] != "GET"] == []


# --- the exit-code contract (issue 7 section 8) ----------------------------------------------------


def test_a_failure_after_a_change_exits_1_and_says_how_to_converge(
    fake: FakeKube, target: KubernetesTarget, platform: RecordingHelm, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*args: object, **kwargs: object) -> str:
        raise Unreachable("helm install/upgrade kube-prometheus-stack: helm cannot reach the cluster (dial tcp)")

    monkeypatch.setattr(platform, "ensure_release", unreachable)
    with pytest.raises(StageFailed) as info:
        lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert info.value.exit_code == 1
    assert info.value.message.startswith("helm install/upgrade kube-prometheus-stack: helm cannot reach")
    assert "up stopped at 'kube-prometheus-stack' after namespaces, secrets, CRDs at the chart's version" in (
        info.value.hint or ""
    )
    assert "`obsctl up --env lab` again converges" in (info.value.hint or "")


def test_a_refusal_before_any_change_still_exits_2(
    fake: FakeKube, target: KubernetesTarget, platform: RecordingHelm, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(target, "k", target.k.model_copy(update={"kps_chart": "/nowhere/kps"}))  # no chart there
    with pytest.raises(PreflightError) as info:
        lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert info.value.exit_code == 2 and "is not a chart" in info.value.message
    assert [r for r in fake.requests if r[0] != "GET"] == []


# --- charts and CRDs (issue 7 section 6) -------------------------------------------------------------


def test_crds_are_brought_to_the_charts_version_and_never_downgraded(
    fake: FakeKube, target: KubernetesTarget, platform: RecordingHelm
) -> None:
    old = crd("servicemonitors")
    old["metadata"]["annotations"] = {"operator.prometheus.io/version": "0.80.0"}
    fake.put("customresourcedefinitions", old)
    newer = crd("podmonitors")
    newer["metadata"]["annotations"] = {"operator.prometheus.io/version": "0.99.0"}
    fake.put("customresourcedefinitions", newer)
    lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    line = platform.timeline[platform.timeline.index("up: CRDs at the chart's version") + 1]
    assert "servicemonitors" in line.split("applied")[1].split(";")[0]
    assert "kept newer: podmonitors.monitoring.coreos.com (0.99.0)" in line
    annotations = {c["metadata"]["name"]: c["metadata"]["annotations"] for c in fake.list("customresourcedefinitions")}
    assert annotations["servicemonitors.monitoring.coreos.com"]["operator.prometheus.io/version"] == "0.93.1"
    assert annotations["podmonitors.monitoring.coreos.com"]["operator.prometheus.io/version"] == "0.99.0"
    applies = [p for m, p in fake.requests if m == "PATCH" and "customresourcedefinitions" in p]
    assert applies and all("fieldManager=obsctl" in p and "force=true" in p for p in applies)


def test_a_local_chart_must_be_the_pinned_version(
    fake: FakeKube, target: KubernetesTarget, platform: RecordingHelm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakekube.platform import write_fake_kps_chart

    chart = write_fake_kps_chart(tmp_path / "elsewhere", version="87.0.0")
    monkeypatch.setattr(target, "k", target.k.model_copy(update={"kps_chart": str(chart)}))
    with pytest.raises(PreflightError) as info:
        lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert info.value.message == (
        f"kubernetes.kps_chart {chart} is version 87.0.0, kubernetes.kps_chart_version pins 88.5.3"
    )
    write_fake_kps_chart(tmp_path / "elsewhere", version="88.5.3")
    lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    assert platform.pulls == []  # a local chart: no repository at all


# --- the app behind its NetworkPolicy (issue 7 section 5) --------------------------------------------


def test_app_metrics_are_read_past_the_apps_network_policy(
    fake: FakeKube, target: KubernetesTarget, platform: RecordingHelm
) -> None:
    """The chart's real NetworkPolicy (rendered by helm) admits only Prometheus' namespace: the API
    server's service proxy is refused, as on kind >= 0.24; verify reads /metrics by port-forward."""
    lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    policies = fake.list("networkpolicies", target.app_ns)
    assert [p["metadata"]["name"] for p in policies] == [target.app_fullname]
    with pytest.raises(ToolError, match="503"):
        target.kube.proxy_get(target.app_ns, target.app_fullname, "http", "metrics")
    result = {r.name: r for r in run_checks(cv.checks(target)[:4])}["app /metrics is valid and complete"]
    assert result.status == "pass", result.detail


# --- receiver secrets (issue 7 section 3) -------------------------------------------------------------

RECEIVERS = (
    "receivers: [{name: team, webhooks: [{url_env: TEAM_HOOK}], slack: [{api_url_env: SLACK_HOOK, channel: '#a'}]}]"
)


def test_receiver_secrets_go_to_a_secret_obsctl_owns_never_to_helm(
    fake: FakeKube, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakekube.fixtures import make_env

    t = KubernetesTarget(make_env(tmp_path, kubeconfig, extra_alerting=RECEIVERS))
    monkeypatch.setattr(KubernetesTarget, "render", lambda self: __import__("obsctl").targets.base.Rendered())
    helm = RecordingHelm(fake, t, [])
    t._helm = helm  # type: ignore[assignment]
    serve_platform(fake, t)
    monkeypatch.delenv("TEAM_HOOK", raising=False)
    monkeypatch.setenv("SLACK_HOOK", "https://hooks.slack.invalid/S3CRET-slack")
    with Controllers(fake, t):
        with pytest.raises(PreflightError) as info:  # refused before anything changes
            lifecycle.up(t.env, Observer(helm.timeline), target=t)  # type: ignore[arg-type]
        assert info.value.exit_code == 2 and "TEAM_HOOK" in info.value.message
        assert [r for r in fake.requests if r[0] != "GET"] == []
        monkeypatch.setenv("TEAM_HOOK", "https://hooks.invalid/S3CRET-team")
        lifecycle.up(t.env, Observer(helm.timeline), target=t)  # type: ignore[arg-type]
        secret = fake.get("secrets", "obsctl-alertmanager-receivers", t.mon_ns)
        assert secret["metadata"]["annotations"]["obsctl.io/environment"] == "lab"
        assert t.kube.read_secret_key(t.mon_ns, "obsctl-alertmanager-receivers", "team.webhook-0.url") == (
            "https://hooks.invalid/S3CRET-team"
        )
        for release in helm.releases.values():
            assert "S3CRET" not in json.dumps(release["values"])
        assert all("S3CRET" not in line for line in helm.timeline)
        assert "S3CRET" not in (t.env.state_dir / "journal.jsonl").read_text()
        # a rotated secret updates the Secret (Alertmanager reads the file at each notification)
        monkeypatch.setenv("TEAM_HOOK", "https://hooks.invalid/S3CRET-rotated")
        helm.timeline.clear()
        lifecycle.up(t.env, Observer(helm.timeline), target=t)  # type: ignore[arg-type]
        assert any("obsctl-alertmanager-receivers updated (2 receiver secret(s))" in line for line in helm.timeline)
        lifecycle.down(t.env, Observer(helm.timeline), target=t)  # type: ignore[arg-type]
        assert fake.get("namespaces", t.mon_ns) is None


def test_an_interrupted_fire_drill_scales_the_app_back(
    fake: FakeKube, target: KubernetesTarget, platform: RecordingHelm
) -> None:
    """Ctrl-C after the drill scaled the app to 0: the undo scales it back and says so."""
    lifecycle.up(target.env, Observer(platform.timeline), target=target)  # type: ignore[arg-type]
    drill = cv.drill_pod_down(target, timeout=10)
    ran = run_checks(drill[:2], concurrent=False)  # kube context, scale the app to 0
    assert [r.status for r in ran] == ["pass", "pass"], ran

    def replicas() -> int:
        deployment = fake.get("deployments", target.app_fullname, target.app_ns)
        assert deployment is not None
        return int(deployment["spec"]["replicas"])

    assert replicas() == 0
    error = drill.interrupted("interrupted (Ctrl-C)")  # type: ignore[attr-defined]
    want = target.spec.app.replicas
    assert error.exit_code == 130
    assert f"undone: scaled {target.app_ns}/{target.app_fullname} back to {want}" in error.message, error.message
    assert replicas() == want
    assert "nothing to undo" in drill.interrupted("interrupted (Ctrl-C)").message  # type: ignore[attr-defined]
