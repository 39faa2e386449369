"""`obsctl render` for a cluster environment, with the real helm: no cluster needed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from obsctl.targets.kubernetes import KubernetesTarget
from obsctl.tools import binaries
from tests.fakekube.fixtures import make_env

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def helm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if binaries.find("helm") is None:
        pytest.skip("helm is not installed; run scripts/install-helm.py (../shared/TOOLS.md)")
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
    assert kps["alertmanager"]["config"]["inhibit_rules"][0]["source_matchers"] == [
        'alertname="FastAPIPodDown"',
        'scope="all"',
    ]
    app = yaml.safe_load((rendered / "helm/app.values.yaml").read_text())
    alerts = {r["alert"]: r for g in app["prometheusRule"]["groups"] for r in g["rules"] if "alert" in r}
    assert alerts["FastAPIPodDown"]["for"] == "2s"  # for_overrides apply to the cluster rules too
    assert set(app["dashboards"]) == {"fastapi-alerts", "fastapi-golden-signals"}
    docs = [d for d in yaml.safe_load_all((rendered / "manifests/app.yaml").read_text()) if d]
    kinds = sorted({d["kind"] for d in docs})
    assert {"Deployment", "Service", "ServiceMonitor", "PrometheusRule", "ConfigMap"} <= set(kinds)
    assert all(d["metadata"].get("namespace") in (None, "observability") for d in docs if d["kind"] != "ConfigMap")
    # idempotent: nothing changes the second time
    assert KubernetesTarget(env).render().changed == []


def test_values_with_secrets_are_written_0600_and_never_printed(tmp_path: Path) -> None:
    alerting = "receivers: [{name: team, webhooks: [{url_env: TEAM_HOOK}]}]"
    env = make_env(tmp_path, tmp_path / "kc", extra_alerting=alerting)
    secret = "https://hooks.example.com/T0KEN-should-not-leak"
    result = subprocess.run(
        [sys.executable, "-m", "obsctl", "render", "--env", "lab", "--config", str(env.config_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TEAM_HOOK": secret},
        cwd=env.root,
    )
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    path = env.rendered_dir / "helm/kube-prometheus-stack.values.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret in path.read_text()
    assert stat.S_IMODE((env.rendered_dir / "helm/app.values.yaml").stat().st_mode) == 0o644


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
    monkeypatch.setenv("TEAM_WEBHOOK_URL", "https://hooks.invalid/team")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.invalid/slack")
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
