"""The app chart's real `helm template` output through obsctl.tools.manifests.

Its built-in objects must pass kubernetes-validate's strict schemas for Kubernetes 1.33. Its
ServiceMonitor and PrometheusRule have no schema here: no package on PyPI, npm or Debian ships
the prometheus-operator CRD YAMLs (cloudcoil-models-prometheus-operator ships pydantic models,
whose 0.93 line needs Python 3.14; @kubernetes-models/prometheus-operator ships JavaScript models
generated from the Go types, not the CRDs). So the validator must say "no schema" for exactly
those two, not pass them silently; tests/integration/test_app_chart.py checks them with the
cloudcoil models instead.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from obsctl.tools import manifests as m

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "app" / "chart"
FIXTURE_VALUES = REPO / "tests" / "fixtures" / "app-values.yaml"
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}


@pytest.fixture(scope="module")
def rendered(helm_run: Callable[..., subprocess.CompletedProcess[str]]) -> str:
    result = helm_run("template", "obsapp", CHART, "--namespace", "obsapp", "--values", FIXTURE_VALUES)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def docs(rendered: str) -> list[Any]:
    return m.parse_stream(rendered)


def test_builtin_objects_pass_and_the_custom_resources_have_no_schema(docs: list[Any]) -> None:
    problems = m.Validator().validate(docs)
    assert [(p.kind, p.path) for p in problems if not p.message.startswith("no schema")] == []
    assert sorted(p.kind for p in problems) == sorted(CUSTOM_KINDS)
    builtin = {doc["kind"] for doc in docs} - CUSTOM_KINDS
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy", "PodDisruptionBudget", "ServiceAccount"} <= builtin


def test_validate_stream_reads_helm_output_as_is(rendered: str) -> None:
    assert sorted(p.kind for p in m.validate_stream(rendered)) == sorted(CUSTOM_KINDS)


def test_a_typo_in_the_rendered_deployment_is_caught(docs: list[Any]) -> None:
    """The pass above is not a no-op: the same objects with one misspelled field fail."""
    broken = copy.deepcopy(docs)
    deployment = next(doc for doc in broken if doc["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFilesytem"] = container["securityContext"].pop("readOnlyRootFilesystem")
    problems = [p for p in m.Validator().validate(broken) if p.kind == "Deployment"]
    assert [p.path for p in problems] == ["spec.template.spec.containers[0].securityContext.readOnlyRootFilesytem"]
