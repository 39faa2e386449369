"""Receivers of every type from config: tight validation (one line naming the field), rendering
with secrets only by reference (files on clusters, values only in the local 0600 file), and the
routing tree by severity, team and heartbeat. amtool (the real one) judges the routing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from obsctl import config as c
from obsctl import render as r
from obsctl.errors import ConfigError, PreflightError
from tests.amtool import amtool, check_config, routes

pytestmark = pytest.mark.integration

BASE = """
environments:
  local:
    target: local
    alerting:
{alerting}
"""

EVERY = """
      receivers:
        - name: oncall
          pagerduty: [{routing_key_env: PD_KEY, severity: critical}]
          opsgenie: [{api_key_env: OG_KEY, api_url: "https://api.eu.opsgenie.com", priority: P1}]
        - name: mail
          email:
            - {to: ops@example.com, from: am@example.com, smarthost: "smtp.example.com:587",
               auth_username: am, auth_password_env: SMTP_PASSWORD}
        - name: chat
          slack: [{api_url_env: SLACK_URL, channel: "#alerts"}]
        - name: payments-pager
          pagerduty: [{routing_key_env: PAYMENTS_PD_KEY}]
        - name: beat
          webhooks: [{url: "https://hc-ping.example.com/abc"}]
      page: [oncall, chat]
      ticket: [mail]
      teams:
        payments: {page: [payments-pager]}
      heartbeat: {receiver: beat, repeat_interval: 2m}
"""


def _alerting(text: str) -> c.AlertingSettings:
    spec = c.parse_config(BASE.format(alerting=text), "obsctl.yaml").environments["local"]
    return spec.alerting


@pytest.mark.parametrize(
    ("alerting", "expected"),
    [
        ("      page: [nobody]", "page: receiver 'nobody' is not declared under receivers"),
        (
            "      receivers: [{name: a}]\n      teams: {pay: {ticket: [b]}}",
            "teams.pay.ticket: receiver 'b' is not declared",
        ),
        ("      receivers: [{name: a}]\n      heartbeat: {receiver: z}", "heartbeat.receiver: receiver 'z'"),
        ("      receivers: [{name: a}, {name: a}]", "name(s) a declared more than once"),
        ("      receivers: [{name: 'null'}]", "'null' is obsctl's own receiver"),
        (
            "      receivers: [{name: a, pagerduty: [{routing_key_env: 'pd-key'}]}]",
            "alerting.receivers[0].pagerduty[0].routing_key_env: 'pd-key' is not an environment variable name",
        ),
        (
            "      receivers: [{name: a, pagerduty: [{routing_key_env: K, routing_key: abc}]}]",
            "alerting.receivers[0].pagerduty[0].routing_key: unknown key",
        ),
        (
            "      receivers: [{name: a, email: [{to: x@y.z, from: a@b.c, smarthost: 'h:25', auth_username: u}]}]",
            "give both auth_username and auth_password_env, or neither",
        ),
        (
            "      receivers: [{name: a, email: [{to: x@y.z, from: a@b.c, smarthost: smtp.example.com}]}]",
            "alerting.receivers[0].email[0].smarthost: 'smtp.example.com' is not host:port",
        ),
        (
            "      receivers: [{name: a, email: [{to: x@y.z, from: a@b.c, smarthost: 'h:25', auth_password: p}]}]",
            "auth_password: unknown key",
        ),
        (
            "      receivers: [{name: a, opsgenie: [{api_key_env: K, api_url: 'ftp://x'}]}]",
            "alerting.receivers[0].opsgenie[0].api_url: 'ftp://x' is not an http(s):// URL",
        ),
    ],
)
def test_bad_receiver_config_is_one_line_naming_the_field(alerting: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        _alerting(alerting)
    assert expected in info.value.message
    assert "\n" not in info.value.message


def test_cluster_render_references_every_secret_as_a_file_and_reads_none(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PD_KEY", "OG_KEY", "SMTP_PASSWORD", "SLACK_URL", "PAYMENTS_PD_KEY"):
        monkeypatch.delenv(var, raising=False)
    cfg = r.alertmanager_config(_alerting(EVERY), None, secrets_dir="/etc/alertmanager/secrets/s")
    by = {rec["name"]: rec for rec in cfg["receivers"]}
    pd = by["oncall"]["pagerduty_configs"][0]
    assert pd == {
        "routing_key_file": "/etc/alertmanager/secrets/s/oncall.pagerduty-0.routing-key",
        "severity": "critical",
        "send_resolved": True,
    }
    assert (
        by["oncall"]["opsgenie_configs"][0]["api_key_file"] == "/etc/alertmanager/secrets/s/oncall.opsgenie-0.api-key"
    )
    assert by["oncall"]["opsgenie_configs"][0]["api_url"] == "https://api.eu.opsgenie.com/"
    mail = by["mail"]["email_configs"][0]
    assert mail["require_tls"] is True and mail["smarthost"] == "smtp.example.com:587"
    assert mail["auth_password_file"] == "/etc/alertmanager/secrets/s/mail.email-0.auth-password"
    assert "auth_password" not in mail
    keys = [ref.key for ref in r.receiver_secrets(_alerting(EVERY))]
    assert keys == [
        "oncall.pagerduty-0.routing-key",
        "oncall.opsgenie-0.api-key",
        "mail.email-0.auth-password",
        "chat.slack-0.api-url",
        "payments-pager.pagerduty-0.routing-key",
    ]


def test_local_render_takes_secrets_from_the_environment_then_from_what_obsctl_supplies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alerting = _alerting(EVERY)
    for var in ("PD_KEY", "OG_KEY", "SMTP_PASSWORD", "SLACK_URL", "PAYMENTS_PD_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(PreflightError) as info:
        r.secret_values(r.receiver_secrets(alerting), provided={"PD_KEY": "own"})
    assert "OG_KEY" in info.value.message and "PD_KEY," not in info.value.message  # supplied: not missing
    monkeypatch.setenv("PD_KEY", "from-env")
    provided = {v: f"own-{v}" for v in ("PD_KEY", "OG_KEY", "SMTP_PASSWORD", "SLACK_URL", "PAYMENTS_PD_KEY")}
    cfg = r.alertmanager_config(alerting, None, provided=provided)
    by = {rec["name"]: rec for rec in cfg["receivers"]}
    assert by["oncall"]["pagerduty_configs"][0]["routing_key"] == "from-env"  # the user's value wins
    assert by["mail"]["email_configs"][0]["auth_password"] == "own-SMTP_PASSWORD"


def test_a_local_ca_file_is_refused_on_clusters_and_resolved_from_the_config_folder(tmp_path: Path) -> None:
    text = """
      receivers:
        - name: m
          email: [{to: a@b.c, from: d@e.f, smarthost: "127.0.0.1:2525", ca_file: certs/ca.pem}]
    """
    alerting = _alerting(text)
    local = r.alertmanager_config(alerting, None, base_dir=tmp_path)
    assert local["receivers"][1]["email_configs"][0]["tls_config"] == {"ca_file": str(tmp_path / "certs/ca.pem")}
    with pytest.raises(ConfigError) as info:
        r.alertmanager_config(alerting, None, secrets_dir="/etc/alertmanager/secrets/s")
    assert "alerting.receivers[0].email[0].ca_file" in info.value.message


def test_routing_by_severity_team_and_heartbeat_as_amtool_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "am.yml"
    path.write_text(yaml.safe_dump(r.alertmanager_config(_alerting(EVERY), None, resolve=False)))
    check_config(path)
    assert routes(path, "alertname=X", "severity=critical") == ["chat", "oncall"]
    assert routes(path, "alertname=X", "severity=warning") == ["mail"]
    # the payments team pages its own pager and keeps the global ticket receivers
    assert routes(path, "alertname=X", "severity=critical", "team=payments") == ["payments-pager"]
    assert routes(path, "alertname=X", "severity=warning", "team=payments") == ["mail"]
    assert routes(path, "alertname=X", "severity=info") == ["oncall"]  # the default: the first receiver
    assert routes(path, "alertname=Watchdog", "severity=none") == ["beat"]
    assert routes(path, "alertname=InfoInhibitor", "severity=none") == ["null"]
    beat = yaml.safe_load(path.read_text())["route"]["routes"][0]
    assert beat["repeat_interval"] == "2m" and beat["receiver"] == "beat"


def test_without_a_heartbeat_watchdog_is_silenced(tmp_path: Path) -> None:
    path = tmp_path / "am.yml"
    cfg = r.alertmanager_config(_alerting("      receivers: [{name: a}]\n      page: [a]"), None)
    path.write_text(yaml.safe_dump(cfg))
    assert routes(path, "alertname=Watchdog", "severity=none") == ["null"]


def test_verify_finds_a_receiver_no_route_reaches() -> None:
    """`obsctl verify`'s per-receiver check (amtool on the rendered config) passes for routed
    receivers and fails, naming what it tried, for one nothing routes to."""
    from obsctl.verify import receivers as rv
    from obsctl.verify import run_checks

    amtool()  # skips where amtool is missing
    extra = "        - name: forgotten\n          webhooks: [{url: 'https://x.example.com/'}]\n"
    alerting = _alerting(EVERY.replace("      page: [oncall, chat]", extra + "      page: [oncall, chat]"))
    results = {res.name: res for res in run_checks(rv.routing_checks(alerting, None), concurrent=True)}
    assert len(results) == 6
    ok = results["receiver payments-pager reachable from the routing tree"]
    assert ok.status == "pass" and "severity=critical team=payments" in ok.detail
    assert results["receiver beat reachable from the routing tree"].detail.startswith("Watchdog (heartbeat)")
    bad = results["receiver forgotten reachable from the routing tree"]
    assert bad.status == "fail" and "no route reaches receiver forgotten" in bad.detail
    assert [res.name for res in results.values() if res.status == "fail"] == [bad.name]


def test_local_preflight_supplies_only_its_own_sinks_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The repository's local environment needs no variable set (obsctl supplies OBSCTL_LOCAL_* for
    its own sinks), but a receiver the user adds is refused until its variable is exported."""
    from obsctl.targets.local import LocalTarget
    from tests.conftest import ROOT, make_project

    for var in [v for v in __import__("os").environ if v.startswith("OBSCTL_LOCAL_")] + ["MY_PD_KEY"]:
        monkeypatch.delenv(var, raising=False)
    doc = yaml.safe_load((ROOT / "obsctl.yaml").read_text())
    alerting = doc["environments"]["local"]["alerting"]
    repo = LocalTarget(c.load(str(ROOT / "obsctl.yaml"), "local"))
    refs, own = r.receiver_secrets(repo.alerting), repo.own_secrets()
    assert len(refs) >= 4 and {ref.env_var for ref in refs} <= set(own)
    r.secret_values(refs, own)  # nothing missing on a fresh machine

    alerting["receivers"].append({"name": "mine", "pagerduty": [{"routing_key_env": "MY_PD_KEY"}]})
    alerting["page"].append("mine")
    config = make_project(tmp_path, yaml.safe_dump(doc))
    target = LocalTarget(c.load(str(config), "local"))
    with pytest.raises(PreflightError) as info:
        target.preflight()
    assert "MY_PD_KEY" in info.value.message and "OBSCTL_LOCAL" not in info.value.message
