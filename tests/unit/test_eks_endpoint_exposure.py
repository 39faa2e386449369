"""The eks preflight's warning about a public API endpoint open to the whole internet, with
this machine's own address (from checkip.amazonaws.com, served here on loopback) as the /32
to use instead; and what it says when that address cannot be found."""

from __future__ import annotations

import http.server
import socket
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from obsctl import config as c
from obsctl.errors import ToolError
from obsctl.targets.eks import EksTarget
from obsctl.tools.aws import CHECKIP_ENV, CHECKIP_URL, public_ipv4

PUBLIC = "52.95.110.1"  # is_global: documentation ranges (203.0.113.0/24, ...) are not


@pytest.fixture
def checkip() -> Iterator[Callable[[int, bytes], tuple[str, list[str]]]]:
    """A checkip.amazonaws.com on loopback answering (status, body); returns its URL and the
    list of paths it was asked for."""
    servers: list[http.server.HTTPServer] = []

    def serve(status: int, body: bytes) -> tuple[str, list[str]]:
        asked: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                asked.append(self.path)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/", asked

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def target(tmp_path: Path, checkip_url: str, aws: str = "") -> EksTarget:
    (tmp_path / "obsctl.yaml").write_text(
        textwrap.dedent(f"""
            default_environment: dev
            environments:
              dev:
                target: eks
                aws: {{region: eu-west-1, cluster_name: obsctl-dev{aws}}}
            """)
    )
    return EksTarget(c.load(str(tmp_path / "obsctl.yaml")), checkip_url=checkip_url)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


def test_open_endpoint_warns_and_gives_this_machines_address(tmp_path: Path, checkip: Any) -> None:
    url, asked = checkip(200, f"{PUBLIC}\n".encode())
    detail = target(tmp_path, url).check_endpoint_exposure()
    assert detail.startswith("WARNING: the Kubernetes API endpoint is open to the whole internet (0.0.0.0/0)")
    assert detail.endswith(
        f"set aws.cluster_endpoint_public_access_cidrs: [{PUBLIC}/32] (this machine's public address)"
    )
    assert asked == ["/"] and "\n" not in detail


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (200, b"<html>captive portal</html>", "answered '<html>captive portal</html>', not an IP address"),
        (200, b"10.1.2.3", "answered 10.1.2.3, not a public IPv4 address"),
        (503, b"busy", "did not answer: Service Unavailable"),
    ],
)
def test_says_plainly_when_the_address_cannot_be_found(
    tmp_path: Path, checkip: Any, status: int, body: bytes, said: str
) -> None:
    url, _ = checkip(status, body)
    detail = target(tmp_path, url).check_endpoint_exposure()
    assert detail.startswith("WARNING: the Kubernetes API endpoint is open to the whole internet")
    assert f"this machine's public address could not be found ({url} {said})" in detail
    assert detail.endswith("set aws.cluster_endpoint_public_access_cidrs to your egress address as a /32")


def test_unreachable_checkip_is_said_plainly_too(tmp_path: Path) -> None:
    url = closed_port_url()
    detail = target(tmp_path, url).check_endpoint_exposure()
    assert f"could not be found ({url} did not answer: [Errno 111] Connection refused)" in detail


def test_a_narrowed_endpoint_asks_nobody(tmp_path: Path, checkip: Any) -> None:
    url, asked = checkip(200, PUBLIC.encode())
    t = target(tmp_path, url, aws=", cluster_endpoint_public_access_cidrs: [198.51.100.7/32, 192.0.2.0/24]")
    assert t.check_endpoint_exposure() == "API endpoint reachable from 198.51.100.7/32, 192.0.2.0/24 only"
    assert asked == []


def test_any_slash_zero_is_the_whole_internet(tmp_path: Path, checkip: Any) -> None:
    url, _ = checkip(200, PUBLIC.encode())
    t = target(tmp_path, url, aws=", cluster_endpoint_public_access_cidrs: [198.51.100.7/32, 10.0.0.0/0]")
    assert t.check_endpoint_exposure().startswith(
        "WARNING: the Kubernetes API endpoint is open to the whole internet (10.0.0.0/0)"
    )


def test_the_preflight_detail_line_carries_the_warning(tmp_path: Path, checkip: Any, monkeypatch: Any) -> None:
    from obsctl.targets.eks import CostEstimate

    url, _ = checkip(200, PUBLIC.encode())
    t = target(tmp_path, url)
    monkeypatch.setattr(t, "check_credentials", lambda: "account 123456789012 as arn:aws:iam::123456789012:user/me")
    monkeypatch.setattr(t, "check_tools", lambda: "terraform 1.11.4, helm v3.17.2")
    monkeypatch.setattr(t, "check_region", lambda: CostEstimate("eu-west-1", [("EKS control plane", 0.1)]))
    detail = t._preflight_stage()
    assert "; WARNING: the Kubernetes API endpoint is open to the whole internet (0.0.0.0/0);" in detail
    assert f"[{PUBLIC}/32]" in detail and detail.index("WARNING") < detail.index("estimated cost")


def test_checkip_url_comes_from_the_environment_and_defaults_to_aws(checkip: Any, monkeypatch: Any) -> None:
    url, asked = checkip(200, PUBLIC.encode())
    monkeypatch.setenv(CHECKIP_ENV, url)
    assert public_ipv4() == PUBLIC and asked == ["/"]
    assert CHECKIP_URL == "https://checkip.amazonaws.com"
    with pytest.raises(ToolError, match="did not answer"):
        public_ipv4(closed_port_url())
