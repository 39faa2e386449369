"""Manifest validation: the only module that imports `jsonschema` and `kubernetes_validate`.

Why it exists: the API server checks every custom resource against its CRD's
`openAPIV3Schema` and every built-in object against its own OpenAPI schema, so a chart that
renders a value the schema forbids fails in the middle of `up`. Helm 3.18.0 evaluates a `0`
from a chart's own values.yaml as true inside `{{ if }}` / `{{ with }}` (it reaches the template
as a json.Number, a non-empty string; Ref https://github.com/helm/helm/issues/30923, fixed in
3.18.1): kube-prometheus-stack 88.x then renders `spec.maximumStartupDurationSeconds: 0` on
the Prometheus object, whose CRD says `minimum: 60`. Validating the rendered stream first
turns that into a list of problems before anything is applied.

The rules are strict on purpose: a field the API server would silently drop is reported too.

- A custom resource is checked against its CRD version's `openAPIV3Schema`, translated to
  JSON Schema draft 4 (OpenAPI 3.0 writes `exclusiveMinimum` as a boolean, like draft 4) with
  Kubernetes' structural-schema extensions honoured: an unknown field is an error except under
  `x-kubernetes-preserve-unknown-fields: true`; `x-kubernetes-int-or-string`; `nullable`;
  the ranges of the `int32` / `int64` formats; unique items of `x-kubernetes-list-type` `set`
  and `map`; `pattern`s written for Go's RE2 are rewritten for Python where RE2 differs
  (a `(?i)` inside a group scopes to that group). `metadata` is checked against Kubernetes'
  ObjectMeta. Not evaluated (listed in `Validator.unchecked`): CEL rules
  (`x-kubernetes-validations`), a pattern Python cannot express; other formats are ignored.
- A built-in kind is checked with kubernetes-validate's strict schemas for one Kubernetes
  version. They are loaded once per kind and version (kubernetes-validate's own `validate`
  re-reads its 1.4 MB definitions file on every call and stops at the first error).
- A kind with neither is reported as "no schema", never passed silently.

Problems are data (`Problem`); nothing here prints. Every failure of the libraries (an
unreadable file, a YAML error, a schema the library cannot use) leaves as an obsctl error
from `_translate`. jsonschema and kubernetes-validate are imported when first needed: together
they take ~70 ms to import, twice `import typer`, and `obsctl --help` must stay quick.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from obsctl.errors import InputError, ObsctlError, ToolError

if TYPE_CHECKING:
    import referencing

DEFAULT_KUBERNETES_VERSION = "1.33"
GVK = tuple[str, str, str]
"""(group, version, kind) of an object; group is "" for the core API (apiVersion: v1)."""

_CRD_API_VERSION = "apiextensions.k8s.io/v1"
_OBJECT_META = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
# Keys of a CRD schema that say nothing about validity, or that are translated separately.
_DROPPED_KEYS = frozenset(
    {
        "description",
        "default",
        "example",
        "externalDocs",
        "title",
        "nullable",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-map-type",
        "x-kubernetes-validations",
    }
)


@dataclass(frozen=True)
class Problem:
    """One reason the API server would reject (or silently change) an object."""

    kind: str
    name: str  # "namespace/name", or "name" for an object without a namespace
    path: str  # JSON path inside the object, e.g. "spec.containers[0].image"; "" for the object
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.kind} {self.name}: {where}{self.message}"


@dataclass(frozen=True)
class CrdVersion:
    """One version of a CustomResourceDefinition: its name, whether it is served, its schema."""

    crd: str  # metadata.name of the CRD, e.g. prometheuses.monitoring.coreos.com
    served: bool
    schema: Mapping[str, Any]  # the version's openAPIV3Schema, as written


CrdSchemas = dict[GVK, CrdVersion]


# --- reading ---------------------------------------------------------------------------------


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]  # base picked at import
    """YAML as the API server reads it (sigs.k8s.io/yaml): a date stays a string, and a plain
    `=` is a string (PyYAML tags it `value` and cannot construct it, Ref yaml/pyyaml#89; the
    prometheus-operator CRDs have `enum: [=, !=, ...]`)."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def parse_stream(text: str, source: str = "manifests") -> list[Any]:
    """The documents of a YAML stream (empty documents dropped), e.g. `helm template` output."""
    with _guarded(f"reading {source}"):
        return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]


def crd_schemas(docs: Iterable[Any]) -> CrdSchemas:
    """The schemas of every CustomResourceDefinition among `docs`, keyed by (group, version, kind).
    Other documents are skipped, so a whole `helm template --include-crds` stream can be passed."""
    found: CrdSchemas = {}
    for doc in docs:
        if not (isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"):
            continue
        if doc.get("apiVersion") != _CRD_API_VERSION:
            continue  # apiextensions.k8s.io/v1beta1 is gone since Kubernetes 1.22
        spec = doc.get("spec") or {}
        name = (doc.get("metadata") or {}).get("name", "?")
        for version in spec.get("versions") or []:
            schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or {}
            key = (spec.get("group", ""), version.get("name", ""), (spec.get("names") or {}).get("kind", ""))
            found[key] = CrdVersion(name, bool(version.get("served", True)), schema)
    return found


def load_crd_schemas(path: Path) -> CrdSchemas:
    """The CRD schemas in a YAML file, or in the *.yaml / *.yml files of a folder (a chart's
    crds/). A path that holds no CustomResourceDefinition is an error: it is surely the wrong one."""
    files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
    found: CrdSchemas = {}
    for file in files:
        with _guarded(f"reading {file}"):
            text = file.read_text()
        found.update(crd_schemas(parse_stream(text, str(file))))
    if not found:
        raise InputError(f"no CustomResourceDefinition in {path}", "point at a chart's crds/ folder or a CRD file")
    return found


def supported_kubernetes_versions() -> list[str]:
    """The Kubernetes versions kubernetes-validate has schemas for, oldest first ("1.25", ...)."""
    return [f"{major}.{minor}" for major, minor in sorted(_schema_dirs())]


# --- validating ------------------------------------------------------------------------------


@dataclass
class Validator:
    """Validates objects against CRD schemas and Kubernetes' built-in schemas.

    Compiled schemas are cached per (group, version, kind), so one Validator should be reused
    for a whole stream. `unchecked` lists the rules of the schemas used so far that are not
    evaluated (CEL rules, patterns Python cannot express), one line each.
    """

    crds: Mapping[GVK, CrdVersion] = field(default_factory=dict)
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    unchecked: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._schema_dir = _schema_dir_for(self.kubernetes_version)
        self._custom: dict[GVK, Any] = {}

    def validate(self, docs: Iterable[Any]) -> list[Problem]:
        """Every problem of every document, in document order."""
        problems: list[Problem] = []
        for index, doc in enumerate(docs):
            problems.extend(self.validate_object(doc, index))
        return problems

    def validate_object(self, doc: Any, index: int = 0) -> list[Problem]:
        """The problems of one object; `index` names a document that has no kind or name.

        A `kind: List` (or any `*List` with `items`) is checked item by item: Helm and kubectl
        apply its items, and kube-prometheus-stack renders its additional ServiceMonitors and
        PodMonitors as one."""
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            return [problem for item in doc["items"] for problem in self.validate_object(item, index)]
        identity = _identity(doc)
        if identity is None:
            return [Problem("?", f"document {index + 1}", "", "not a Kubernetes object (apiVersion, kind, metadata)")]
        kind, name, api_version = identity
        group, _, version = api_version.rpartition("/")
        with _guarded(f"validating {kind} {name}"):
            crd = self.crds.get((group, version, kind))
            if crd is not None:
                return self._validate_custom(doc, kind, name, (group, version, kind), crd)
            builtin = _builtin_validator(self._schema_dir, kind, api_version)
            if builtin is not None:
                return _problems(kind, name, "", builtin.iter_errors(doc))
            other = sorted(v for (g, v, k) in self.crds if (g, k) == (group, kind))
            if other:
                return [Problem(kind, name, "apiVersion", f"its CRD has no version {version} (has {', '.join(other)})")]
            return [
                Problem(
                    kind,
                    name,
                    "",
                    f"no schema: no CRD for {api_version} {kind} given, and not a built-in kind of Kubernetes "
                    f"{self.kubernetes_version}",
                )
            ]

    def _validate_custom(self, doc: dict[str, Any], kind: str, name: str, key: GVK, crd: CrdVersion) -> list[Problem]:
        if not crd.served:
            return [Problem(kind, name, "apiVersion", f"version {key[1]} of CRD {crd.crd} is not served")]
        validator = self._custom.get(key)
        if validator is None:
            notes: list[str] = []
            schema = _strict_schema(crd.schema, notes, root=True)
            self.unchecked.extend(f"{kind} {key[1]}: {note}" for note in notes)
            cls, formats = _crd_validator_class()
            validator = self._custom[key] = cls(schema, format_checker=formats)
        problems = _problems(kind, name, "", validator.iter_errors(doc))
        meta = _object_meta_validator(self._schema_dir)
        problems.extend(_problems(kind, name, "metadata", meta.iter_errors(doc["metadata"])))
        return problems


def validate_stream(
    text: str,
    crds: Mapping[GVK, CrdVersion] | None = None,
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
) -> list[Problem]:
    """Every problem in a YAML stream, e.g. `helm template --include-crds` output.

    The CRDs found in the stream itself are used too (over `crds` for the same kind and
    version: they are what the chart installs)."""
    docs = parse_stream(text)
    schemas = {**(crds or {}), **crd_schemas(docs)}
    return Validator(schemas, kubernetes_version).validate(docs)


# --- CRD schema → JSON Schema ----------------------------------------------------------------


def _strict_schema(
    node: Mapping[str, Any], notes: list[str], path: str = "", root: bool = False, in_junction: bool = False
) -> Any:
    """A CRD's structural schema as a draft 4 JSON Schema that rejects what Kubernetes prunes.
    What cannot be checked is added to `notes`, naming where (`path`) in the object it applies."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "properties":
            out[key] = {name: _strict_schema(child, notes, _json_path([name], path)) for name, child in value.items()}
        elif key in ("items", "not", "additionalProperties") and isinstance(value, Mapping):
            out[key] = _strict_schema(value, notes, path + {"items": "[*]", "additionalProperties": ".*"}.get(key, ""))
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_strict_schema(child, notes, path, in_junction=True) for child in value]
        elif key == "pattern":
            pattern = _python_pattern(value)
            if pattern is None:
                notes.append(f"{path or '.'}: pattern {value!r} is not a Python regular expression; not checked")
            else:
                out[key] = pattern
        else:
            out[key] = value
    if node.get("x-kubernetes-validations"):
        rules = node["x-kubernetes-validations"]
        notes.extend(f"{path or '.'}: CEL rule not evaluated: {rule.get('rule')}" for rule in rules)
    if node.get("x-kubernetes-int-or-string"):
        # controller-gen writes anyOf: [{type: integer}, {type: string}] next to the marker
        out.pop("anyOf", None)
        out["type"] = ["integer", "string"]
    if root:
        # apiVersion, kind and metadata are implicitly specified at the root of every CRD schema;
        # metadata is ObjectMeta whatever the CRD says (usually `type: object`) and checked apart
        properties = out.setdefault("properties", {})
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties["metadata"] = {}
    is_object = node.get("type") == "object" or "properties" in node
    if (
        is_object
        and not in_junction
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if node.get("nullable"):
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        for junction in ("anyOf", "oneOf"):
            if junction in out:
                out[junction] = [*out[junction], {"type": "null"}]
    return out


_INLINE_FLAGS = re.compile(r"\(\?[imsU]+\)")


def _python_pattern(pattern: str) -> str | None:
    """`pattern` (Go RE2 syntax) as a Python regular expression, or None when it has none.

    RE2 lets `(?i)` appear anywhere and scopes it to the rest of the enclosing group; Python
    only allows it at the start. `^((?i)sun|mon)day` becomes `^((?i:sun|mon))day`."""
    with contextlib.suppress(re.error):
        re.compile(pattern)
        return pattern
    rewritten = _scope_inline_flags(pattern)
    try:
        re.compile(rewritten)
    except re.error:
        return None
    return rewritten


def _scope_inline_flags(pattern: str) -> str:
    for match in _INLINE_FLAGS.finditer(pattern):
        start = match.start()
        if start == 0 or _escaped_or_in_class(pattern, start):
            continue
        end = _group_end(pattern, match.end())
        flags = match.group()[2:-1]
        inner = _scope_inline_flags(pattern[match.end() : end])
        return pattern[:start] + f"(?{flags}:{inner})" + _scope_inline_flags(pattern[end:])
    return pattern


def _escaped_or_in_class(pattern: str, index: int) -> bool:
    escaped = in_class = False
    for char in pattern[:index]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
    return escaped or in_class


def _group_end(pattern: str, start: int) -> int:
    """Index of the `)` that closes the group open at `start`, or len(pattern) at top level."""
    depth = 0
    escaped = in_class = False
    for index in range(start, len(pattern)):
        char = pattern[index]
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return index
            depth -= 1
    return len(pattern)


def _list_type(validator: Any, list_type: str, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    """x-kubernetes-list-type: a `set` has unique items, a `map` unique x-kubernetes-list-map-keys."""
    if not validator.is_type(instance, "array"):
        return
    keys = schema.get("x-kubernetes-list-map-keys") or []
    seen: set[str] = set()
    for item in instance:
        if list_type == "map" and isinstance(item, dict):
            identity = {key: item.get(key) for key in keys}
        elif list_type == "set":
            identity = item
        else:
            continue
        token = json.dumps(identity, sort_keys=True, default=str)
        if token in seen:
            import jsonschema

            what = ", ".join(f"{k}={v!r}" for k, v in identity.items()) if list_type == "map" else repr(item)
            yield jsonschema.ValidationError(f"duplicate entry ({what}) in a list of type {list_type}")
        seen.add(token)


def _in_range(name: str) -> Any:
    low, high = _INT_RANGES[name]
    return lambda value: not isinstance(value, int) or isinstance(value, bool) or low <= value <= high


@functools.cache
def _crd_validator_class() -> tuple[Any, Any]:
    """Draft 4 plus x-kubernetes-list-type, and a format checker that knows int32 and int64 only."""
    import jsonschema

    cls = jsonschema.validators.extend(jsonschema.Draft4Validator, {"x-kubernetes-list-type": _list_type})
    formats = jsonschema.FormatChecker(formats=())
    for name in _INT_RANGES:
        formats.checks(name)(_in_range(name))
    return cls, formats


# --- built-in kinds (kubernetes-validate's schemas) -----------------------------------------


def _schema_root() -> Any:
    import kubernetes_validate

    return importlib.resources.files(kubernetes_validate) / "kubernetes-json-schema"


@functools.cache
def _schema_dirs() -> dict[tuple[int, int], str]:
    """(major, minor) → the folder of kubernetes-validate's strict schemas for that version."""
    found: dict[tuple[int, int], str] = {}
    with _guarded("reading kubernetes-validate's schemas"):
        for entry in _schema_root().iterdir():
            match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+-local-strict", entry.name)
            if match:
                found[(int(match[1]), int(match[2]))] = entry.name
    if not found:
        raise ToolError("kubernetes-validate has no strict schemas", "reinstall obsctl (pip install -e .)")
    return found


def _schema_dir_for(version: str) -> str:
    """The schema folder for `version` ("1.33", "v1.33.4"): the newest one not newer than it."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(\.\d+)?", version.strip())
    dirs = _schema_dirs()
    known = f"{min(dirs)[0]}.{min(dirs)[1]} to {max(dirs)[0]}.{max(dirs)[1]}"
    if match is None:
        raise InputError(f"{version!r} is not a Kubernetes version", f"use major.minor, one of {known}")
    wanted = (int(match[1]), int(match[2]))
    candidates = [v for v in dirs if v <= wanted]
    if wanted > max(dirs) or not candidates:
        raise InputError(
            f"kubernetes-validate has no schemas for Kubernetes {version}", f"choose a version from {known}"
        )
    return dirs[max(candidates)]


@functools.cache
def _definitions(schema_dir: str) -> referencing.Registry[Any]:
    import referencing

    with _guarded(f"reading kubernetes-validate's {schema_dir}/_definitions.json"):
        contents = json.loads((_schema_root() / schema_dir / "_definitions.json").read_text())
    return referencing.Resource.from_contents(contents) @ referencing.Registry()


@functools.cache
def _builtin_validator(schema_dir: str, kind: str, api_version: str) -> Any:
    """A validator for a built-in kind, or None when kubernetes-validate has no schema for it.

    kubernetes-validate names its files `<kind>-<group's first label>-<version>.json`, so a
    CRD kind `Deployment` in group apps.example.com would find apps/v1's file: the schema's own
    apiVersion enum must name the object's apiVersion."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    file = _schema_root() / schema_dir / f"{kind.lower()}-{group_version}.json"
    if not file.is_file():
        return None
    schema = json.loads(file.read_text())
    allowed = ((schema.get("properties") or {}).get("apiVersion") or {}).get("enum")
    if allowed is not None and api_version not in allowed:
        return None
    import jsonschema

    return jsonschema.Draft202012Validator(schema, registry=_definitions(schema_dir))


@functools.cache
def _object_meta_validator(schema_dir: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator({"$ref": _OBJECT_META}, registry=_definitions(schema_dir))


# --- problems --------------------------------------------------------------------------------


def _identity(doc: Any) -> tuple[str, str, str] | None:
    """(kind, "namespace/name", apiVersion) of a Kubernetes object, or None."""
    if not isinstance(doc, dict):
        return None
    kind, api_version, metadata = doc.get("kind"), doc.get("apiVersion"), doc.get("metadata")
    if not (isinstance(kind, str) and isinstance(api_version, str) and isinstance(metadata, dict)):
        return None
    name = metadata.get("name") or metadata.get("generateName")
    if not isinstance(name, str):
        return None
    namespace = metadata.get("namespace")
    return kind, f"{namespace}/{name}" if namespace else name, api_version


def _json_path(parts: Iterable[Any], prefix: str = "") -> str:
    path = prefix
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_$][\w$-]*", part):
            path += f".{part}" if path else part
        else:
            path += f"[{json.dumps(part)}]"
    return path


def _problems(kind: str, name: str, prefix: str, errors: Iterable[Any]) -> list[Problem]:
    out: list[Problem] = []
    for error in errors:
        path = _json_path(error.absolute_path, prefix)
        if error.validator == "additionalProperties" and error.validator_value is False:
            known = set(error.schema.get("properties") or {})
            for extra in sorted(k for k in error.instance if k not in known):
                out.append(Problem(kind, name, _json_path([extra], path), "unknown field (not in the schema)"))
            continue
        if error.validator == "format":
            message = f"{error.instance} is out of range for {error.validator_value}"
        elif error.validator == "type" and error.instance is None:
            message = f"null is not allowed here (expected {error.validator_value}; the field is not nullable)"
        else:
            message = error.message
        out.append(Problem(kind, name, path, message))
    return sorted(out, key=lambda problem: problem.path)


# --- errors ----------------------------------------------------------------------------------


def _translate(exc: BaseException, doing: str) -> ObsctlError:
    """The obsctl error for a failure of PyYAML, jsonschema or kubernetes-validate's data."""
    import jsonschema
    import referencing.exceptions

    if isinstance(exc, ObsctlError):  # already ours (raised inside a guarded block)
        return exc
    if isinstance(exc, yaml.YAMLError):
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        return InputError(f"{doing}: not valid YAML{line}: {getattr(exc, 'problem', None) or exc}")
    if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
        return InputError(f"{doing}: {exc.strerror}: {exc.filename}")
    if isinstance(exc, jsonschema.SchemaError | jsonschema.exceptions.UnknownType | re.error):
        return ToolError(f"{doing}: jsonschema cannot use the schema: {str(exc).splitlines()[0]}", "check the CRD")
    if isinstance(exc, referencing.exceptions.Unresolvable):
        return ToolError(f"{doing}: kubernetes-validate's schema has a broken reference ({exc})", "reinstall obsctl")
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return ToolError(f"{doing}: unreadable schema data ({exc})", "reinstall obsctl (pip install -e .)")
    if isinstance(exc, OSError):
        return InputError(f"{doing}: {exc}")
    return ToolError(f"{doing}: {exc.__class__.__name__}: {exc}")


@contextlib.contextmanager
def _guarded(doing: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # every library failure leaves as an obsctl error
        raise _translate(exc, doing) from None
