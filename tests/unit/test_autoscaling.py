"""app.autoscaling in obsctl.yaml, and the prometheus-adapter rule obsctl builds from it."""

from __future__ import annotations

import textwrap

import pytest

from obsctl import config as c
from obsctl.errors import ConfigError
from obsctl.targets import autoscaling as a


def parse(autoscaling: str, target: str = "kubernetes") -> c.ObsctlConfig:
    extra = "kubernetes: {context: kind-obsctl}" if target == "kubernetes" else ""
    return c.parse_config(
        textwrap.dedent(
            f"""
            default_environment: dev
            environments:
              dev:
                target: {target}
                {extra}
                app:
                  autoscaling: {autoscaling}
            """
        ),
        "obsctl.yaml",
    )


def test_a_valid_range_is_kept() -> None:
    spec = parse("{min: 2, max: 5, target_rps_per_pod: 2.5}").environments["dev"]
    assert spec.app.autoscaling == c.AutoscalingSettings(min=2, max=5, target_rps_per_pod=2.5)


def test_off_by_default() -> None:
    assert c.AppSettings().autoscaling is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{min: 0, max: 3, target_rps_per_pod: 1}", "dev.app.autoscaling.min: Input should be greater than or equal"),
        ("{min: 4, max: 3, target_rps_per_pod: 1}", "dev.app.autoscaling: max (3) must be at least min (4)"),
        ("{min: 1, max: 3, target_rps_per_pod: 0}", "dev.app.autoscaling.target_rps_per_pod: Input should be greater"),
        ("{min: 1, max: 3}", "dev.app.autoscaling.target_rps_per_pod: Field required"),
        ("{min: 1, max: 3, target_rps_per_pod: 1, maximum: 4}", "dev.app.autoscaling.maximum: unknown key"),
    ],
)
def test_bad_values_name_the_field(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(value)
    assert f"obsctl.yaml: environments.{message}" in err.value.message


def test_the_local_target_refuses_it() -> None:
    with pytest.raises(ConfigError) as err:
        parse("{min: 1, max: 3, target_rps_per_pod: 1}", target="local")
    assert "environments.dev.app: autoscaling needs a cluster target" in err.value.message


@pytest.mark.parametrize(("rps", "quantity"), [(5, "5"), (2.5, "2500m"), (0.001, "1m"), (100.0, "100")])
def test_quantity(rps: float, quantity: str) -> None:
    assert a.quantity(rps) == quantity


def test_app_values() -> None:
    settings = c.AutoscalingSettings(min=2, max=6, target_rps_per_pod=0.75)
    assert a.app_values(settings) == {"min": 2, "max": 6, "metric": "http_requests_per_second", "target": "750m"}
    assert a.app_values(None) == {}


def test_cluster_rule_as_the_adapter_reads_it() -> None:
    rule = a.adapter_rule(a.CLUSTER_LABELS, "2m")
    assert rule == {
        "seriesQuery": 'http_requests_total{job="fastapi",namespace!="",pod!=""}',
        "resources": {"overrides": {"pod": {"resource": "pod"}, "namespace": {"resource": "namespace"}}},
        "name": {"matches": "^http_requests_total$", "as": "http_requests_per_second"},
        "metricsQuery": 'sum(rate(<<.Series>>{<<.LabelMatchers>>,job="fastapi"}[2m])) by (<<.GroupBy>>)',
    }


def test_adapter_substitution_follows_metrics_query_build() -> None:
    """pkg/naming/metrics_query.go: namespace matcher first, `=` for one Pod, `=~` over `a|b` for several."""
    rule = a.adapter_rule(a.CLUSTER_LABELS, "2m")
    assert a.adapter_query(rule, a.CLUSTER_LABELS, ["p-1"], "obs") == (
        'sum(rate(http_requests_total{namespace="obs",pod="p-1",job="fastapi"}[2m])) by (pod)'
    )
    assert a.adapter_query(rule, a.CLUSTER_LABELS, ["p-1", "p-2"], "obs") == (
        'sum(rate(http_requests_total{namespace="obs",pod=~"p-1|p-2",job="fastapi"}[2m])) by (pod)'
    )
    local = a.adapter_rule(a.LOCAL_LABELS, "4s")
    assert local["seriesQuery"] == 'http_requests_total{job="fastapi",instance!=""}'
    assert a.adapter_query(local, a.LOCAL_LABELS, ["127.0.0.1:1"], None) == (
        'sum(rate(http_requests_total{instance="127.0.0.1:1",job="fastapi"}[4s])) by (instance)'
    )
    with pytest.raises(ValueError, match="no namespace label"):
        a.adapter_query(local, a.LOCAL_LABELS, ["x"], "obs")


def test_rate_window_is_four_scrapes() -> None:
    assert a.rate_window("30s") == "120s"
    assert a.rate_window("1s") == "4s"


def test_node_autoscaler_is_opt_in_and_checked() -> None:
    aws = "aws: {region: eu-west-1, cluster_name: c}"
    text = f"default_environment: e\nenvironments:\n  e: {{target: eks, {aws}}}\n"
    assert c.parse_config(text, "obsctl.yaml").environments["e"].aws.node_autoscaler == "none"
    bad = text.replace("cluster_name: c}", "cluster_name: c, node_autoscaler: karpenter}")
    with pytest.raises(ConfigError) as err:
        c.parse_config(bad, "obsctl.yaml")
    assert "environments.e.aws.node_autoscaler: Input should be 'none' or 'cluster-autoscaler'" in err.value.message
