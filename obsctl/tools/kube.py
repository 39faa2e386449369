"""Kubernetes adapter: the only module that imports the `kubernetes` client.

A small facade over what obsctl's Kubernetes layer needs: a client for one kubeconfig file and
one context (and the guard that refuses to act on any other), namespaces that are created,
deleted and waited for, CRDs and workload rollouts waited for by WATCH with a deadline, the
cleanup that keeps cloud load balancers and volumes from being orphaned, the Grafana admin
Secret, scaling, pods and nodes, a service-proxy GET for checks, and a port-forward bound to
127.0.0.1.

Every wait has a deadline and, when it passes, raises WaitTimeout with the last state it saw.
Every failure of the client library (ApiException, urllib3 and websocket errors, a bad
kubeconfig) is translated into an obsctl error in ONE function, `_translate`, and re-raised
`from None`: no library exception leaves this module (tests/unit/kube/test_errors.py).
Nothing here prints; secrets are returned, never logged.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets as _secrets
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obsctl.errors import ObsctlError, PreflightError, ToolError, Unreachable, WaitTimeout

# The mark obsctl puts on what it creates (namespaces, Secrets, a StorageClass) and reads back
# before any delete: the managed-by label AND the environment's name. Objects without both are
# someone else's: read, never changed or deleted (DESIGN.md "Ownership").
OWNER_LABEL = "app.kubernetes.io/managed-by"
OWNER_VALUE = "obsctl"
ENV_ANNOTATION = "obsctl.io/environment"
MANAGED_BY = {OWNER_LABEL: OWNER_VALUE}
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
# Helm (>= 3.2) annotates every object a release creates with these two.
HELM_RELEASE = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
# Custom resources whose operator creates StatefulSets (and so PVCs and Services) for them.
OPERATOR_WORKLOAD_KINDS = (
    ("monitoring.coreos.com", "v1", "prometheuses", "Prometheus"),
    ("monitoring.coreos.com", "v1", "alertmanagers", "Alertmanager"),
    ("monitoring.coreos.com", "v1", "thanosrulers", "ThanosRuler"),
    ("monitoring.coreos.com", "v1alpha1", "prometheusagents", "PrometheusAgent"),
)
# the read timeout of a plain (non-watch) request: an API server that accepted the connection
# but never answers must not hang obsctl
REQUEST_TIMEOUT = (10.0, 30.0)


class NotFound(ToolError):
    """The object does not exist (HTTP 404)."""


class Conflict(ToolError):
    """The object already exists or changed under us (HTTP 409)."""


# --- the one place that translates library failures -----------------------------------------


def _translate(exc: BaseException, doing: str, server: str = "") -> ObsctlError:
    """The obsctl error for a failure of the kubernetes client while `doing` something.

    Ordered from most to least specific; the order matters because ApiException with status 0
    is how the client reports a failed websocket handshake.
    """
    import urllib3
    import websocket
    import yaml
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    where = f" at {server}" if server else ""
    if isinstance(exc, ObsctlError):  # already ours (raised inside a guarded block)
        return exc
    if isinstance(exc, ConfigException | yaml.YAMLError):
        return PreflightError(
            f"cannot use the kubeconfig: {exc}", "check the kubeconfig path and that it names the context"
        )
    if isinstance(exc, ApiException):
        status = exc.status or 0
        reason = _api_reason(exc)
        if status == 404:
            return NotFound(f"{doing}: not found ({reason})")
        if status == 409:
            return Conflict(f"{doing}: conflict ({reason})")
        if status in (401, 403):
            return PreflightError(
                f"{doing}: the Kubernetes API{where} refused the request ({status} {reason})",
                "check the credentials of the kube context (kubectl auth can-i '*' '*')",
            )
        if status == 410:
            return ToolError(f"{doing}: watch expired ({reason})")
        if status == 0:
            return ToolError(f"{doing}: {reason or 'connection failed'}")
        return ToolError(f"{doing}: the Kubernetes API{where} answered {status} ({reason})")
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return ToolError(f"{doing}: the Kubernetes API{where} did not answer in time", "is the cluster overloaded?")
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        # a transport failure is not bad input: exit 1 (a preflight probe turns it into a refusal)
        return Unreachable(
            f"{doing}: cannot reach the Kubernetes API{where}: {exc.__class__.__name__}",
            "check that the cluster is running and that the kube context points at it",
        )
    if isinstance(exc, websocket.WebSocketException):
        return ToolError(f"{doing}: port-forward stream failed: {exc}")
    if isinstance(exc, ValueError | TypeError | KeyError):  # malformed answers from the server
        return ToolError(f"{doing}: unexpected answer from the Kubernetes API{where}: {exc}")
    return ToolError(f"{doing}: {exc.__class__.__name__}: {exc}")


def _api_reason(exc: Any) -> str:
    """The API server's own message (a Status object), else the HTTP reason."""
    import json

    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return str(data["message"])
        except (ValueError, TypeError):
            pass
    return str(getattr(exc, "reason", "") or "")


def _library_errors() -> tuple[type[BaseException], ...]:
    import urllib3
    import websocket
    import yaml
    from kubernetes.client.exceptions import OpenApiException
    from kubernetes.config.config_exception import ConfigException

    return (
        OpenApiException,
        ConfigException,
        yaml.YAMLError,
        urllib3.exceptions.HTTPError,
        websocket.WebSocketException,
        OSError,
        ValueError,
        TypeError,
        KeyError,
    )


@contextlib.contextmanager
def _guarded(doing: str, server: str = "") -> Iterator[None]:
    try:
        yield
    except ObsctlError:
        raise
    except _library_errors() as exc:
        raise _translate(exc, doing, server) from None


def _secs(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"


# --- kubeconfig ------------------------------------------------------------------------------


def kubeconfig_contexts(kubeconfig: Path | None) -> tuple[list[str], str | None]:
    """Context names in a kubeconfig, and its current context."""
    from kubernetes import config

    path = str(kubeconfig) if kubeconfig else None
    files = [Path(p).expanduser() for p in (path or os.environ.get("KUBECONFIG") or "~/.kube/config").split(":")]
    if not any(f.is_file() for f in files):
        raise PreflightError(
            f"no kubeconfig at {':'.join(str(f) for f in files)}",
            "set kubernetes.kubeconfig in obsctl.yaml or KUBECONFIG, or create the cluster's context first",
        )
    with _guarded(f"read kubeconfig {kubeconfig or '(default)'}"):
        contexts, current = config.list_kube_config_contexts(config_file=path)
    return [c["name"] for c in contexts], (current or {}).get("name")


def guard_context(kubeconfig: Path | None, expected: str, env_name: str) -> str:
    """Refuse to act unless the kubeconfig's current context is `expected` (exit 2 otherwise)."""
    names, current = kubeconfig_contexts(kubeconfig)
    if current != expected:
        hint = f"kubectl config use-context {expected}"
        if expected not in names:
            hint = f"the kubeconfig has no context {expected} (it has: {', '.join(names) or 'none'})"
        raise PreflightError(
            f"current kube context is {current or '(none)'}, environment {env_name} expects {expected}", hint
        )
    return current


# --- ownership -------------------------------------------------------------------------------


def _meta_maps(meta: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) of a V1ObjectMeta or of a plain `metadata` dict."""
    if isinstance(meta, dict):
        return dict(meta.get("labels") or {}), dict(meta.get("annotations") or {})
    return dict(getattr(meta, "labels", None) or {}), dict(getattr(meta, "annotations", None) or {})


def owner_marks(owner: str) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) that mark an object as created by obsctl for environment `owner`."""
    return dict(MANAGED_BY), {ENV_ANNOTATION: owner}


def owned_by(meta: Any, owner: str) -> bool:
    """True when the object carries obsctl's mark for this environment (label and annotation)."""
    labels, annotations = _meta_maps(meta)
    return labels.get(OWNER_LABEL) == OWNER_VALUE and annotations.get(ENV_ANNOTATION) == owner


def helm_release_of(meta: Any, namespace: str) -> str | None:
    """The Helm release that created the object (its meta.helm.sh annotations), if any."""
    _, annotations = _meta_maps(meta)
    if annotations.get(HELM_RELEASE_NAMESPACE, namespace) != namespace:
        return None
    return annotations.get(HELM_RELEASE)


@dataclass(frozen=True)
class ReleaseResources:
    """What obsctl's releases left in a namespace that must go before it (cloud resources)."""

    load_balancers: list[str] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)  # PersistentVolumes bound to those claims


def _claim_of_statefulset(claim: Any, sts: Any) -> bool:
    """A PVC the StatefulSet controller made: named `<template>-<statefulset>-<ordinal>` and
    labelled with the StatefulSet's selector (the controller copies matchLabels onto it)."""
    import re

    templates = [t.metadata.name for t in (sts.spec.volume_claim_templates or []) if t.metadata]
    name = claim.metadata.name
    if not any(re.fullmatch(rf"{re.escape(t)}-{re.escape(sts.metadata.name)}-\d+", name) for t in templates):
        return False
    want = (sts.spec.selector.match_labels if sts.spec.selector else None) or {}
    have = claim.metadata.labels or {}
    return all(have.get(k) == v for k, v in want.items())


# --- small views of objects ------------------------------------------------------------------


@dataclass(frozen=True)
class PodInfo:
    name: str
    phase: str
    ready: bool
    node: str | None
    labels: dict[str, str] = field(default_factory=dict)
    container_ports: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeInfo:
    name: str
    ready: bool
    detail: str


def _conditions(obj: Any) -> dict[str, Any]:
    status = getattr(obj, "status", None)
    return {c.type: c for c in (getattr(status, "conditions", None) or [])}


def _pod_info(pod: Any) -> PodInfo:
    conds = _conditions(pod)
    ready = bool(conds.get("Ready") and conds["Ready"].status == "True")
    ports: dict[str, int] = {}
    for c in pod.spec.containers or []:
        for p in c.ports or []:
            if p.name:
                ports[p.name] = p.container_port
    return PodInfo(
        pod.metadata.name,
        (pod.status.phase if pod.status else None) or "Unknown",
        ready,
        pod.spec.node_name,
        dict(pod.metadata.labels or {}),
        ports,
    )


def rollout_state(kind: str, obj: Any) -> str | None:
    """None when the workload is rolled out and ready, else what it is waiting for."""
    spec, st, meta = obj.spec, obj.status, obj.metadata
    if st is None:
        return "no status yet"
    if (st.observed_generation or 0) < (meta.generation or 0):
        return f"generation {meta.generation} not observed yet"
    if kind == "DaemonSet":
        want = st.desired_number_scheduled or 0
        ready, updated = st.number_ready or 0, st.updated_number_scheduled or 0
        if ready < want or updated < want:
            return f"{ready}/{want} ready, {updated} updated"
        return None
    want = spec.replicas if spec.replicas is not None else 1
    ready, updated = st.ready_replicas or 0, st.updated_replicas or 0
    if kind == "Deployment":
        available = st.available_replicas or 0
        if updated < want or available < want or ready < want or (st.replicas or 0) > want:
            return f"{ready}/{want} ready, {updated} updated, {available} available"
        return None
    if ready < want or updated < want or (st.update_revision and st.current_revision != st.update_revision):
        return f"{ready}/{want} ready, {updated} updated"
    return None


def crd_state(crd: Any | None) -> str | None:
    """None when the CRD is Established, else its last condition."""
    if crd is None:
        return "missing"
    est = _conditions(crd).get("Established")
    if est is None:
        return "no Established condition yet"
    if est.status != "True":
        return f"Established={est.status} ({est.reason or 'no reason'})"
    return None


# --- the facade --------------------------------------------------------------------------------


class Kube:
    """A client bound to one kubeconfig file and one context."""

    def __init__(self, kubeconfig: Path | None, context: str, request_timeout: tuple[float, float] = REQUEST_TIMEOUT):
        from kubernetes import client, config

        self.kubeconfig = kubeconfig
        self.context = context
        self.request_timeout = request_timeout
        with _guarded(f"load kube context {context}"):
            self.api_client = config.new_client_from_config(
                config_file=str(kubeconfig) if kubeconfig else None, context=context, persist_config=False
            )
        self.server = self.api_client.configuration.host
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.ext = client.ApiextensionsV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.api_client.close()

    def _call(self, doing: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("_request_timeout", self.request_timeout)
        with _guarded(doing, self.server):
            return fn(*args, **kwargs)

    # -- generic list + watch until a verdict holds ------------------------------------------

    def _await(
        self,
        what: str,
        list_fn: Callable[..., Any],
        args: tuple[Any, ...],
        verdict: Callable[[dict[str, Any]], str | None],
        timeout: float,
        hint: str | None = None,
        **kwargs: Any,
    ) -> None:
        """List, then WATCH from that resourceVersion until `verdict(objects by name)` is None.

        `verdict` returns what is still missing; its last answer is the message of the
        WaitTimeout raised at the deadline. The watch asks the server to end the stream at the
        deadline (timeoutSeconds) and the client's read timeout backs that up, so a server that
        stops talking cannot hang us. A 410 Gone (history expired) re-lists.
        """
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        deadline = time.monotonic() + timeout
        objs: dict[str, Any] = {}
        rv: str | None = None
        pending: str | None = "not listed yet"
        while True:
            if rv is None:
                listing = self._call(f"list {what}", list_fn, *args, **kwargs)
                objs = {o.metadata.name: o for o in listing.items}
                rv = listing.metadata.resource_version
                pending = verdict(objs)
                if pending is None:
                    return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"{what}: not done after {_secs(timeout)}; last seen: {pending}", hint)
            w = watch.Watch()
            try:
                with _guarded(f"watch {what}", self.server):
                    for event in w.stream(
                        list_fn,
                        *args,
                        resource_version=rv,
                        timeout_seconds=max(1, math.ceil(remaining)),
                        _request_timeout=(self.request_timeout[0], remaining + 2.0),
                        **kwargs,
                    ):
                        obj = event["object"]
                        if event["type"] in ("BOOKMARK", "ERROR") or not hasattr(obj, "metadata"):
                            continue
                        if event["type"] == "DELETED":
                            objs.pop(obj.metadata.name, None)
                        else:
                            objs[obj.metadata.name] = obj
                        rv = obj.metadata.resource_version or rv
                        pending = verdict(objs)
                        if pending is None:
                            w.stop()
                            return
                        if time.monotonic() >= deadline:
                            w.stop()
                            break
            except ToolError as exc:
                if "watch expired" in exc.message:
                    rv = None  # 410 Gone: the history we asked for is compacted; start over
                elif time.monotonic() < deadline and not isinstance(exc, NotFound):
                    time.sleep(0.2)  # a dropped stream: resume from the last version seen
                else:
                    raise
            except ApiException:  # pragma: no cover - _guarded translates these
                rv = None

    # -- namespaces ------------------------------------------------------------------------------

    def namespace_phase(self, name: str) -> str | None:
        try:
            ns = self._call(f"read namespace {name}", self.core.read_namespace, name)
        except NotFound:
            return None
        return (ns.status.phase if ns.status else None) or "Active"

    def namespace_created(self, name: str) -> float | None:
        """The namespace's creationTimestamp as a Unix time, or None when it does not exist."""
        try:
            ns = self._call(f"read namespace {name}", self.core.read_namespace, name)
        except NotFound:
            return None
        created = ns.metadata.creation_timestamp
        return created.timestamp() if created else None

    def namespace_owned(self, name: str, owner: str) -> bool | None:
        """True when obsctl created the namespace for this environment, False when it is someone
        else's (adopted), None when it does not exist."""
        try:
            ns = self._call(f"read namespace {name}", self.core.read_namespace, name)
        except NotFound:
            return None
        return owned_by(ns.metadata, owner)

    def ensure_namespace(self, name: str, timeout: float, owner: str) -> str:
        """Create the namespace with obsctl's mark unless it exists; one still Terminating from a
        previous run is waited for (it cannot be reused), not fought. An existing namespace that
        is not obsctl's is adopted as it is: never relabelled, and never deleted by `down`."""
        from kubernetes import client

        phase = self.namespace_phase(name)
        waited = ""
        if phase == "Terminating":
            self.wait_namespace_gone(name, timeout)
            waited = " (waited for the old one to finish terminating)"
            phase = None
        if phase is not None:
            if self.namespace_owned(name, owner):
                return f"{name} exists"
            return f"{name} exists and is not obsctl's: adopted (down removes only obsctl's objects from it)"
        labels, annotations = owner_marks(owner)
        body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels, annotations=annotations))
        try:
            self._call(f"create namespace {name}", self.core.create_namespace, body)
        except Conflict:
            return f"{name} exists"
        return f"{name} created{waited}"

    def delete_namespace(self, name: str) -> bool:
        """Ask for deletion; False when it was already gone."""
        try:
            self._call(f"delete namespace {name}", self.core.delete_namespace, name)
        except NotFound:
            return False
        return True

    def wait_namespace_gone(self, name: str, timeout: float, force: bool = False) -> str:
        """Wait until the namespace no longer exists. At the deadline, name what holds it (the
        namespace's own conditions and every object in it with finalizers); with `force`, remove
        those finalizers (and the namespace's) and wait once more."""

        def verdict(objs: dict[str, Any]) -> str | None:
            ns = objs.get(name)
            if ns is None:
                return None
            return f"{name} is {(ns.status.phase if ns.status else None) or 'Active'}"

        started = time.monotonic()
        try:
            self._await(
                f"namespace {name} deletion",
                self.core.list_namespace,
                (),
                verdict,
                timeout,
                field_selector=f"metadata.name={name}",
            )
            return f"{name} gone after {time.monotonic() - started:.1f}s"
        except WaitTimeout:
            blockers = self.namespace_blockers(name)
            if not force:
                raise WaitTimeout(
                    f"namespace {name} still Terminating after {_secs(timeout)}; held by: {'; '.join(blockers)}",
                    "find out why those finalizers are not removed (a controller that is gone?);"
                    " `obsctl down --force-finalizers` removes them",
                ) from None
        removed = self.remove_finalizers(name)
        self._await(
            f"namespace {name} deletion (after removing finalizers)",
            self.core.list_namespace,
            (),
            verdict,
            timeout,
            field_selector=f"metadata.name={name}",
        )
        return f"{name} gone after removing finalizers of {', '.join(removed) or 'nothing'}"

    def _get_json(self, doing: str, path: str, **params: Any) -> Any:
        """GET an API path and decode its JSON body (discovery, and lists of any resource)."""
        import json

        with _guarded(doing, self.server):
            resp = self.api_client.call_api(
                path,
                "GET",
                query_params=list(params.items()),
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )
            data = resp[0].data if isinstance(resp, tuple) else resp.data
            return json.loads(data)

    def _merge_patch(self, doing: str, path: str, body: dict[str, Any]) -> None:
        """PATCH an API path with a JSON merge patch (every resource, custom ones included,
        accepts it; a strategic merge patch is refused by custom resources)."""
        with _guarded(doing, self.server):
            self.api_client.call_api(
                path,
                "PATCH",
                header_params={"Accept": "application/json", "Content-Type": "application/merge-patch+json"},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )

    def namespaced_resources(self) -> list[tuple[str, str, str]]:
        """(API path prefix, resource, kind) of every namespaced resource the server can list and patch,
        from discovery, as the namespace controller sees them: built-in kinds and every custom
        resource (AlertmanagerConfig, ScrapeConfig, PrometheusAgent, anyone's CRDs)."""
        found: list[tuple[str, str, str]] = []
        seen: set[tuple[str, str]] = set()  # (group, resource): a resource served at several versions once

        def add(group: str, prefix: str, listing: dict[str, Any]) -> None:
            for res in listing.get("resources", []):
                verbs = set(res.get("verbs") or [])
                key = (group, res["name"])
                if res.get("namespaced") and "/" not in res["name"] and {"list", "patch"} <= verbs and key not in seen:
                    seen.add(key)
                    found.append((prefix, res["name"], str(res.get("kind") or res["name"])))

        add("", "/api/v1", self._get_json("discover /api/v1", "/api/v1"))
        for group in self._get_json("discover /apis", "/apis").get("groups", []):
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            # every served version, the preferred first: AlertmanagerConfig and ScrapeConfig are
            # served only at v1alpha1 of monitoring.coreos.com, whose preferred version is v1
            versions = [v.get("groupVersion") for v in group.get("versions") or []]
            for gv in dict.fromkeys([preferred, *versions]):
                if not gv:
                    continue
                try:
                    add(group.get("name", ""), f"/apis/{gv}", self._get_json(f"discover /apis/{gv}", f"/apis/{gv}"))
                except ToolError:  # an aggregated API that is down: the namespace controller reports it too
                    continue
        return found

    def _objects_with_finalizers(self, namespace: str) -> list[tuple[str, str, list[str], str]]:
        """(kind in lower case, name, finalizers, API path) of every object in the namespace
        holding finalizers, whatever its kind."""
        found: list[tuple[str, str, list[str], str]] = []
        for prefix, resource, kind in self.namespaced_resources():
            path = f"{prefix}/namespaces/{namespace}/{resource}"
            try:
                listing = self._get_json(f"list {resource} in {namespace}", path)
            except ToolError:  # gone meanwhile, or not listable after all
                continue
            for obj in listing.get("items", []) or []:
                meta = obj.get("metadata", {})
                if meta.get("finalizers"):
                    found.append((kind.lower(), meta["name"], list(meta["finalizers"]), f"{path}/{meta['name']}"))
        return found

    def namespace_blockers(self, name: str) -> list[str]:
        """What keeps a namespace Terminating: its conditions and objects with finalizers."""
        out: list[str] = []
        try:
            ns = self._call(f"read namespace {name}", self.core.read_namespace, name)
        except NotFound:
            return ["nothing (it is gone now)"]
        for cond in (ns.status.conditions if ns.status else None) or []:
            if cond.status == "True" and cond.type in (
                "NamespaceContentRemaining",
                "NamespaceFinalizersRemaining",
                "NamespaceDeletionDiscoveryFailure",
                "NamespaceDeletionContentFailure",
            ):
                out.append(f"{cond.type}: {cond.message}")
        for resource, obj, finalizers, _ in self._objects_with_finalizers(name):
            out.append(f"{resource}/{obj} (finalizers: {', '.join(finalizers)})")
        if ns.spec and ns.spec.finalizers:
            out.append(f"namespace/{name} (finalizers: {', '.join(ns.spec.finalizers)})")
        return out or ["no finalizers found (the API server may still be deleting content)"]

    def remove_finalizers(self, name: str) -> list[str]:
        """Remove the finalizers of every object in the namespace, and the namespace's own.
        Only on explicit request (--force-finalizers): the resources they guard may leak."""
        from kubernetes import client

        removed = []
        for resource, obj, _, path in self._objects_with_finalizers(name):
            try:
                self._merge_patch(f"remove finalizers of {resource}/{obj}", path, {"metadata": {"finalizers": None}})
            except NotFound:
                continue
            removed.append(f"{resource}/{obj}")
        try:
            ns = self._call(f"read namespace {name}", self.core.read_namespace, name)
        except NotFound:
            return removed
        if ns.spec and ns.spec.finalizers:
            body = client.V1Namespace(
                metadata=client.V1ObjectMeta(name=name), spec=client.V1NamespaceSpec(finalizers=[])
            )
            with contextlib.suppress(NotFound):
                self._call(f"finalize namespace {name}", self.core.replace_namespace_finalize, name, body)
            removed.append(f"namespace/{name}")
        return removed

    # -- CRDs and rollouts -----------------------------------------------------------------------

    def server_version(self) -> str:
        """The API server's version (GET /version): the cheapest proof that it answers."""
        from kubernetes import client

        info = self._call("read the server version", client.VersionApi(self.api_client).get_code)
        return str(info.git_version)

    def crd_annotations(self) -> dict[str, dict[str, str]]:
        """Every CRD in the cluster by name, with its annotations."""
        listing = self._call("list CRDs", self.ext.list_custom_resource_definition)
        return {c.metadata.name: dict(c.metadata.annotations or {}) for c in listing.items}

    def apply_crd(self, doc: dict[str, Any]) -> None:
        """Server-side apply of one CustomResourceDefinition (field manager obsctl, conflicts
        forced), which is how CRDs too large for client-side apply are upgraded (the
        kube-prometheus-stack upgrade notes: `kubectl apply --server-side`)."""
        name = doc["metadata"]["name"]
        with _guarded(f"apply CRD {name}", self.server):
            self.api_client.call_api(
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}",
                "PATCH",
                query_params=[("fieldManager", "obsctl"), ("force", "true")],
                header_params={"Accept": "application/json", "Content-Type": "application/apply-patch+yaml"},
                body=doc,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )

    def wait_crds_established(self, names: list[str], timeout: float) -> str:
        """Wait (by watch) until every named CRD exists with condition Established=True."""
        wanted = sorted(names)

        def verdict(objs: dict[str, Any]) -> str | None:
            bad = [f"{n}: {crd_state(objs.get(n))}" for n in wanted if crd_state(objs.get(n))]
            return "; ".join(bad) or None

        self._await(
            "CRDs Established",
            self.ext.list_custom_resource_definition,
            (),
            verdict,
            timeout,
            hint="kube-prometheus-stack installs them; see `helm status` and the API server's events",
        )
        return f"{len(wanted)} CRDs Established"

    def wait_rollouts(self, namespace: str, timeout: float, label_selector: str | None = None) -> str:
        """Wait (by watch) until every Deployment, StatefulSet and DaemonSet in the namespace is
        rolled out and ready. One deadline for all three."""
        deadline = time.monotonic() + timeout
        counts = []
        kinds = (
            ("Deployment", self.apps.list_namespaced_deployment),
            ("StatefulSet", self.apps.list_namespaced_stateful_set),
            ("DaemonSet", self.apps.list_namespaced_daemon_set),
        )
        for kind, list_fn in kinds:
            seen: list[int] = [0]

            def verdict(objs: dict[str, Any], kind: str = kind, seen: list[int] = seen) -> str | None:
                seen[0] = len(objs)
                bad = [f"{kind.lower()}/{n}: {s}" for n, o in sorted(objs.items()) if (s := rollout_state(kind, o))]
                return "; ".join(bad) or None

            extra = {"label_selector": label_selector} if label_selector else {}
            self._await(
                f"rollouts in {namespace}",
                list_fn,
                (namespace,),
                verdict,
                max(0.0, deadline - time.monotonic()),
                hint=f"kubectl -n {namespace} get pods; kubectl -n {namespace} describe pods",
                **extra,
            )
            counts.append(f"{seen[0]} {kind.lower()}s")
        return f"{namespace}: {', '.join(counts)} ready"

    def workloads(self, namespace: str) -> dict[str, tuple[str, str | None]]:
        """name -> (kind, rollout state or None when ready) for every workload in the namespace."""
        out: dict[str, tuple[str, str | None]] = {}
        for kind, fn in (
            ("Deployment", self.apps.list_namespaced_deployment),
            ("StatefulSet", self.apps.list_namespaced_stateful_set),
            ("DaemonSet", self.apps.list_namespaced_daemon_set),
        ):
            for o in self._call(f"list {kind}s in {namespace}", fn, namespace).items:
                out[o.metadata.name] = (kind, rollout_state(kind, o))
        return out

    # -- cleanup before uninstall ----------------------------------------------------------------

    def release_resources(self, namespace: str, releases: set[str]) -> ReleaseResources:
        """The LoadBalancer Services and PVCs in the namespace that belong to `releases`:

        - objects a release created itself (Helm's meta.helm.sh annotations name it);
        - objects the Prometheus Operator created for a custom resource of such a release
          (ownerReferences to its Prometheus / Alertmanager / ThanosRuler / PrometheusAgent);
        - PVCs made from the volumeClaimTemplates of a StatefulSet that is one of the above.

        Anything else in the namespace is someone else's and is not listed."""
        try:
            services = self._call(f"list services in {namespace}", self.core.list_namespaced_service, namespace).items
        except NotFound:
            return ReleaseResources()
        owners: set[tuple[str, str]] = set()  # (kind, name) of the releases' operator-managed resources
        for group, version, plural, kind in OPERATOR_WORKLOAD_KINDS:
            try:
                listing = self._call(
                    f"list {plural} in {namespace}",
                    self.custom.list_namespaced_custom_object,
                    group,
                    version,
                    namespace,
                    plural,
                )
            except ToolError:  # the CRD is not installed (or not served at this version)
                continue
            for obj in listing.get("items", []):
                if helm_release_of(obj.get("metadata", {}), namespace) in releases:
                    owners.add((kind, obj["metadata"]["name"]))

        def ours(meta: Any) -> bool:
            if helm_release_of(meta, namespace) in releases:
                return True
            return any((ref.kind, ref.name) in owners for ref in (meta.owner_references or []))

        sets = self._call(f"list statefulsets in {namespace}", self.apps.list_namespaced_stateful_set, namespace).items
        our_sets = [sts for sts in sets if ours(sts.metadata)]
        claims = self._call(
            f"list PVCs in {namespace}", self.core.list_namespaced_persistent_volume_claim, namespace
        ).items
        our_claims = [c for c in claims if ours(c.metadata) or any(_claim_of_statefulset(c, s) for s in our_sets)]
        return ReleaseResources(
            load_balancers=sorted(
                s.metadata.name for s in services if s.spec and s.spec.type == "LoadBalancer" and ours(s.metadata)
            ),
            claims=sorted(c.metadata.name for c in our_claims),
            volumes=sorted(c.spec.volume_name for c in our_claims if c.spec and c.spec.volume_name),
        )

    def delete_release_resources(self, namespace: str, releases: set[str], timeout: float) -> ReleaseResources:
        """Delete the LoadBalancer Services and PVCs of `releases` (see `release_resources`) and
        wait until the Services are gone, so the cloud load balancer is released while the
        controller that releases it still runs; a PVC goes when the Pod using it goes."""
        found = self.release_resources(namespace, releases)
        for name in found.load_balancers:
            with contextlib.suppress(NotFound):
                self._call(f"delete service {namespace}/{name}", self.core.delete_namespaced_service, name, namespace)
        for name in found.claims:
            with contextlib.suppress(NotFound):
                self._call(
                    f"delete PVC {namespace}/{name}",
                    self.core.delete_namespaced_persistent_volume_claim,
                    name,
                    namespace,
                )
        if found.load_balancers:
            wanted = set(found.load_balancers)

            def verdict(objs: dict[str, Any]) -> str | None:
                left = sorted(wanted & set(objs))
                return f"LoadBalancer services still present: {', '.join(left)}" if left else None

            self._await(
                f"LoadBalancer services in {namespace} gone",
                self.core.list_namespaced_service,
                (namespace,),
                verdict,
                timeout,
                hint="the cloud controller releases the load balancer; check its events",
            )
        return found

    def wait_volumes_gone(self, names: list[str], timeout: float) -> str:
        """Wait until the PersistentVolumes are gone (their provisioner deletes the disk first).
        A volume whose reclaim policy is Retain stays by design: it is named, not waited for."""
        if not names:
            return "no volumes"
        retained = []
        for name in names:
            try:
                pv = self._call(f"read persistentvolume {name}", self.core.read_persistent_volume, name)
            except NotFound:
                continue
            if (pv.spec.persistent_volume_reclaim_policy or "Delete") == "Retain":
                retained.append(name)
        wanted = set(names) - set(retained)

        def verdict(objs: dict[str, Any]) -> str | None:
            left = sorted(wanted & set(objs))
            if not left:
                return None
            return "volumes still present: " + ", ".join(
                f"{n} ({objs[n].status.phase if objs[n].status else 'unknown'})" for n in left
            )

        if wanted:
            self._await(
                "PersistentVolumes released",
                self.core.list_persistent_volume,
                (),
                verdict,
                timeout,
                hint="the storage provisioner deletes the disk, then the volume; kubectl describe pv <name>",
            )
        kept = f"; kept (reclaim policy Retain): {', '.join(sorted(retained))}" if retained else ""
        return f"{len(wanted)} volume(s) released{kept}"

    # -- storage classes -------------------------------------------------------------------------

    def ensure_storage_class(self, body: dict[str, Any], owner: str) -> str:
        """Make obsctl's StorageClass exist as `body` (created with obsctl's mark). Its
        provisioner and parameters cannot be changed in place: when obsctl's own differs it is
        deleted and created again (volumes already provisioned keep their settings). One of that
        name that is not obsctl's is refused, never changed."""
        from kubernetes import client

        name = body["metadata"]["name"]
        labels, annotations = owner_marks(owner)
        meta = body.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        storage = client.StorageV1Api(self.api_client)
        try:
            current = self._call(f"read storageclass {name}", storage.read_storage_class, name)
        except NotFound:
            current = None
        if current is not None and not owned_by(current.metadata, owner):
            raise ToolError(
                f"StorageClass {name} exists and is not obsctl's; it was not changed",
                "delete it yourself, or let obsctl's environment own it",
            )
        same = current is not None and (
            current.provisioner == body["provisioner"]
            and (current.parameters or {}) == body.get("parameters", {})
            and current.reclaim_policy == body.get("reclaimPolicy", "Delete")
            and current.volume_binding_mode == body.get("volumeBindingMode", "Immediate")
            and bool(current.allow_volume_expansion) == bool(body.get("allowVolumeExpansion"))
            and (current.metadata.annotations or {}).get(DEFAULT_CLASS_ANNOTATION)
            == meta["annotations"].get(DEFAULT_CLASS_ANNOTATION)
        )
        if same:
            return f"StorageClass {name} exists"
        if current is not None:
            self._call(f"delete storageclass {name}", storage.delete_storage_class, name)
        self._call(f"create storageclass {name}", storage.create_storage_class, body)
        return f"StorageClass {name} {'replaced' if current is not None else 'created'}"

    def delete_owned_storage_class(self, name: str, owner: str) -> str:
        """Delete the StorageClass only when it carries obsctl's mark for this environment."""
        from kubernetes import client

        storage = client.StorageV1Api(self.api_client)
        try:
            current = self._call(f"read storageclass {name}", storage.read_storage_class, name)
        except NotFound:
            return f"StorageClass {name} absent"
        if not owned_by(current.metadata, owner):
            return f"StorageClass {name} kept (not obsctl's)"
        with contextlib.suppress(NotFound):
            self._call(f"delete storageclass {name}", storage.delete_storage_class, name)
        return f"StorageClass {name} deleted"

    # -- secrets -------------------------------------------------------------------------------

    def secret_owner_state(self, namespace: str, name: str, owner: str) -> str:
        """ "absent", "owned" (obsctl made it for this environment) or "foreign"."""
        try:
            secret = self._call(f"read secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace)
        except NotFound:
            return "absent"
        return "owned" if owned_by(secret.metadata, owner) else "foreign"

    def ensure_admin_secret(self, namespace: str, name: str, owner: str, user: str = "admin") -> bool:
        """Create a Secret with `admin-user` and a generated `admin-password` unless it exists
        (an existing one is kept: Grafana's database already holds that password; one the user
        made is theirs and is used as it is). True when it was created. The password is never
        returned or logged here."""
        from kubernetes import client

        if self.secret_owner_state(namespace, name, owner) != "absent":
            return False
        labels, annotations = owner_marks(owner)
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels, annotations=annotations),
            type="Opaque",
            string_data={"admin-user": user, "admin-password": _secrets.token_urlsafe(24)},
        )
        try:
            self._call(f"create secret {namespace}/{name}", self.core.create_namespaced_secret, namespace, body)
        except Conflict:
            return False
        return True

    def apply_secret(self, namespace: str, name: str, data: dict[str, str], owner: str) -> str:
        """Make the Secret hold exactly `data` (created with obsctl's mark, or updated when it is
        obsctl's); "created", "updated" or "unchanged". A Secret of that name that is not obsctl's
        is refused, never overwritten. Values are never returned or logged."""
        import base64

        from kubernetes import client

        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in sorted(data.items())}
        labels, annotations = owner_marks(owner)
        try:
            current = self._call(f"read secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace)
        except NotFound:
            current = None
        if current is None:
            body = client.V1Secret(
                metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels, annotations=annotations),
                type="Opaque",
                data=encoded,
            )
            self._call(f"create secret {namespace}/{name}", self.core.create_namespaced_secret, namespace, body)
            return "created"
        if not owned_by(current.metadata, owner):
            raise ToolError(
                f"secret {namespace}/{name} exists and is not obsctl's; it was not changed",
                "rename kubernetes.alertmanager_secret, or remove that Secret yourself",
            )
        if (current.data or {}) == encoded:
            return "unchanged"
        patch = {"data": {k: encoded.get(k) for k in {*(current.data or {}), *encoded}}}
        self._call(f"update secret {namespace}/{name}", self.core.patch_namespaced_secret, name, namespace, patch)
        return "updated"

    def delete_owned_secret(self, namespace: str, name: str, owner: str) -> str:
        """Delete the Secret only when it carries obsctl's mark for this environment."""
        state = self.secret_owner_state(namespace, name, owner)
        if state == "owned":
            with contextlib.suppress(NotFound):
                self._call(f"delete secret {namespace}/{name}", self.core.delete_namespaced_secret, name, namespace)
            return f"{namespace}/{name} deleted"
        if state == "foreign":
            return f"{namespace}/{name} kept (not obsctl's)"
        return f"{namespace}/{name} absent"

    def read_secret_key(self, namespace: str, name: str, key: str) -> str:
        import base64

        secret = self._call(f"read secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace)
        data = secret.data or {}
        if key not in data:
            raise ToolError(f"secret {namespace}/{name} has no key {key}", "delete it and run `obsctl up` again")
        return base64.b64decode(data[key]).decode()

    # -- reads for checks and status ------------------------------------------------------------

    def pods(self, namespace: str, label_selector: str | None = None) -> list[PodInfo]:
        kw = {"label_selector": label_selector} if label_selector else {}
        items = self._call(f"list pods in {namespace}", self.core.list_namespaced_pod, namespace, **kw).items
        return [_pod_info(p) for p in items]

    def nodes(self) -> list[NodeInfo]:
        out = []
        for n in self._call("list nodes", self.core.list_node).items:
            ready = _conditions(n).get("Ready")
            ok = bool(ready and ready.status == "True")
            out.append(
                NodeInfo(n.metadata.name, ok, "Ready" if ok else (ready.reason if ready else "no Ready condition"))
            )
        return out

    def service(self, namespace: str, name: str) -> Any:
        return self._call(f"read service {namespace}/{name}", self.core.read_namespaced_service, name, namespace)

    def deployment(self, namespace: str, name: str) -> Any:
        return self._call(f"read deployment {namespace}/{name}", self.apps.read_namespaced_deployment, name, namespace)

    def custom_objects(self, group: str, version: str, namespace: str, plural: str) -> list[dict[str, Any]]:
        listing = self._call(
            f"list {plural}.{group} in {namespace}",
            self.custom.list_namespaced_custom_object,
            group,
            version,
            namespace,
            plural,
        )
        return list(listing.get("items", []))

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        self._call(
            f"scale deployment {namespace}/{name} to {replicas}",
            self.apps.patch_namespaced_deployment_scale,
            name,
            namespace,
            {"spec": {"replicas": replicas}},
        )

    def proxy_get(self, namespace: str, service: str, port: int | str, path: str, **params: Any) -> str:
        """GET through the API server's service proxy:
        /api/v1/namespaces/{ns}/services/{name}:{port}/proxy/{path}."""
        url = f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/{path.lstrip('/')}"
        doing = f"GET {path} on service {namespace}/{service}:{port}"
        with _guarded(doing, self.server):
            resp = self.api_client.call_api(
                url,
                "GET",
                query_params=list(params.items()),
                header_params={"Accept": "*/*"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )
            data = resp[0].data if isinstance(resp, tuple) else resp.data
            return data.decode("utf-8", errors="replace")

    def proxy_get_json(self, namespace: str, service: str, port: int | str, path: str, **params: Any) -> Any:
        import json

        text = self.proxy_get(namespace, service, port, path, **params)
        try:
            return json.loads(text)
        except ValueError:
            raise ToolError(f"service {namespace}/{service} sent non-JSON for {path}: {text[:120]!r}") from None

    # -- port-forward --------------------------------------------------------------------------

    def ready_pod_for_service(self, namespace: str, service: str, port: int | str | None = None) -> tuple[str, int]:
        """A Ready pod behind the Service and the pod port the Service port (its number or its
        name) leads to."""
        svc = self.service(namespace, service)
        selector = ",".join(f"{k}={v}" for k, v in sorted((svc.spec.selector or {}).items()))
        if not selector:
            raise ToolError(f"service {namespace}/{service} has no selector; cannot pick a pod")
        ports = svc.spec.ports or []
        chosen = next((p for p in ports if port is None or port in (p.port, p.name)), None)
        if chosen is None:
            raise ToolError(f"service {namespace}/{service} has no port {port}")
        pods = [p for p in self.pods(namespace, selector) if p.ready]
        if not pods:
            raise ToolError(
                f"no Ready pod behind service {namespace}/{service}", f"kubectl -n {namespace} get pods -l {selector}"
            )
        target = chosen.target_port if chosen.target_port is not None else chosen.port
        if isinstance(target, str) and not target.isdigit():
            if target not in pods[0].container_ports:
                raise ToolError(f"pod {pods[0].name} has no port named {target}")
            return pods[0].name, pods[0].container_ports[target]
        return pods[0].name, int(target)

    def port_forward(self, namespace: str, pod: str, remote_port: int, local_port: int = 0) -> PortForward:
        """Listen on 127.0.0.1:local_port (0 = any free port) and pipe every connection to the
        pod's port through the API server (kubernetes.stream.portforward, a websocket).

        kubernetes.stream swaps `request` on the ApiClient it is handed for the whole handshake,
        so each handshake gets a client of its own (same configuration, same credentials):
        calls other threads make on `self.api_client` meanwhile stay plain HTTP.
        """
        from kubernetes import client
        from kubernetes.stream import portforward

        def connect() -> socket.socket:
            with _guarded(f"port-forward to pod {namespace}/{pod}:{remote_port}", self.server):
                own = client.ApiClient(self.api_client.configuration)
                try:
                    pf = portforward(
                        client.CoreV1Api(own).connect_get_namespaced_pod_portforward,
                        pod,
                        namespace,
                        ports=str(remote_port),
                    )
                finally:
                    own.close()
                return pf.socket(remote_port)  # type: ignore[no-any-return]

        return PortForward(connect, local_port)


# Prometheus Operator CRDs (monitoring.coreos.com) that kube-prometheus-stack installs.
MONITORING_PLURALS_V1 = (
    "alertmanagers",
    "podmonitors",
    "probes",
    "prometheuses",
    "prometheusrules",
    "servicemonitors",
    "thanosrulers",
)
MONITORING_CRDS = tuple(f"{p}.monitoring.coreos.com" for p in MONITORING_PLURALS_V1) + (
    "alertmanagerconfigs.monitoring.coreos.com",
    "prometheusagents.monitoring.coreos.com",
    "scrapeconfigs.monitoring.coreos.com",
)


class PortForward:
    """A local TCP listener on 127.0.0.1; each accepted connection gets its own upstream from
    `connect` (a socket to the pod's port) and is piped both ways by a thread.

    The listener and the piping do not know Kubernetes: `connect` is the seam.
    """

    def __init__(self, connect: Callable[[], socket.socket], local_port: int = 0) -> None:
        self._connect = connect
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind(("127.0.0.1", local_port))
        except OSError as exc:
            self._listener.close()
            raise PreflightError(
                f"cannot listen on 127.0.0.1:{local_port}: {exc.strerror}", "pick another port with --port"
            ) from None
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self.errors: list[str] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"port-forward :{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client_sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client_sock,), daemon=True).start()

    def _serve(self, client_sock: socket.socket) -> None:
        try:
            upstream = self._connect()
        except ObsctlError as exc:
            self.errors.append(exc.message)
            client_sock.close()
            return
        try:
            _pipe(client_sock, upstream, self._closed)
        finally:
            for s in (client_sock, upstream):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(timeout=2)

    def wait(self) -> None:
        """Block until close() (or Ctrl-C in the caller)."""
        while not self._closed.wait(0.5):
            pass

    def __enter__(self) -> PortForward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pipe(a: socket.socket, b: socket.socket, stop: threading.Event) -> None:
    """Copy bytes both ways until either side closes (half-closes are passed on)."""
    open_ends = {a: b, b: a}
    while open_ends and not stop.is_set():
        readable, _, _ = select.select(list(open_ends), [], [], 0.5)
        for src in readable:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            dst = open_ends[src]
            if data:
                try:
                    dst.sendall(data)
                except OSError:
                    return
            else:
                del open_ends[src]
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
