"""The slice of the Kubernetes API that the real `helm` binary needs to keep releases and apply
ConfigMaps, so that helm's own code path (status, get, upgrade --install, rollback, uninstall,
with helm's own JSON and error messages) runs in tests without a cluster.

What it serves, and why each piece (all seen in helm 4.1.4's requests):
- `/version`: helm asks it before every command (its "cluster unreachable" check);
- `/api`, `/apis`, `/api/v1`: discovery (capabilities, REST mapping) - core v1 Secrets and ConfigMaps only;
- `/openapi/v3` and `/openapi/v3/api/v1`: a PATCH operation for ConfigMaps that lists the
  `fieldValidation` query parameter, so helm leaves validation to the server (kubectl's
  query-param verifier) instead of downloading the whole OpenAPI v2 document;
- Secrets (helm's release storage, label selectors name=,owner=): list, get, create, update,
  delete. helm's typed client sends Secrets as protobuf; `_secret_from_protobuf` reads the
  few fields helm sets (name, labels, data, type);
- ConfigMaps (what the test charts render): get, list, create, server-side apply PATCH (helm 4),
  strategic merge PATCH as a merge patch (helm 3), delete;
  a watch answers an empty stream (helm's `--wait` then settles on the list). A ConfigMap whose
  data has the key `invalid` is refused with 422 "... is invalid: ..." like an admission error.

It is not an API server: no auth, no resourceVersion semantics, one store per instance.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

RESOURCES = {"secrets": "Secret", "configmaps": "ConfigMap"}


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 merge patch (null deletes a key)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def _fields(buf: bytes) -> Iterator[tuple[int, Any]]:
    """(field number, value) of a protobuf message: varints as int, length-delimited as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            value, i = buf[i : i + n], i + n
        else:
            raise ValueError(f"protobuf wire type {wire}")
        yield number, value


def _map_entry(buf: bytes) -> tuple[str, bytes]:
    entry = dict(_fields(buf))
    return entry.get(1, b"").decode(), entry.get(2, b"")


def _secret_from_protobuf(body: bytes) -> dict[str, Any]:
    """A v1 Secret from Kubernetes' protobuf envelope ("k8s\\0" + runtime.Unknown{raw: Secret}).
    Field numbers: k8s.io/api/core/v1/generated.proto (Secret: metadata 1, data 2, type 3;
    ObjectMeta: name 1, namespace 3, labels 11)."""
    if body[:4] != b"k8s\x00":
        raise ValueError("not a Kubernetes protobuf body")
    raw = dict(_fields(body[4:]))[2]
    meta: dict[str, Any] = {}
    data: dict[str, str] = {}
    kind_type = None
    for number, value in _fields(raw):
        if number == 1:
            for m_number, m_value in _fields(value):
                if m_number == 1:
                    meta["name"] = m_value.decode()
                elif m_number == 11:
                    key, val = _map_entry(m_value)
                    meta.setdefault("labels", {})[key] = val.decode()
        elif number == 2:
            key, val = _map_entry(value)
            data[key] = base64.b64encode(val).decode()
        elif number == 3:
            kind_type = value.decode()
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": data, "type": kind_type}


class HelmApi:
    """`with HelmApi() as api:` serves on 127.0.0.1 (a free port); `api.kubeconfig(path)` points helm at it."""

    def __init__(self) -> None:
        self.store: dict[str, dict[tuple[str, str], dict[str, Any]]] = {r: {} for r in RESOURCES}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.rv = 1
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> HelmApi:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def kubeconfig(self, path: Path, context: str = "helm-test") -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "helmapi", "cluster": {"server": self.url}}],
            "users": [{"name": "helmapi", "user": {"token": "t"}}],
            "contexts": [{"name": context, "context": {"cluster": "helmapi", "user": "helmapi"}}],
            "current-context": context,
        }
        path.write_text(json.dumps(config))
        return path

    # -- helm's release records ---------------------------------------------------------------

    def release(self, name: str, namespace: str, revision: int) -> dict[str, Any]:
        """The release record helm stored: Secret data `release` = base64(gzip(JSON))."""
        secret = self.store["secrets"][(namespace, f"sh.helm.release.v1.{name}.v{revision}")]
        return json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))

    def set_release_status(self, name: str, namespace: str, revision: int, status: str) -> None:
        """Leave a revision in `status` (e.g. pending-upgrade: what an interrupted helm leaves behind)."""
        record = self.release(name, namespace, revision)
        record["info"]["status"] = status
        blob = base64.b64encode(base64.b64encode(gzip.compress(json.dumps(record).encode())))
        with self.lock:
            secret = self.store["secrets"][(namespace, f"sh.helm.release.v1.{name}.v{revision}")]
            secret["data"]["release"] = blob.decode()
            secret["metadata"]["labels"]["status"] = status

    def revisions(self, name: str, namespace: str) -> list[int]:
        prefix = f"sh.helm.release.v1.{name}.v"
        names = [n for ns, n in self.store["secrets"] if ns == namespace and n.startswith(prefix)]
        return sorted(int(n[len(prefix) :]) for n in names)

    def put(self, resource: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.rv += 1
            obj = {**obj, "apiVersion": "v1", "kind": RESOURCES[resource]}
            obj["metadata"] = {**obj.get("metadata", {}), "namespace": namespace, "resourceVersion": str(self.rv)}
            self.store[resource][(namespace, obj["metadata"]["name"])] = obj
            return obj


DISCOVERY = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": True,
                "kind": kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            }
            for plural, kind in RESOURCES.items()
        ],
    },
    "/openapi/v3": {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=1"}}},
    "/openapi/v3/api/v1": {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": {
            "/api/v1/namespaces/{namespace}/configmaps/{name}": {
                "patch": {
                    "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                    "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                    "responses": {},
                }
            }
        },
        "components": {"schemas": {}},
    },
    "/version": {"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"},
}


def _handler(api: HelmApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _status(self, code: int, reason: str, message: str) -> None:
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure"}
            self._send(code, {**body, "reason": reason, "code": code, "message": message})

        def _dispatch(self, method: str) -> None:
            url = urlparse(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            with api.lock:
                api.requests.append((method, self.path))
            if method == "GET" and url.path in DISCOVERY:
                return self._send(200, DISCOVERY[url.path])
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            if parts[:3] != ["api", "v1", "namespaces"] or len(parts) < 5 or parts[4] not in RESOURCES:
                return self._status(404, "NotFound", "the server could not find the requested resource")
            ns, resource, name = parts[3], parts[4], (parts[5] if len(parts) > 5 else "")
            kind = RESOURCES[resource]
            store = api.store[resource]
            body: dict[str, Any] | None = None
            if raw and method in ("POST", "PUT", "PATCH"):
                protobuf = "protobuf" in (self.headers.get("Content-Type") or "")
                body = _secret_from_protobuf(raw) if protobuf else json.loads(raw)
            if method == "GET" and not name:
                if q.get("watch") in ("true", "1"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                wanted = dict(p.split("=", 1) for p in q.get("labelSelector", "").split(",") if "=" in p).items()
                with api.lock:
                    items = [
                        o
                        for (o_ns, _), o in store.items()
                        if o_ns == ns and all((o["metadata"].get("labels") or {}).get(k) == v for k, v in wanted)
                    ]
                    meta = {"resourceVersion": str(api.rv)}
                return self._send(200, {"kind": f"{kind}List", "apiVersion": "v1", "metadata": meta, "items": items})
            if body is not None and "invalid" in (body.get("data") or {}):
                message = f'{kind} "{body["metadata"]["name"]}" is invalid: data.invalid: Invalid value: "x": refused'
                return self._status(422, "Invalid", message)
            if method == "POST":
                assert body is not None
                if (ns, body["metadata"]["name"]) in store:
                    return self._status(409, "AlreadyExists", f'{resource} "{body["metadata"]["name"]}" already exists')
                return self._send(201, api.put(resource, ns, body))
            patch_type = self.headers.get("Content-Type") or ""
            if method == "PATCH" and "apply-patch" in patch_type:
                assert body is not None  # server-side apply (helm 4): create or replace, one field manager here
                return self._send(200, api.put(resource, ns, body))
            if (ns, name) not in store:
                return self._status(404, "NotFound", f'{resource} "{name}" not found')
            if method == "GET":
                return self._send(200, store[(ns, name)])
            if method == "PUT":
                assert body is not None
                return self._send(200, api.put(resource, ns, body))
            if method == "PATCH" and "merge-patch" in patch_type:
                assert body is not None  # helm 3's three-way strategic merge: a merge patch for ConfigMaps
                return self._send(200, api.put(resource, ns, _merge(store[(ns, name)], body)))
            if method == "DELETE":
                with api.lock:
                    gone = store.pop((ns, name))
                return self._send(200, gone)
            return self._status(405, "MethodNotAllowed", f"{method} {self.path}")

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (BrokenPipeError, ConnectionResetError):  # helm hung up (e.g. an abandoned watch)
                self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._dispatch("PUT")

        def do_PATCH(self) -> None:  # noqa: N802
            self._dispatch("PATCH")

        def do_DELETE(self) -> None:  # noqa: N802
            self._dispatch("DELETE")

    return Handler
