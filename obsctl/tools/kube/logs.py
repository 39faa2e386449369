"""Pod logs: every Pod a label selector picks, read or followed through the API server
(GET /api/v1/namespaces/{ns}/pods/{name}/log), each line tagged with its Pod's name.

Which container: a Pod with several (Prometheus and its config-reloader, Grafana and its
sidecars) names its main one in the `kubectl.kubernetes.io/default-container` annotation,
as kubectl reads it; without one, the first container. The API refuses a multi-container
Pod's log without a container name.

Following streams every Pod at once, one thread each, and re-lists the Pods every few seconds:
a Pod that appears (a rollout, a replacement) is followed from its first line, and a stream
that ended (its container restarted) is opened again for new lines only (tailLines=0).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

from obsctl.errors import ObsctlError
from obsctl.tools.kube.client import Client
from obsctl.tools.kube.errors import NotFound, _guarded

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

Emit = Callable[[str, str], None]


def default_container(pod: Any) -> str:
    annotations = pod.metadata.annotations or {}
    names: list[str] = [c.name for c in pod.spec.containers or []]
    wanted = annotations.get(DEFAULT_CONTAINER_ANNOTATION)
    return str(wanted) if wanted in names else names[0]


def _interrupt(resp: Any) -> None:
    """Wake a thread blocked reading a log stream: shut its socket down (the read then ends);
    closing the response instead pulls the file from under the reader."""
    sock = getattr(getattr(resp, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class Logs(Client):
    def workload_selector(self, namespace: str, name: str) -> str:
        """The label selector of a Deployment, StatefulSet or DaemonSet (whichever has the name):
        exactly the Pods it runs. NotFound when none has."""
        for kind, read in (
            ("deployment", self.apps.read_namespaced_deployment),
            ("statefulset", self.apps.read_namespaced_stateful_set),
            ("daemonset", self.apps.read_namespaced_daemon_set),
        ):
            try:
                obj = self._call(f"read {kind} {namespace}/{name}", read, name, namespace)
            except NotFound:
                continue
            labels = (obj.spec.selector.match_labels if obj.spec.selector else None) or {}
            return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        raise NotFound(f"no Deployment, StatefulSet or DaemonSet {namespace}/{name}")

    def _log_pods(self, namespace: str, selector: str) -> list[Any]:
        """The Pods the selector picks, oldest first (the order `kubectl logs -l` reads them)."""
        pods = self._call(
            f"list pods in {namespace} ({selector})", self.core.list_namespaced_pod, namespace, label_selector=selector
        ).items
        return sorted(pods, key=lambda p: (str(p.metadata.creation_timestamp or ""), p.metadata.name))

    def _log_args(self, tail: int | None, since: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if tail is not None:
            out["tail_lines"] = tail
        if since is not None:
            out["since_seconds"] = since
        return out

    def read_logs(
        self,
        namespace: str,
        selector: str,
        tail: int | None = None,
        since: int | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> list[tuple[str, str]]:
        """(pod, line) for each Pod the selector picks, Pod after Pod. `tail` and `since` are
        the API's tailLines and sinceSeconds, per Pod. A Pod whose log cannot be read (its
        container is still starting) goes to `on_error`, when given, and the others are read."""
        out: list[tuple[str, str]] = []
        for pod in self._log_pods(namespace, selector):
            name = pod.metadata.name
            try:
                with _guarded(f"read the log of pod {namespace}/{name}", self.server):
                    resp = self.core.read_namespaced_pod_log(
                        name,
                        namespace,
                        container=default_container(pod),
                        _preload_content=False,
                        _request_timeout=self.request_timeout,
                        **self._log_args(tail, since),
                    )
                    text = resp.data.decode("utf-8", errors="replace")
            except ObsctlError as exc:
                if on_error is None:
                    raise
                on_error(exc.message)
                continue
            out.extend((name, line) for line in text.splitlines())
        return out

    def follow_logs(
        self,
        namespace: str,
        selector: str,
        emit: Emit,
        stop: threading.Event,
        tail: int | None = None,
        since: int | None = None,
        relist: float = 2.0,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        """Stream every Pod's log to `emit(pod, line)` until `stop` is set.

        A failure to reach a Pod's log (it went away between listing and reading) goes to
        `on_error` and the others keep streaming; a failure to list the Pods ends it."""
        lock = threading.Lock()
        streams: dict[str, threading.Thread] = {}
        responses: dict[str, Any] = {}
        first = True
        reported: set[str] = set()  # each distinct failure once, not at every re-listing

        def say(pod: str, line: str) -> None:
            with lock:
                emit(pod, line)

        def stream(pod: Any, args: dict[str, Any]) -> None:
            name = pod.metadata.name
            try:
                with _guarded(f"follow the log of pod {namespace}/{name}", self.server):
                    resp = self.core.read_namespaced_pod_log(
                        name,
                        namespace,
                        container=default_container(pod),
                        follow=True,
                        _preload_content=False,
                        # no read timeout: a quiet Pod is not a dead one
                        _request_timeout=(self.request_timeout[0], None),
                        **args,
                    )
                    responses[name] = resp
                    rest = b""
                    for chunk in resp.stream(4096, decode_content=True):
                        if stop.is_set():
                            break
                        *lines, rest = (rest + chunk).split(b"\n")
                        for line in lines:
                            say(name, line.decode("utf-8", errors="replace").rstrip("\r"))
                    if rest and not stop.is_set():
                        say(name, rest.decode("utf-8", errors="replace"))
            except NotFound:
                pass  # the Pod went away; the next listing forgets it
            except ObsctlError as exc:
                if not stop.is_set() and on_error is not None:
                    with lock:
                        if exc.message not in reported:
                            reported.add(exc.message)
                            on_error(exc.message)
            finally:
                responses.pop(name, None)

        try:
            while not stop.is_set():
                for pod in self._log_pods(namespace, selector):
                    name = pod.metadata.name
                    if name in streams and streams[name].is_alive():
                        continue
                    if first:
                        args = self._log_args(tail, since)
                    elif name in streams:
                        args = {"tail_lines": 0}  # a stream that ended: new lines only
                    else:
                        args = {}  # a new Pod: from its first line
                    t = threading.Thread(target=stream, args=(pod, args), name=f"logs {name}", daemon=True)
                    streams[name] = t
                    t.start()
                first = False
                stop.wait(relist)
        finally:
            stop.set()
            for resp in list(responses.values()):
                _interrupt(resp)
            for t in streams.values():
                t.join(timeout=2)
