"""Receivers of every type on a cluster target, against the fake API (the real kubernetes client
runs): the secrets go into the Secret obsctl owns and reach Alertmanager as files; the Helm values
name only those files; the review render needs none of them; and amtool accepts the config."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from obsctl import lifecycle
from obsctl import render as r
from obsctl.targets.kubernetes import KubernetesTarget
from tests.fakekube import FakeKube
from tests.fakekube.platform import Controllers, RecordingHelm, serve_platform

pytestmark = pytest.mark.integration

RECEIVERS = (
    "receivers: [{name: oncall, pagerduty: [{routing_key_env: T_PD_KEY}], opsgenie: [{api_key_env: T_OG_KEY}]},"
    " {name: mail, email: [{to: ops@example.com, from: am@example.com, smarthost: 'smtp.example.com:587',"
    " auth_username: am, auth_password_env: T_SMTP_PASSWORD}]}]"
    "\n              page: [oncall]\n              ticket: [mail]"  # the fixture's indentation
)
SECRETS = {"T_PD_KEY": "S3CRET-pd-0123456789abcdef012345", "T_OG_KEY": "S3CRET-og", "T_SMTP_PASSWORD": "S3CRET-smtp"}


class Observer:
    def stage_started(self, verb: str, stage: str) -> None:
        pass

    def stage_done(self, verb: str, stage: str, seconds: float, detail: str, ok: bool) -> None:
        pass


def test_every_receiver_secret_goes_to_the_secret_and_values_name_files(
    fake: FakeKube, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakekube.fixtures import make_env

    t = KubernetesTarget(make_env(tmp_path, kubeconfig, extra_alerting=RECEIVERS))
    values = yaml.safe_load(t._kps_values_text())  # what helm gets; no secret is needed to make it
    by = {rec["name"]: rec for rec in values["alertmanager"]["config"]["receivers"]}
    folder = f"{r.CLUSTER_SECRETS_DIR}/{t.k.alertmanager_secret}"
    assert by["oncall"]["pagerduty_configs"][0]["routing_key_file"] == f"{folder}/oncall.pagerduty-0.routing-key"
    assert by["oncall"]["opsgenie_configs"][0]["api_key_file"] == f"{folder}/oncall.opsgenie-0.api-key"
    assert by["mail"]["email_configs"][0]["auth_password_file"] == f"{folder}/mail.email-0.auth-password"
    assert by["mail"]["email_configs"][0]["require_tls"] is True

    amtool = shutil.which("amtool")
    if amtool:  # Alertmanager 0.25 already knows routing_key_file, api_key_file and auth_password_file
        path = tmp_path / "am.yml"
        path.write_text(yaml.safe_dump(values["alertmanager"]["config"]))
        check = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr

    monkeypatch.setattr(KubernetesTarget, "render", lambda self: __import__("obsctl").targets.base.Rendered())
    helm = RecordingHelm(fake, t, [])
    t._helm = helm  # type: ignore[assignment]
    serve_platform(fake, t)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    with Controllers(fake, t):
        lifecycle.up(t.env, Observer(), target=t)  # type: ignore[arg-type]
        for key, var in (
            ("oncall.pagerduty-0.routing-key", "T_PD_KEY"),
            ("oncall.opsgenie-0.api-key", "T_OG_KEY"),
            ("mail.email-0.auth-password", "T_SMTP_PASSWORD"),
        ):
            assert t.kube.read_secret_key(t.mon_ns, t.k.alertmanager_secret, key) == SECRETS[var]
        for release in helm.releases.values():
            assert "S3CRET" not in json.dumps(release["values"])
        assert "S3CRET" not in (t.env.state_dir / "journal.jsonl").read_text()
        lifecycle.down(t.env, Observer(), target=t)  # type: ignore[arg-type]
