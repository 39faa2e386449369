"""obsctl.tools.manifests: each validation rule, proven on a small synthetic CRD and on built-in kinds.

Every rule has a test that makes it fail; a rule that only ever passes proves nothing. The real
kube-prometheus-stack chart is not used here (it is not installable on these machines); the
app chart's render is validated in tests/integration/test_app_chart_schemas.py.
"""

from __future__ import annotations

import copy
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing.exceptions
import yaml

from obsctl.errors import InputError, ObsctlError, ToolError
from obsctl.tools import manifests as m

CRD = textwrap.dedent(
    """
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: widgets.example.com
    spec:
      group: example.com
      names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}
      scope: Namespaced
      versions:
        - name: v1beta1
          served: false
          storage: false
          schema:
            openAPIV3Schema: {type: object}
        - name: v1
          served: true
          storage: true
          schema:
            openAPIV3Schema:
              type: object
              properties:
                apiVersion: {type: string}
                kind: {type: string}
                metadata: {type: object}
                spec:
                  type: object
                  required: [replicas]
                  x-kubernetes-validations:
                    - rule: "!has(self.extra) || has(self.replicas)"
                      message: extra needs replicas
                  properties:
                    replicas: {type: integer, format: int32, minimum: 1}
                    total: {type: integer, format: int64}
                    startupSeconds: {type: integer, format: int32, minimum: 60}
                    port:
                      anyOf: [{type: integer}, {type: string}]
                      x-kubernetes-int-or-string: true
                    note: {type: string, nullable: true}
                    size: {type: string}
                    mode: {type: string, enum: [fast, safe]}
                    matchType: {type: string, enum: ["=", "!="]}
                    day: {type: string, pattern: '^((?i)mon|tues)day$'}
                    extra:
                      type: object
                      x-kubernetes-preserve-unknown-fields: true
                    labels:
                      type: object
                      additionalProperties: {type: string}
                    env:
                      type: array
                      x-kubernetes-list-type: map
                      x-kubernetes-list-map-keys: [name]
                      items:
                        type: object
                        required: [name]
                        properties:
                          name: {type: string}
                          value: {type: string}
                    tags:
                      type: array
                      x-kubernetes-list-type: set
                      items: {type: string}
                status:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
    """
)

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.27",
                        "ports": [{"containerPort": 8080, "name": "http"}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                    }
                ]
            },
        },
    },
}


def widget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "ns", "labels": {"app": "w"}},
        "spec": {"replicas": 1, **spec},
    }


@pytest.fixture(scope="module")
def crds() -> m.CrdSchemas:
    return m.crd_schemas(m.parse_stream(CRD))


@pytest.fixture
def validator(crds: m.CrdSchemas) -> m.Validator:
    return m.Validator(crds)


def problems(validator: m.Validator, doc: Any) -> list[str]:
    return [str(p) for p in validator.validate_object(doc)]


# --- custom resources ------------------------------------------------------------------------


def test_a_valid_widget_has_no_problem(validator: m.Validator) -> None:
    doc = widget(
        total=2**40,
        startupSeconds=60,
        port="http",
        note="n",
        size="s",
        mode="safe",
        matchType="=",
        day="Monday",
        extra={"anything": {"deeply": ["nested", 1]}},
        labels={"a": "b"},
        env=[{"name": "A", "value": "1"}, {"name": "B"}],
        tags=["x", "y"],
    )
    assert problems(validator, doc) == []


def test_minimum(validator: m.Validator) -> None:
    """The helm 3.18.0 failure: a 0 rendered into a field whose CRD says minimum 60."""
    assert problems(validator, widget(startupSeconds=0)) == [
        "Widget ns/w: spec.startupSeconds: 0 is less than the minimum of 60"
    ]
    (problem,) = validator.validate_object(widget(startupSeconds=0))
    assert problem == m.Problem("Widget", "ns/w", "spec.startupSeconds", "0 is less than the minimum of 60")


def test_int_or_string(validator: m.Validator) -> None:
    assert problems(validator, widget(port=8080)) == []
    assert problems(validator, widget(port="8080")) == []
    assert problems(validator, widget(port=1.5)) == ["Widget ns/w: spec.port: 1.5 is not of type 'integer', 'string'"]
    assert problems(validator, widget(port=True)) == ["Widget ns/w: spec.port: True is not of type 'integer', 'string'"]


def test_unknown_field_is_an_error_at_every_level(validator: m.Validator) -> None:
    doc = widget(replicaz=2, env=[{"name": "A", "valeu": "1"}])
    doc["specc"] = {}
    assert problems(validator, doc) == [
        "Widget ns/w: spec.env[0].valeu: unknown field (not in the schema)",
        "Widget ns/w: spec.replicaz: unknown field (not in the schema)",
        "Widget ns/w: specc: unknown field (not in the schema)",
    ]


def test_preserve_unknown_fields_allows_anything_below(validator: m.Validator) -> None:
    assert problems(validator, widget(extra={"free": {"form": [1, {"x": None}]}})) == []
    doc = widget()
    doc["status"] = {"whatever": 1}
    assert problems(validator, doc) == []


def test_map_values_follow_additional_properties(validator: m.Validator) -> None:
    assert problems(validator, widget(labels={"a": 1})) == ["Widget ns/w: spec.labels.a: 1 is not of type 'string'"]


def test_nullable(validator: m.Validator) -> None:
    assert problems(validator, widget(note=None)) == []
    assert problems(validator, widget(size=None)) == [
        "Widget ns/w: spec.size: null is not allowed here (expected string; the field is not nullable)"
    ]


def test_int32_and_int64_ranges(validator: m.Validator) -> None:
    assert problems(validator, widget(replicas=2**31 - 1, total=2**63 - 1)) == []
    assert problems(validator, widget(replicas=2**31)) == [
        "Widget ns/w: spec.replicas: 2147483648 is out of range for int32"
    ]
    assert problems(validator, widget(total=2**63)) == [
        "Widget ns/w: spec.total: 9223372036854775808 is out of range for int64"
    ]


def test_enum_required_and_type(validator: m.Validator) -> None:
    assert problems(validator, widget(mode="slow")) == ["Widget ns/w: spec.mode: 'slow' is not one of ['fast', 'safe']"]
    doc = widget()
    del doc["spec"]["replicas"]
    assert problems(validator, doc) == ["Widget ns/w: spec: 'replicas' is a required property"]
    assert problems(validator, widget(replicas="2")) == ["Widget ns/w: spec.replicas: '2' is not of type 'integer'"]


def test_list_types_set_and_map_reject_duplicates(validator: m.Validator) -> None:
    assert problems(validator, widget(tags=["x", "x"])) == [
        "Widget ns/w: spec.tags: duplicate entry ('x') in a list of type set"
    ]
    assert problems(validator, widget(env=[{"name": "A"}, {"name": "A", "value": "2"}])) == [
        "Widget ns/w: spec.env: duplicate entry (name='A') in a list of type map"
    ]


def test_go_patterns_are_checked_with_their_go_meaning(validator: m.Validator) -> None:
    """RE2 scopes a `(?i)` to its group; Python rejects it mid-pattern unless rewritten."""
    assert problems(validator, widget(day="MONday")) == []
    assert problems(validator, widget(day="TUESday")) == []
    assert problems(validator, widget(day="monDAY")) == [
        "Widget ns/w: spec.day: 'monDAY' does not match '^((?i:mon|tues))day$'"
    ]


@pytest.mark.parametrize(
    ("go", "python"),
    [
        ("^[a-z]+$", "^[a-z]+$"),
        ("^(?i)(abort|warn)?$", "^(?i:(abort|warn)?$)"),
        ("^((?i)a|b)(?:((:((?i)c|d))$)|$)", "^((?i:a|b))(?:((:((?i:c|d)))$)|$)"),
        (r"^\((?i)x\)$", r"^\((?i:x\)$)"),  # escaped parentheses are not groups
        ("[(?i)]", "[(?i)]"),  # in a character class it is four characters, valid in both
    ],
)
def test_python_pattern(go: str, python: str) -> None:
    assert m._python_pattern(go) == python
    re.compile(python)


def test_a_pattern_python_cannot_express_is_listed_as_unchecked() -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": r"^\p{Greek}+$"}}}
    crds = {("example.com", "v1", "Thing"): m.CrdVersion("things.example.com", True, schema)}
    v = m.Validator(crds)
    doc = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "s": "abc"}
    assert v.validate_object(doc) == []
    assert v.unchecked == [r"Thing v1: s: pattern '^\\p{Greek}+$' is not a Python regular expression; not checked"]


def test_cel_rules_are_listed_as_unchecked(validator: m.Validator) -> None:
    assert validator.unchecked == []
    validator.validate_object(widget())
    assert validator.unchecked == ["Widget v1: spec: CEL rule not evaluated: !has(self.extra) || has(self.replicas)"]


def test_metadata_of_a_custom_resource_is_object_meta(validator: m.Validator) -> None:
    doc = widget()
    doc["metadata"]["labels"] = {"version": 1.0}
    doc["metadata"]["annotation"] = {}
    assert problems(validator, doc) == [
        "Widget ns/w: metadata.annotation: unknown field (not in the schema)",
        "Widget ns/w: metadata.labels.version: 1.0 is not of type 'string', 'null'",
    ]


def test_a_version_that_is_not_served_or_not_defined(validator: m.Validator) -> None:
    doc = widget()
    doc["apiVersion"] = "example.com/v1beta1"
    assert problems(validator, doc) == [
        "Widget ns/w: apiVersion: version v1beta1 of CRD widgets.example.com is not served"
    ]
    doc["apiVersion"] = "example.com/v2"
    assert problems(validator, doc) == ["Widget ns/w: apiVersion: its CRD has no version v2 (has v1, v1beta1)"]


# --- built-in kinds and unknown kinds --------------------------------------------------------


def test_a_valid_deployment_has_no_problem(validator: m.Validator) -> None:
    assert problems(validator, DEPLOYMENT) == []


def test_a_misspelled_field_of_a_deployment(validator: m.Validator) -> None:
    doc = copy.deepcopy(DEPLOYMENT)
    probe = doc["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["httpGett"] = probe.pop("httpGet")
    doc["spec"]["replica"] = doc["spec"].pop("replicas")
    assert problems(validator, doc) == [
        "Deployment apps/web: spec.replica: unknown field (not in the schema)",
        "Deployment apps/web: spec.template.spec.containers[0].readinessProbe.httpGett: "
        "unknown field (not in the schema)",
    ]


def test_a_wrong_type_in_a_deployment(validator: m.Validator) -> None:
    doc = copy.deepcopy(DEPLOYMENT)
    doc["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080"
    assert problems(validator, doc) == [
        "Deployment apps/web: spec.template.spec.containers[0].ports[0].containerPort: '8080' is not of type 'integer'"
    ]


def test_an_unknown_kind_has_no_schema(validator: m.Validator) -> None:
    doc = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "sm"}}
    assert problems(validator, doc) == [
        "ServiceMonitor sm: no schema: no CRD for monitoring.coreos.com/v1 ServiceMonitor given, "
        "and not a built-in kind of Kubernetes 1.33"
    ]


def test_a_crd_kind_named_like_a_builtin_is_not_taken_for_it(validator: m.Validator) -> None:
    doc = {**copy.deepcopy(DEPLOYMENT), "apiVersion": "apps.example.com/v1"}
    (problem,) = validator.validate_object(doc)
    assert problem.message.startswith("no schema: no CRD for apps.example.com/v1 Deployment")


def test_the_kubernetes_version_decides_which_kinds_exist() -> None:
    """autoscaling/v2beta2 was served up to Kubernetes 1.25 and removed in 1.26."""
    doc = {
        "apiVersion": "autoscaling/v2beta2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h"},
        "spec": {"maxReplicas": 3, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}},
    }
    assert m.Validator({}, "1.25").validate_object(doc) == []
    (problem,) = m.Validator({}, "1.26").validate_object(doc)
    assert problem.message.startswith("no schema: no CRD for autoscaling/v2beta2 HorizontalPodAutoscaler given")


def test_the_items_of_a_list_are_validated(validator: m.Validator) -> None:
    """kube-prometheus-stack renders prometheus.additionalServiceMonitors as a `kind: List`."""
    doc = {"apiVersion": "v1", "kind": "List", "items": [widget(), widget(startupSeconds=0), "junk"]}
    assert problems(validator, doc) == [
        "Widget ns/w: spec.startupSeconds: 0 is less than the minimum of 60",
        "? document 1: not a Kubernetes object (apiVersion, kind, metadata)",
    ]
    assert problems(validator, {"apiVersion": "v1", "kind": "List", "items": []}) == []


def test_something_that_is_not_an_object() -> None:
    assert [str(p) for p in m.Validator().validate(["text", {"kind": "ConfigMap"}])] == [
        "? document 1: not a Kubernetes object (apiVersion, kind, metadata)",
        "? document 2: not a Kubernetes object (apiVersion, kind, metadata)",
    ]


# --- streams, files and versions -------------------------------------------------------------


def test_validate_stream_uses_the_crds_in_the_stream() -> None:
    """`helm template --include-crds` output carries its own CRDs; the CRD objects are validated too."""
    stream = "\n---\n".join([CRD, yaml.safe_dump(widget(startupSeconds=0)), yaml.safe_dump(DEPLOYMENT), ""])
    assert [str(p) for p in m.validate_stream(stream)] == [
        "Widget ns/w: spec.startupSeconds: 0 is less than the minimum of 60"
    ]
    broken_crd = CRD.replace("scope: Namespaced", "scope: Namespaced\n  scoop: x")
    assert [str(p) for p in m.validate_stream(broken_crd)] == [
        "CustomResourceDefinition widgets.example.com: spec.scoop: unknown field (not in the schema)"
    ]


def test_parse_stream_reads_yaml_as_kubernetes_does() -> None:
    (doc,) = m.parse_stream("a: =\nb: 2024-01-01\nc: '1'\n---\n---\n")
    assert doc == {"a": "=", "b": "2024-01-01", "c": "1"}


def test_load_crd_schemas_from_a_folder_and_a_file(tmp_path: Path) -> None:
    (tmp_path / "widgets.yaml").write_text(CRD)
    (tmp_path / "notes.txt").write_text("not yaml: [")
    (tmp_path / "other.yml").write_text(yaml.safe_dump(DEPLOYMENT))
    from_folder = m.load_crd_schemas(tmp_path)
    assert sorted(from_folder) == [("example.com", "v1", "Widget"), ("example.com", "v1beta1", "Widget")]
    assert from_folder == m.load_crd_schemas(tmp_path / "widgets.yaml")
    assert from_folder[("example.com", "v1beta1", "Widget")].served is False


def test_load_crd_schemas_refuses_a_path_without_crds(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(DEPLOYMENT))
    with pytest.raises(InputError, match="no CustomResourceDefinition in"):
        m.load_crd_schemas(tmp_path)
    with pytest.raises(InputError, match="No such file or directory"):
        m.load_crd_schemas(tmp_path / "missing.yaml")


def test_bad_yaml_is_an_input_error_with_its_line() -> None:
    with pytest.raises(InputError, match=r"reading manifests: not valid YAML \(line 2\): mapping values"):
        m.parse_stream("a: 1\n  b: 2\n")


def test_kubernetes_versions() -> None:
    versions = m.supported_kubernetes_versions()
    assert m.DEFAULT_KUBERNETES_VERSION in versions
    assert versions == sorted(versions, key=lambda v: tuple(map(int, v.split("."))))
    assert m.Validator({}, "v1.33.4").validate_object(DEPLOYMENT) == []
    for bad in ("1.99", "1.2", "latest"):
        with pytest.raises(InputError):
            m.Validator({}, bad)


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "cls", "words"),
    [
        (yaml.YAMLError("bad"), InputError, "not valid YAML"),
        (FileNotFoundError(2, "No such file or directory", "/x"), InputError, "No such file or directory: /x"),
        (PermissionError(13, "Permission denied", "/x"), InputError, "Permission denied: /x"),
        (jsonschema.SchemaError("bad schema"), ToolError, "jsonschema cannot use the schema"),
        (jsonschema.exceptions.UnknownType("strange", 1, {}), ToolError, "jsonschema cannot use the schema"),
        (re.error("bad pattern"), ToolError, "jsonschema cannot use the schema"),
        (referencing.exceptions.Unresolvable("#/x"), ToolError, "broken reference"),
        (json.JSONDecodeError("bad", "{", 0), ToolError, "unreadable schema data"),
        (RuntimeError("surprise"), ToolError, "RuntimeError: surprise"),
    ],
)
def test_translate_maps_every_library_error(exc: BaseException, cls: type, words: str) -> None:
    with pytest.raises(cls) as info, m._guarded("validating X"):
        raise exc
    assert words in info.value.message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_schema_jsonschema_cannot_use_leaves_as_an_obsctl_error() -> None:
    """Through the public API, not just the translation table."""
    schema = {"type": "object", "properties": {"n": {"type": "decimal"}}}
    crds = {("example.com", "v1", "Thing"): m.CrdVersion("things.example.com", True, schema)}
    doc = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "n": 1}
    with pytest.raises(ObsctlError, match="validating Thing t: jsonschema cannot use the schema"):
        m.Validator(crds).validate_object(doc)
