"""`slos:` in obsctl.yaml: the shared list, per-environment override and extension, and every
refusal as one line naming the field; and the shape of the rules obsctl/slo.py generates
(the promtool side is tests/integration/test_slo_rules.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from obsctl import config as c
from obsctl import render as r
from obsctl import slo
from obsctl.errors import ConfigError
from obsctl.slo_spec import app_buckets

AVAIL = "{name: avail, objective: 99.5, sli: {type: availability}}"


def load(tmp_path: Path, text: str, env: str = "local") -> c.Environment:
    (tmp_path / "app").symlink_to(Path(__file__).resolve().parents[2] / "app")
    (tmp_path / "obsctl.yaml").write_text(text)
    return c.load(str(tmp_path / "obsctl.yaml"), env)


@pytest.mark.parametrize(
    ("slos", "expected"),
    [
        (
            "[{name: a, objective: 93, sli: {type: availability}}]",
            "slos[0].objective: 93 is too low: the page alert fires at 14.4x the error budget, which needs an"
            " objective above 93.06",
        ),
        ("[{name: a, objective: 100, sli: {type: availability}}]", "slos[0].objective: Input should be less than 100"),
        ("[{name: a, objective: 99, window: 7d, sli: {type: availability}}]", "slos[0].window: Input should be"),
        ("[{name: A_b, objective: 99, sli: {type: availability}}]", "slos[0].name: String should match pattern"),
        (
            "[{name: a, objective: 99, sli: {type: ratio}}]",
            "slos[0].sli: Input tag 'ratio' found using 'type' does not match any of the expected",
        ),
        (
            "[{name: a, objective: 99, sli: {type: custom, total: 'sum(rate(x[5m]))', errors: 'sum(rate(y[5m]))'}}]",
            "slos[0].sli.custom: total has no {{window}}",
        ),
        (
            "[{name: a, objective: 99, sli: {type: custom, total: 'sum(rate(x[{{window}}]))'}}]",
            "slos[0].sli.custom: give exactly one of good or errors",
        ),
        ("[{name: a, objective: 99, sli: {type: latency, threshold: soon}}]", "'soon' is not a duration"),
        (f"[{AVAIL}, {AVAIL}]", "slos: SLO name(s) avail given twice"),
        ("[{name: a, objective: 99, sli: {}}]", "slos[0].sli: Unable to extract tag using discriminator 'type'"),
    ],
)
def test_bad_slo_is_one_line_naming_the_field(slos: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        c.parse_config(f"slos: {slos}\nenvironments: {{local: {{target: local}}}}", "obsctl.yaml")
    assert expected in err.value.message, err.value.message
    assert "\n" not in err.value.message


def test_shared_slos_are_extended_replaced_and_excluded(tmp_path: Path) -> None:
    cfg = c.parse_config(
        f"""
slos:
  - {AVAIL}
  - {{name: lat, objective: 99, sli: {{type: latency, threshold: 0.25}}}}
environments:
  local: {{target: local}}
  strict:
    target: local
    slos:
      - {{name: avail, objective: 99.9, window: 28d, sli: {{type: availability}}}}
      - {{name: extra, objective: 98, sli: {{type: availability}}}}
  bare: {{target: local, exclude_slos: [lat, avail]}}
""",
        "obsctl.yaml",
    )
    envs = cfg.environments
    assert [(s.name, s.objective) for s in envs["local"].slos] == [("avail", 99.5), ("lat", 99)]
    assert [(s.name, s.objective, s.window) for s in envs["strict"].slos] == [
        ("avail", 99.9, "28d"),
        ("lat", 99, "30d"),
        ("extra", 98, "30d"),
    ]
    assert envs["bare"].slos == []


def test_excluding_an_unknown_slo_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        c.parse_config(f"slos: [{AVAIL}]\nenvironments: {{local: {{target: local, exclude_slos: [avial]}}}}", "x")
    assert "environments.local: exclude_slos names avial, not in the top-level slos (shared: avail)" in str(err.value)


def test_latency_threshold_must_be_a_bucket_bound_of_the_app(tmp_path: Path) -> None:
    bad = "{name: lat, objective: 99, sli: {type: latency, threshold: 300ms}}"
    with pytest.raises(ConfigError) as err:
        load(tmp_path, f"environments: {{local: {{target: local, slos: [{bad}]}}}}")
    assert "SLO 'lat': sli.threshold 0.3s is not a bucket bound of http_request_duration_seconds" in err.value.message
    assert "(bounds: 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)" in err.value.message


def test_bucket_bounds_are_read_from_the_app(repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(repo_root / "app"))  # the app runs from app/, as uvicorn loads it
    from obsapp.metrics import BUCKETS  # the app's own constant, imported here only to compare

    assert app_buckets(repo_root) == BUCKETS


def test_a_bucket_bound_threshold_is_accepted_in_either_spelling(tmp_path: Path) -> None:
    text = """environments: {local: {target: local, slos: [
      {name: a, objective: 99, sli: {type: latency, threshold: 250ms}},
      {name: b, objective: 99, sli: {type: latency, threshold: 1}}]}}"""
    env = load(tmp_path, text)
    groups = slo.rule_groups(env.spec.slos)
    exprs = " ".join(rule["expr"] for g in groups for rule in g["rules"])
    assert 'le="0.25"' in exprs and 'le="1.0"' in exprs  # as prometheus_client writes them


# ------------------------------------------------------------------ the generated rules


def test_repository_local_env_has_the_drill_slos(repo_root: Path) -> None:
    env = c.load(str(repo_root / "obsctl.yaml"), "local")
    kinds = {s.sli.type for s in env.spec.slos}
    assert {"availability", "latency"} <= kinds
    avail = next(s for s in env.spec.slos if s.sli.type == "availability")
    assert avail.objective == 99.5


def test_rules_have_every_window_and_small_label_sets(repo_root: Path) -> None:
    env = c.load(str(repo_root / "obsctl.yaml"), "local")
    all_groups = {g["name"]: g for g in slo.rule_groups(env.spec.slos)}
    for spec in env.spec.slos:
        group = {"rules": all_groups[f"slo-{spec.name}"]["rules"] + all_groups[f"slo-{spec.name}-long"]["rules"]}
        records = [x for x in group["rules"] if "record" in x]
        names = {x["record"] for x in records}
        for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", spec.window):
            assert f"slo:sli_error:ratio_rate{w}" in names
        assert {"slo:objective:ratio", "slo:error_budget:ratio", "slo:period_error_budget_remaining:ratio"} <= names
        for rec in records:
            assert rec["labels"] == {"slo": spec.name}
            aggregations = re.findall(r"\b(sum|count|avg|max|min) by \(([^)]*)\)", rec["expr"])
            assert all(by == "job" for _, by in aggregations), rec
        alerts = [x for x in group["rules"] if "alert" in x]
        pairs = {(a["labels"]["severity"], a["labels"]["long_window"], a["labels"]["short_window"]) for a in alerts}
        assert pairs == {
            ("critical", "1h", "5m"),
            ("critical", "6h", "30m"),
            ("warning", "1d", "2h"),
            ("warning", "3d", "6h"),
        }
        for a in alerts:
            assert a["alert"] == "ErrorBudgetBurn"
            assert set(a["labels"]) == {"slo", "severity", "team", "long_window", "short_window", "burn_rate"}
            assert {"summary", "description", "runbook_url"} <= set(a["annotations"])
            assert "$value" in a["annotations"]["description"]


def test_slo_rules_reach_both_targets_with_the_profile_for(repo_root: Path) -> None:
    env = c.load(str(repo_root / "obsctl.yaml"), "local")
    groups = r.rule_groups(env.root, env.spec)
    names = [g["name"] for g in groups]
    assert names[: len(r.load_rule_groups(env.root))] == [g["name"] for g in r.load_rule_groups(env.root)]
    assert {f"slo-{s.name}" for s in env.spec.slos} <= set(names)
    fors = {x["for"] for g in groups for x in g["rules"] if x.get("alert") == "ErrorBudgetBurn"}
    assert fors == {env.spec.alerting.for_overrides["ErrorBudgetBurn"]}
    text = r.rules_yaml(groups)
    assert "&id" not in text and "*id" not in text  # no YAML anchors in what Prometheus and Helm read
    assert yaml.safe_load(text)["groups"] == groups


def test_the_page_inhibits_the_ticket_of_the_same_slo() -> None:
    rule = {
        "source_matchers": ['alertname="ErrorBudgetBurn"', 'severity="critical"'],
        "target_matchers": ['alertname="ErrorBudgetBurn"', 'severity="warning"'],
        "equal": ["slo"],
    }
    assert rule in r.OBSCTL_INHIBIT_RULES


def test_long_windows_run_in_their_own_group_under_the_lookback_delta(repo_root: Path) -> None:
    """The hot group (global interval) holds no sum_over_time over days; the long-window
    group holds them all and runs often enough (under the 5m lookback delta, with room for a
    missed evaluation) that the tickets reading its ratios never see a gap."""
    env = c.load(str(repo_root / "obsctl.yaml"), "local")
    groups = {g["name"]: g for g in slo.rule_groups(env.spec.slos)}
    for spec in env.spec.slos:
        hot, long = groups[f"slo-{spec.name}"], groups[f"slo-{spec.name}-long"]
        assert "interval" not in hot  # the global evaluation_interval
        assert not any("sum_over_time" in x["expr"] for x in hot["rules"])
        assert [x["record"] for x in long["rules"]] == [
            "slo:sli_error:ratio_rate1d",
            "slo:sli_error:ratio_rate3d",
            f"slo:sli_error:ratio_rate{spec.window}",
            "slo:period_error_budget_remaining:ratio",
        ]
        assert c.duration_seconds(long["interval"]) * 2 < c.duration_seconds("5m")
        # the tickets read the long group's ratios: still in the hot group, same expressions
        tickets = [x["expr"] for x in hot["rules"] if x.get("labels", {}).get("severity") == "warning"]
        assert any("slo:sli_error:ratio_rate1d" in e for e in tickets)
        assert any("slo:sli_error:ratio_rate3d" in e for e in tickets)
    assert list(groups) == slo.group_names(env.spec.slos)


def test_long_windows_run_at_a_drill_short_evaluation_interval(repo_root: Path) -> None:
    """Locally (1s evaluations) the long-window group runs at every evaluation, so a fresh
    platform has its budget figures at once: at 1m, `verify` waited up to a minute for the
    SLO dashboard's budget panels (bench/up.py: verify 1.7 s -> 50 s). Clusters keep 1m."""
    local = c.load(str(repo_root / "obsctl.yaml"), "local")
    kind = c.load(str(repo_root / "examples" / "obsctl.example.yaml"), "kind")
    assert local.spec.scrape.evaluation_interval == "1s" and local.spec.slos
    assert c.duration_seconds(kind.spec.scrape.evaluation_interval) >= slo.DRILL_EVALUATION and kind.spec.slos

    def long_intervals(env: c.Environment) -> set[str]:
        return {g["interval"] for g in r.rule_groups(env.root, env.spec) if g["name"].endswith("-long")}

    assert long_intervals(local) == {"1s"}
    assert long_intervals(kind) == {slo.LONG_INTERVAL}
