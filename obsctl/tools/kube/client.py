"""The client bound to one kubeconfig file and one context, and what every part of the adapter
shares: a call with a deadline, a list-then-WATCH wait with a deadline, raw GET and merge PATCH.

Every wait has a deadline and, when it passes, raises WaitTimeout with the last state it saw.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from obsctl.errors import ObsctlError, ToolError, WaitTimeout
from obsctl.tools.kube.errors import _guarded, _secs, retryable

# the read timeout of a plain (non-watch) request: an API server that accepted the connection
# but never answers must not hang obsctl
REQUEST_TIMEOUT = (10.0, 30.0)


class _VerdictRaised(Exception):
    """A verdict (obsctl's own code) raised: carried past `_guarded`, which would take a KeyError
    or TypeError for a malformed server answer, and re-raised as it was (a bug: exit 3, its
    traceback in the crash log) instead of being retried to the deadline."""

    def __init__(self, exc: Exception) -> None:
        super().__init__(str(exc))
        self.exc = exc


def _judge(verdict: Callable[[dict[str, Any]], str | None], objs: dict[str, Any]) -> str | None:
    try:
        return verdict(objs)
    except ObsctlError:
        raise
    except Exception as exc:
        raise _VerdictRaised(exc) from exc


class Client:
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
                        pending = _judge(verdict, objs)
                        if pending is None:
                            w.stop()
                            return
                        if time.monotonic() >= deadline:
                            w.stop()
                            break
            except _VerdictRaised as raised:
                raise raised.exc from None  # its own traceback is kept on it
            except ToolError as exc:
                if "watch expired" in exc.message:
                    rv = None  # 410 Gone: the history we asked for is compacted; start over
                elif time.monotonic() < deadline and retryable(exc):
                    time.sleep(0.2)  # a dropped stream: resume from the last version seen
                else:
                    raise  # a refusal or a malformed answer does not get better by waiting
            except ApiException:  # pragma: no cover - _guarded translates these
                rv = None

    def _get_text(self, doing: str, path: str, accept: str = "application/json", **params: Any) -> str:
        """GET any API path (discovery, a list of any resource, the service proxy) as text."""
        with _guarded(doing, self.server):
            resp = self.api_client.call_api(
                path,
                "GET",
                query_params=list(params.items()),
                header_params={"Accept": accept},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )
            data = resp[0].data if isinstance(resp, tuple) else resp.data
            return str(data.decode("utf-8", errors="replace"))

    def _get_json(self, doing: str, path: str, **params: Any) -> Any:
        """GET an API path and decode its JSON body."""
        import json

        with _guarded(doing, self.server):
            return json.loads(self._get_text(doing, path, **params))

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
