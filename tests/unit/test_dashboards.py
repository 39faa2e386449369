"""The Grafana dashboards in dashboards/: well-formed, stable identities, one datasource
variable used everywhere, and PromQL that obsctl can run directly against Prometheus.

obsctl verifies every panel query against Prometheus itself (no Grafana in between), so an
expression may use only `$__rate_interval` (replaced with a concrete window) and template
variables the dashboard defines with a default obsctl can substitute (obsctl.verify.dashboards).
A target marked cluster-only (`"obsctlScope": "cluster"`) may use kube-state-metrics' metrics,
and only those; no other target may.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from obsctl.verify import dashboards as dash

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_FILES = sorted((REPO / "dashboards").glob("*.json"))
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
BUILTIN_VARIABLES = {"__rate_interval"}
# Other code and docs link to these; changing one breaks bookmarks and provisioning.
STABLE_UIDS = {
    "fastapi-golden-signals.json": "obsctl-fastapi-golden",
    "fastapi-alerts.json": "obsctl-fastapi-alerts",
    "slo-error-budgets.json": "obsctl-slo-error-budgets",
}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def panels(dashboard: dict) -> Iterator[dict]:
    """Every panel, including those nested in collapsed rows; rows themselves excluded."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def exprs(dashboard: dict) -> Iterator[tuple[dict, dict]]:
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target


@pytest.fixture(params=DASHBOARD_FILES, ids=lambda p: p.name)
def dashboard_file(request: pytest.FixtureRequest) -> Path:
    return request.param


def test_there_are_dashboards() -> None:
    assert DASHBOARD_FILES
    assert "fastapi-golden-signals.json" in {p.name for p in DASHBOARD_FILES}


def test_identity(dashboard_file: Path) -> None:
    dashboard = load(dashboard_file)
    assert dashboard["id"] is None, "an id is assigned by Grafana; a fixed one collides"
    assert re.fullmatch(r"obsctl-[a-z0-9-]{1,33}", dashboard["uid"]), dashboard["uid"]
    if dashboard_file.name in STABLE_UIDS:
        assert dashboard["uid"] == STABLE_UIDS[dashboard_file.name]
    assert dashboard["title"].strip()
    assert "obsctl" in dashboard["tags"]
    assert dashboard["schemaVersion"] >= 36


def test_uids_and_titles_are_unique() -> None:
    dashboards = [load(p) for p in DASHBOARD_FILES]
    uids = [d["uid"] for d in dashboards]
    titles = [d["title"] for d in dashboards]
    assert len(uids) == len(set(uids)), uids
    assert len(titles) == len(set(titles)), titles


def test_datasource_variable(dashboard_file: Path) -> None:
    variables = {v["name"]: v for v in load(dashboard_file)["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_panels_have_stable_unique_ids_and_layout(dashboard_file: Path) -> None:
    top_level = load(dashboard_file)["panels"]
    nested = [p for row in top_level if row.get("type") == "row" for p in row.get("panels", [])]
    ids = [p["id"] for p in top_level + nested]
    assert all(isinstance(i, int) for i in ids), ids
    assert len(ids) == len(set(ids)), ids
    for panel in top_level + nested:
        pos = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= pos.keys(), panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
    # Panels inside a collapsed row keep their expanded positions; only the top level must not overlap.
    cells: dict[tuple[int, int], int] = {}
    for panel in top_level:
        pos = panel["gridPos"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"panel {panel['id']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = panel["id"]


def test_every_panel_queries_prometheus_through_the_variable(dashboard_file: Path) -> None:
    for panel in panels(load(dashboard_file)):
        title = panel["title"]
        assert panel["datasource"] == DATASOURCE, title
        assert panel["targets"], f"{title}: no targets"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), f"{title}: duplicate refId"
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, title
            assert target["expr"].strip(), f"{title}/{target['refId']}: empty expr"
            assert "legendFormat" in target, f"{title}/{target['refId']}: no legendFormat"


def test_variables_used_are_defined_and_checkable(dashboard_file: Path) -> None:
    """Every variable an expression uses is a built-in or defined by the dashboard, and obsctl
    can substitute all of them (no `$name` is left; `$1` in label_replace is not a variable)."""
    dashboard = load(dashboard_file)
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    values = dash.variable_values(dashboard)
    for panel, target in exprs(dashboard):
        expr = target["expr"]
        used = set(re.findall(r"\$\{?([A-Za-z_]\w*)", expr))
        where = f"{panel['title']}/{target['refId']}"
        assert used <= BUILTIN_VARIABLES | defined, f"{where}: {used - BUILTIN_VARIABLES - defined}"
        assert "[[" not in expr, f"{where}: old-style variable"
        assert not re.search(r"\$\{?[A-Za-z_]", dash.concrete(expr, "1m", values)), f"{where}: left unsubstituted"


def test_query_variables_default_to_something_that_matches_locally(dashboard_file: Path) -> None:
    """Locally no series has a namespace or pod label: a variable's "All" must be a regex that
    also matches a missing label (`.*`), and a variable's query must be a label_values()."""
    for var in load(dashboard_file)["templating"]["list"]:
        if var["type"] != "query":
            continue
        assert var["includeAll"] and var["allValue"] == ".*", var["name"]
        assert var["datasource"] == DATASOURCE, var["name"]
        assert re.fullmatch(r"label_values\((.+, )?\w+\)", var["query"]), var["query"]


def test_only_kube_state_metrics_queries_are_cluster_only(dashboard_file: Path) -> None:
    dashboard = load(dashboard_file)
    for panel, target in exprs(dashboard):
        metrics = set(re.findall(r"([a-zA-Z_:][\w:]*)\{", target["expr"]))
        where = f"{panel['title']}/{target['refId']}"
        if target.get("obsctlScope") == dash.CLUSTER_SCOPE:
            assert metrics and all(m.startswith("kube_") for m in metrics), f"{where}: {metrics}"
            assert panel["description"].startswith("Clusters only"), where
        else:
            assert "obsctlScope" not in target, where
            assert not any(m.startswith("kube_") for m in metrics), f"{where}: mark it cluster-only"
    local = {(t, r) for t, r, _ in dash.panel_queries(dashboard, cluster=False)}
    marked = {(p["title"], t["refId"]) for p, t in exprs(dashboard) if t.get("obsctlScope")}
    assert not local & marked


def test_golden_signals_breaks_down_by_handler_and_shows_replicas_on_clusters() -> None:
    dashboard = load(REPO / "dashboards" / "fastapi-golden-signals.json")
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names == ["datasource", "namespace", "job", "instance", "pod", "handler"]
    by_title = {p["title"]: p for p in panels(dashboard)}
    for title in ("Request rate by handler", "Error ratio by handler", "P95 latency by handler"):
        assert all("by (handler" in t["expr"] for t in by_title[title]["targets"]), title
    replicas = by_title["Desired vs current replicas"]["targets"]
    assert {t["obsctlScope"] for t in replicas} == {"cluster"}
    assert "kube_horizontalpodautoscaler_status_desired_replicas" in replicas[0]["expr"]
    assert "kube_deployment_spec_replicas" in replicas[0]["expr"]


@pytest.mark.integration
def test_every_expr_parses(tmp_path: Path) -> None:
    """promtool parses each expression as a recording rule ($__rate_interval -> 1m)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not on PATH; scripts/install-system-deps.sh installs it")
    groups = []
    for path in DASHBOARD_FILES:
        dashboard = load(path)
        slug = re.sub(r"\W", "_", dashboard["uid"])
        groups.append(
            {
                "name": path.name,
                "rules": [
                    {
                        "record": f"dashboard_check:{slug}_{panel['id']}_{target['refId']}:expr",
                        "expr": dash.concrete(target["expr"], "1m", dash.variable_values(dashboard)),
                    }
                    for panel, target in exprs(dashboard)
                ],
            }
        )
    rule_file = tmp_path / "dashboard-exprs.rules.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))

    result = subprocess.run(
        [promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr
