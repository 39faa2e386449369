"""The one place that translates failures of the `kubernetes` client into obsctl errors.

Every failure of the client library (ApiException, urllib3 and websocket errors, a bad
kubeconfig) is translated in ONE function, `_translate`, and re-raised `from None`: no library
exception leaves the adapter (tests/unit/kube/test_kube_errors.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from obsctl.errors import ObsctlError, PreflightError, ToolError, Unreachable


class NotFound(ToolError):
    """The object does not exist (HTTP 404)."""


class Conflict(ToolError):
    """The object already exists or changed under us (HTTP 409)."""


class Transient(ToolError):
    """The transport failed or the server was briefly unable to answer (a read timeout, a dropped
    connection, 429, 5xx): the one kind of failure a wait retries until its deadline."""


def retryable(exc: ObsctlError) -> bool:
    """Whether a wait may retry after `exc`: transport failures only. Anything else (a refusal,
    a malformed answer, a bug) fails at once instead of looking like a wait to the deadline."""
    return isinstance(exc, Transient | Unreachable)


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
            return Transient(f"{doing}: {reason or 'connection failed'}")
        if status == 429 or status >= 500:
            return Transient(f"{doing}: the Kubernetes API{where} answered {status} ({reason})")
        return ToolError(f"{doing}: the Kubernetes API{where} answered {status} ({reason})")
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return Transient(f"{doing}: the Kubernetes API{where} did not answer in time", "is the cluster overloaded?")
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
