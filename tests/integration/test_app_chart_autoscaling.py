"""The app chart with autoscaling on, through the real helm, kubernetes-validate and checkov.

With `app.autoscaling` set, obsctl's values (helm-values/app.yaml.j2, from a real config) make
the chart render an autoscaling/v2 HorizontalPodAutoscaler on the Pods metric the adapter
serves, a Deployment without `replicas` (a `helm upgrade` must never reset what the HPA chose),
and a PodDisruptionBudget that allows an eviction at every count from min to max.
"""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from obsctl import config as c
from obsctl.targets import autoscaling as a
from obsctl.targets.kubernetes import KubernetesTarget
from obsctl.tools import manifests as m
from tests.conftest import make_project
from tests.integration.test_app_chart import run_checkov

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "app" / "chart"
FIXTURE_VALUES = REPO / "tests" / "fixtures" / "app-values.yaml"
Helm = Callable[..., subprocess.CompletedProcess[str]]
HPA_VALUES = ["--set", "autoscaling.enabled=true", "--set", "autoscaling.minReplicas=2"]


def template(helm_run: Helm, *args: str | Path) -> list[dict[str, Any]]:
    result = helm_run("template", "obsapp", CHART, "--namespace", "obsapp", "--values", FIXTURE_VALUES, *args)
    assert result.returncode == 0, result.stderr
    return m.parse_stream(result.stdout)


def kind(docs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == name]


def kind_env(tmp_path: Path, autoscaling: str) -> c.Environment:
    path = make_project(
        tmp_path,
        textwrap.dedent(
            f"""
            default_environment: kind
            environments:
              kind:
                target: kubernetes
                kubernetes: {{context: kind-obsctl, distribution: kind}}
                app:
                  image: {{digest: "sha256:{"a" * 64}"}}
                  {autoscaling}
            """
        ),
    )
    return c.load(str(path), "kind")


@pytest.fixture
def obsctl_values(tmp_path: Path) -> Path:
    """The app values obsctl renders for a config with autoscaling {min 3, max 9, 2.5 rps}."""
    env = kind_env(tmp_path, "autoscaling: {min: 3, max: 9, target_rps_per_pod: 2.5}")
    _, values = KubernetesTarget(env).values()
    path = tmp_path / "app.values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_obsctl_values_render_the_hpa(helm_run: Helm, obsctl_values: Path) -> None:
    docs = template(helm_run, "--values", obsctl_values)
    [hpa] = kind(docs, "HorizontalPodAutoscaler")
    [deployment] = kind(docs, "Deployment")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 9)
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Pods",
            "pods": {"metric": {"name": a.METRIC}, "target": {"type": "AverageValue", "averageValue": "2500m"}},
        }
    ]
    assert "replicas" not in deployment["spec"]
    [pdb] = kind(docs, "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": deployment["spec"]["selector"]}


def test_without_autoscaling_the_deployment_keeps_its_replicas(helm_run: Helm, tmp_path: Path) -> None:
    _, values = KubernetesTarget(kind_env(tmp_path, "")).values()
    assert "autoscaling" not in values
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(values))
    docs = template(helm_run, "--values", path)
    assert kind(docs, "HorizontalPodAutoscaler") == []
    assert kind(docs, "Deployment")[0]["spec"]["replicas"] == 2
    assert kind(docs, "PodDisruptionBudget")[0]["spec"]["minAvailable"] == 1


def test_no_pdb_when_the_minimum_is_one(helm_run: Helm) -> None:
    """A budget at a minimum of one Pod would block every drain: none is rendered."""
    docs = template(helm_run, "--set", "autoscaling.enabled=true", "--set", "autoscaling.minReplicas=1")
    assert kind(docs, "HorizontalPodAutoscaler") and kind(docs, "PodDisruptionBudget") == []


def test_every_object_passes_kubernetes_validate_strict(helm_run: Helm, obsctl_values: Path) -> None:
    docs = template(helm_run, "--values", obsctl_values)
    problems = m.Validator().validate(docs)
    assert [str(p) for p in problems if not p.message.startswith("no schema")] == []
    assert {p.kind for p in problems} == {"ServiceMonitor", "PrometheusRule"}  # CRDs: checked elsewhere


def test_strict_validation_catches_a_bad_hpa(helm_run: Helm, obsctl_values: Path) -> None:
    """The pass above is not a no-op: a misspelled HPA field fails."""
    docs = template(helm_run, "--values", obsctl_values)
    hpa = kind(docs, "HorizontalPodAutoscaler")[0]
    hpa["spec"]["maxReplica"] = hpa["spec"].pop("maxReplicas")
    assert sorted(p.path for p in m.Validator().validate([hpa])) == ["spec", "spec.maxReplica"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--set", "autoscaling.minReplicas=0"], "minReplicas"),
        (["--set", "autoscaling.targetAverageValue=fast"], "targetAverageValue"),
        (["--set", "autoscaling.maxReplica=3"], "maxReplica"),
        ([*HPA_VALUES, "--set", "autoscaling.maxReplicas=1"], "must be at least autoscaling.minReplicas"),
    ],
)
def test_bad_autoscaling_values_fail_the_install(helm_run: Helm, args: list[str], needle: str) -> None:
    result = helm_run("template", "obsapp", CHART, *args)
    assert result.returncode != 0
    assert needle in result.stderr


def test_checkov_finds_nothing_with_autoscaling(helm_run: Helm, obsctl_values: Path, tmp_path: Path) -> None:
    report = run_checkov(helm_run, tmp_path, "--values", FIXTURE_VALUES, "--values", obsctl_values)
    assert [(r["check_id"], r["resource"]) for r in report["results"]["failed_checks"]] == []
    scanned = m.parse_stream((tmp_path / "rendered.yaml").read_text())
    assert kind(scanned, "HorizontalPodAutoscaler"), "checkov did not see the HPA"
    assert report["summary"]["resource_count"] >= len(scanned) - 1  # the PrometheusRule / ServiceMonitor too
