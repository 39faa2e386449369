"""An HTTP-level fake Kubernetes API server, so the real `kubernetes` client code path runs.

A threaded stdlib HTTP server on 127.0.0.1 with an in-memory object store for what obsctl uses:
namespaces (phase, finalizers, deletion by a small "namespace controller"), nodes, CRDs (with
status.conditions), Deployments / StatefulSets / DaemonSets (+ the scale subresource), Services,
PVCs, Secrets (stringData becomes base64 data), ConfigMaps, Pods and monitoring.coreos.com
custom objects. It speaks:

- /version, and discovery (/api/v1, /apis, /apis/{group}/{version}) built from the kinds below
  and the CRDs in the store, so a client that discovers every namespaced resource sees them;
- list (with resourceVersion), get, create, delete, merge PATCH, PUT .../finalize, and
  server-side apply (PATCH application/apply-patch+yaml: create or update); a strategic merge
  patch on a custom resource is refused with 415, as a real API server does;
- WATCH: `?watch=true` answers a chunked stream of JSON lines ({"type", "object"}) from the
  requested resourceVersion on, honouring fieldSelector metadata.name=, labelSelector k=v and
  timeoutSeconds; a resourceVersion older than `compacted_before` gets an ERROR 410 event;
- the service proxy: /api/v1/namespaces/{ns}/services/{name}:{port}/proxy/{path}, answered by
  handlers a test registers, unless a NetworkPolicy in the namespace selects the Service's Pods
  and admits no source outside the cluster's Pods: the proxied connection comes from the API
  server, so such a policy blocks it (503, like a real API server whose dial times out);
- Pod logs: GET /api/v1/namespaces/{ns}/pods/{name}/log, from lines a test writes with
  `log()`, honouring `container` (required for a Pod with several containers, as the real API
  requires it), `tailLines` (the last N lines), `sinceSeconds` (of those, the ones written in
  the last N seconds: the kubelet applies the tail first), `timestamps` and `follow` (a
  chunked stream of the lines written after, which ends when the Pod is deleted);
- the pod portforward: a websocket upgrade (RFC 6455 framing, the v4.channel.k8s.io channel
  protocol the client's kubernetes.stream.portforward speaks), relayed to a TCP backend a test
  registers for the pod.

It is not an API server: no admission, no validation beyond what the tests need, no auth
(any bearer token is accepted and recorded).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

CLUSTER_SCOPED = {"namespaces", "nodes", "customresourcedefinitions", "persistentvolumes", "storageclasses"}
KINDS = {
    "persistentvolumes": ("v1", "PersistentVolume"),
    "storageclasses": ("storage.k8s.io/v1", "StorageClass"),
    "networkpolicies": ("networking.k8s.io/v1", "NetworkPolicy"),
    "ingresses": ("networking.k8s.io/v1", "Ingress"),
    "namespaces": ("v1", "Namespace"),
    "nodes": ("v1", "Node"),
    "pods": ("v1", "Pod"),
    "services": ("v1", "Service"),
    "secrets": ("v1", "Secret"),
    "persistentvolumeclaims": ("v1", "PersistentVolumeClaim"),
    "configmaps": ("v1", "ConfigMap"),
    "deployments": ("apps/v1", "Deployment"),
    "statefulsets": ("apps/v1", "StatefulSet"),
    "daemonsets": ("apps/v1", "DaemonSet"),
    "customresourcedefinitions": ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
}
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

ProxyHandler = Callable[[str, dict[str, str]], tuple[int, str, bytes]]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (null deletes a key)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def crd(plural: str, group: str = "monitoring.coreos.com", established: bool | None = True) -> dict[str, Any]:
    """A CustomResourceDefinition object; established None = no conditions yet."""
    kind = plural[:-1].capitalize()
    obj: dict[str, Any] = {
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"plural": plural, "kind": kind},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
        "status": {},
    }
    if established is not None:
        obj["status"]["conditions"] = [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
            {
                "type": "Established",
                "status": "True" if established else "False",
                "reason": "InitialNamesAccepted" if established else "Installing",
            },
        ]
    return obj


def workload(resource: str, name: str, replicas: int = 1, ready: int | None = None, labels: Any = None) -> dict:
    """A Deployment / StatefulSet / DaemonSet with a status `ready` of `replicas` ready."""
    ready = replicas if ready is None else ready
    labels = labels or {"app": name}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
    }
    if resource == "daemonsets":
        status = {
            "desiredNumberScheduled": replicas,
            "numberReady": ready,
            "updatedNumberScheduled": ready,
            "currentNumberScheduled": replicas,
            "numberMisscheduled": 0,
            "observedGeneration": 1,
        }
    else:
        spec["replicas"] = replicas
        status = {"replicas": replicas, "readyReplicas": ready, "updatedReplicas": ready, "observedGeneration": 1}
        if resource == "deployments":
            status["availableReplicas"] = ready
        else:
            spec["serviceName"] = name
    return {"metadata": {"name": name, "generation": 1, "labels": labels}, "spec": spec, "status": status}


def pod(name: str, labels: dict[str, str], ready: bool = True, ports: dict[str, int] | None = None) -> dict:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "nodeName": "node-1",
            "containers": [
                {
                    "name": "main",
                    "image": "x",
                    "ports": [{"name": n, "containerPort": p} for n, p in (ports or {}).items()],
                }
            ],
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def node(name: str, ready: bool = True) -> dict:
    return {
        "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "KubeletReady"}]},
    }


class FakeKube:
    """The fake API server. Use as a context manager; `url` is its address."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.rv = 1
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.events: list[tuple[int, str, str, str, dict[str, Any]]] = []  # rv, resource, ns, type, obj
        self.compacted_before = 0
        self.requests: list[tuple[str, str]] = []  # (method, path?query)
        self.tokens: set[str] = set()
        self.proxies: dict[tuple[str, str], ProxyHandler] = {}
        self.backends: dict[tuple[str, str], tuple[str, int]] = {}
        # (namespace, pod, container) -> [(epoch seconds, line)]: what the container wrote
        self.pod_logs: dict[tuple[str, str, str], list[tuple[float, str]]] = {}
        self.namespace_delete_delay = 0.0  # seconds a namespace stays Terminating even when empty
        self.watch_silence = False  # watches send nothing (a server that stops talking)
        self.stale_lists = 0  # the next N lists report resourceVersion 1 (history since compacted)
        # when set, a port-forward handshake is held open until it is (a slow API server), and
        # `portforward_started` tells the test that a handshake is in flight
        self.portforward_gate: threading.Event | None = None
        self.portforward_started = threading.Event()
        # a CRD created through the API gets NamesAccepted + Established after this many seconds
        self.crd_establish_delay = 0.2
        # the service proxy honours NetworkPolicies (as a real cluster whose CNI enforces them)
        self.enforce_network_policy = True
        self._stop = threading.Event()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._threads = [
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True),
            threading.Thread(target=self._controller, daemon=True),
        ]

    def __enter__(self) -> FakeKube:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self.lock:
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- kubeconfig ------------------------------------------------------------------------------

    def kubeconfig(self, path: Path, current: str = "fake-a", contexts: tuple[str, ...] = ("fake-a", "fake-b")) -> Path:
        import yaml

        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": "fake-token"}}],
                    "contexts": [{"name": c, "context": {"cluster": "fake", "user": "tester"}} for c in contexts],
                    "current-context": current,
                }
            )
        )
        return path

    # -- the store ------------------------------------------------------------------------------

    def _emit(self, resource: str, ns: str, kind: str, obj: dict[str, Any]) -> None:
        self.events.append((self.rv, resource, ns, kind, copy.deepcopy(obj)))
        self.lock.notify_all()

    def put(self, resource: str, obj: dict[str, Any], namespace: str = "") -> dict[str, Any]:
        """Create or replace an object (as a controller would), emitting ADDED or MODIFIED."""
        with self.lock:
            obj = copy.deepcopy(obj)
            api, kind = KINDS.get(resource) or self.custom_kind(resource)
            obj.setdefault("apiVersion", api)
            obj.setdefault("kind", kind)
            meta = obj.setdefault("metadata", {})
            if resource not in CLUSTER_SCOPED:
                meta["namespace"] = namespace
            key = (resource, namespace if resource not in CLUSTER_SCOPED else "", meta["name"])
            existed = key in self.objects
            meta.setdefault("uid", hashlib.sha1(repr(key).encode()).hexdigest()[:12])
            meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            if resource == "namespaces":
                obj.setdefault("spec", {"finalizers": ["kubernetes"]})
                obj.setdefault("status", {"phase": "Active"})
            if resource == "secrets" and "stringData" in obj:
                data = obj.setdefault("data", {})
                for k, v in obj.pop("stringData").items():
                    data[k] = base64.b64encode(v.encode()).decode()
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            self.objects[key] = obj
            self._emit(resource, key[1], "MODIFIED" if existed else "ADDED", obj)
            return copy.deepcopy(obj)

    def custom_kind(self, resource: str) -> tuple[str, str]:
        """(apiVersion, kind) of a custom resource: from its CRD in the store, else monitoring.coreos.com/v1."""
        for key, obj in self.objects.items():
            if key[0] == "customresourcedefinitions" and obj["spec"]["names"]["plural"] == resource:
                version = next((v["name"] for v in obj["spec"]["versions"] if v.get("storage")), "v1")
                return f"{obj['spec']['group']}/{version}", obj["spec"]["names"]["kind"]
        return "monitoring.coreos.com/v1", resource[:-1].capitalize()

    def discovery(self) -> dict[str, list[dict[str, Any]]]:
        """groupVersion -> API resources, as discovery shows them."""
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        out: dict[str, list[dict[str, Any]]] = {}
        for resource, (api, kind) in KINDS.items():
            out.setdefault(api, []).append(
                {"name": resource, "kind": kind, "namespaced": resource not in CLUSTER_SCOPED, "verbs": verbs}
            )
            if resource == "deployments":
                out[api].append({"name": "deployments/scale", "kind": "Scale", "namespaced": True, "verbs": verbs})
        with self.lock:
            crds = [o for (r, _, _), o in self.objects.items() if r == "customresourcedefinitions"]
        for c in crds:
            for v in c["spec"]["versions"]:
                out.setdefault(f"{c['spec']['group']}/{v['name']}", []).append(
                    {
                        "name": c["spec"]["names"]["plural"],
                        "kind": c["spec"]["names"]["kind"],
                        "namespaced": c["spec"].get("scope", "Namespaced") == "Namespaced",
                        "verbs": verbs,
                    }
                )
        return out

    def get(self, resource: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((resource, "" if resource in CLUSTER_SCOPED else namespace, name))
            return copy.deepcopy(obj) if obj else None

    def update(self, resource: str, name: str, namespace: str = "", **patch: Any) -> dict[str, Any]:
        """Merge-patch an object as a controller would (e.g. status), emitting MODIFIED."""
        current = self.get(resource, name, namespace)
        assert current is not None, (resource, namespace, name)
        return self.put(resource, merge_patch(current, patch), namespace)

    def remove(self, resource: str, name: str, namespace: str = "") -> None:
        with self.lock:
            key = (resource, "" if resource in CLUSTER_SCOPED else namespace, name)
            obj = self.objects.pop(key, None)
            if obj is not None:
                self.rv += 1
                obj["metadata"]["resourceVersion"] = str(self.rv)
                self._emit(resource, key[1], "DELETED", obj)

    def _delete(self, resource: str, ns: str, name: str) -> dict[str, Any] | None:
        """API DELETE: objects with finalizers get a deletionTimestamp and stay."""
        with self.lock:
            key = (resource, ns, name)
            obj = self.objects.get(key)
            if obj is None:
                return None
            meta = obj["metadata"]
            if resource == "namespaces":
                meta.setdefault("deletionTimestamp", "2025-01-01T00:00:00Z")
                obj["status"]["phase"] = "Terminating"
                meta.setdefault("annotations", {})["fake/terminating-since"] = str(time.monotonic())
                self.rv += 1
                meta["resourceVersion"] = str(self.rv)
                self._emit(resource, "", "MODIFIED", obj)
                return copy.deepcopy(obj)
            if meta.get("finalizers"):
                meta.setdefault("deletionTimestamp", "2025-01-01T00:00:00Z")
                self.rv += 1
                meta["resourceVersion"] = str(self.rv)
                self._emit(resource, ns, "MODIFIED", obj)
                return copy.deepcopy(obj)
            self.remove(resource, name, ns)
            return obj

    def _controller(self) -> None:
        """The namespace lifecycle controller (and garbage collection of finalized objects), and
        the apiextensions controller that establishes new CRDs."""
        while not self._stop.wait(0.05):
            with self.lock:
                for key, obj in list(self.objects.items()):
                    since = obj["metadata"].get("annotations", {}).get("fake/created-at")
                    young = since is None or time.monotonic() - float(since) < self.crd_establish_delay
                    if (
                        key[0] == "customresourcedefinitions"
                        and not young
                        and not obj.get("status", {}).get("conditions")
                    ):
                        self.update("customresourcedefinitions", key[2], status=crd(key[2].split(".")[0])["status"])
                for key, obj in list(self.objects.items()):
                    meta = obj["metadata"]
                    if key[0] != "namespaces" and meta.get("deletionTimestamp") and not meta.get("finalizers"):
                        self.remove(key[0], key[2], key[1])
                for key, obj in list(self.objects.items()):
                    if key[0] != "namespaces" or obj["status"].get("phase") != "Terminating":
                        continue
                    name = key[2]
                    held = []
                    for okey, o in list(self.objects.items()):
                        if okey[1] != name or okey[0] in CLUSTER_SCOPED:
                            continue
                        if o["metadata"].get("finalizers"):
                            o["metadata"].setdefault("deletionTimestamp", "2025-01-01T00:00:00Z")
                            held.append(f"{okey[0]}/{okey[2]}")
                        else:
                            self.remove(okey[0], okey[2], okey[1])
                    since = float(obj["metadata"]["annotations"]["fake/terminating-since"])
                    conds = []
                    if held:
                        conds.append(
                            {
                                "type": "NamespaceFinalizersRemaining",
                                "status": "True",
                                "reason": "SomeFinalizersRemain",
                                "message": f"Some content in the namespace has finalizers remaining: {len(held)}",
                            }
                        )
                    if conds != obj["status"].get("conditions", []):
                        obj["status"]["conditions"] = conds
                        self.rv += 1
                        obj["metadata"]["resourceVersion"] = str(self.rv)
                        self._emit("namespaces", "", "MODIFIED", obj)
                    if held or obj.get("spec", {}).get("finalizers") not in ([], ["kubernetes"], None):
                        continue
                    if time.monotonic() - since >= self.namespace_delete_delay:
                        self.remove("namespaces", name)

    def log(self, namespace: str, pod: str, *lines: str, container: str | None = None, at: float | None = None) -> None:
        """A container of a Pod writes lines (at `at`, epoch seconds; default now). The
        container defaults to the Pod's first."""
        with self.lock:
            if container is None:
                obj = self.objects[("pods", namespace, pod)]
                container = obj["spec"]["containers"][0]["name"]
            entries = self.pod_logs.setdefault((namespace, pod, container), [])
            entries.extend((time.time() if at is None else at, line) for line in lines)
            self.lock.notify_all()

    def compact(self) -> None:
        """Forget the watch history before now (a watch from an older version gets 410 Gone)."""
        with self.lock:
            self.compacted_before = self.rv

    def list(self, resource: str, ns: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                copy.deepcopy(o) for (r, n, _), o in sorted(self.objects.items()) if r == resource and ns in (None, n)
            ]


# --- HTTP ------------------------------------------------------------------------------------------


def _selectors(q: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    fields = dict(p.split("=", 1) for p in q.get("fieldSelector", "").split(",") if "=" in p)
    labels = dict(p.split("=", 1) for p in q.get("labelSelector", "").split(",") if "=" in p)

    def match(obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        if "metadata.name" in fields and meta.get("name") != fields["metadata.name"]:
            return False
        have = meta.get("labels") or {}
        return all(have.get(k) == v for k, v in labels.items())

    return match


def _policy_blocks_api_server(fake: FakeKube, ns: str, service: str) -> bool:
    """Whether the NetworkPolicies of the namespace keep the API server (a source that is no Pod
    of the cluster) from the Service's Pods. A policy with Ingress in its policyTypes that
    selects a Pod admits only what its rules list; a namespaceSelector or podSelector peer never
    matches the API server, an ipBlock peer or a rule without `from` does."""
    svc = fake.get("services", service, ns)
    selector = ((svc or {}).get("spec") or {}).get("selector") or {}
    if not selector:
        return False
    pods = [
        p
        for p in fake.list("pods", ns)
        if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
    ]
    labels = [p["metadata"].get("labels") or {} for p in pods] or [selector]
    selecting = []
    for policy in fake.list("networkpolicies", ns):
        spec = policy.get("spec", {})
        if "Ingress" not in (spec.get("policyTypes") or ["Ingress"]):
            continue
        want = (spec.get("podSelector") or {}).get("matchLabels") or {}
        if any(all(lab.get(k) == v for k, v in want.items()) for lab in labels):
            selecting.append(spec)
    if not selecting:
        return False
    for spec in selecting:
        for rule in spec.get("ingress") or []:
            peers = rule.get("from")
            if not peers or any("ipBlock" in peer for peer in peers):
                return False
    return True


def _route(path: str) -> tuple[str, str, str, str] | None:
    """(resource, namespace, name, subresource) of an API path; None when unknown."""
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if parts[:2] == ["api", "v1"]:
        rest = parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        rest = parts[3:]
    else:
        return None
    ns = ""
    if len(rest) == 3 and rest[0] == "namespaces" and rest[2] in ("finalize", "status"):
        return "namespaces", "", rest[1], rest[2]
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) > 2:
        ns, rest = rest[1], rest[2:]
    if not rest:
        return None
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = "/".join(rest[2:]) if len(rest) > 2 else ""
    return resource, ns, name, sub


def _handler(fake: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in separate writes: without TCP_NODELAY, Nagle holds the body
        # until the client's delayed ACK (~40 ms per request)
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        # -- helpers --
        def _send(self, code: int, body: Any, ctype: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _status(self, code: int, reason: str, message: str) -> None:
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure"}
            self._send(code, {**body, "message": message, "reason": reason, "code": code})

        def _body(self) -> Any:
            return self._payload

        def _read_body(self) -> Any:
            n = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(n) or b"null") if n else None

        def _dispatch(self, method: str) -> None:
            url = urlparse(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            self._payload = self._read_body() if method in ("POST", "PUT", "PATCH") else None
            with fake.lock:
                fake.requests.append((method, self.path))
                auth = self.headers.get("Authorization", "")
                if auth:
                    fake.tokens.add(auth)
            if method == "GET" and url.path.rstrip("/") == "/version":
                version = {"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "gitCommit": "fake"}
                version |= {"gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24"}
                version |= {"compiler": "gc", "platform": "linux/amd64"}
                return self._send(200, version)
            discovered = self._discovery(url.path) if method == "GET" else None
            if discovered is not None:
                return self._send(200, discovered)
            route = _route(url.path)
            if route is None:
                return self._status(404, "NotFound", f"the server could not find the requested resource {url.path}")
            resource, ns, name, sub = route
            if resource == "services" and sub.startswith("proxy"):
                return self._proxy(ns, name, sub[len("proxy") :].lstrip("/"), q)
            if resource == "pods" and sub == "log" and method == "GET":
                return self._pod_log(ns, name, q)
            if resource == "pods" and sub == "portforward":
                return self._portforward(ns, name, q)
            if method == "GET" and not name:
                if q.get("watch", "").lower() in ("true", "1"):
                    return self._watch(resource, ns, q)
                return self._list(resource, ns, q)
            if method == "POST" and not name:
                body = self._body()
                body_name = body["metadata"]["name"]
                if fake.get(resource, body_name, ns):
                    return self._status(409, "AlreadyExists", f'{resource} "{body_name}" already exists')
                if resource != "namespaces" and ns:
                    owner = fake.get("namespaces", ns)
                    if owner is None:
                        return self._status(404, "NotFound", f'namespaces "{ns}" not found')
                    if owner["status"].get("phase") == "Terminating":
                        return self._status(403, "Forbidden", f"namespace {ns} is being terminated")
                if resource == "customresourcedefinitions":
                    body = merge_patch(body, {"metadata": {"annotations": {"fake/created-at": str(time.monotonic())}}})
                return self._send(201, fake.put(resource, body, ns))
            ctype = self.headers.get("Content-Type", "")
            if method == "PATCH" and ctype.startswith("application/apply-patch"):
                return self._apply(resource, ns, name)
            if method == "PATCH" and ctype == "application/strategic-merge-patch+json" and resource not in KINDS:
                return self._status(
                    415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {ctype}"
                )
            obj = fake.get(resource, name, ns)
            if obj is None:
                return self._status(404, "NotFound", f'{resource} "{name}" not found')
            if method == "GET":
                return self._send(200, obj)
            if method == "DELETE":
                return self._send(200, fake._delete(resource, "" if resource in CLUSTER_SCOPED else ns, name))
            if method == "PATCH":
                patch = self._body()
                if sub == "scale":
                    replicas = patch["spec"]["replicas"]
                    gen = obj["metadata"].get("generation", 1) + 1
                    fake.update(resource, name, ns, spec={"replicas": replicas}, metadata={"generation": gen})
                    scale = {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": name}}
                    return self._send(200, {**scale, "spec": {"replicas": replicas}})
                updated = fake.put(resource, merge_patch(obj, patch), ns)
                meta = updated["metadata"]
                if resource != "namespaces" and meta.get("deletionTimestamp") and not meta.get("finalizers"):
                    fake.remove(resource, name, ns)
                return self._send(200, updated)
            if method == "PUT" and sub == "finalize":
                body = self._body()
                obj["spec"] = body.get("spec", {})
                return self._send(200, fake.put(resource, obj))
            return self._status(405, "MethodNotAllowed", f"{method} {self.path}")

        def _discovery(self, path: str) -> dict[str, Any] | None:
            """/api/v1, /apis and /apis/{group}/{version}; None for any other path."""
            found = fake.discovery()
            if path.rstrip("/") == "/api/v1":
                return {"kind": "APIResourceList", "groupVersion": "v1", "resources": found.get("v1", [])}
            if path.rstrip("/") == "/apis":
                groups: dict[str, list[str]] = {}
                for gv in found:
                    if "/" in gv:
                        group, version = gv.split("/")
                        groups.setdefault(group, []).append(version)

                # the preferred version is the most stable one (v1 before v1beta1 before v1alpha1)
                def rank(v: str) -> tuple[int, str]:
                    return (0 if "alpha" not in v and "beta" not in v else 1 if "beta" in v else 2, v)

                return {
                    "kind": "APIGroupList",
                    "groups": [
                        {
                            "name": g,
                            "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in sorted(vs, key=rank)],
                            "preferredVersion": {
                                "groupVersion": f"{g}/{min(vs, key=rank)}",
                                "version": min(vs, key=rank),
                            },
                        }
                        for g, vs in sorted(groups.items())
                    ],
                }
            parts = path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "apis" and f"{parts[1]}/{parts[2]}" in found:
                gv = f"{parts[1]}/{parts[2]}"
                return {"kind": "APIResourceList", "groupVersion": gv, "resources": found[gv]}
            return None

        def _apply(self, resource: str, ns: str, name: str) -> None:
            """Server-side apply, much simplified: create, or replace what the body sets."""
            body = self._body()
            current = fake.get(resource, name, ns)
            if current is None:
                if resource == "customresourcedefinitions":
                    body = merge_patch(body, {"metadata": {"annotations": {"fake/created-at": str(time.monotonic())}}})
                return self._send(201, fake.put(resource, body, ns))
            merged = dict(current)
            merged["metadata"] = merge_patch(
                current["metadata"],
                {k: v for k, v in body.get("metadata", {}).items() if k in ("labels", "annotations")},
            )
            for key, value in body.items():
                if key not in ("metadata", "status", "apiVersion", "kind"):
                    merged[key] = value
            return self._send(200, fake.put(resource, merged, ns))

        def _list(self, resource: str, ns: str, q: dict[str, str]) -> None:
            match = _selectors(q)
            with fake.lock:
                items = [o for o in fake.list(resource, ns if resource not in CLUSTER_SCOPED else None) if match(o)]
                rv = str(fake.rv)
                if fake.stale_lists:
                    fake.stale_lists -= 1
                    rv = "1"
            api, kind = KINDS.get(resource) or fake.custom_kind(resource)
            self._send(
                200, {"kind": f"{kind}List", "apiVersion": api, "metadata": {"resourceVersion": rv}, "items": items}
            )

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _watch(self, resource: str, ns: str, q: dict[str, str]) -> None:
            match = _selectors(q)
            since = int(q.get("resourceVersion") or 0)
            deadline = time.monotonic() + float(q.get("timeoutSeconds") or 60)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                if since and since < fake.compacted_before:
                    gone = {"kind": "Status", "status": "Failure", "reason": "Expired", "code": 410}
                    gone["message"] = f"too old resource version: {since} ({fake.compacted_before})"
                    self._chunk(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
                else:
                    seen = since
                    while not fake._stop.is_set():
                        with fake.lock:
                            pending = [
                                e
                                for e in fake.events
                                if e[0] > seen
                                and e[1] == resource
                                and (resource in CLUSTER_SCOPED or e[2] == ns)
                                and match(e[4])
                            ]
                            if pending:
                                seen = max(e[0] for e in pending)
                            elif time.monotonic() < deadline:
                                fake.lock.wait(min(0.1, max(0.0, deadline - time.monotonic())))
                        if fake.watch_silence:
                            pending = []
                        for e in pending:
                            self._chunk(json.dumps({"type": e[3], "object": e[4]}).encode() + b"\n")
                        if time.monotonic() >= deadline:
                            break
                self._chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

        def _proxy(self, ns: str, name_port: str, path: str, q: dict[str, str]) -> None:
            name = name_port.split(":", 1)[0]
            if fake.enforce_network_policy and _policy_blocks_api_server(fake, ns, name):
                return self._status(
                    503,
                    "ServiceUnavailable",
                    f"error trying to reach service: dial tcp 10.244.0.7:8000: i/o timeout (service {ns}/{name})",
                )
            handler = fake.proxies.get((ns, name))
            if handler is None:
                return self._status(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
            code, ctype, body = handler("/" + path, q)
            self._send(code, body, ctype)

        def _pod_log(self, ns: str, name: str, q: dict[str, str]) -> None:
            """GET .../pods/{name}/log as the API server answers it (validation messages included)."""
            obj = fake.get("pods", name, ns)
            if obj is None:
                return self._status(404, "NotFound", f'pods "{name}" not found')
            names = [c["name"] for c in obj["spec"]["containers"]]
            container = q.get("container")
            if container is None and len(names) > 1:
                return self._status(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]",
                )
            container = container or names[0]
            if container not in names:
                return self._status(400, "BadRequest", f"container {container} is not valid for pod {name}")
            tail = int(q["tailLines"]) if "tailLines" in q else None
            since = int(q["sinceSeconds"]) if "sinceSeconds" in q else None
            if (tail is not None and tail < 0) or (since is not None and since < 1):
                return self._status(422, "Invalid", "PodLogOptions is invalid: tailLines >= 0, sinceSeconds >= 1")
            stamps = q.get("timestamps", "").lower() in ("true", "1")
            key = (ns, name, container)
            with fake.lock:
                entries = list(fake.pod_logs.get(key, []))
            seen = len(entries)
            if tail is not None:  # the kubelet seeks to the last N lines first ...
                entries = entries[len(entries) - tail :] if tail else []
            if since is not None:  # ... then skips those older than sinceSeconds
                cutoff = time.time() - since
                entries = [e for e in entries if e[0] >= cutoff]

            def text(batch: list[tuple[float, str]]) -> bytes:
                def stamp(t: float) -> str:
                    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z "

                return "".join(f"{stamp(t) if stamps else ''}{line}\n" for t, line in batch).encode()

            if q.get("follow", "").lower() not in ("true", "1"):
                return self._send(200, text(entries), "text/plain")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                if entries:
                    self._chunk(text(entries))
                while not fake._stop.is_set():
                    with fake.lock:
                        now = fake.pod_logs.get(key, [])
                        batch, seen = now[seen:], len(now)
                        gone = ("pods", ns, name) not in fake.objects
                        if not batch and not gone:
                            fake.lock.wait(0.1)
                    if batch:
                        self._chunk(text(batch))
                    if gone:  # the container is gone: the stream ends
                        break
                self._chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

        # -- websocket port-forward (RFC 6455, server side) --
        def _portforward(self, ns: str, pod_name: str, q: dict[str, str]) -> None:
            if fake.get("pods", pod_name, ns) is None:
                return self._status(404, "NotFound", f'pods "{pod_name}" not found')
            backend = fake.backends.get((ns, pod_name))
            key = self.headers.get("Sec-WebSocket-Key", "")
            if not backend or not key:
                return self._status(400, "BadRequest", "no backend or not a websocket upgrade")
            port = int(q.get("ports", "0"))
            fake.portforward_started.set()
            if fake.portforward_gate is not None:
                fake.portforward_gate.wait(10)
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            self.send_response(101, "Switching Protocols")
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
            self.end_headers()
            self.close_connection = True
            send_lock = threading.Lock()

            def send(payload: bytes, opcode: int = 2) -> None:
                n = len(payload)
                head = bytes([0x80 | opcode])
                if n < 126:
                    head += bytes([n])
                elif n < 65536:
                    head += bytes([126]) + struct.pack(">H", n)
                else:
                    head += bytes([127]) + struct.pack(">Q", n)
                with send_lock:
                    self.wfile.write(head + payload)
                    self.wfile.flush()

            send(bytes([0]) + struct.pack("<H", port))
            send(bytes([1]) + struct.pack("<H", port))
            upstream = socket.create_connection(backend, timeout=5)
            upstream.settimeout(None)

            def pump() -> None:
                # like the API server, the stream stays open when the pod closes its side;
                # the client ends it (a close frame) when its local connection is done
                try:
                    while data := upstream.recv(65536):
                        send(bytes([0]) + data)
                except OSError:
                    pass

            threading.Thread(target=pump, daemon=True).start()
            try:
                while True:
                    head = self.rfile.read(2)
                    if len(head) < 2:
                        break
                    opcode, n = head[0] & 0x0F, head[1] & 0x7F
                    if n == 126:
                        n = struct.unpack(">H", self.rfile.read(2))[0]
                    elif n == 127:
                        n = struct.unpack(">Q", self.rfile.read(8))[0]
                    mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
                    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
                    if opcode == 8:
                        break
                    if opcode == 2 and payload and payload[0] == 0:
                        upstream.sendall(payload[1:])
            except OSError:
                pass
            finally:
                upstream.close()

        def do_GET(self) -> None:  # noqa: N802
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._dispatch("DELETE")

        def do_PATCH(self) -> None:  # noqa: N802
            self._dispatch("PATCH")

        def do_PUT(self) -> None:  # noqa: N802
            self._dispatch("PUT")

    return Handler
