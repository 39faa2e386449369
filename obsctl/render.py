"""Rendering: jinja2 over the repository's templates, and the observability content loaders.

One source per piece of content (DESIGN.md): alert and recording rules come from `rules/`,
dashboards from `dashboards/`, alert routing from the config. This module loads each once
and shapes it for a target; the targets decide where the result is written.

Files are written only when their content changed, so a second `obsctl up` or `render`
changes nothing, and files that carry secrets are written 0600.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from obsctl.config import AlertingSettings
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
    import yaml

    groups: list[dict[str, Any]] = []
    for path in rule_files(root):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        groups.extend(data.get("groups", []))
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


def rules_yaml(groups: list[dict[str, Any]]) -> str:
    return "# Rendered by obsctl from rules/ -- do not edit.\n" + _yaml_dump({"groups": groups})


# --- dashboards ----------------------------------------------------------------------------


def load_dashboards(root: Path) -> dict[str, str]:
    """dashboards/*.json by file stem, as text (checked to be JSON)."""
    out: dict[str, str] = {}
    for path in sorted((root / "dashboards").glob("*.json")):
        text = path.read_text(encoding="utf-8")
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}", "fix the dashboard file") from None
        out[path.stem] = text
    return out


# --- alert routing -------------------------------------------------------------------------


def _secret(var: str, where: str) -> str:
    value = os.environ.get(var)
    if not value:
        raise PreflightError(
            f"environment variable {var} ({where}) is not set",
            f"export {var}=... before running obsctl; secrets are read from the environment, never obsctl.yaml",
        )
    return value


def alertmanager_config(alerting: AlertingSettings, sink_url: str | None) -> dict[str, Any]:
    """alertmanager.yml content from the config. With `sink_url`, every alert also reaches
    obsctl's webhook sink (first route, `continue: true`), which is how drills observe it."""
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    routes: list[dict[str, Any]] = []
    if sink_url:
        receivers.append({"name": SINK_RECEIVER, "webhook_configs": [{"url": sink_url, "send_resolved": True}]})
        routes.append({"receiver": SINK_RECEIVER, "matchers": [], "continue": True})
    for i, rec in enumerate(alerting.receivers):
        entry: dict[str, Any] = {"name": rec.name}
        hooks = []
        for j, hook in enumerate(rec.webhooks):
            url = hook.url or _secret(hook.url_env or "", f"alerting.receivers[{i}].webhooks[{j}].url_env")
            hooks.append({"url": url, "send_resolved": hook.send_resolved})
        if hooks:
            entry["webhook_configs"] = hooks
        slack = [
            {
                "api_url": _secret(s.api_url_env, f"alerting.receivers[{i}].slack[{j}].api_url_env"),
                "channel": s.channel,
                "send_resolved": s.send_resolved,
            }
            for j, s in enumerate(rec.slack)
        ]
        if slack:
            entry["slack_configs"] = slack
        receivers.append(entry)
    for route in alerting.routes:
        routes.append(
            {"receiver": route.receiver, "matchers": list(route.matchers), "continue": route.continue_matching}
        )
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
        # when every replica is gone, the per-replica FastAPIPodDown alerts are noise
        "inhibit_rules": [
            {
                "source_matchers": ['alertname="FastAPIPodDown"', 'scope="all"'],
                "target_matchers": ['alertname="FastAPIPodDown"', 'scope="replica"'],
                "equal": ["job"],
            }
        ],
    }


def has_secrets(alerting: AlertingSettings) -> bool:
    return any(h.url_env for r in alerting.receivers for h in r.webhooks) or any(r.slack for r in alerting.receivers)


def alertmanager_yaml(config: dict[str, Any]) -> str:
    return "# Rendered by obsctl from obsctl.yaml (alerting) -- do not edit.\n" + _yaml_dump(config)
