"""prometheus-adapter on the kubernetes target: rendered with the real helm and validated,
installed in order (after kube-prometheus-stack, before the app's HPA) and removed in reverse,
only when obsctl installed it. The chart is our small stand-in (tests/fakekube/adapter.py); the
Kubernetes side is the HTTP-level fake API with the recording helm seam (tests/fakekube/platform.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from obsctl import config, lifecycle
from obsctl.errors import ConfigError, PreflightError
from obsctl.targets import autoscaling as a
from obsctl.targets.kubernetes import KubernetesTarget
from obsctl.tools import binaries
from obsctl.tools import manifests as m
from obsctl.verify import cluster as cv
from obsctl.verify import run_checks
from tests.fakekube import FakeKube
from tests.fakekube.adapter import write_fake_adapter_chart
from tests.fakekube.fixtures import make_env
from tests.fakekube.platform import Controllers, RecordingHelm, serve_platform
from tests.integration.test_kube_render import _kps_shaped_chart
from tests.integration.test_kube_target import Observer, stages

pytestmark = pytest.mark.integration

AUTOSCALING = "app: {replicas: 2, autoscaling: {min: 2, max: 5, target_rps_per_pod: 4}}"


def autoscaled_env(tmp_path: Path, kubeconfig: Path, **settings: str) -> config.Environment:
    env = make_env(tmp_path, kubeconfig)
    extra = "".join(f"\n      {key}: {value}" for key, value in settings.items())
    text = env.config_path.read_text().replace("app: {replicas: 2}", AUTOSCALING)
    env.config_path.write_text(text.replace("kps_chart_version: 88.5.3", "kps_chart_version: 88.5.3" + extra))
    return config.load(str(env.config_path), "lab")


@pytest.fixture
def helm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if binaries.find("helm") is None:
        pytest.skip("helm is not installed; run scripts/install-helm.py (../shared/TOOLS.md)")
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "helm-home" / var.lower()))


# --- render --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("helm_home")
def test_render_validates_the_adapter_and_its_apiservice(tmp_path: Path) -> None:
    kps = _kps_shaped_chart(tmp_path / "charts")
    adapter = write_fake_adapter_chart(tmp_path / "charts")
    env = autoscaled_env(tmp_path, tmp_path / "kc", kps_chart=str(kps), adapter_chart=str(adapter))
    out = KubernetesTarget(env).render()
    assert "every rendered object passes the chart's CRD schemas and the Kubernetes schemas" in out.notes
    rendered = env.rendered_dir
    values = yaml.safe_load((rendered / "helm/prometheus-adapter.values.yaml").read_text())
    assert values["obsctl"]["environment"] == "lab" and len(values["obsctl"]["chartDigest"]) == 16
    assert values["prometheus"] == {
        "url": "http://kube-prometheus-stack-prometheus.monitoring.svc",
        "port": 9090,
        "path": "",
    }
    assert values["rules"] == {
        "default": False,
        "custom": [a.adapter_rule(a.CLUSTER_LABELS, a.rate_window("1s"))],
        "external": [],
    }
    assert values["rbac"] == {"customMetrics": {"resources": ["pods/http_requests_per_second"]}}
    docs = m.parse_stream((rendered / "manifests/prometheus-adapter.yaml").read_text())
    [api] = [d for d in docs if d["kind"] == "APIService"]
    assert api["apiVersion"] == "apiregistration.k8s.io/v1"  # what a real cluster's capabilities pick
    assert api["metadata"]["name"] == "v1beta1.custom.metrics.k8s.io"
    assert api["spec"]["service"] == {"name": "prometheus-adapter", "namespace": "monitoring"}
    [policy] = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert policy["metadata"]["namespace"] == "monitoring"  # the tpl'd namespace in extraManifests
    config_map = next(d for d in docs if d["kind"] == "ConfigMap")
    assert yaml.safe_load(config_map["data"]["config.yaml"])["rules"] == values["rules"]["custom"]
    app = m.parse_stream((rendered / "manifests/app.yaml").read_text())
    [hpa] = [d for d in app if d["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == values["rules"]["custom"][0]["name"]["as"]
    assert KubernetesTarget(env).render().changed == []


def test_strict_validation_rejects_a_bad_apiservice() -> None:
    """The pass above is not a no-op: kubernetes-validate knows the APIService kind."""
    doc = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.custom.metrics.k8s.io"},
        "spec": {
            "group": "custom.metrics.k8s.io",
            "version": "v1beta1",
            "groupPriorityMinimum": "high",
            "versionPriority": 100,
        },
    }
    assert [p.path for p in m.Validator().validate([doc])] == ["spec.groupPriorityMinimum"]
    # what `helm template` renders without the cluster's capabilities: a version 1.22 removed
    old = {**doc, "apiVersion": "apiregistration.k8s.io/v1beta1"}
    assert [p.message.startswith("no schema") for p in m.Validator().validate([old])] == [True]


@pytest.mark.usefixtures("helm_home")
def test_render_refuses_an_adapter_chart_of_another_version(tmp_path: Path) -> None:
    adapter = write_fake_adapter_chart(tmp_path / "charts", version="4.11.0")
    env = autoscaled_env(tmp_path, tmp_path / "kc", adapter_chart=str(adapter))
    with pytest.raises(PreflightError) as info:
        KubernetesTarget(env).render()
    assert "is version 4.11.0, kubernetes.adapter_chart_version pins 5.3.0" in info.value.message


@pytest.mark.usefixtures("helm_home")
def test_render_without_the_chart_says_so(tmp_path: Path) -> None:
    env = autoscaled_env(tmp_path, tmp_path / "kc")
    out = KubernetesTarget(env).render()
    assert (env.rendered_dir / "helm/prometheus-adapter.values.yaml").exists()
    assert any(n.startswith("prometheus-adapter 5.3.0 is not on disk yet") for n in out.notes)


def test_no_adapter_without_autoscaling(tmp_path: Path) -> None:
    t = KubernetesTarget(make_env(tmp_path, tmp_path / "kc"))
    assert not t.adapter.enabled
    assert (t.k.adapter_release, t.mon_ns) not in t.releases()
    assert "prometheus-adapter" not in [s.name for s in t.up_stages()]


def test_a_bad_value_in_the_adapter_values_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rendered object the API server would reject fails render (exit 2)."""
    if binaries.find("helm") is None:
        pytest.skip("helm is not installed")
    from obsctl.targets import adapter as ad

    kps = _kps_shaped_chart(tmp_path / "charts")
    chart = write_fake_adapter_chart(tmp_path / "charts")
    env = autoscaled_env(tmp_path, tmp_path / "kc", kps_chart=str(kps), adapter_chart=str(chart))
    monkeypatch.setattr(ad, "ADAPTER_RESOURCES", {"requsts": {"cpu": "50m"}})  # a typo
    with pytest.raises(ConfigError) as info:
        KubernetesTarget(env).render()
    assert "Deployment monitoring/prometheus-adapter" in info.value.message
    assert info.value.exit_code == 2


# --- up and down on the fake API -----------------------------------------------------------------


@pytest.fixture
def autoscaled(fake: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingHelm]:
    monkeypatch.setattr(KubernetesTarget, "render", lambda self: __import__("obsctl").targets.base.Rendered())
    kubeconfig = fake.kubeconfig(tmp_path / "kubeconfig", current="fake-a")
    target = KubernetesTarget(autoscaled_env(tmp_path, kubeconfig))
    helm = RecordingHelm(fake, target, [])
    target._helm = helm  # type: ignore[assignment]
    with Controllers(fake, target):
        yield helm
    if target._kube is not None:
        target._kube.close()


def test_up_installs_the_adapter_between_the_stack_and_the_app(fake: FakeKube, autoscaled: RecordingHelm) -> None:
    t, timeline = autoscaled.t, autoscaled.timeline
    lifecycle.up(t.env, Observer(timeline), target=t)  # type: ignore[arg-type]
    assert autoscaled.problems == []
    names = stages(timeline)
    assert names.index("up: kube-prometheus-stack chart") < names.index("up: prometheus-adapter chart")
    assert (
        names.index("up: kube-prometheus-stack") < names.index("up: prometheus-adapter") < names.index("up: app chart")
    )
    helm_calls = [line for line in timeline if line.startswith("helm ")]
    assert helm_calls == [
        "helm pull kube-prometheus-stack 88.5.3",
        "helm pull prometheus-adapter 5.3.0",
        "helm ensure kube-prometheus-stack",
        "helm ensure prometheus-adapter",
        "helm ensure obsctl-app",
    ]
    values = autoscaled.releases["prometheus-adapter"]["values"]
    assert values["obsctl"]["environment"] == "lab"
    assert autoscaled.releases["obsctl-app"]["values"]["autoscaling"]["enabled"] is True
    assert fake.get("deployments", "prometheus-adapter", "monitoring") is not None

    rows = [row.component for row in t.status()]
    assert rows[-3:] == ["release kube-prometheus-stack", "release prometheus-adapter", "release obsctl-app"]

    timeline.clear()  # a second up fetches nothing
    lifecycle.up(t.env, Observer(timeline), target=t)  # type: ignore[arg-type]
    assert not [line for line in timeline if line.startswith("helm pull")]
    assert any(line.startswith("  ok: prometheus-adapter 5.3.0: cached at") for line in timeline)

    timeline.clear()
    lifecycle.down(t.env, Observer(timeline), target=t)  # type: ignore[arg-type]
    assert autoscaled.problems == []
    uninstalls = [line for line in timeline if line.startswith("helm uninstall")]
    assert uninstalls == [
        "helm uninstall obsctl-app",
        "helm uninstall prometheus-adapter",
        "helm uninstall kube-prometheus-stack",
    ]


def test_a_foreign_adapter_release_is_refused_and_kept(fake: FakeKube, autoscaled: RecordingHelm) -> None:
    t = autoscaled.t
    fake.put("namespaces", {"metadata": {"name": t.mon_ns}})
    autoscaled.releases["prometheus-adapter"] = {"namespace": t.mon_ns, "values": {"rules": {}}}
    with pytest.raises(PreflightError) as info:
        t.preflight()
    assert "Helm release prometheus-adapter in namespace monitoring exists and was not installed by obsctl" in (
        info.value.message
    )
    assert "kubernetes.adapter_release" in info.value.hint
    assert t._uninstall("prometheus-adapter", t.mon_ns).startswith("prometheus-adapter kept: not installed by obsctl")
    assert "prometheus-adapter" in autoscaled.releases


def switched_off(t: KubernetesTarget, helm: RecordingHelm) -> KubernetesTarget:
    """The same environment after `app.autoscaling` was removed from obsctl.yaml."""
    path = t.env.config_path
    path.write_text(path.read_text().replace(AUTOSCALING, "app: {replicas: 2}"))
    off = KubernetesTarget(config.load(str(path), "lab"))
    off._helm = helm  # type: ignore[assignment]
    return off


def test_turning_autoscaling_off_removes_obsctls_adapter_after_the_app(
    fake: FakeKube, autoscaled: RecordingHelm
) -> None:
    t, timeline = autoscaled.t, autoscaled.timeline
    lifecycle.up(t.env, Observer(timeline), target=t)  # type: ignore[arg-type]
    off = switched_off(t, autoscaled)
    timeline.clear()
    lifecycle.up(off.env, Observer(timeline), target=off)  # type: ignore[arg-type]
    assert autoscaled.problems == []
    helm_calls = [line for line in timeline if line.startswith("helm ")]
    assert helm_calls[-2:] == ["helm ensure obsctl-app", "helm uninstall prometheus-adapter"]
    assert "prometheus-adapter" not in autoscaled.releases
    timeline.clear()  # nothing left to remove the next time
    lifecycle.up(off.env, Observer(timeline), target=off)  # type: ignore[arg-type]
    assert "helm uninstall prometheus-adapter" not in timeline


def test_down_after_turning_it_off_still_removes_obsctls_adapter(fake: FakeKube, autoscaled: RecordingHelm) -> None:
    t, timeline = autoscaled.t, autoscaled.timeline
    lifecycle.up(t.env, Observer(timeline), target=t)  # type: ignore[arg-type]
    off = switched_off(t, autoscaled)
    timeline.clear()
    lifecycle.down(off.env, Observer(timeline), target=off)  # type: ignore[arg-type]
    assert autoscaled.problems == []
    uninstalls = [line for line in timeline if line.startswith("helm uninstall")]
    assert uninstalls == [
        "helm uninstall obsctl-app",
        "helm uninstall prometheus-adapter",
        "helm uninstall kube-prometheus-stack",
    ]


def test_someone_elses_adapter_is_never_removed_when_autoscaling_is_off(
    fake: FakeKube, autoscaled: RecordingHelm
) -> None:
    t = autoscaled.t
    off = switched_off(t, autoscaled)
    fake.put("namespaces", {"metadata": {"name": t.mon_ns}})
    autoscaled.releases["prometheus-adapter"] = {"namespace": t.mon_ns, "values": {"obsctl": {"environment": "other"}}}
    assert off._remove_switched_off() == []
    assert "prometheus-adapter" in autoscaled.releases


def test_verify_checks_the_metric_for_every_pod_and_the_replica_range(
    fake: FakeKube, autoscaled: RecordingHelm, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = autoscaled.t
    lifecycle.up(t.env, Observer(autoscaled.timeline), target=t)  # type: ignore[arg-type]
    servers = serve_platform(fake, t)
    try:
        checks = [
            c for c in cv.checks(t) if c.name in ("app pods Ready", "autoscaling metric served for every app pod")
        ]
        by_name = {r.name: r for r in run_checks(checks)}
        assert by_name["app pods Ready"].detail == "2/2-5 (autoscaled) pods Ready"
        metric = by_name["autoscaling metric served for every app pod"]
        assert (metric.status, metric.detail) == ("pass", "http_requests_per_second: app-0=2.00/s, app-1=2.00/s")
        # the HPA scaled up (to 3 of at most 5): still healthy, although app.replicas says 2
        t.scale_app(3)
        deadline = time.monotonic() + 5
        while len(fake.list("pods", t.app_ns)) != 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert run_checks(checks[:1])[0].detail == "3/2-5 (autoscaled) pods Ready"
        t.scale_app(2)
        while len(fake.list("pods", t.app_ns)) != 2 and time.monotonic() < deadline + 5:
            time.sleep(0.1)
        # a Pod the query does not return fails the check, naming the Pod and the query
        real = t.prometheus

        def one_series(path: str, **params: str) -> dict[str, list[dict[str, object]]]:
            data = real(path, **params)
            return {**data, "result": data["result"][:1]}

        monkeypatch.setattr(t, "prometheus", one_series)
        monkeypatch.setattr(cv, "settle", lambda t: 0.5)
        failed = run_checks([c for c in cv.checks(t) if c.name.startswith("autoscaling")])[0]
        assert failed.status == "fail"
        assert (
            'no http_requests_per_second for app-1 (query: sum(rate(http_requests_total{namespace="observability"'
            in (failed.detail)
        )
    finally:
        servers.shutdown()
        servers.server_close()
