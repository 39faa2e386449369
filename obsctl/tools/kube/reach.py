"""Reaching what runs in the cluster from this machine: a GET through the API server's service
proxy (for checks), and a port-forward to a Ready pod bound to 127.0.0.1 (for UIs, and for the
app, whose NetworkPolicy keeps the service proxy out).

A port-forward behind a Service checks, for each new connection, that the Pod it forwards to
is still there and Ready, and picks another Ready Pod when it is not (a restart, a rollout):
`kubectl port-forward svc/...` picks one Pod for good, so every connection fails after it goes.
Each failure of a connection is reported as it happens (`on_error`), not only collected."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable
from typing import Any

from obsctl.errors import ObsctlError, PreflightError, ToolError
from obsctl.tools.kube.errors import NotFound, _guarded
from obsctl.tools.kube.views import _pod_info
from obsctl.tools.kube.workloads import Workloads


class Reach(Workloads):  # finds the pod behind a Service with Workloads' readers
    def proxy_get(self, namespace: str, service: str, port: int | str, path: str, **params: Any) -> str:
        """GET through the API server's service proxy:
        /api/v1/namespaces/{ns}/services/{name}:{port}/proxy/{path}."""
        url = f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/{path.lstrip('/')}"
        doing = f"GET {path} on service {namespace}/{service}:{port}"
        return self._get_text(doing, url, accept="*/*", **params)

    def proxy_get_json(self, namespace: str, service: str, port: int | str, path: str, **params: Any) -> Any:
        import json

        text = self.proxy_get(namespace, service, port, path, **params)
        try:
            return json.loads(text)
        except ValueError:
            raise ToolError(f"service {namespace}/{service} sent non-JSON for {path}: {text[:120]!r}") from None

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

    def pod_ready(self, namespace: str, pod: str) -> bool:
        """The Pod exists, is not being deleted, and is Ready."""
        try:
            obj = self._call(f"read pod {namespace}/{pod}", self.core.read_namespaced_pod, pod, namespace)
        except NotFound:
            return False
        return obj.metadata.deletion_timestamp is None and _pod_info(obj).ready

    def port_forward_service(
        self,
        namespace: str,
        service: str,
        port: int | str | None,
        local_port: int = 0,
        on_error: Callable[[str], None] | None = None,
    ) -> PortForward:
        """Listen on 127.0.0.1:local_port and forward each connection to a Ready Pod behind the
        Service, choosing again when the chosen Pod is gone or not Ready (said to `on_error`)."""
        chosen = [self.ready_pod_for_service(namespace, service, port)]
        lock = threading.Lock()

        def connect() -> socket.socket:
            with lock:
                pod, pod_port = chosen[0]
                if not self.pod_ready(namespace, pod):
                    chosen[0] = self.ready_pod_for_service(namespace, service, port)
                    if on_error is not None:
                        on_error(f"pod {namespace}/{pod} is gone or not Ready; now forwarding to {chosen[0][0]}")
                pod, pod_port = chosen[0]
            return self._handshake(namespace, pod, pod_port)

        return PortForward(connect, local_port, on_error)

    def port_forward(self, namespace: str, pod: str, remote_port: int, local_port: int = 0) -> PortForward:
        """Listen on 127.0.0.1:local_port (0 = any free port) and pipe every connection to the
        pod's port through the API server (kubernetes.stream.portforward, a websocket).

        kubernetes.stream swaps `request` on the ApiClient it is handed for the whole handshake,
        so each handshake gets a client of its own (same configuration, same credentials):
        calls other threads make on `self.api_client` meanwhile stay plain HTTP.
        """
        return PortForward(lambda: self._handshake(namespace, pod, remote_port), local_port)

    def _handshake(self, namespace: str, pod: str, remote_port: int) -> socket.socket:
        """One upstream connection to the Pod's port (kubernetes.stream.portforward's websocket)."""
        from kubernetes import client
        from kubernetes.stream import portforward

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
            return pf.socket(remote_port)


class PortForward:
    """A local TCP listener on 127.0.0.1; each accepted connection gets its own upstream from
    `connect` (a socket to the pod's port) and is piped both ways by a thread.

    The listener and the piping do not know Kubernetes: `connect` is the seam. A connection
    that cannot be made is closed, its error kept in `errors` and, as it happens, passed to
    `on_error` (the CLI prints it on stderr).
    """

    def __init__(
        self,
        connect: Callable[[], socket.socket],
        local_port: int = 0,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._connect = connect
        self._on_error = on_error
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
            if self._on_error is not None:  # before the close: said by the time the client sees it
                self._on_error(exc.message)
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
