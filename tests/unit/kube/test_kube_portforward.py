"""Port-forward through the real client: kubernetes.stream.portforward speaks the websocket
channel protocol to the fake API, which relays to a TCP backend standing in for the pod."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from obsctl.errors import PreflightError, ToolError
from obsctl.targets.kubernetes import KubernetesTarget
from obsctl.tools import kube as k
from tests.fakekube import FakeKube, pod


class _Pod(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = f"pod says {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def backend() -> Iterator[tuple[str, int]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pod)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address  # type: ignore[misc]
    server.shutdown()
    server.server_close()


GRAFANA = {"app.kubernetes.io/name": "grafana"}


def _grafana_service(fake: FakeKube, t: KubernetesTarget) -> None:
    """kube-prometheus-stack's Grafana Service (selecting GRAFANA Pods) and its admin Secret."""
    fake.put("namespaces", {"metadata": {"name": "monitoring"}})
    fake.put(
        "services",
        {
            "metadata": {"name": "kube-prometheus-stack-grafana"},
            "spec": {"selector": GRAFANA, "ports": [{"name": "http-web", "port": 80, "targetPort": "grafana"}]},
        },
        "monitoring",
    )
    t.kube.ensure_admin_secret("monitoring", t.k.grafana_admin_secret, t.owner)


def _grafana(fake: FakeKube, backend: tuple[str, int], t: KubernetesTarget) -> None:
    _grafana_service(fake, t)
    fake.put("pods", pod("grafana-0", GRAFANA, ready=False, ports={"grafana": 3000}), "monitoring")
    fake.put("pods", pod("grafana-1", GRAFANA, ready=True, ports={"grafana": 3000}), "monitoring")
    fake.backends[("monitoring", "grafana-1")] = backend


def test_port_forward_pipes_http_through_the_websocket(fake: FakeKube, kubeconfig: Path, backend) -> None:
    fake.put("namespaces", {"metadata": {"name": "ns"}})
    fake.put("pods", pod("p", {"a": "b"}), "ns")
    fake.backends[("ns", "p")] = backend
    kube = k.Kube(kubeconfig, "fake-a")
    with kube.port_forward("ns", "p", 8080) as fwd:
        assert fwd.url.startswith("http://127.0.0.1:")
        for i in range(3):  # each connection gets its own stream
            assert httpx.get(f"{fwd.url}/ping/{i}", timeout=5).text == f"pod says /ping/{i}"
        assert fwd.errors == []
    assert any(p.startswith("/api/v1/namespaces/ns/pods/p/portforward?ports=8080") for _, p in fake.requests)


def test_other_calls_work_while_a_port_forward_handshake_is_in_flight(
    fake: FakeKube, kubeconfig: Path, backend
) -> None:
    """kubernetes.stream.portforward swaps `request` on the ApiClient it is given for the whole
    handshake; verify runs checks in threads, so a proxy GET on the same client at that moment
    went through the websocket code ("Missing required parameter `ports`"). Hold a handshake
    open and make the other call inside that window."""
    fake.put("namespaces", {"metadata": {"name": "ns"}})
    fake.put("pods", pod("p", {"a": "b"}), "ns")
    fake.backends[("ns", "p")] = backend
    fake.proxies[("ns", "svc")] = lambda path, q: (200, "text/plain", b"proxied " + path.encode())
    fake.portforward_gate = threading.Event()
    kube = k.Kube(kubeconfig, "fake-a")
    with kube.port_forward("ns", "p", 8080) as fwd:
        answer: list[str] = []
        client = threading.Thread(target=lambda: answer.append(httpx.get(f"{fwd.url}/x", timeout=10).text))
        client.start()
        try:
            assert fake.portforward_started.wait(5), "the handshake never reached the API server"
            assert kube.proxy_get("ns", "svc", 80, "metrics") == "proxied /metrics"
            assert kube.namespace_phase("ns") is not None
        finally:
            fake.portforward_gate.set()
            client.join(10)
        assert answer == ["pod says /x"]
        assert fwd.errors == []


def test_listener_binds_loopback_only_and_reports_a_busy_port() -> None:
    fwd = k.PortForward(lambda: socket.create_connection(("127.0.0.1", 9)), 0)
    try:
        assert fwd._listener.getsockname()[0] == "127.0.0.1"
        with pytest.raises(PreflightError) as info:
            k.PortForward(lambda: socket.socket(), fwd.port)
        assert f"cannot listen on 127.0.0.1:{fwd.port}" in info.value.message
    finally:
        fwd.close()


def test_target_port_forward_grafana_prints_url_user_and_password_hint(
    fake: FakeKube,
    target: KubernetesTarget,
    backend,
) -> None:
    _grafana(fake, backend, target)
    said: list[str] = []
    seen: list[str] = []

    def wait(fwd: k.PortForward) -> None:  # stands in for "until Ctrl-C"
        seen.append(httpx.get(f"{fwd.url}/api/health", timeout=5).text)

    target.port_forward("grafana", 0, False, said.append, wait=wait)
    assert seen == ["pod says /api/health"]
    assert said[0].startswith("grafana: http://127.0.0.1:")
    assert said[1] == "user: admin"
    assert "--show-password prints it" in said[2]
    password = target.grafana_password()
    assert all(password not in line for line in said)

    said.clear()
    target.port_forward("grafana", 0, True, said.append, wait=lambda fwd: None)
    assert said[2] == f"password: {password}"


def test_port_forward_without_a_ready_pod(fake: FakeKube, target: KubernetesTarget, backend) -> None:
    _grafana(fake, backend, target)
    fake.remove("pods", "grafana-1", "monitoring")
    with pytest.raises(ToolError) as info:
        target.port_forward("grafana", 0, False, print, wait=lambda fwd: None)
    assert "no Ready pod behind service monitoring/kube-prometheus-stack-grafana" in info.value.message


def _named_backend(name: str) -> ThreadingHTTPServer:
    class Named(_Pod):
        def do_GET(self) -> None:  # noqa: N802
            body = f"{name} says {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Named)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_port_forward_picks_a_ready_pod_again_and_says_what_fails(fake: FakeKube, target: KubernetesTarget) -> None:
    """The chosen Pod becomes not Ready, then goes: new connections reach another Ready Pod; with
    none left, each failed connection is told to `warn` while the forward runs, not afterwards."""
    _grafana_service(fake, target)
    servers = {}
    for name in ("grafana-a", "grafana-b"):
        fake.put("pods", pod(name, GRAFANA, ready=True, ports={"grafana": 3000}), "monitoring")
        servers[name] = _named_backend(name)
        fake.backends[("monitoring", name)] = servers[name].server_address  # type: ignore[assignment]
    warned: list[str] = []
    seen: list[str] = []

    def get(fwd: k.PortForward) -> str:
        try:
            return httpx.get(f"{fwd.url}/api/health", timeout=5).text
        except httpx.HTTPError as exc:
            return f"failed: {exc.__class__.__name__}"

    def wait(fwd: k.PortForward) -> None:
        seen.append(get(fwd))
        fake.update("pods", "grafana-a", "monitoring", status={"conditions": [{"type": "Ready", "status": "False"}]})
        seen.append(get(fwd))
        fake.update("pods", "grafana-a", "monitoring", status={"conditions": [{"type": "Ready", "status": "True"}]})
        fake.remove("pods", "grafana-b", "monitoring")
        seen.append(get(fwd))
        n = len(warned)
        fake.remove("pods", "grafana-a", "monitoring")
        seen.append(get(fwd))
        seen.append(f"warned while running: {len(warned) - n}")

    try:
        target.port_forward("grafana", 0, False, lambda _: None, wait=wait, warn=warned.append)
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()
    assert seen[:3] == ["grafana-a says /api/health", "grafana-b says /api/health", "grafana-a says /api/health"]
    assert seen[3].startswith("failed: ") and seen[4] == "warned while running: 1", (seen, warned)
    assert warned[0] == "pod monitoring/grafana-a is gone or not Ready; now forwarding to grafana-b"
    assert warned[1] == "pod monitoring/grafana-b is gone or not Ready; now forwarding to grafana-a"
    assert "no Ready pod behind service monitoring/kube-prometheus-stack-grafana" in warned[2]
