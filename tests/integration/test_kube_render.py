"""`obsctl render` for a cluster environment, with the real helm: no cluster needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from obsctl import config, render, slo
from obsctl.targets.kubernetes import KubernetesTarget
from obsctl.tools import binaries
from tests.fakekube.fixtures import make_env

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def helm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if binaries.find("helm") is None:
        pytest.skip("helm is not installed; run scripts/install-helm.py (make test does)")
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "helm-home" / var.lower()))


def test_render_writes_values_and_every_app_manifest(tmp_path: Path) -> None:
    env = make_env(tmp_path, tmp_path / "no-kubeconfig-needed")
    out = KubernetesTarget(env).render()
    rendered = env.rendered_dir
    names = sorted(str(p.relative_to(rendered)) for p in out.files)
    assert names == ["helm/app.values.yaml", "helm/kube-prometheus-stack.values.yaml", "manifests/app.yaml"]
    kps = yaml.safe_load((rendered / "helm/kube-prometheus-stack.values.yaml").read_text())
    assert kps["grafana"]["admin"]["existingSecret"] == "obsctl-grafana-admin"
    assert kps["prometheus"]["prometheusSpec"]["scrapeInterval"] == "1s"
    assert {
        "source_matchers": ['alertname="FastAPIPodDown"', 'scope="all"'],
        "target_matchers": ['alertname="FastAPIPodDown"', 'scope="replica"'],
        "equal": ["job"],
    } in kps["alertmanager"]["config"]["inhibit_rules"]
    # a value the CRD forbids as 0 is never left to helm's truthiness (issue 7 section 1)
    assert kps["prometheus"]["prometheusSpec"]["maximumStartupDurationSeconds"] == 0
    assert kps["obsctl"] == {"environment": "lab"}  # the chart is not on disk yet: no digest
    app = yaml.safe_load((rendered / "helm/app.values.yaml").read_text())
    alerts = {r["alert"]: r for g in app["prometheusRule"]["groups"] for r in g["rules"] if "alert" in r}
    assert alerts["FastAPIPodDown"]["for"] == "2s"  # for_overrides apply to the cluster rules too
    assert set(app["dashboards"]) == {"fastapi-alerts", "fastapi-golden-signals", "slo-error-budgets"}
    docs = [d for d in yaml.safe_load_all((rendered / "manifests/app.yaml").read_text()) if d]
    # the SLO rules ride in the same PrometheusRule, exactly as the local rule file has them
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    slo_groups = [g for g in rule["spec"]["groups"] if g["name"].startswith("slo-")]
    assert [g["name"] for g in slo_groups] == ["slo-availability", "slo-availability-long", "slo-availability-sparse"]
    assert slo_groups == [g for g in render.rule_groups(env.root, env.spec) if g["name"].startswith("slo-")]
    # the operator's own model of the CRD accepts it, the long and sparse groups' `interval` included
    from cloudcoil.models.prometheus_operator.v1 import PrometheusRule

    long = slo.long_interval(env.spec.scrape.evaluation_interval)  # this test env evaluates every 1s: 1s
    assert [g.interval for g in PrometheusRule.model_validate(rule).spec.groups if g.name.startswith("slo-")] == [
        None,
        long,
        "5m",
    ]
    kinds = sorted({d["kind"] for d in docs})
    assert {"Deployment", "Service", "ServiceMonitor", "PrometheusRule", "ConfigMap"} <= set(kinds)
    assert all(d["metadata"].get("namespace") in (None, "observability") for d in docs if d["kind"] != "ConfigMap")
    # idempotent: nothing changes the second time
    assert KubernetesTarget(env).render().changed == []


def test_render_needs_no_secret_and_values_hold_only_file_references(tmp_path: Path) -> None:
    """Receiver secrets live in a Secret obsctl owns and reach Alertmanager as files: no value in
    any rendered file or in the output, and `render` works without them (issue 7 section 3)."""
    alerting = (
        "receivers: [{name: team, webhooks: [{url_env: TEAM_HOOK}], slack: [{api_url_env: SLACK_HOOK, channel: '#a'}]}]"
    )
    env = make_env(tmp_path, tmp_path / "kc", extra_alerting=alerting)
    secret = "https://hooks.example.com/T0KEN-should-not-leak"
    clean = {k: v for k, v in os.environ.items() if k not in ("TEAM_HOOK", "SLACK_HOOK")}
    for extra in ({}, {"TEAM_HOOK": secret, "SLACK_HOOK": secret + "/slack"}):
        result = subprocess.run(
            [sys.executable, "-m", "obsctl", "render", "--env", "lab", "--config", str(env.config_path)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**clean, **extra},
            cwd=env.root,
        )
        assert result.returncode == 0, result.stderr
        assert secret not in result.stdout + result.stderr
        assert "$TEAM_HOOK" in result.stdout and "$SLACK_HOOK" in result.stdout
    assert "(not set: `up` refuses until it is)" not in result.stdout  # set the second time
    for path in env.rendered_dir.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(), path
    kps = yaml.safe_load((env.rendered_dir / "helm/kube-prometheus-stack.values.yaml").read_text())
    team = next(r for r in kps["alertmanager"]["config"]["receivers"] if r["name"] == "team")
    folder = "/etc/alertmanager/secrets/obsctl-alertmanager-receivers"
    assert team["webhook_configs"] == [{"url_file": f"{folder}/team.webhook-0.url", "send_resolved": True}]
    assert team["slack_configs"][0]["api_url_file"] == f"{folder}/team.slack-0.api-url"
    assert kps["alertmanager"]["alertmanagerSpec"]["secrets"] == ["obsctl-alertmanager-receivers"]


def test_manifests_obsctl_renders_pass_checkov(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `obsctl render --env kind` writes for review is what checkov judges: zero failed checks
    when the image is pinned by digest (image.digest in the config)."""
    from obsctl import config

    checkov = Path(__file__).resolve().parents[2] / ".venv-checkov" / "bin" / "checkov"
    if not checkov.exists():
        pytest.skip("checkov is absent; run scripts/install-checkov.sh (make test does)")
    repo = Path(__file__).resolve().parents[2]
    text = (repo / "examples" / "obsctl.example.yaml").read_text()
    text = text.replace("project_root: ..", f"project_root: {repo}").replace(
        "state_dir: .obsctl", f"state_dir: {tmp_path / 'state'}"
    )
    text = text.replace("digest: null", "digest: sha256:" + "ab" * 32)
    cfg = tmp_path / "obsctl.yaml"
    cfg.write_text(text)
    env = config.load(str(cfg), env="kind")
    KubernetesTarget(env).render()
    manifest = env.rendered_dir / "manifests" / "app.yaml"
    assert "@sha256:" + "ab" * 32 in manifest.read_text()
    scan = subprocess.run(
        [str(checkov), "--file", str(manifest), "--framework", "kubernetes", "--skip-download", "--quiet", "--compact"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert scan.returncode == 0, scan.stdout[-3000:] + scan.stderr[-1000:]


def _app_container(env: config.Environment) -> dict:
    docs = [d for d in yaml.safe_load_all((env.rendered_dir / "manifests/app.yaml").read_text()) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    ("distribution", "digest", "policy", "scraped"),
    [
        ("generic", None, "Always", True),
        ("generic", "sha256:" + "ab" * 32, "IfNotPresent", True),
        ("kind", None, "IfNotPresent", False),  # `kind load` puts the image on the node: no registry
        ("k3d", None, "IfNotPresent", False),
        ("kubeadm", None, "Always", False),
    ],
)
def test_distribution_decides_pull_policy_and_control_plane_scrapes(
    tmp_path: Path, distribution: str, digest: str | None, policy: str, scraped: bool
) -> None:
    text = make_env(tmp_path, tmp_path / "kc").config_path.read_text()
    text = text.replace("kubernetes:\n", f"kubernetes:\n      distribution: {distribution}\n", 1)
    if digest:
        text = text.replace("app: {replicas: 2}", f"app: {{replicas: 2, image: {{digest: '{digest}'}}}}")
    env_path = tmp_path / "project" / "obsctl.yaml"
    env_path.write_text(text)
    env = config.load(str(env_path), "lab")
    KubernetesTarget(env).render()
    assert _app_container(env)["imagePullPolicy"] == policy
    kps = yaml.safe_load((env.rendered_dir / "helm/kube-prometheus-stack.values.yaml").read_text())
    for key in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert kps[key] == {"enabled": scraped}, key


def test_a_changed_chart_template_changes_the_release_values(tmp_path: Path) -> None:
    """Editing app/chart/templates/* without a version bump must still be applied by `up`: the
    chart's digest is part of the release values, which pyhelm3 compares (issue 7 section 5)."""
    import shutil

    env = make_env(tmp_path, tmp_path / "kc")
    project = env.root
    (project / "app").unlink()  # a copy of the app we can edit, instead of the link to the repo's
    shutil.copytree(Path(__file__).resolve().parents[2] / "app", project / "app", symlinks=False)
    before = KubernetesTarget(env).values()[1]["obsctl"]
    service = project / "app" / "chart" / "templates" / "service.yaml"
    service.write_text(service.read_text() + "\n# a comment is a change too\n")
    after = KubernetesTarget(env).values()[1]["obsctl"]
    assert before["environment"] == after["environment"] == "lab"
    assert before["chartDigest"] != after["chartDigest"]


PROMETHEUS_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: prometheuses.monitoring.coreos.com
  annotations: {operator.prometheus.io/version: 0.93.1}
spec:
  group: monitoring.coreos.com
  names: {kind: Prometheus, listKind: PrometheusList, plural: prometheuses, singular: prometheus}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                maximumStartupDurationSeconds: {type: integer, format: int32, minimum: 60}
                replicas: {type: integer, format: int32}
                # the real CRDs carry plain `=` scalars, which PyYAML's SafeLoader cannot read
                matchType: {type: string, enum: [=, "!=", =~]}
"""
# the guard of kube-prometheus-stack 88.5.3 templates/prometheus/prometheus.yaml, over a default 0
PROMETHEUS_TEMPLATE = """
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata:
  name: {{ .Release.Name }}-prometheus
  namespace: {{ .Release.Namespace }}
spec:
  replicas: 1
{{- if .Values.prometheus.prometheusSpec.maximumStartupDurationSeconds }}
  maximumStartupDurationSeconds: {{ .Values.prometheus.prometheusSpec.maximumStartupDurationSeconds }}
{{- end }}
"""


def _kps_shaped_chart(folder: Path) -> Path:
    chart = folder / "kube-prometheus-stack"
    (chart / "templates").mkdir(parents=True)
    (chart / "charts" / "crds" / "crds").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: kube-prometheus-stack\nversion: 88.5.3\n")
    (chart / "values.yaml").write_text("prometheus:\n  prometheusSpec:\n    maximumStartupDurationSeconds: 0\n")
    (chart / "templates" / "prometheus.yaml").write_text(PROMETHEUS_TEMPLATE)
    (chart / "charts" / "crds" / "Chart.yaml").write_text("apiVersion: v2\nname: crds\nversion: 0.0.0\n")
    (chart / "charts" / "crds" / "crds" / "crd-prometheuses.yaml").write_text(PROMETHEUS_CRD)
    for kind, plural in (("ServiceMonitor", "servicemonitors"), ("PrometheusRule", "prometheusrules")):
        loose = PROMETHEUS_CRD.replace("prometheuses", plural).replace("Prometheus", kind)
        loose = loose.replace("singular: prometheus", f"singular: {plural[:-1]}")
        preserve = "              x-kubernetes-preserve-unknown-fields: true\n"
        loose = loose.split("              properties:")[0] + preserve
        (chart / "charts" / "crds" / "crds" / f"crd-{plural}.yaml").write_text(loose)
    return chart


def test_render_validates_the_charts_objects_against_its_own_crds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the chart on disk, `render` templates it with the helm obsctl uses and checks every
    object against the chart's CRD schemas: the class of failure of helm 3.18.0 (a 0 rendered where
    the CRD asks >= 60) is caught before `up` sends anything (issue 7 section 1)."""
    from obsctl.errors import ConfigError
    from obsctl.targets import kubernetes as kt

    chart = _kps_shaped_chart(tmp_path / "charts")
    env = make_env(tmp_path, tmp_path / "kc")
    text = env.config_path.read_text().replace(
        "kps_chart_version: 88.5.3", f"kps_chart_version: 88.5.3\n      kps_chart: {chart}"
    )
    env.config_path.write_text(text)
    env = config.load(str(env.config_path), "lab")
    out = KubernetesTarget(env).render()
    assert "every rendered object passes the chart's CRD schemas and the Kubernetes schemas" in out.notes
    from obsctl.tools import manifests  # helm's own output: plain `=` scalars PyYAML's SafeLoader refuses

    rendered = manifests.parse_stream((env.rendered_dir / "manifests/kube-prometheus-stack.yaml").read_text())
    prometheus = next(d for d in rendered if d and d["kind"] == "Prometheus")
    assert prometheus["spec"] == {"replicas": 1}  # obsctl's explicit 0 is skipped by the guard
    # a value the CRD rejects is refused by render (exit 2: nothing was started)
    monkeypatch.setattr(kt, "PROMETHEUS_MAX_STARTUP_SECONDS", 30)
    with pytest.raises(ConfigError) as info:
        KubernetesTarget(env).render()
    assert "spec.maximumStartupDurationSeconds: 30 is less than the minimum of 60" in info.value.message
    assert info.value.exit_code == 2


def test_the_examples_own_advertised_render_needs_no_secret(tmp_path: Path) -> None:
    """`obsctl render --config examples/obsctl.example.yaml --env kind`, the example file's own
    advertised check, with neither TEAM_WEBHOOK_URL nor SLACK_WEBHOOK_URL exported (issue 7 section 3)."""
    repo = Path(__file__).resolve().parents[2]
    text = (repo / "examples" / "obsctl.example.yaml").read_text()
    cfg = tmp_path / "obsctl.yaml"
    cfg.write_text(
        text.replace("project_root: ..", f"project_root: {repo}").replace(
            "state_dir: .obsctl", f"state_dir: {tmp_path / 'state'}"
        )
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("TEAM_WEBHOOK_URL", "SLACK_WEBHOOK_URL")}
    for env in ("kind", "prod-eks"):
        result = subprocess.run(
            [sys.executable, "-m", "obsctl", "render", "--config", str(cfg), "--env", env],
            capture_output=True,
            text=True,
            timeout=120,
            env={**clean, "COLUMNS": "300"},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        if env == "kind":
            assert "$TEAM_WEBHOOK_URL (not set: `up` refuses until it is)" in result.stdout
