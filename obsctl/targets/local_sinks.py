"""`sink: obsctl` on a receiver, resolved by the local target to its own sink for each type.

obsctl's sink (obsctl.runtime.wire) listens on `local.ports.sink` (HTTP: webhook, Slack,
PagerDuty, Opsgenie) and `local.ports.smtp` (SMTP, STARTTLS on a certificate under state_dir),
and accepts only obsctl's own keys. Written out in obsctl.yaml, those places would be copies of
the ports and state_dir that stop matching the moment either changes, and the fire drill would
then skip the receivers instead of failing. So the config names the sink, and this module fills
in, from the environment's own settings, the fields a receiver would otherwise give: where it
delivers (literal URLs and smarthost, not secrets) and the credentials, as the OBSCTL_LOCAL_*
variables the local target supplies (`LocalTarget.own_secrets`; an exported one wins, and the
sink then accepts that value). The result is an ordinary AlertingSettings every other layer
(render, verify) handles as if the user had written it; clusters refuse `sink` in config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsctl.config import AlertingSettings, Receiver

SMTP_USER = "obsctl"  # the user the SMTP sink accepts (with OBSCTL_LOCAL_SMTP_PASSWORD)
# obsctl's own values for these; an exported variable of the same name wins (LocalTarget.own_secrets)
SLACK_URL_ENV = "OBSCTL_LOCAL_SLACK_URL"
PAGERDUTY_KEY_ENV = "OBSCTL_LOCAL_PAGERDUTY_KEY"
OPSGENIE_KEY_ENV = "OBSCTL_LOCAL_OPSGENIE_KEY"
SMTP_PASSWORD_ENV = "OBSCTL_LOCAL_SMTP_PASSWORD"


@dataclass(frozen=True)
class OwnSink:
    """Where this environment's sink answers: its HTTP base URL, SMTP port and CA certificate."""

    http: str  # http://127.0.0.1:<local.ports.sink>
    smtp_port: int
    smtp_cert: Path

    def fields(self, kind: str, rec: Receiver) -> dict[str, Any]:
        """What `sink: obsctl` supplies for one integration of `kind` of receiver `rec`."""
        return {
            "webhooks": {"url": f"{self.http}/webhook/{rec.name}"},
            "slack": {"api_url_env": SLACK_URL_ENV},
            "pagerduty": {"url": f"{self.http}/pagerduty/v2/enqueue", "routing_key_env": PAGERDUTY_KEY_ENV},
            "opsgenie": {"api_url": f"{self.http}/opsgenie/", "api_key_env": OPSGENIE_KEY_ENV},
            "email": {
                "smarthost": f"127.0.0.1:{self.smtp_port}",
                "ca_file": str(self.smtp_cert),
                "auth_username": SMTP_USER,
                "auth_password_env": SMTP_PASSWORD_ENV,
            },
        }[kind]


def resolve(alerting: AlertingSettings, sink: OwnSink) -> AlertingSettings:
    """`alerting` with every `sink: obsctl` receiver pointed at `sink`; other receivers untouched."""
    if not any(rec.sink for rec in alerting.receivers):
        return alerting
    receivers = [_resolved(rec, sink) if rec.sink else rec for rec in alerting.receivers]
    return alerting.model_copy(update={"receivers": receivers})


def _resolved(rec: Receiver, sink: OwnSink) -> Receiver:
    # the config validated that none of these fields was given with `sink`, so nothing is overwritten
    update: dict[str, Any] = {"sink": None}
    for kind in ("webhooks", "slack", "pagerduty", "opsgenie", "email"):
        update[kind] = [item.model_copy(update=sink.fields(kind, rec)) for item in getattr(rec, kind)]
    return rec.model_copy(update=update)
