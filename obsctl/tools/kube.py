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

from obsctl.errors import ObsctlError, PreflightError, ToolError, WaitTimeout

MANAGED_BY = {"app.kubernetes.io/managed-by": "obsctl"}
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
        return PreflightError(
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

    def ensure_namespace(self, name: str, timeout: float) -> str:
        """Create the namespace unless it exists; one still Terminating from a previous run is
        waited for (it cannot be reused), not fought."""
        from kubernetes import client

        phase = self.namespace_phase(name)
        waited = ""
        if phase == "Terminating":
            self.wait_namespace_gone(name, timeout)
            waited = " (waited for the old one to finish terminating)"
            phase = None
        if phase is not None:
            return f"{name} exists"
        body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=dict(MANAGED_BY)))
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

    def _namespaced_kinds(self) -> list[tuple[str, Callable[..., Any], Callable[[str, str, dict[str, Any]], Any]]]:
        """(kind, list function, patch function) of the objects whose finalizers we look at."""
        c, a = self.core, self.apps
        return [
            (
                "persistentvolumeclaim",
                c.list_namespaced_persistent_volume_claim,
                c.patch_namespaced_persistent_volume_claim,
            ),
            ("service", c.list_namespaced_service, c.patch_namespaced_service),
            ("pod", c.list_namespaced_pod, c.patch_namespaced_pod),
            ("secret", c.list_namespaced_secret, c.patch_namespaced_secret),
            ("configmap", c.list_namespaced_config_map, c.patch_namespaced_config_map),
            ("deployment", a.list_namespaced_deployment, a.patch_namespaced_deployment),
            ("statefulset", a.list_namespaced_stateful_set, a.patch_namespaced_stateful_set),
            ("daemonset", a.list_namespaced_daemon_set, a.patch_namespaced_daemon_set),
        ]

    def _custom_kinds(self) -> list[tuple[str, str, str]]:
        return [("monitoring.coreos.com", "v1", plural) for plural in MONITORING_PLURALS_V1]

    def _objects_with_finalizers(self, namespace: str) -> list[tuple[str, str, list[str], Callable[[], Any]]]:
        """(kind, name, finalizers, remover) of every object in the namespace holding finalizers."""
        found: list[tuple[str, str, list[str], Callable[[], Any]]] = []
        patch = {"metadata": {"finalizers": None}}
        for kind, list_fn, patch_fn in self._namespaced_kinds():
            try:
                items = self._call(f"list {kind}s in {namespace}", list_fn, namespace).items
            except NotFound:
                continue
            for o in items:
                if o.metadata.finalizers:
                    found.append(
                        (
                            kind,
                            o.metadata.name,
                            list(o.metadata.finalizers),
                            lambda f=patch_fn, n=o.metadata.name: f(n, namespace, patch),
                        )
                    )
        for group, version, plural in self._custom_kinds():
            try:
                listing = self._call(
                    f"list {plural} in {namespace}",
                    self.custom.list_namespaced_custom_object,
                    group,
                    version,
                    namespace,
                    plural,
                )
            except ToolError:  # the CRD may be gone already
                continue
            for o in listing.get("items", []):
                meta = o.get("metadata", {})
                if meta.get("finalizers"):
                    found.append(
                        (
                            plural.rstrip("s"),
                            meta["name"],
                            list(meta["finalizers"]),
                            lambda g=group, v=version, p=plural, n=meta["name"]: (
                                self.custom.patch_namespaced_custom_object(g, v, namespace, p, n, patch)
                            ),
                        )
                    )
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
        for kind, obj, finalizers, _ in self._objects_with_finalizers(name):
            out.append(f"{kind}/{obj} (finalizers: {', '.join(finalizers)})")
        if ns.spec and ns.spec.finalizers:
            out.append(f"namespace/{name} (finalizers: {', '.join(ns.spec.finalizers)})")
        return out or ["no finalizers found (the API server may still be deleting content)"]

    def remove_finalizers(self, name: str) -> list[str]:
        """Remove the finalizers of every object in the namespace, and the namespace's own.
        Only on explicit request (--force-finalizers): the resources they guard may leak."""
        from kubernetes import client

        removed = []
        for kind, obj, _, remover in self._objects_with_finalizers(name):
            try:
                self._call(f"remove finalizers of {kind}/{obj}", lambda r=remover, **_: r())
            except NotFound:
                continue
            removed.append(f"{kind}/{obj}")
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

    def delete_load_balancers_and_claims(self, namespace: str, timeout: float) -> tuple[list[str], list[str]]:
        """Delete every Service of type LoadBalancer (and wait until they are gone, so the cloud
        load balancer is released while the controller that releases it still runs) and every
        PersistentVolumeClaim (their volumes are freed when the pods using them go)."""
        try:
            services = self._call(f"list services in {namespace}", self.core.list_namespaced_service, namespace).items
        except NotFound:
            return [], []
        lbs = [s.metadata.name for s in services if s.spec and s.spec.type == "LoadBalancer"]
        for name in lbs:
            with contextlib.suppress(NotFound):
                self._call(f"delete service {namespace}/{name}", self.core.delete_namespaced_service, name, namespace)
        claims = [
            c.metadata.name
            for c in self._call(
                f"list PVCs in {namespace}", self.core.list_namespaced_persistent_volume_claim, namespace
            ).items
        ]
        for name in claims:
            with contextlib.suppress(NotFound):
                self._call(
                    f"delete PVC {namespace}/{name}",
                    self.core.delete_namespaced_persistent_volume_claim,
                    name,
                    namespace,
                )
        if lbs:

            def verdict(objs: dict[str, Any]) -> str | None:
                left = [n for n, s in objs.items() if s.spec and s.spec.type == "LoadBalancer"]
                return f"LoadBalancer services still present: {', '.join(sorted(left))}" if left else None

            self._await(
                f"LoadBalancer services in {namespace} gone",
                self.core.list_namespaced_service,
                (namespace,),
                verdict,
                timeout,
                hint="the cloud controller releases the load balancer; check its events",
            )
        return lbs, claims

    # -- secrets -------------------------------------------------------------------------------

    def ensure_admin_secret(self, namespace: str, name: str, user: str = "admin") -> bool:
        """Create a Secret with `admin-user` and a generated `admin-password` unless it exists
        (an existing one is kept: Grafana's database already holds that password). True when
        it was created. The password is never returned or logged here."""
        from kubernetes import client

        try:
            self._call(f"read secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace)
            return False
        except NotFound:
            pass
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=dict(MANAGED_BY)),
            type="Opaque",
            string_data={"admin-user": user, "admin-password": _secrets.token_urlsafe(24)},
        )
        try:
            self._call(f"create secret {namespace}/{name}", self.core.create_namespaced_secret, namespace, body)
        except Conflict:
            return False
        return True

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

    def ready_pod_for_service(self, namespace: str, service: str, port: int | None = None) -> tuple[str, int]:
        """A Ready pod behind the Service and the pod port the Service port leads to."""
        svc = self.service(namespace, service)
        selector = ",".join(f"{k}={v}" for k, v in sorted((svc.spec.selector or {}).items()))
        if not selector:
            raise ToolError(f"service {namespace}/{service} has no selector; cannot pick a pod")
        ports = svc.spec.ports or []
        chosen = next((p for p in ports if port is None or p.port == port), None)
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
