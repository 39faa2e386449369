"""The app chart (app/chart) and the Helm values templates (helm-values/*.j2), with the real helm.

What is proven here, without a cluster: `helm lint --strict` passes; `helm template` renders
objects that Kubernetes 1.33 accepts (kubernetes-validate, strict) and that the Prometheus
Operator's CRD models accept (cloudcoil); a mistyped value fails the install (values.schema.json);
what obsctl passes for rules and dashboards comes out unchanged; the kube-prometheus-stack values
make Prometheus select the chart's ServiceMonitor and PrometheusRule, turn off the managed
control-plane scrapers on EKS only, and hold no password; checkov finds nothing to fix.

The kube-prometheus-stack chart itself is not available here (no chart repository is reachable),
so its behaviour is stated as constants below, read from its 88.5.3 values.yaml.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import jsonschema
import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.prometheus_operator.v1 import PrometheusRule, ServiceMonitor

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "app" / "chart"
FIXTURE_VALUES = REPO / "tests" / "fixtures" / "app-values.yaml"
HELM_VALUES = REPO / "helm-values"
RULES_DIR = REPO / "rules"
DASHBOARDS_DIR = REPO / "dashboards"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"

KUBERNETES_VERSION = "1.33"
RELEASE = "obsapp"
NAMESPACE = "obsapp"
CRD_GROUP = "monitoring.coreos.com/"

# kube-prometheus-stack 88.5.3 facts (charts/kube-prometheus-stack/values.yaml):
# the selectors its Prometheus gets, and the *NilUsesHelmValues switch that replaces an empty
# selector by `release: <release name>` when it is left at its default (true).
KPS_SELECTORS = {
    "ServiceMonitor": ("serviceMonitorSelector", "serviceMonitorSelectorNilUsesHelmValues"),
    "PrometheusRule": ("ruleSelector", "ruleSelectorNilUsesHelmValues"),
}
KPS_NIL_USES_HELM_VALUES = (
    "serviceMonitorSelectorNilUsesHelmValues",
    "podMonitorSelectorNilUsesHelmValues",
    "ruleSelectorNilUsesHelmValues",
    "probeSelectorNilUsesHelmValues",
)
KPS_RELEASE = "kube-prometheus-stack"
EKS_MANAGED_CONTROL_PLANE = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")
# The chart's default alertmanager.config keys (and route sub-keys) that Helm would merge into
# obsctl's config unless the values null them.
KPS_ALERTMANAGER_DEFAULT_KEYS = {"global", "inhibit_rules", "route", "receivers", "templates"}
KPS_ALERTMANAGER_DEFAULT_ROUTE_KEYS = {
    "group_by",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "receiver",
    "routes",
}
# Keys that may hold a credential; alertmanager.yml takes each of them from a file instead
# (`<key>_file`), and Grafana's admin password comes from admin.existingSecret.
SECRET_KEY = re.compile(r"(password|secret|token|api_key|routing_key|service_key|api_url)$", re.IGNORECASE)
SECRET_KEY_ALLOWED = {"existingSecret", "passwordKey", "secrets"}
# A checkov skip must name the check and say why: `CKV_K8S_43=<reason of 20+ characters>`.
CHECKOV_SKIP = re.compile(r"checkov\.io/skip\d+:\s*(?P<check>\S+?)=(?P<reason>.*)$")


# --- helpers -------------------------------------------------------------------------------


def load_yaml_docs(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def label_selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes LabelSelector semantics; an empty selector matches everything."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def drop_nulls(value: Any) -> Any:
    """What Helm does with a null in user values: the key disappears."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values over chart defaults (maps merge, the rest replaces)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def walk(value: Any, path: str = "") -> list[tuple[str, str, Any]]:
    """(path, key, value) of every mapping entry, depth first."""
    out: list[tuple[str, str, Any]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            out.append((f"{path}.{key}", str(key), child))
            out.extend(walk(child, f"{path}.{key}"))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out.extend(walk(child, f"{path}[{i}]"))
    return out


def repo_content_values() -> dict[str, Any]:
    """What obsctl passes from the repo: every rules/*.yaml group and every dashboards/*.json."""
    groups = [
        group
        for path in sorted(RULES_DIR.glob("*.yaml"))
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", [])
    ]
    dashboards = {path.stem: path.read_text() for path in sorted(DASHBOARDS_DIR.glob("*.json"))}
    return {"prometheusRule": {"groups": groups}, "dashboards": dashboards}


def jinja_env() -> jinja2.Environment:
    # StrictUndefined: a variable the template needs but the context lacks is an error here,
    # whatever obsctl's own environment does.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HELM_VALUES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def kps_context(target: str, **extra: Any) -> dict[str, Any]:
    def res(cpu: str, memory: str) -> dict[str, Any]:
        return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}

    context: dict[str, Any] = {
        "target": target,
        "chart_version": "88.5.3",
        "alertmanager_config": {
            "route": {
                "receiver": "webhook",
                "group_by": ["alertname", "job"],
                "group_wait": "10s",
                "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}],
            },
            "receivers": [
                {"name": "null"},
                {
                    "name": "webhook",
                    "webhook_configs": [
                        {"url_file": "/etc/alertmanager/secrets/obsctl-webhook/url", "send_resolved": True}
                    ],
                },
            ],
        },
        "grafana_admin_secret": "obsctl-grafana-admin",
        "retention": "10d",
        "scrape_interval": "30s",
        "evaluation_interval": "30s",
        "resources": {
            "prometheus": res("200m", "1Gi"),
            "alertmanager": res("20m", "64Mi"),
            "grafana": res("100m", "256Mi"),
            "prometheus_operator": res("50m", "128Mi"),
            "kube_state_metrics": res("20m", "64Mi"),
            "node_exporter": res("20m", "32Mi"),
        },
        "maximum_startup_seconds": 0,
        "control_plane": {c: target != "eks" for c in EKS_MANAGED_CONTROL_PLANE},
        "obsctl_marker": {"environment": "lab"},
    }
    context.update(extra)
    return context


def render_kps(context: dict[str, Any]) -> dict[str, Any]:
    text = jinja_env().get_template("kube-prometheus-stack.yaml.j2").render(**context)
    values = yaml.safe_load(text)
    assert isinstance(values, dict)
    return values


def app_context(**extra: Any) -> dict[str, Any]:
    fixture = yaml.safe_load(FIXTURE_VALUES.read_text())
    context: dict[str, Any] = {
        "image_repository": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/obsctl/obsapp",
        "image_tag": "0.1.0",
        "replicas": 2,
        "scrape_interval": "30s",
        "monitoring_release": KPS_RELEASE,
        "monitoring_namespace": "monitoring",
        "rule_groups": fixture["prometheusRule"]["groups"],
        "dashboards": fixture["dashboards"],
        "fault_error_rate": 0.0,
        "fault_latency_ms": 0,
        "image_pull_policy": "IfNotPresent",
        "obsctl_marker": {"environment": "lab", "chartDigest": "0123456789abcdef"},
    }
    context.update(extra)
    return context


def render_app_values(context: dict[str, Any]) -> str:
    return jinja_env().get_template("app.yaml.j2").render(**context)


# --- fixtures ------------------------------------------------------------------------------

Helm = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def helm(helm_run: Helm) -> Helm:
    return helm_run


@pytest.fixture(scope="session")
def template(helm: Helm) -> Callable[..., list[dict[str, Any]]]:
    def render(*args: str | Path) -> list[dict[str, Any]]:
        result = helm("template", RELEASE, CHART, "--namespace", NAMESPACE, *args)
        assert result.returncode == 0, result.stderr
        return load_yaml_docs(result.stdout)

    return render


@pytest.fixture(scope="session")
def fixture_values() -> dict[str, Any]:
    return yaml.safe_load(FIXTURE_VALUES.read_text())


@pytest.fixture(scope="session")
def chart_defaults() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@pytest.fixture(scope="session")
def rendered(template: Callable[..., list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The chart as obsctl installs it on a cluster: the fixture values."""
    return template("--values", FIXTURE_VALUES)


@pytest.fixture(scope="session")
def repo_values_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    values = repo_content_values()
    if not values["prometheusRule"]["groups"]:
        pytest.skip("rules/*.yaml holds no rule group yet")
    path = tmp_path_factory.mktemp("repo-values") / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


# --- helm lint / template ------------------------------------------------------------------


def test_lint_strict_with_defaults(helm: Helm) -> None:
    result = helm("lint", "--strict", CHART)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_strict_with_fixture_values(helm: Helm) -> None:
    result = helm("lint", "--strict", CHART, "--values", FIXTURE_VALUES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_strict_with_repo_rules_and_dashboards(helm: Helm, repo_values_file: Path) -> None:
    result = helm("lint", "--strict", CHART, "--values", repo_values_file)
    assert result.returncode == 0, result.stdout + result.stderr


def test_renders_one_object_per_kind(rendered: list[dict[str, Any]], fixture_values: dict[str, Any]) -> None:
    kinds = sorted(doc["kind"] for doc in rendered)
    expected = sorted(
        [
            "ConfigMap",
            "Deployment",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "PrometheusRule",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
        ]
        + ["ConfigMap"] * len(fixture_values["dashboards"])
    )
    assert kinds == expected
    for doc in rendered:
        assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]


def test_manifests_are_valid_kubernetes_1_33(rendered: list[dict[str, Any]]) -> None:
    checked = []
    for doc in rendered:
        if doc["apiVersion"].startswith(CRD_GROUP):
            # kubernetes-validate has no schema for CRDs; the operator models check those below.
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {e}")
        checked.append(doc["kind"])
    assert {"Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"} <= set(checked)


def test_kubernetes_validate_catches_an_unknown_field(rendered: list[dict[str, Any]]) -> None:
    """The strict validation above is not a no-op."""
    deployment = copy.deepcopy(one(rendered, "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def assert_model_keeps_every_field(model: Any, doc: dict[str, Any]) -> None:
    """cloudcoil models ignore unknown fields; a round trip that loses one reveals a typo."""
    dumped = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert drop_nulls(dumped["spec"]) == doc["spec"]
    assert dumped["metadata"]["labels"] == doc["metadata"]["labels"]


def test_servicemonitor_is_valid_and_scrapes_the_app_as_job_fastapi(rendered: list[dict[str, Any]]) -> None:
    doc = one(rendered, "ServiceMonitor")
    assert_model_keeps_every_field(ServiceMonitor.model_validate(doc), doc)

    service = one(rendered, "Service")
    assert label_selector_matches(doc["spec"]["selector"], service["metadata"]["labels"])
    assert doc["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]
    (endpoint,) = doc["spec"]["endpoints"]
    assert endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == "15s"  # from the fixture values
    assert {"action": "replace", "targetLabel": "job", "replacement": "fastapi"} in endpoint["relabelings"]


def test_servicemonitor_model_rejects_a_bad_interval(template: Callable[..., list[dict[str, Any]]]) -> None:
    """The operator model check can fail: a duration the schema lets through is still checked."""
    doc = copy.deepcopy(one(template(), "ServiceMonitor"))
    doc["spec"]["endpoints"][0]["interval"] = "30 seconds"
    with pytest.raises(ValueError, match="interval"):
        ServiceMonitor.model_validate(doc)


def test_prometheusrule_is_valid_and_carries_the_groups_unchanged(
    rendered: list[dict[str, Any]], fixture_values: dict[str, Any]
) -> None:
    doc = one(rendered, "PrometheusRule")
    assert_model_keeps_every_field(PrometheusRule.model_validate(doc), doc)
    assert doc["spec"]["groups"] == fixture_values["prometheusRule"]["groups"]


def test_prometheusrule_from_the_repo_rules(
    template: Callable[..., list[dict[str, Any]]], repo_values_file: Path
) -> None:
    doc = one(template("--values", repo_values_file), "PrometheusRule")
    assert_model_keeps_every_field(PrometheusRule.model_validate(doc), doc)
    assert doc["spec"]["groups"] == repo_content_values()["prometheusRule"]["groups"]
    exprs = [rule["expr"] for group in doc["spec"]["groups"] for rule in group["rules"]]
    assert any('job="fastapi"' in expr for expr in exprs)


def test_no_prometheusrule_without_groups(template: Callable[..., list[dict[str, Any]]]) -> None:
    assert by_kind(template(), "PrometheusRule") == []


def test_dashboards_are_one_configmap_each_for_the_grafana_sidecar(
    rendered: list[dict[str, Any]], fixture_values: dict[str, Any]
) -> None:
    configmaps = [cm for cm in by_kind(rendered, "ConfigMap") if "grafana_dashboard" in cm["metadata"]["labels"]]
    assert len(configmaps) == len(fixture_values["dashboards"])
    for cm in configmaps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"] == {"grafana_folder": "obsctl"}
        ((key, text),) = cm["data"].items()
        stem = key.removesuffix(".json")
        assert text == fixture_values["dashboards"][stem]
        json.loads(text)


def test_repo_dashboards_come_out_byte_for_byte(
    template: Callable[..., list[dict[str, Any]]], repo_values_file: Path
) -> None:
    expected = repo_content_values()["dashboards"]
    if not expected:
        pytest.skip("dashboards/ holds no dashboard yet")
    configmaps = by_kind(template("--values", repo_values_file), "ConfigMap")
    found = {
        key.removesuffix(".json"): text
        for cm in configmaps
        if "grafana_dashboard" in cm["metadata"]["labels"]
        for key, text in cm["data"].items()
    }
    assert found == expected
    for cm in configmaps:
        kubernetes_validate.validate(cm, KUBERNETES_VERSION, strict=True)


def test_dashboards_namespace_is_configurable(template: Callable[..., list[dict[str, Any]]]) -> None:
    docs = template("--values", FIXTURE_VALUES, "--set", "grafanaDashboards.namespace=monitoring")
    namespaces = {
        cm["metadata"]["namespace"]
        for cm in by_kind(docs, "ConfigMap")
        if "grafana_dashboard" in cm["metadata"]["labels"]
    }
    assert namespaces == {"monitoring"}


def test_deployment_is_hardened(rendered: list[dict[str, Any]]) -> None:
    deployment = one(rendered, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["imagePullPolicy"] == "Always"
    assert container["image"].endswith("@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945")
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert label_selector_matches(spread["labelSelector"], deployment["spec"]["template"]["metadata"]["labels"])
    assert "checksum/config" in deployment["spec"]["template"]["metadata"]["annotations"]

    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert "emptyDir" in volumes[mounts[env["PROMETHEUS_MULTIPROC_DIR"]]]


def test_settings_reach_the_container_and_roll_the_pods(
    rendered: list[dict[str, Any]], template: Callable[..., list[dict[str, Any]]]
) -> None:
    config = one(
        [d for d in rendered if d["kind"] == "ConfigMap" and "OBSAPP_VERSION" in d.get("data", {})], "ConfigMap"
    )
    assert config["data"] == {
        "OBSAPP_VERSION": "0.1.0",
        "OBSAPP_FAULT_ERROR_RATE": "0.25",
        "OBSAPP_FAULT_LATENCY_MS": "150",
    }
    deployment = one(rendered, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]

    changed = one(template("--values", FIXTURE_VALUES, "--set-json", "app.fault.errorRate=0.5"), "Deployment")
    checksum = "checksum/config"
    assert (
        changed["spec"]["template"]["metadata"]["annotations"][checksum]
        != deployment["spec"]["template"]["metadata"]["annotations"][checksum]
    )


def test_image_by_tag_when_no_digest(template: Callable[..., list[dict[str, Any]]]) -> None:
    deployment = one(template("--set", "image.tag=1.2.3"), "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/obsctl/obsapp:1.2.3"


def test_no_pdb_with_a_single_replica(template: Callable[..., list[dict[str, Any]]]) -> None:
    assert by_kind(template("--set", "replicas=1"), "PodDisruptionBudget") == []


def test_pdb_keeps_one_pod(rendered: list[dict[str, Any]]) -> None:
    pdb = one(rendered, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert label_selector_matches(
        pdb["spec"]["selector"], one(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    )


# --- values.schema.json --------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--set", "replicaCount=2"], id="unknown-top-level-key"),
        pytest.param(["--set", "image.tagg=1.0"], id="typo-in-nested-key"),
        pytest.param(["--set", "serviceMonitor.intervall=30s"], id="typo-in-servicemonitor"),
        pytest.param(["--set", "serviceMonitor.interval=30 seconds"], id="bad-duration"),
        pytest.param(["--set", "image.tag=latest"], id="latest-tag"),
        pytest.param(["--set", "image.digest=abc123"], id="bad-digest"),
        pytest.param(["--set", "replicas=0"], id="zero-replicas"),
        pytest.param(["--set", "app.fault.errorRate=1.5"], id="error-rate-above-1"),
        pytest.param(["--set", "resources.limits=null"], id="missing-limits"),
        pytest.param(
            [
                "--set-json",
                'prometheusRule.groups=[{"name":"g","rules":[{"alert":"A","expr":"up==0","anotations":{}}]}]',
            ],
            id="typo-in-rule",
        ),
        pytest.param(
            ["--set-json", 'prometheusRule.groups=[{"name":"g","rules":[{"expr":"up"}]}]'],
            id="rule-without-alert-or-record",
        ),
        pytest.param(["--set-json", 'dashboards={"overview":{"title":"x"}}'], id="dashboard-not-a-string"),
    ],
)
def test_schema_rejects_a_mistyped_value(helm: Helm, args: list[str]) -> None:
    result = helm("template", RELEASE, CHART, "--namespace", NAMESPACE, *args)
    assert result.returncode != 0, f"helm accepted {args}"
    assert "values don't meet the specifications of the schema" in result.stderr


def test_schema_accepts_the_correct_spelling(helm: Helm) -> None:
    """The counterpart of the test above: it fails for the typo, not for any --set."""
    result = helm(
        "template",
        RELEASE,
        CHART,
        "--namespace",
        NAMESPACE,
        "--set",
        "replicas=3",
        "--set",
        "image.tag=1.0",
        "--set",
        "serviceMonitor.interval=1m",
    )
    assert result.returncode == 0, result.stderr


def test_every_values_key_is_documented_and_in_the_schema(chart_defaults: dict[str, Any]) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(chart_defaults)
    lines = (CHART / "values.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s*[A-Za-z][\w-]*:", line):
            assert i > 0 and lines[i - 1].lstrip().startswith("#"), f"values.yaml:{i + 1} has no comment: {line}"


# --- helm-values/app.yaml.j2 ---------------------------------------------------------------


def test_app_values_template_validates_against_the_schema(
    helm: Helm, tmp_path: Path, chart_defaults: dict[str, Any]
) -> None:
    context = app_context(
        image_digest="sha256:" + "a" * 64,
        scrape_timeout="10s",
        dashboards_namespace="monitoring",
        dashboards_folder="obsctl",
        resources={"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
    )
    values = yaml.safe_load(render_app_values(context))
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator(schema).validate(deep_merge(chart_defaults, values))

    path = tmp_path / "app-values.yaml"
    path.write_text(render_app_values(context))
    result = helm("template", RELEASE, CHART, "--namespace", NAMESPACE, "--values", path)
    assert result.returncode == 0, result.stderr
    docs = load_yaml_docs(result.stdout)
    assert one(docs, "PrometheusRule")["spec"]["groups"] == context["rule_groups"]
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"].endswith("@sha256:" + "a" * 64)
    assert one(docs, "ServiceMonitor")["metadata"]["labels"]["release"] == KPS_RELEASE


def test_app_values_template_with_only_required_context_and_repo_content(
    helm: Helm, tmp_path: Path, repo_values_file: Path
) -> None:
    content = yaml.safe_load(repo_values_file.read_text())
    context = app_context(rule_groups=content["prometheusRule"]["groups"], dashboards=content["dashboards"])
    path = tmp_path / "app-values.yaml"
    path.write_text(render_app_values(context))
    result = helm("lint", "--strict", CHART, "--values", path)
    assert result.returncode == 0, result.stdout + result.stderr
    result = helm("template", RELEASE, CHART, "--namespace", NAMESPACE, "--values", path)
    assert result.returncode == 0, result.stderr
    docs = load_yaml_docs(result.stdout)
    assert one(docs, "PrometheusRule")["spec"]["groups"] == content["prometheusRule"]["groups"]
    found = {
        k.removesuffix(".json"): v
        for cm in by_kind(docs, "ConfigMap")
        for k, v in cm["data"].items()
        if k.endswith(".json")
    }
    assert found == content["dashboards"]


def test_app_values_template_needs_its_required_context() -> None:
    context = app_context()
    del context["monitoring_release"]
    with pytest.raises(jinja2.UndefinedError, match="monitoring_release"):
        render_app_values(context)


# --- helm-values/kube-prometheus-stack.yaml.j2 ---------------------------------------------


@pytest.mark.parametrize("target", ["kubernetes", "eks"])
def test_kps_prometheus_selects_the_chart_objects(target: str, rendered: list[dict[str, Any]]) -> None:
    spec = render_kps(kps_context(target))["prometheus"]["prometheusSpec"]
    for name in KPS_NIL_USES_HELM_VALUES:
        assert spec[name] is False, name
    for kind, (selector_key, nil_uses_helm_values) in KPS_SELECTORS.items():
        selector = spec.get(selector_key) or {}
        if not selector and spec.get(nil_uses_helm_values, True):
            selector = {"matchLabels": {"release": KPS_RELEASE}}  # what the chart would do
        labels = one(rendered, kind)["metadata"]["labels"]
        assert label_selector_matches(selector, labels), f"{kind} labels {labels} not selected by {selector}"
        # and the release label still matches, should someone turn the NilUses switch back on
        assert labels["release"] == KPS_RELEASE
        assert spec.get(selector_key.replace("Selector", "NamespaceSelector"), {}) == {}


def test_kps_sidecar_finds_the_chart_dashboards(rendered: list[dict[str, Any]]) -> None:
    sidecar = render_kps(kps_context("kubernetes"))["grafana"]["sidecar"]["dashboards"]
    assert sidecar["enabled"] is True
    assert sidecar["searchNamespace"] == "ALL"
    configmaps = [cm for cm in by_kind(rendered, "ConfigMap") if cm["metadata"].get("annotations")]
    assert configmaps
    for cm in configmaps:
        assert cm["metadata"]["labels"][sidecar["label"]] == sidecar["labelValue"]
        assert sidecar["folderAnnotation"] in cm["metadata"]["annotations"]


def test_kps_eks_turns_off_the_managed_control_plane_scrapers() -> None:
    values = render_kps(kps_context("eks"))
    for component in EKS_MANAGED_CONTROL_PLANE:
        assert values[component] == {"enabled": False}, component


def test_kps_control_plane_scrapers_follow_the_context() -> None:
    values = render_kps(kps_context("kubernetes"))
    for component in EKS_MANAGED_CONTROL_PLANE:
        assert values[component] == {"enabled": True}, component
    values = render_kps(kps_context("kubernetes", control_plane={"kubeEtcd": False, "kubeProxy": True}))
    assert values["kubeEtcd"] == {"enabled": False} and values["kubeProxy"] == {"enabled": True}


@pytest.mark.parametrize("target", ["kubernetes", "eks"])
def test_kps_values_hold_no_password(target: str) -> None:
    context = kps_context(target)
    values = render_kps(context)
    grafana = values["grafana"]
    assert grafana["admin"] == {
        "existingSecret": context["grafana_admin_secret"],
        "userKey": "admin-user",
        "passwordKey": "admin-password",
    }
    assert "adminPassword" not in grafana
    offenders = [
        path
        for path, key, value in walk(values)
        if SECRET_KEY.search(key) and key not in SECRET_KEY_ALLOWED and value not in (None, "", [], {})
    ]
    assert offenders == []


def test_kps_alertmanager_config_is_exactly_the_context() -> None:
    context = kps_context("kubernetes", alertmanager_secrets=["obsctl-webhook"])
    wanted = context["alertmanager_config"]
    values = render_kps(context)
    config = values["alertmanager"]["config"]
    # Helm drops keys set to null; what is left is obsctl's config, nothing from the chart.
    assert drop_nulls(config) == wanted
    for key in KPS_ALERTMANAGER_DEFAULT_KEYS - set(wanted):
        assert key in config and config[key] is None, key
    for key in KPS_ALERTMANAGER_DEFAULT_ROUTE_KEYS - set(wanted["route"]):
        assert key in config["route"] and config["route"][key] is None, key
    assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == ["obsctl-webhook"]


def test_kps_resources_retention_and_intervals() -> None:
    context = kps_context(
        "eks", storage_size="20Gi", storage_class="gp3", retention_size="18GB", cluster_name="obsctl-demo"
    )
    values = render_kps(context)
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "10d"
    assert spec["retentionSize"] == "18GB"
    assert spec["scrapeInterval"] == spec["evaluationInterval"] == "30s"
    assert spec["externalLabels"] == {"cluster": "obsctl-demo"}
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "20Gi"
    assert claim["storageClassName"] == "gp3"
    resources = context["resources"]
    assert spec["resources"] == resources["prometheus"]
    assert values["alertmanager"]["alertmanagerSpec"]["resources"] == resources["alertmanager"]
    assert values["grafana"]["resources"] == resources["grafana"]
    assert values["prometheusOperator"]["resources"] == resources["prometheus_operator"]
    assert values["kube-state-metrics"]["resources"] == resources["kube_state_metrics"]
    assert values["prometheus-node-exporter"]["resources"] == resources["node_exporter"]


def test_kps_optional_context_may_be_absent() -> None:
    spec = render_kps(kps_context("kubernetes"))["prometheus"]["prometheusSpec"]
    assert "storageSpec" not in spec
    assert "retentionSize" not in spec
    assert "externalLabels" not in spec


def test_kps_needs_the_grafana_admin_secret() -> None:
    context = kps_context("kubernetes")
    del context["grafana_admin_secret"]
    with pytest.raises(jinja2.UndefinedError, match="grafana_admin_secret"):
        render_kps(context)


def test_kps_needs_resources_for_every_component() -> None:
    context = kps_context("kubernetes")
    del context["resources"]["node_exporter"]
    with pytest.raises(jinja2.UndefinedError, match="node_exporter"):
        render_kps(context)


def test_kps_refuses_an_unknown_target() -> None:
    with pytest.raises(jinja2.UndefinedError, match="target_must_be_kubernetes_or_eks"):
        render_kps(kps_context("local"))


# --- checkov -------------------------------------------------------------------------------


def run_checkov(helm: Helm, tmp_path: Path, *args: str | Path) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.skip(f"{CHECKOV.relative_to(REPO)} is absent; run scripts/install-checkov.sh")
    result = helm("template", RELEASE, CHART, "--namespace", NAMESPACE, *args)
    assert result.returncode == 0, result.stderr
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(result.stdout)
    scan = subprocess.run(
        [
            str(CHECKOV),
            "--file",
            str(manifest),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--output",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    assert scan.returncode in (0, 1), scan.stderr  # 1 means "failed checks", anything else broke
    report = json.loads(scan.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] > 0
    return report


def test_checkov_finds_nothing_in_the_deployed_chart(helm: Helm, tmp_path: Path) -> None:
    """The chart as obsctl installs it (image pinned by digest): no failed check."""
    report = run_checkov(helm, tmp_path, "--values", FIXTURE_VALUES)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 50


def test_checkov_defaults_fail_only_for_the_missing_digest(helm: Helm, tmp_path: Path) -> None:
    """With the defaults (no digest) the one finding is CKV_K8S_43, by design: obsctl passes a digest."""
    report = run_checkov(helm, tmp_path)
    failed = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert failed == {"CKV_K8S_43"}


def test_checkov_skips_are_inline_and_give_a_reason() -> None:
    for path in sorted((CHART / "templates").glob("*.yaml")):
        for line in path.read_text().splitlines():
            if "checkov.io/skip" in line:
                match = CHECKOV_SKIP.search(line)
                assert match, f"{path.name}: {line.strip()}"
                assert re.fullmatch(r"CKV2?_K8S_\d+", match["check"]), line
                assert len(match["reason"].strip()) >= 20, f"{path.name}: skip without a real reason: {line}"
