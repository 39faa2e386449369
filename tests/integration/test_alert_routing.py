"""Alert routing, checked by the real Alertmanager tools on what obsctl renders for every example
environment (issue 7 section 4): Watchdog and InfoInhibitor never reach a team receiver, the
chart's inhibition rules are kept beside obsctl's, and the routing tree is what amtool says.

For the cluster environments, the configuration Alertmanager runs is kube-prometheus-stack's
default `alertmanager.config` deep-merged by helm with obsctl's values (obsctl nulls every default
key it does not set). That merge is done here by the real helm, on a tiny chart whose default
config has the shape of the 88.5.3 chart's (values.yaml `alertmanager.config`, written out below).

This machine's amtool is 0.25, older than the webhook `url_file` field (Alertmanager 0.26) that the
cluster configs use for secrets; for `check-config` only, `url_file` is swapped for a placeholder
`url`. The routing tree and the inhibit rules are checked as rendered.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from obsctl import config
from obsctl import render as r
from obsctl.targets import get_target
from obsctl.tools import binaries
from tests.amtool import check_config, routes

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "obsctl.example.yaml"
# kube-prometheus-stack 88.5.3 values.yaml `alertmanager.config`, the shape helm merges into
KPS_DEFAULT_CONFIG = """
alertmanager:
  config:
    global:
      resolve_timeout: 5m
    inhibit_rules:
      - source_matchers: ['severity = critical']
        target_matchers: ['severity =~ warning|info']
        equal: ['namespace', 'alertname']
      - source_matchers: ['severity = warning']
        target_matchers: ['severity = info']
        equal: ['namespace', 'alertname']
      - source_matchers: ['alertname = InfoInhibitor']
        target_matchers: ['severity = info']
        equal: ['namespace']
      - target_matchers: ['alertname = InfoInhibitor']
    route:
      group_by: ['namespace']
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 12h
      receiver: 'null'
      routes:
      - receiver: 'null'
        matchers: [alertname = "Watchdog"]
    receivers:
    - name: 'null'
    templates:
    - '/etc/alertmanager/config/*.tmpl'
"""


def _environments() -> list[config.Environment]:
    names = yaml.safe_load(EXAMPLE.read_text())["environments"]
    return [config.load(str(EXAMPLE), name) for name in names]


Helm = Callable[..., subprocess.CompletedProcess[str]]


def _merged_by_helm(values_text: str, tmp: Path, helm: Helm) -> dict[str, Any]:
    """The Alertmanager config helm produces from the chart's defaults and obsctl's values."""
    chart = tmp / "kps-shape"
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: kps-shape\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text(KPS_DEFAULT_CONFIG)
    (chart / "templates" / "config.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: am}\ndata:\n"
        "  alertmanager.yaml: {{ toYaml .Values.alertmanager.config | quote }}\n"
    )
    values = tmp / "values.yaml"
    values.write_text(values_text)
    result = helm("template", "x", chart, "-f", values)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(yaml.safe_load(result.stdout)["data"]["alertmanager.yaml"])


def _running_config(env: config.Environment, tmp: Path, helm: Helm | None) -> dict[str, Any]:
    """The Alertmanager configuration the environment runs, as obsctl renders it (no secrets needed)."""
    target: Any = get_target(env)
    if env.target == "local":
        return r.alertmanager_config(target.alerting, f"{target.url('sink')}/", resolve=False)
    kps_values = (
        target._kps_values_text() if env.target == "kubernetes" else target.kubernetes_target()._kps_values_text()
    )
    assert helm is not None
    return _merged_by_helm(kps_values, tmp, helm)


def _for_amtool_025(cfg: dict[str, Any]) -> dict[str, Any]:
    """webhook url_file (Alertmanager >= 0.26) as a placeholder url, for this machine's amtool 0.25."""
    out = json.loads(json.dumps(cfg))
    for rec in out.get("receivers", []):
        for hook in rec.get("webhook_configs", []):
            if "url_file" in hook:
                hook["url"] = "https://obsctl-secret.invalid/" + Path(hook.pop("url_file")).name
    return out


@pytest.fixture(params=[e.name for e in _environments()])
def running(request: pytest.FixtureRequest, tmp_path: Path, helm_run: Helm) -> tuple[str, Path]:
    env = next(e for e in _environments() if e.name == request.param)
    cfg = _running_config(env, tmp_path, helm_run)
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(_for_amtool_025(cfg)))
    return env.name, path


def test_every_environment_has_a_valid_config_that_silences_watchdog(running: tuple[str, Path]) -> None:
    name, path = running
    check_config(path)
    assert routes(path, "alertname=Watchdog", "severity=none") == ["null"], name
    assert routes(path, "alertname=InfoInhibitor", "severity=none") == ["null"], name


def test_routes_of_the_kind_example(tmp_path: Path, helm_run: Helm) -> None:
    env = config.load(str(EXAMPLE), "kind")
    path = tmp_path / "am.yml"
    path.write_text(yaml.safe_dump(_for_amtool_025(_running_config(env, tmp_path, helm_run))))
    assert routes(path, "alertname=FastAPIHighErrorRate", "severity=critical") == ["team-slack", "team-webhook"]
    assert routes(path, "alertname=FastAPIHighLatency", "severity=warning") == ["team-webhook"]
    cfg = yaml.safe_load(path.read_text())
    assert cfg["route"]["group_by"] == ["alertname", "job"]  # obsctl's, not the chart's ['namespace']
    assert "templates" not in cfg and "global" not in cfg  # chart keys obsctl does not set are gone


def test_local_alerts_reach_the_sink(tmp_path: Path) -> None:
    env = config.load(str(REPO / "obsctl.yaml"), "local")
    path = tmp_path / "am.yml"
    path.write_text(yaml.safe_dump(_running_config(env, tmp_path, None)))
    pages = ["local-email", "local-opsgenie", "local-pagerduty", "local-slack", "local-webhook"]
    assert routes(path, "alertname=FastAPIPodDown", "severity=critical") == sorted([*pages, r.SINK_RECEIVER])
    tickets = ["local-email", "local-slack"]
    warning = routes(path, "alertname=FastAPIHighLatency", "severity=warning")
    assert warning == sorted([*tickets, r.SINK_RECEIVER])
    assert routes(path, "alertname=Watchdog", "severity=none") == ["local-heartbeat"]


# --- inhibition, by a real Alertmanager ---------------------------------------------------------------


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    exe = binaries.find("alertmanager")
    if exe is None:
        pytest.skip("alertmanager is not installed (apt-get install prometheus-alertmanager)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    alerting = config.AlertingSettings(group_wait="1s")
    cfg = r.alertmanager_config(alerting, "http://127.0.0.1:9/")
    path = tmp_path / "am.yml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen(
        [
            exe,
            f"--config.file={path}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(5)


def _inhibited(url: str, alerts: list[dict[str, str]]) -> dict[str, list[str]]:
    """Post alerts; alertname/severity/scope/job -> the alerts inhibiting it (empty: it notifies)."""
    import httpx

    httpx.post(f"{url}/api/v2/alerts", json=[{"labels": a} for a in alerts], timeout=5).raise_for_status()
    deadline = time.monotonic() + 10
    while True:
        got = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
        if len(got) == len(alerts) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    time.sleep(0.5)  # inhibition is evaluated on read; let the marker settle
    got = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    return {
        "/".join(a["labels"].get(k, "") for k in ("alertname", "severity", "scope", "job")): a["status"]["inhibitedBy"]
        for a in got
    }


def test_a_page_inhibits_the_warning_of_the_same_alert_and_job(alertmanager: str) -> None:
    got = _inhibited(
        alertmanager,
        [
            {"alertname": "FastAPIPodDown", "severity": "critical", "scope": "all", "job": "fastapi"},
            {"alertname": "FastAPIPodDown", "severity": "warning", "scope": "replica", "job": "fastapi"},
            {"alertname": "FastAPIHighLatency", "severity": "warning", "job": "fastapi"},
            {"alertname": "FastAPIHighLatency", "severity": "warning", "job": "other"},
            {"alertname": "CPUThrottlingHigh", "severity": "info", "namespace": "x", "job": "k"},
        ],
    )
    assert got["FastAPIPodDown/critical/all/fastapi"] == []
    assert got["FastAPIPodDown/warning/replica/fastapi"] != []  # no replica up: per-replica alerts are noise
    assert got["FastAPIHighLatency/warning//fastapi"] != []  # ... and so is latency of the same job
    assert got["FastAPIHighLatency/warning//other"] == []  # another job's latency still notifies
    # an info alert alone is inhibited by InfoInhibitor only when it fires; here it notifies
    assert got["CPUThrottlingHigh/info//k"] == []


def test_critical_inhibits_the_warning_of_its_alert_and_info_waits_for_context(alertmanager: str) -> None:
    got = _inhibited(
        alertmanager,
        [
            {"alertname": "ErrorBudgetBurn", "severity": "critical", "job": "fastapi", "namespace": "apps", "slo": "a"},
            {"alertname": "ErrorBudgetBurn", "severity": "warning", "job": "fastapi", "namespace": "apps", "slo": "a"},
            # the chart's rule (equal namespace, alertname) spares another namespace's (and another SLO's)
            {"alertname": "ErrorBudgetBurn", "severity": "warning", "job": "other", "namespace": "web", "slo": "b"},
            {"alertname": "InfoInhibitor", "severity": "none", "namespace": "apps", "job": "k"},
            {"alertname": "KubeQuotaAlmostFull", "severity": "info", "namespace": "apps", "job": "k"},
        ],
    )
    assert got["ErrorBudgetBurn/critical//fastapi"] == []
    assert got["ErrorBudgetBurn/warning//fastapi"] != []
    assert got["ErrorBudgetBurn/warning//other"] == []
    assert got["KubeQuotaAlmostFull/info//k"] != []  # the chart's InfoInhibitor rule is kept


def test_an_slo_page_inhibits_that_slos_tickets_only(alertmanager: str) -> None:
    """obsctl/slo.py's alerts: the page of an SLO makes its tickets noise, whatever their
    window pair or job; another SLO's ticket still notifies."""
    import httpx

    burn = {"alertname": "ErrorBudgetBurn", "team": "slo-test"}  # apart from other tests' alerts
    _inhibited(
        alertmanager,
        [
            {**burn, "severity": "critical", "slo": "availability", "job": "fastapi", "long_window": "1h"},
            {**burn, "severity": "warning", "slo": "availability", "job": "gateway", "long_window": "3d"},
            # same job, no namespace (as the SLO recordings keep it): still another SLO
            {**burn, "severity": "warning", "slo": "latency", "job": "fastapi", "long_window": "1d"},
        ],
    )
    got = httpx.get(f"{alertmanager}/api/v2/alerts", params={"filter": 'team="slo-test"'}, timeout=5).json()
    by_slo = {a["labels"]["slo"] + "/" + a["labels"]["severity"]: a["status"]["inhibitedBy"] for a in got}
    assert by_slo["availability/critical"] == []
    assert by_slo["availability/warning"] != []
    assert by_slo["latency/warning"] == []
