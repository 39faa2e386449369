"""Rendering: jinja2 over the repository's templates, and the observability content loaders.

One source per piece of content: alert and recording rules come from `rules/`,
dashboards from `dashboards/`, alert routing from the config. This module loads each once
and shapes it for a target; the targets decide where the result is written.

Files are written only when their content changed, so a second `obsctl up` or `render`
changes nothing, and files that carry secrets are written 0600.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsctl import inputs
from obsctl.config import AlertingSettings, EksEnv, HeartbeatSettings, KubernetesEnv, LocalEnv, Receiver
from obsctl.errors import ConfigError, PreflightError

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
SINK_RECEIVER = "obsctl-sink"


def _yaml_dump(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)


def render_template(search_path: Path, name: str, context: dict[str, Any], trim: bool = True) -> str:
    """Render one jinja2 template; an undefined variable is an error, never an empty string.

    `trim` turns on trim_blocks/lstrip_blocks (obsctl's own templates are written for it);
    helm-values/*.j2 use jinja's default whitespace and strip with `{%-` where they mean to."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(search_path)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=trim,
        lstrip_blocks=trim,
        autoescape=False,  # noqa: S701 - YAML/INI/HCL output, not HTML
    )
    env.filters["to_yaml"] = _yaml_dump
    env.filters["to_json"] = lambda v: json.dumps(v)
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateError as exc:
        raise ConfigError(f"template {search_path / name}: {exc}", "fix the template or the config it reads") from None


def write_if_changed(path: Path, text: str, secret: bool = False) -> bool:
    """Write `text` to `path` unless it already holds it; True when the file changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o600 if secret else 0o644
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        if (path.stat().st_mode & 0o777) != mode:
            path.chmod(mode)
        return False
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    tmp.replace(path)
    return True


def digest(*texts: str) -> str:
    """A short, stable hash of some inputs (used to restart only what changed)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def tree_digest(folder: Path) -> str:
    """A short, stable hash of every file under a folder (names and contents): a chart whose
    templates changed has a new digest even when its version did not move."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


# --- rules ---------------------------------------------------------------------------------


def rule_files(root: Path) -> list[Path]:
    """The rule files under rules/ (not their promtool tests)."""
    files = sorted(p for p in (root / "rules").glob("*.y*ml") if p.is_file())
    if not files:
        raise PreflightError(
            f"no rule files in {root / 'rules'}",
            "run obsctl from a complete checkout, or set project_root in obsctl.yaml (relative to that file)",
        )
    return files


def load_rule_groups(root: Path) -> list[dict[str, Any]]:
    """Every rule group from rules/, in file order."""
    groups: list[dict[str, Any]] = []
    for path in rule_files(root):
        groups.extend(_rule_file_groups(path))
    return groups


def _rule_file_groups(path: Path) -> list[dict[str, Any]]:
    """One rule file's groups; malformed YAML or the wrong shape is `file:line: problem` (exit 2)."""
    hint = f"fix the rule file; `promtool check rules {path}` lists every problem"
    data = inputs.load_yaml(inputs.read_text(path, "rule file"), str(path), hint) or {}
    groups = data.get("groups", []) if isinstance(data, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise ConfigError(f"{path}: expected a mapping with a 'groups:' list of rule groups", hint)
    return groups


def alert_names(groups: list[dict[str, Any]]) -> set[str]:
    return {rule["alert"] for g in groups for rule in g.get("rules", []) if "alert" in rule}


def with_for_overrides(groups: list[dict[str, Any]], overrides: dict[str, str]) -> list[dict[str, Any]]:
    """The groups with `for:` replaced per alert name (the only thing a profile may shorten)."""
    unknown = set(overrides) - alert_names(groups)
    if unknown:
        raise ConfigError(
            f"alerting.for_overrides names unknown alert(s): {', '.join(sorted(unknown))}",
            f"known alerts: {', '.join(sorted(alert_names(groups)))}",
        )
    out = []
    for group in groups:
        rules = []
        for rule in group.get("rules", []):
            rule = dict(rule)
            if rule.get("alert") in overrides:
                rule["for"] = overrides[rule["alert"]]
            rules.append(rule)
        out.append({**group, "rules": rules})
    return out


def rule_groups(root: Path, spec: LocalEnv | KubernetesEnv | EksEnv) -> list[dict[str, Any]]:
    """Everything Prometheus evaluates for an environment, as both targets load it: the groups
    of rules/, then the environment's SLO groups (obsctl/slo.py), with the profile's `for:`."""
    from obsctl import slo

    return with_for_overrides(
        load_rule_groups(root) + slo.rule_groups(spec.slos, spec.scrape.evaluation_interval),
        spec.alerting.for_overrides,
    )


def rules_yaml(groups: list[dict[str, Any]]) -> str:
    return "# Rendered by obsctl from rules/ -- do not edit.\n" + _yaml_dump({"groups": groups})


# --- dashboards ----------------------------------------------------------------------------


def load_dashboards(root: Path) -> dict[str, str]:
    """dashboards/*.json by file stem, as text (checked to be JSON)."""
    out: dict[str, str] = {}
    for path in sorted((root / "dashboards").glob("*.json")):
        text = inputs.read_text(path, "dashboard")
        if not isinstance(inputs.load_json(text, str(path), "fix the dashboard file"), dict):
            raise ConfigError(f"{path}: expected a JSON object (a Grafana dashboard)", "fix the dashboard file")
        out[path.stem] = text
    return out


# --- alert routing -------------------------------------------------------------------------

# Where kube-prometheus-stack's Alertmanager finds Secrets listed in alertmanagerSpec.secrets:
# the operator mounts each one at /etc/alertmanager/secrets/<secret name>/<key>.
CLUSTER_SECRETS_DIR = "/etc/alertmanager/secrets"
# Alerts that exist to be silent (kube-prometheus-stack's defaultRules): Watchdog always fires
# (a dead man's switch for a heartbeat receiver), InfoInhibitor only inhibits info alerts.
NULL_ROUTED = ("Watchdog", "InfoInhibitor")
# kube-prometheus-stack 88.5.3's own inhibit_rules (values.yaml alertmanager.config), kept
# because obsctl replaces the chart's config: info alerts are context for a warning or
# critical alert of the same namespace, never a notification of their own. One change: SLO
# alerts (ErrorBudgetBurn) are left to obsctl's rule with equal [slo] below; they carry no
# namespace, so the chart's rule would let one SLO's page silence every other SLO's ticket.
CHART_INHIBIT_RULES: list[dict[str, Any]] = [
    {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity=~"warning|info"', 'alertname!="ErrorBudgetBurn"'],
        "equal": ["namespace", "alertname"],
    },
    {
        "source_matchers": ['severity="warning"'],
        "target_matchers": ['severity="info"'],
        "equal": ["namespace", "alertname"],
    },
    {"source_matchers": ['alertname="InfoInhibitor"'], "target_matchers": ['severity="info"'], "equal": ["namespace"]},
    {"target_matchers": ['alertname="InfoInhibitor"']},
]
# obsctl's own: they hold where there is no namespace label (the local target) too.
OBSCTL_INHIBIT_RULES: list[dict[str, Any]] = [
    # a critical alert makes the warning of the same alert and job noise (SLOs: next to last rule)
    {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="warning"', 'alertname!="ErrorBudgetBurn"'],
        "equal": ["alertname", "job"],
    },
    # when no replica is up, per-replica down alerts and latency alerts say nothing new
    {
        "source_matchers": ['alertname="FastAPIPodDown"', 'scope="all"'],
        "target_matchers": ['alertname="FastAPIPodDown"', 'scope="replica"'],
        "equal": ["job"],
    },
    {
        "source_matchers": ['alertname="FastAPIPodDown"', 'scope="all"'],
        "target_matchers": ['alertname="FastAPIHighLatency"'],
        "equal": ["job"],
    },
    # an SLO's page makes its ticket noise (obsctl/slo.py ErrorBudgetBurn)
    {
        "source_matchers": ['alertname="ErrorBudgetBurn"', 'severity="critical"'],
        "target_matchers": ['alertname="ErrorBudgetBurn"', 'severity="warning"'],
        "equal": ["slo"],
    },
]


@dataclass(frozen=True)
class SecretRef:
    """A receiver secret: the environment variable it is read from at `up`, where the config
    names it, and the key it is stored under (a file name, and a key of the cluster Secret)."""

    env_var: str
    where: str
    key: str

    def value(self, provided: Mapping[str, str] | None = None) -> str:
        """The secret from the environment; else from `provided` (values the local target supplies
        for its own sinks), so a variable the user sets always wins."""
        value = os.environ.get(self.env_var) or (provided or {}).get(self.env_var)
        if not value:
            raise PreflightError(
                f"environment variable {self.env_var} ({self.where}) is not set",
                f"export {self.env_var}=... before `obsctl up`; secrets are read from the environment, never"
                " obsctl.yaml (`obsctl render` works without them)",
            )
        return value

    def note(self, goes_to: str, provided: Mapping[str, str] | None = None) -> str:
        """For a review render: where the secret comes from at `up`, whether it is set now, and
        where it goes (never its value)."""
        state = "set" if os.environ.get(self.env_var) else "not set: `up` refuses until it is"
        if not os.environ.get(self.env_var) and self.env_var in (provided or {}):
            state = "not set: obsctl supplies it for its own local sink"
        return f"{self.where}: ${self.env_var} ({state}) -> {goes_to}"

    def placeholder(self) -> str:
        """What a review render shows instead of the value (.invalid never resolves, RFC 2606)."""
        return f"https://obsctl-secret.invalid/from-env/{self.env_var}"


# Per receiver type: (its list on a Receiver, the field naming its secret's variable, the kind and
# name of the secret in its key), in the order the secrets are listed.
_SECRET_FIELDS = (
    ("webhooks", "url_env", "webhook", "url"),
    ("slack", "api_url_env", "slack", "api-url"),
    ("pagerduty", "routing_key_env", "pagerduty", "routing-key"),
    ("email", "auth_password_env", "email", "auth-password"),
    ("opsgenie", "api_key_env", "opsgenie", "api-key"),
)


def receiver_secrets(alerting: AlertingSettings) -> list[SecretRef]:
    """Every secret the receivers need, in config order. An integration without its variable
    set has none (a plain webhook url, or `sink: obsctl` before the local target resolves it)."""
    refs: list[SecretRef] = []
    for i, rec in enumerate(alerting.receivers):
        for field, env_field, kind, name in _SECRET_FIELDS:
            for j, integration in enumerate(getattr(rec, field)):
                if var := getattr(integration, env_field):
                    where = f"alerting.receivers[{i}].{field}[{j}].{env_field}"
                    refs.append(SecretRef(var, where, f"{rec.name}.{kind}-{j}.{name}"))
    return refs


def secret_values(refs: list[SecretRef], provided: Mapping[str, str] | None = None) -> dict[str, str]:
    """key -> value for every ref; one PreflightError naming every variable that is not set."""
    missing = [ref for ref in refs if not (os.environ.get(ref.env_var) or (provided or {}).get(ref.env_var))]
    if missing:
        names = ", ".join(dict.fromkeys(ref.env_var for ref in missing))
        raise PreflightError(
            f"environment variable(s) {names} ({', '.join(ref.where for ref in missing)}) not set",
            f"export {names.replace(', ', '=... ')}=... before `obsctl up`; secrets are read from the environment,"
            " never obsctl.yaml (`obsctl render` works without them)",
        )
    return {ref.key: ref.value(provided) for ref in refs}


def alertmanager_config(
    alerting: AlertingSettings,
    sink_url: str | None,
    secrets_dir: str | None = None,
    resolve: bool = True,
    provided: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> dict[str, Any]:
    """alertmanager.yml content from the config.

    Secrets: with `secrets_dir` (clusters), receivers name files in that folder (`url_file`,
    `api_url_file`) and no value is read; without it (local), values are read from the
    environment when `resolve`, else replaced by placeholders (a review render).

    Routing: Watchdog and InfoInhibitor go to the `null` receiver before anything else, so no
    team receiver gets them; with `sink_url`, every other alert also reaches obsctl's webhook
    sink (`continue: true`), which is how drills observe it. Then the explicit `routes`, then
    the team and severity routes (receivers.severity_routes). Watchdog goes to the heartbeat
    receiver when one is configured (a dead man's switch), else to `null`.

    `provided`: secret values the local target supplies for its own sinks (the environment
    wins); `base_dir`: where a relative e-mail `ca_file` is found (local only). A receiver with
    `sink: obsctl` must have been resolved by the local target (targets/local_sinks.py) first."""
    for i, rec in enumerate(alerting.receivers):
        if rec.sink:
            raise ConfigError(
                f"alerting.receivers[{i}].sink: obsctl's own sink exists only on the local target",
                f"point {rec.name} at its service instead (url_env, routing_key_env, smarthost ...)",
            )
    refs = {ref.where: ref for ref in receiver_secrets(alerting)}

    def secret(where: str, field: str) -> dict[str, str]:
        ref = refs[where]
        if secrets_dir:
            return {f"{field}_file": f"{secrets_dir}/{ref.key}"}
        return {field: ref.value(provided) if resolve else ref.placeholder()}

    receivers: list[dict[str, Any]] = [{"name": "null"}]
    routes: list[dict[str, Any]] = [
        {"receiver": "null", "matchers": [f'alertname="{name}"'], "continue": False} for name in NULL_ROUTED
    ]
    if alerting.heartbeat:
        routes[0] = heartbeat_route(alerting.heartbeat)
    if sink_url:
        receivers.append({"name": SINK_RECEIVER, "webhook_configs": [{"url": sink_url, "send_resolved": True}]})
        routes.append({"receiver": SINK_RECEIVER, "matchers": [], "continue": True})
    for i, rec in enumerate(alerting.receivers):
        entry: dict[str, Any] = {"name": rec.name}
        hooks = []
        for j, hook in enumerate(rec.webhooks):
            url = {"url": hook.url} if hook.url else secret(f"alerting.receivers[{i}].webhooks[{j}].url_env", "url")
            hooks.append({**url, "send_resolved": hook.send_resolved})
        if hooks:
            entry["webhook_configs"] = hooks
        slack = [
            {
                **secret(f"alerting.receivers[{i}].slack[{j}].api_url_env", "api_url"),
                "channel": s.channel,
                "send_resolved": s.send_resolved,
            }
            for j, s in enumerate(rec.slack)
        ]
        if slack:
            entry["slack_configs"] = slack
        entry.update(more_integrations(i, rec, secret, secrets_dir, base_dir))
        receivers.append(entry)
    for route in alerting.routes:
        routes.append(
            {"receiver": route.receiver, "matchers": list(route.matchers), "continue": route.continue_matching}
        )
    routes.extend(severity_routes(alerting))
    default = alerting.receivers[0].name if alerting.receivers else (SINK_RECEIVER if sink_url else "null")
    return {
        "route": {
            "receiver": default,
            "group_by": list(alerting.group_by),
            "group_wait": alerting.group_wait,
            "group_interval": alerting.group_interval,
            "repeat_interval": alerting.repeat_interval,
            "routes": routes,
        },
        "receivers": receivers,
        "inhibit_rules": [*CHART_INHIBIT_RULES, *OBSCTL_INHIBIT_RULES],
    }


def has_secrets(alerting: AlertingSettings) -> bool:
    return bool(receiver_secrets(alerting))


def alertmanager_yaml(config: dict[str, Any]) -> str:
    return "# Rendered by obsctl from obsctl.yaml (alerting) -- do not edit.\n" + _yaml_dump(config)


# --- receivers beyond webhook and Slack, and routing by severity and team ------------------------


def more_integrations(
    i: int,
    rec: Receiver,
    secret: Callable[[str, str], dict[str, str]],
    secrets_dir: str | None,
    base_dir: Path | None,
) -> dict[str, Any]:
    """PagerDuty (Events v2), e-mail (STARTTLS required) and Opsgenie configs of one receiver.
    Every secret goes through `secret` (a file in the cluster Secret, or the value locally)."""
    out: dict[str, Any] = {}
    where = f"alerting.receivers[{i}]"
    pagerduty = []
    for j, pd in enumerate(rec.pagerduty):
        entry: dict[str, Any] = {**secret(f"{where}.pagerduty[{j}].routing_key_env", "routing_key")}
        if pd.url:
            entry["url"] = pd.url
        if pd.severity:
            entry["severity"] = pd.severity
        pagerduty.append({**entry, "send_resolved": pd.send_resolved})
    if pagerduty:
        out["pagerduty_configs"] = pagerduty
    email = []
    for j, mail in enumerate(rec.email):
        entry = {"to": mail.to, "from": mail.sender, "smarthost": mail.smarthost, "require_tls": True}
        if mail.auth_username:
            entry["auth_username"] = mail.auth_username
            entry.update(secret(f"{where}.email[{j}].auth_password_env", "auth_password"))
        if mail.ca_file:
            if secrets_dir:
                raise ConfigError(
                    f"{where}.email[{j}].ca_file: a local file is not in the cluster's Alertmanager Pod",
                    "use ca_file on the local target only; on clusters use a server whose certificate is publicly"
                    " trusted",
                )
            ca = Path(mail.ca_file)
            entry["tls_config"] = {"ca_file": str(ca if ca.is_absolute() else (base_dir or Path.cwd()) / ca)}
        elif mail.insecure_skip_verify:
            entry["tls_config"] = {"insecure_skip_verify": True}
        email.append({**entry, "send_resolved": mail.send_resolved})
    if email:
        out["email_configs"] = email
    opsgenie = []
    for j, og in enumerate(rec.opsgenie):
        entry = {**secret(f"{where}.opsgenie[{j}].api_key_env", "api_key")}
        if og.api_url:
            entry["api_url"] = og.api_url if og.api_url.endswith("/") else og.api_url + "/"
        if og.priority:
            entry["priority"] = og.priority
        opsgenie.append({**entry, "send_resolved": og.send_resolved})
    if opsgenie:
        out["opsgenie_configs"] = opsgenie
    return out


def heartbeat_route(heartbeat: HeartbeatSettings) -> dict[str, Any]:
    """Watchdog always fires: its receiver hears it every `repeat_interval`, and whatever watches
    that receiver (a dead man's switch service) raises the alarm when it stops."""
    return {
        "receiver": heartbeat.receiver,
        "matchers": ['alertname="Watchdog"'],
        "group_by": ["alertname"],
        "group_wait": "0s",
        "group_interval": heartbeat.repeat_interval,
        "repeat_interval": heartbeat.repeat_interval,
        "continue": False,
    }


SEVERITY_OF = {"page": "critical", "ticket": "warning"}


def severity_routes(alerting: AlertingSettings) -> list[dict[str, Any]]:
    """critical -> the `page` receivers, warning -> the `ticket` receivers; a team with receivers
    of its own gets its alerts (label team=<name>) there instead. One route per receiver, each
    with `continue: true`, so every listed receiver is notified; an alert no route takes goes
    to the root's default receiver."""
    routes: list[dict[str, Any]] = []
    for team, own in alerting.teams.items():
        children = [
            {"receiver": name, "matchers": [f'severity="{severity}"'], "continue": True}
            for kind, severity in SEVERITY_OF.items()
            for name in (getattr(own, kind) or getattr(alerting, kind))
        ]
        if children:
            routes.append({"receiver": _default_receiver(alerting), "matchers": [f'team="{team}"'], "routes": children})
    for kind, severity in SEVERITY_OF.items():
        routes.extend(
            {"receiver": name, "matchers": [f'severity="{severity}"'], "continue": True}
            for name in getattr(alerting, kind)
        )
    return routes


def _default_receiver(alerting: AlertingSettings) -> str:
    return alerting.receivers[0].name if alerting.receivers else "null"
