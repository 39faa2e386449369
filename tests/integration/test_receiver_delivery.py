"""Delivery for every receiver type, end to end: the real Alertmanager (Debian's 0.25) sends, with
the configuration obsctl renders, to obsctl's local sinks (obsctl.runtime.wire, run as its own
process as under supervisord), and each payload arrives in its wire format, page and resolve:
Slack's incoming-webhook JSON, PagerDuty Events v2 (trigger then resolve, one dedup_key),
Opsgenie's Alert API (create, then close by alias), e-mail over SMTP with STARTTLS and AUTH on
the self-signed certificate obsctl makes, and the generic webhook.

The sinks are also shown to refuse what the real services refuse (a wrong routing key or API
key, AUTH before STARTTLS, a wrong password), so a delivery they record is a real one.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from obsctl import config
from obsctl import render as r
from obsctl.tools import binaries, tlscert
from obsctl.verify import receivers as rv
from tests.conftest import free_port_block

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
KEYS = {
    "T_PD_KEY": "0123456789abcdef0123456789abcdef",
    "T_OG_KEY": "og-test-key",
    "T_SMTP_PASSWORD": "smtp-test-password",
}


class Platform:
    def __init__(self, http: int, smtp: int, am: int, cert: Path, key: Path) -> None:
        self.http, self.smtp, self.am, self.cert, self.key = http, smtp, am, cert, key
        self.sink = f"http://127.0.0.1:{http}"

    def alerting(self) -> config.AlertingSettings:
        doc = {
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "receivers": [
                {"name": "hook", "webhooks": [{"url": f"{self.sink}/webhook/hook"}]},
                {"name": "chat", "slack": [{"api_url_env": "T_SLACK_URL", "channel": "#pages"}]},
                {
                    "name": "pd",
                    "pagerduty": [{"routing_key_env": "T_PD_KEY", "url": f"{self.sink}/pagerduty/v2/enqueue"}],
                },
                {"name": "og", "opsgenie": [{"api_key_env": "T_OG_KEY", "api_url": f"{self.sink}/opsgenie/"}]},
                {
                    "name": "mail",
                    "email": [
                        {
                            "to": "oncall@example.invalid",
                            "from": "am@example.invalid",
                            "smarthost": f"127.0.0.1:{self.smtp}",
                            "auth_username": "obsctl",
                            "auth_password_env": "T_SMTP_PASSWORD",
                            "ca_file": str(self.cert),
                        }
                    ],
                },
            ],
            "page": ["hook", "chat", "pd", "og", "mail"],
        }
        return config.AlertingSettings.model_validate(doc)

    def provided(self) -> dict[str, str]:
        return {**KEYS, "T_SLACK_URL": f"{self.sink}/slack/services/T/B/x"}


def _wait(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    exe = binaries.find("alertmanager")
    if exe is None:
        pytest.skip("alertmanager is not installed (apt-get install prometheus-alertmanager; make test does)")
    base = free_port_block(3, start=23100)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    tlscert.ensure_self_signed(cert, key)
    p = Platform(base, base + 1, base + 2, cert, key)
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "OBSCTL_WIRE_PAGERDUTY_KEYS": KEYS["T_PD_KEY"],
        "OBSCTL_WIRE_OPSGENIE_KEYS": KEYS["T_OG_KEY"],
        "OBSCTL_WIRE_SMTP_USERS": f"obsctl:{KEYS['T_SMTP_PASSWORD']}",
    }
    sink = subprocess.Popen(
        [sys.executable, "-m", "obsctl.runtime.wire", "--port", str(p.http), "--record", str(tmp_path / "n.jsonl")]
        + ["--smtp-port", str(p.smtp), "--tls-cert", str(cert), "--tls-key", str(key)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    am_config = tmp_path / "am.yml"
    am_config.write_text(r.alertmanager_yaml(r.alertmanager_config(p.alerting(), None, provided=p.provided())))
    am = subprocess.Popen(
        [exe, f"--config.file={am_config}", f"--storage.path={tmp_path / 'am'}"]
        + [f"--web.listen-address=127.0.0.1:{p.am}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"{p.sink}/healthz")
        _wait(f"http://127.0.0.1:{p.am}/-/ready")
        yield p
    finally:
        for proc in (am, sink):
            proc.terminate()
            proc.wait(10)


def _post_alert(p: Platform, ends: datetime | None) -> None:
    now = datetime.now(UTC)
    alert: dict[str, Any] = {
        "labels": {"alertname": "DeliveryDrill", "severity": "critical", "job": "fastapi"},
        "annotations": {"summary": "a page for every receiver"},
        "startsAt": (now - timedelta(seconds=30)).isoformat(),
    }
    if ends:
        alert["endsAt"] = ends.isoformat()
    httpx.post(f"http://127.0.0.1:{p.am}/api/v2/alerts", json=[alert], timeout=5).raise_for_status()


def _records(p: Platform) -> list[dict[str, Any]]:
    return httpx.get(f"{p.sink}/notifications", timeout=5).json()  # type: ignore[no-any-return]


def _until(p: Platform, ok: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        got = _records(p)
        if ok(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.25)


def _kinds(records: list[dict[str, Any]], status: str) -> set[str]:
    return {n["kind"] for n in records if n["status"] == status}


def test_alertmanager_pages_and_resolves_every_receiver_type_in_its_wire_format(platform: Platform) -> None:
    p = platform
    every = {"webhook", "slack", "pagerduty", "opsgenie", "email"}
    _post_alert(p, None)
    got = _until(p, lambda rs: _kinds(rs, "firing") >= every)
    assert _kinds(got, "firing") >= every, got
    _post_alert(p, datetime.now(UTC) - timedelta(seconds=1))
    got = _until(p, lambda rs: _kinds(rs, "resolved") >= every)
    assert _kinds(got, "resolved") >= every, got

    def one(kind: str, status: str) -> dict[str, Any]:
        return next(n for n in got if n["kind"] == kind and n["status"] == status)

    hook = one("webhook", "firing")
    assert (
        hook["payload"]["receiver"] == "hook" and hook["payload"]["alerts"][0]["labels"]["alertname"] == "DeliveryDrill"
    )
    assert one("webhook", "resolved")["payload"]["status"] == "resolved"

    slack = one("slack", "firing")["payload"]
    assert slack["channel"] == "#pages" and slack["attachments"][0]["title"].startswith("[FIRING:1] DeliveryDrill")
    assert one("slack", "resolved")["payload"]["attachments"][0]["title"].startswith("[RESOLVED] DeliveryDrill")

    trigger, resolve = one("pagerduty", "firing")["payload"], one("pagerduty", "resolved")["payload"]
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"]  # the resolve closes the incident the page opened
    assert trigger["payload"]["summary"].startswith("[FIRING:1] DeliveryDrill")
    assert "routing_key" not in trigger  # a secret: never recorded

    create, close = one("opsgenie", "firing"), one("opsgenie", "resolved")
    assert create["payload"]["message"].startswith("[FIRING:1] DeliveryDrill")
    assert close["path"] == f"/opsgenie/v2/alerts/{create['payload']['alias']}/close"

    page, fixed = one("email", "firing")["payload"], one("email", "resolved")["payload"]
    assert page["tls"] is True and page["auth_user"] == "obsctl"  # STARTTLS, then AUTH, then the mail
    assert page["to"] == ["oncall@example.invalid"] and page["subject"].startswith("[FIRING:1] DeliveryDrill")
    assert fixed["subject"].startswith("[RESOLVED] DeliveryDrill")

    # and the drill's own judgement agrees, receiver by receiver
    secret = p.provided().__getitem__
    for rec in p.alerting().receivers:
        wanted = rv.expectations(rec, secret, p.sink, p.smtp)
        assert wanted, rec.name
        for kind, belongs in wanted:
            assert rv.delivered(got, belongs, "DeliveryDrill") == "", (rec.name, kind)
    assert KEYS["T_PD_KEY"] not in json.dumps(got) and KEYS["T_OG_KEY"] not in json.dumps(got)


def test_the_sinks_refuse_what_the_real_services_refuse(platform: Platform) -> None:
    p = platform
    bad_key = {"routing_key": "not-the-key", "event_action": "trigger", "payload": {"summary": "x", "source": "y"}}
    answer = httpx.post(f"{p.sink}/pagerduty/v2/enqueue", json=bad_key, timeout=5)
    assert answer.status_code == 400
    assert "Invalid routing key" in answer.json()["errors"]
    assert any("severity" in e for e in answer.json()["errors"])
    no_dedup = {"routing_key": KEYS["T_PD_KEY"], "event_action": "resolve"}
    assert httpx.post(f"{p.sink}/pagerduty/v2/enqueue", json=no_dedup, timeout=5).status_code == 400
    og = httpx.post(f"{p.sink}/opsgenie/v2/alerts", json={"message": "m"}, headers={"Authorization": "GenieKey no"})
    assert og.status_code == 401
    assert httpx.post(f"{p.sink}/slack/services/x", json={"channel": "#a"}, timeout=5).status_code == 400
    assert _records(p) == []  # nothing refused was recorded

    with smtplib.SMTP("127.0.0.1", p.smtp, timeout=10) as smtp:
        smtp.ehlo()
        with pytest.raises(smtplib.SMTPException):  # no AUTH before STARTTLS
            smtp.login("obsctl", KEYS["T_SMTP_PASSWORD"])
        smtp.starttls(context=ssl.create_default_context(cafile=str(p.cert)))  # the cert names 127.0.0.1
        smtp.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("obsctl", "wrong")
        with pytest.raises(smtplib.SMTPSenderRefused):  # no mail without AUTH
            smtp.sendmail("a@example.invalid", ["b@example.invalid"], "Subject: x\r\n\r\nbody")
    assert _records(p) == []


def test_the_drill_judgement_fails_without_the_resolve() -> None:
    page = {"kind": "pagerduty", "status": "firing", "summary": "[FIRING:1] X", "key": "k1", "target": "0123…"}
    rec = config.Receiver.model_validate(
        {"name": "pd", "pagerduty": [{"routing_key_env": "K", "url": "http://127.0.0.1:1/pagerduty/v2/enqueue"}]}
    )
    wanted = rv.expectations(rec, lambda _: "0123456789", "http://127.0.0.1:1", 2)
    assert wanted is not None
    (_, belongs) = wanted[0]
    assert rv.delivered([], belongs, "X") == "no page"
    assert rv.delivered([{**page, "payload": {}}], belongs, "X") == "page arrived, no resolve"
    other = {**page, "status": "resolved", "key": "k2", "summary": "", "payload": {}}
    assert rv.delivered([{**page, "payload": {}}, other], belongs, "X") == "page arrived, no resolve"
    mine = {**other, "key": "k1"}
    assert rv.delivered([{**page, "payload": {}}, mine], belongs, "X") == ""
    # a receiver that points elsewhere cannot be judged here
    assert rv.expectations(rec, lambda _: "0123", "http://127.0.0.1:9", 2) is None


def test_yaml_of_every_type_is_accepted_by_amtool(platform: Platform, tmp_path: Path) -> None:
    """The rendered config (placeholders, as `render` writes it) is valid for Alertmanager 0.25."""
    amtool = binaries.find("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed")
    path = tmp_path / "review.yml"
    path.write_text(yaml.safe_dump(r.alertmanager_config(platform.alerting(), None, resolve=False)))
    check = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
