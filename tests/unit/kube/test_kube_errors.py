"""Every failure of the kubernetes client and of pyhelm3 leaves the adapters as an obsctl error,
raised `from None` (kopf tests/k8s/test_errors.py does the same for its client)."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
import urllib3
import websocket
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from pyhelm3 import errors as helm_errors

from obsctl.errors import ObsctlError, PreflightError, ToolError, Unreachable, WaitTimeout
from obsctl.tools import helm as h
from obsctl.tools import kube as k
from tests.fakekube import FakeKube


def _api(status: int, message: str = "boom") -> ApiException:
    exc = ApiException(status=status, reason="Reason")
    exc.body = json.dumps({"kind": "Status", "message": message})
    return exc


@pytest.mark.parametrize(
    ("exc", "cls", "words"),
    [
        (_api(404, 'pods "x" not found'), k.NotFound, 'pods "x" not found'),
        (_api(409, "already exists"), k.Conflict, "already exists"),
        (_api(403, "forbidden: user cannot list"), PreflightError, "refused the request (403"),
        (_api(401), PreflightError, "refused the request (401"),
        (_api(410, "too old resource version"), ToolError, "watch expired"),
        (_api(500, "etcd is sad"), ToolError, "answered 500 (etcd is sad)"),
        (ApiException(status=0, reason="Handshake status 400 Bad Request"), ToolError, "Handshake status 400"),
        (urllib3.exceptions.MaxRetryError(None, "/api", "refused"), Unreachable, "cannot reach the Kubernetes API"),
        (urllib3.exceptions.ReadTimeoutError(None, "/api", "read timed out"), ToolError, "did not answer in time"),
        (urllib3.exceptions.ProtocolError("connection broken"), Unreachable, "cannot reach"),
        (ConnectionRefusedError(111, "refused"), Unreachable, "cannot reach"),
        (ConfigException("Invalid kube-config file"), PreflightError, "cannot use the kubeconfig"),
        (websocket.WebSocketConnectionClosedException("closed"), ToolError, "port-forward stream failed"),
        (ValueError("Invalid value for `spec`, must not be `None`"), ToolError, "unexpected answer"),
    ],
)
def test_kube_translate_maps_every_library_error(exc: BaseException, cls: type, words: str) -> None:
    with pytest.raises(cls) as info, k._guarded("list pods", "http://x"):
        raise exc
    assert words in info.value.message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # raised from None


def test_no_library_exception_leaks_from_an_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with FakeKube() as server:
        cfg = server.kubeconfig(tmp_path / "kc")
    cfg.write_text(cfg.read_text().replace(server.url, f"http://127.0.0.1:{port}"))
    kube = k.Kube(cfg, "fake-a", request_timeout=(1.0, 1.0))
    kube.api_client.configuration.retries = 0
    for call in (
        lambda: kube.namespace_phase("x"),
        lambda: kube.nodes(),
        lambda: kube.wait_crds_established(["a.b"], 0.5),
        lambda: kube.proxy_get("ns", "svc", 80, "metrics"),
    ):
        with pytest.raises(Unreachable) as info:
            call()
        assert "cannot reach the Kubernetes API" in info.value.message
        assert info.value.__cause__ is None
        assert info.value.exit_code == 1  # a transport failure is not bad input (issue 7 section 8)


def test_an_unreachable_cluster_is_refused_by_the_guard_before_any_change(tmp_path: Path) -> None:
    """Only the preflight probe turns "cannot reach" into a refusal (exit 2): nothing ran yet."""
    from obsctl.targets.kubernetes import KubernetesTarget
    from tests.fakekube.fixtures import make_env

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with FakeKube() as server:
        cfg = server.kubeconfig(tmp_path / "kc")
    cfg.write_text(cfg.read_text().replace(server.url, f"http://127.0.0.1:{port}"))
    t = KubernetesTarget(make_env(tmp_path, cfg))
    t.kube.api_client.configuration.retries = 0
    with pytest.raises(PreflightError) as info:
        t.guard()
    assert "cannot reach the Kubernetes API" in info.value.message and info.value.exit_code == 2


def test_server_errors_become_tool_errors(fake: FakeKube, kubeconfig: Path) -> None:
    kube = k.Kube(kubeconfig, "fake-a")
    with pytest.raises(k.NotFound):
        kube.service("nowhere", "nothing")
    with pytest.raises(ToolError) as info:  # the proxy answers 503 when no handler is registered
        kube.proxy_get("observability", "obsctl-app", "http", "metrics")
    assert "503" in info.value.message and "no endpoints" in info.value.message


def test_bad_kubeconfig_and_unknown_context_are_preflight_errors(tmp_path: Path, kubeconfig: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("this: [is not a kubeconfig")
    with pytest.raises(PreflightError):
        k.kubeconfig_contexts(bad)
    with pytest.raises(PreflightError) as info:
        k.Kube(kubeconfig, "no-such-context")
    assert "no-such-context" in info.value.message


def _helm_error(cls: type[helm_errors.Error], stderr: str) -> helm_errors.Error:
    return cls(1, b"", stderr.encode())


@pytest.mark.parametrize(
    ("exc", "cls", "words"),
    [
        (_helm_error(helm_errors.ReleaseNotFoundError, "Error: release: not found"), ToolError, "release not found"),
        (_helm_error(helm_errors.ChartNotFoundError, 'chart "x" not found'), ToolError, "chart not found"),
        (_helm_error(helm_errors.ConnectionError, "etcdserver: timeout"), Unreachable, "cannot reach the cluster"),
        (_helm_error(helm_errors.FailedToRenderChartError, "execution error at x"), ToolError, "failed to render"),
        (_helm_error(helm_errors.ResourceAlreadyExistsError, "exists"), ToolError, "already exists"),
        (_helm_error(helm_errors.InvalidResourceError, "spec is invalid"), ToolError, "rejected a resource"),
        (_helm_error(helm_errors.CommandCancelledError, "context canceled"), ToolError, "cancelled"),
        (_helm_error(helm_errors.Error, "Error: something else\nsecond line"), ToolError, "something else"),
        (TimeoutError(), WaitTimeout, "did not finish in time"),
        (FileNotFoundError(2, "No such file", "helm"), PreflightError, "cannot run helm"),
        (AssertionError("Cannot find executable helm"), PreflightError, "cannot run helm"),
        (subprocess.CalledProcessError(1, ["helm"], b"", b"bad"), ToolError, "helm failed"),
        (ValueError("not json"), ToolError, "unexpected output"),
    ],
)
def test_helm_translate_maps_every_library_error(exc: BaseException, cls: type, words: str) -> None:
    with pytest.raises(cls) as info, h._guarded("helm upgrade x"):
        raise exc
    assert words in info.value.message
    assert isinstance(info.value, ObsctlError) and info.value.__cause__ is None
