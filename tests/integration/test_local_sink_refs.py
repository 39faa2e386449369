"""`sink: obsctl`: the repository's local receivers follow local.ports and state_dir, whatever
they are set to (no copy of a port or a path in obsctl.yaml), and the reference is refused
where obsctl's sink does not exist. amtool (the real one) judges the rendered configuration."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from obsctl import config as c
from obsctl import render as r
from obsctl.errors import ConfigError
from obsctl.targets.local import LocalTarget
from obsctl.tools.amtool import Amtool
from obsctl.verify import receivers as vr
from tests.conftest import ROOT, make_project

pytestmark = pytest.mark.integration

PORTS = {"app": 27000, "prometheus": 27010, "alertmanager": 27011, "grafana": 27012, "sink": 27013, "smtp": 27009}


def repo_local_env(state_dir: str = "elsewhere/state") -> str:
    """The repository's own `local` environment, moved to other ports and another state_dir."""
    local = yaml.safe_load((ROOT / "obsctl.yaml").read_text())["environments"]["local"]
    local.setdefault("local", {})["ports"] = PORTS
    return yaml.safe_dump({"default_environment": "local", "state_dir": state_dir, "environments": {"local": local}})


def _where(receiver: dict[str, Any]) -> list[str]:
    """Every place a rendered receiver delivers to, and the CA it trusts."""
    out = []
    for key, value in receiver.items():
        for item in value if key.endswith("_configs") else []:
            out += [str(item[f]) for f in ("url", "api_url", "smarthost") if f in item]
            out += [str(item["tls_config"]["ca_file"])] if "tls_config" in item else []
    return out


def test_the_repo_local_env_follows_other_ports_and_state_dir(tmp_path: Path) -> None:
    t = LocalTarget(c.load(str(make_project(tmp_path, repo_local_env()))))
    t.render()
    am = yaml.safe_load((t.rendered / "alertmanager.yml").read_text())
    mine = {rec["name"]: _where(rec) for rec in am["receivers"] if rec["name"].startswith("local-")}
    assert set(mine) == {f"local-{k}" for k in ("webhook", "slack", "pagerduty", "email", "opsgenie", "heartbeat")}
    cert = str(tmp_path / "elsewhere/state/local/sink/smtp-cert.pem")
    assert mine["local-pagerduty"] == ["http://127.0.0.1:27013/pagerduty/v2/enqueue"]
    assert mine["local-opsgenie"] == ["http://127.0.0.1:27013/opsgenie/"]
    assert mine["local-email"] == ["127.0.0.1:27009", cert]
    assert mine["local-webhook"] == ["http://127.0.0.1:27013/webhook/local-webhook"]
    assert t.own_secrets()["OBSCTL_LOCAL_SLACK_URL"].startswith("http://127.0.0.1:27013/slack/")
    assert not [w for ws in mine.values() for w in ws if "19095" in w or "19025" in w or "/.obsctl/" in w]
    if shutil.which("amtool"):
        Amtool().check_config(t.rendered / "alertmanager.yml")
    # the fire drill's delivery check sees every receiver at obsctl's own sinks: none is skipped
    secret = vr._secret(t)
    for rec in t.alerting.receivers:
        wanted = vr.expectations(rec, secret, t.url("sink"), t.ports.smtp)
        assert wanted, f"{rec.name} does not point at this environment's sink"


def test_own_sink_values_and_credentials_reach_alertmanager_yml_at_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At `up` the receivers carry the credentials the sink accepts; an exported variable wins."""
    monkeypatch.setenv("OBSCTL_LOCAL_PAGERDUTY_KEY", "mine0000000000000000000000000000")
    t = LocalTarget(c.load(str(make_project(tmp_path, repo_local_env()))))
    am = r.alertmanager_config(t.alerting, f"{t.url('sink')}/", provided=t.own_secrets())
    by_name = {rec["name"]: rec for rec in am["receivers"]}
    assert by_name["local-pagerduty"]["pagerduty_configs"][0]["routing_key"] == "mine0000000000000000000000000000"
    mail = by_name["local-email"]["email_configs"][0]
    assert (mail["auth_username"], mail["auth_password"]) == ("obsctl", t.own_secrets()["OBSCTL_LOCAL_SMTP_PASSWORD"])
    assert by_name["local-slack"]["slack_configs"][0]["api_url"] == t.own_secrets()["OBSCTL_LOCAL_SLACK_URL"]


def test_a_receiver_of_ones_own_is_left_as_written(tmp_path: Path) -> None:
    doc = yaml.safe_load(repo_local_env())
    doc["environments"]["local"]["alerting"]["receivers"].append(
        {"name": "mine", "pagerduty": [{"routing_key_env": "MY_PD", "url": "https://events.example.com/v2/enqueue"}]}
    )
    t = LocalTarget(c.load(str(make_project(tmp_path, yaml.safe_dump(doc)))))
    mine = next(rec for rec in t.alerting.receivers if rec.name == "mine")
    pd = mine.pagerduty[0]
    assert (pd.url, pd.routing_key_env) == ("https://events.example.com/v2/enqueue", "MY_PD")
    assert vr.expectations(mine, lambda _: "x", t.url("sink"), t.ports.smtp) is None  # not obsctl's: not judged


@pytest.mark.parametrize(
    ("receiver", "expected"),
    [
        (
            "{name: a, sink: obsctl, pagerduty: [{url: 'http://127.0.0.1:19095/pagerduty/v2/enqueue'}]}",
            "alerting.receivers[0]: pagerduty[0].url: sink: obsctl supplies it",
        ),
        (
            "{name: a, sink: obsctl, email: [{to: a@b.c, from: d@e.f, smarthost: '127.0.0.1:19025'}]}",
            "email[0].smarthost: sink: obsctl supplies it",
        ),
        ("{name: a, sink: obsctl, webhooks: [{url_env: HOOK}]}", "webhooks[0].url_env: sink: obsctl supplies it"),
        ("{name: a, sink: obsctl}", "sink: obsctl needs an integration"),
        ("{name: a, sink: grafana, webhooks: [{}]}", "alerting.receivers[0].sink: Input should be 'obsctl'"),
        ("{name: a, pagerduty: [{}]}", "pagerduty[0]: give routing_key_env (or sink: obsctl on the local target)"),
        ("{name: a, email: [{to: a@b.c, from: d@e.f}]}", "email[0]: give smarthost"),
        ("{name: a, slack: [{channel: '#x'}]}", "slack[0]: give api_url_env"),
        ("{name: a, webhooks: [{}]}", "webhooks[0]: give url or url_env"),
    ],
)
def test_a_bad_sink_reference_is_one_line_naming_the_field(receiver: str, expected: str) -> None:
    text = f"environments:\n  local:\n    target: local\n    alerting:\n      receivers: [{receiver}]\n"
    with pytest.raises(ConfigError) as info:
        c.parse_config(text, "obsctl.yaml")
    assert expected in info.value.message and "\n" not in info.value.message


@pytest.mark.parametrize("target", ["kubernetes", "eks"])
def test_obsctls_own_sink_is_refused_on_a_cluster_target(target: str) -> None:
    extra = (
        "kubernetes: {context: kind-obsctl}"
        if target == "kubernetes"
        else "aws: {region: eu-west-1, cluster_name: obsctl}"
    )
    text = (
        f"environments:\n  prod:\n    target: {target}\n    {extra}\n    alerting:\n"
        "      receivers: [{name: pager, pagerduty: [{routing_key_env: PD}]},"
        " {name: mine, sink: obsctl, webhooks: [{}]}]\n"
    )
    with pytest.raises(ConfigError) as info:
        c.parse_config(text, "obsctl.yaml")
    msg = info.value.message
    assert "alerting.receivers[1].sink: obsctl's own sink runs only on the local target" in msg, msg
    assert f"not {target}" in msg and "\n" not in msg


def test_without_an_obsctl_yaml_the_shipped_local_env_trusts_the_cert_where_state_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No obsctl.yaml found: obsctl's default config is used and state goes under XDG_STATE_HOME,
    not next to that config; the e-mail receiver's CA is the certificate `up` makes there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    t = LocalTarget(c.load(None))
    assert t.state == tmp_path / "xdg/obsctl/local"
    ca = [mail.ca_file for rec in t.alerting.receivers for mail in rec.email]
    assert ca == [str(t.smtp_cert)] and str(t.smtp_cert).startswith(str(tmp_path / "xdg"))
