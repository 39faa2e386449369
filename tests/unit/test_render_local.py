"""Rendering for the local target: what `obsctl render` writes, and that it is stable."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from obsctl import config as c
from obsctl import render as r
from obsctl import slo
from obsctl.errors import ConfigError, PreflightError
from obsctl.targets.local import LocalTarget
from tests.conftest import local_config, make_project


@pytest.fixture
def target(tmp_path: Path) -> LocalTarget:
    path = make_project(tmp_path, local_config(25000))
    return LocalTarget(c.load(str(path)))


def test_render_writes_everything_and_is_idempotent(target: LocalTarget) -> None:
    first = target.render()
    names = {p.relative_to(target.rendered).as_posix() for p in first.files}
    assert {
        "prometheus.yml",
        "alertmanager.yml",
        "supervisord.conf",
        "rules/fastapi.rules.yaml",
        "grafana/grafana.ini",
        "grafana/provisioning/datasources/obsctl.yaml",
        "grafana/provisioning/dashboards/obsctl.yaml",
        "grafana/dashboards/fastapi-golden-signals.json",
    } <= names
    assert first.changed == first.files
    second = target.render()
    assert second.changed == [], "a second render changed files"
    assert not list(target.state.glob("run")), "render started something"


def test_prometheus_config_scrapes_every_replica_as_job_fastapi(target: LocalTarget) -> None:
    target.render()
    prom = yaml.safe_load((target.rendered / "prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "fastapi")
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:25000", "127.0.0.1:25001"]
    assert prom["global"]["scrape_interval"] == "1s"
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:25011"]


def test_local_rules_change_only_for_durations(target: LocalTarget, repo_root: Path) -> None:
    target.render()
    source = r.load_rule_groups(repo_root)
    local = yaml.safe_load((target.rendered / "rules/fastapi.rules.yaml").read_text())["groups"]
    # then the SLO groups obsctl generates (tests/unit/test_slo_config.py), nothing else
    assert [g["name"] for g in local[len(source) :]] == slo.group_names(target.spec.slos)
    for g_src, g_loc in zip(source, local[: len(source)], strict=True):
        for a, b in zip(g_src["rules"], g_loc["rules"], strict=True):
            assert a["expr"] == b["expr"] and a.get("labels") == b.get("labels")
            if "alert" in a:
                assert b["for"] in ("4s", "5s", "10s")


def test_unknown_alert_in_for_overrides_is_a_config_error(repo_root: Path) -> None:
    with pytest.raises(ConfigError, match="unknown alert"):
        r.with_for_overrides(r.load_rule_groups(repo_root), {"NoSuchAlert": "5s"})


def test_alertmanager_routes_to_sink_first_and_inhibits_replica_noise() -> None:
    alerting = c.AlertingSettings(
        receivers=[c.Receiver(name="team", webhooks=[c.WebhookReceiver(url="https://example.invalid/hook")])],
        routes=[c.Route(receiver="team", matchers=['severity="critical"'])],
    )
    cfg = r.alertmanager_config(alerting, "http://127.0.0.1:1/")
    # Watchdog and InfoInhibitor go nowhere, before anything else (issue 7 section 4)
    assert cfg["route"]["routes"][:2] == [
        {"receiver": "null", "matchers": ['alertname="Watchdog"'], "continue": False},
        {"receiver": "null", "matchers": ['alertname="InfoInhibitor"'], "continue": False},
    ]
    assert cfg["route"]["routes"][2] == {"receiver": r.SINK_RECEIVER, "matchers": [], "continue": True}
    assert cfg["route"]["routes"][3]["receiver"] == "team"
    assert cfg["route"]["receiver"] == "team"
    assert r.CHART_INHIBIT_RULES[0] in cfg["inhibit_rules"]
    assert {
        "source_matchers": ['alertname="FastAPIPodDown"', 'scope="all"'],
        "target_matchers": ['alertname="FastAPIPodDown"', 'scope="replica"'],
        "equal": ["job"],
    } in cfg["inhibit_rules"]


def test_secret_receivers_read_env_and_render_0600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alerting = c.AlertingSettings(receivers=[c.Receiver(name="team", webhooks=[c.WebhookReceiver(url_env="HOOK")])])
    monkeypatch.delenv("HOOK", raising=False)
    with pytest.raises(PreflightError, match="HOOK"):
        r.alertmanager_config(alerting, None)
    # a review render needs no secret: a placeholder that can never resolve (RFC 2606 .invalid)
    review = r.alertmanager_config(alerting, None, resolve=False)
    assert review["receivers"][1]["webhook_configs"][0]["url"] == "https://obsctl-secret.invalid/from-env/HOOK"
    monkeypatch.setenv("HOOK", "https://secret.invalid/abc")
    text = r.alertmanager_yaml(r.alertmanager_config(alerting, None))
    path = tmp_path / "am.yml"
    r.write_if_changed(path, text, secret=r.has_secrets(alerting))
    assert path.stat().st_mode & 0o777 == 0o600


def test_supervisor_programs_carry_the_marker_and_escape_percent(target: LocalTarget) -> None:
    target.render()
    conf = (target.rendered / "supervisord.conf").read_text()
    assert conf.count(f'OBSCTL_STATE_DIR="{target.state}"') >= 6
    assert "[group:app]\nprograms = app-0,app-1" in conf
    assert "stopasgroup = true" in conf and "killasgroup = true" in conf


def test_every_rendered_file_holding_a_key_or_password_is_0600(
    target: LocalTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """supervisord.conf carries the keys the sink accepts (OBSCTL_WIRE_*) even without Grafana:
    it is 0600 whatever is installed, and so is any other rendered file holding a secret value."""
    monkeypatch.setattr(LocalTarget, "grafana_binary", lambda self: None)
    target.render()
    conf = target.rendered / "supervisord.conf"
    assert "OBSCTL_WIRE_PAGERDUTY_KEYS" in conf.read_text()
    assert conf.stat().st_mode & 0o777 == 0o600
    values = [v for k, v in target.own_secrets().items() if k.endswith(("_KEY", "_PASSWORD"))]
    assert len(values) == 3
    holding = [p for p in target.rendered.rglob("*") if p.is_file() and any(v in p.read_text() for v in values)]
    assert conf in holding
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in holding} == {p.name: "0o600" for p in holding}
