"""CRDs and workloads: the server's version, CRDs applied (server-side) and waited for until
Established, rollouts waited for, and the reads checks and status use (pods, nodes, Services,
custom objects), and scaling."""

from __future__ import annotations

import time
from typing import Any

from obsctl.tools.kube.client import Client
from obsctl.tools.kube.errors import _guarded
from obsctl.tools.kube.views import NodeInfo, PodInfo, _conditions, _pod_info, crd_state, rollout_state


class Workloads(Client):
    def server_version(self) -> str:
        """The API server's version (GET /version): the cheapest proof that it answers."""
        from kubernetes import client

        info = self._call("read the server version", client.VersionApi(self.api_client).get_code)
        return str(info.git_version)

    def crd_annotations(self) -> dict[str, dict[str, str]]:
        """Every CRD in the cluster by name, with its annotations."""
        listing = self._call("list CRDs", self.ext.list_custom_resource_definition)
        return {c.metadata.name: dict(c.metadata.annotations or {}) for c in listing.items}

    def apply_crd(self, doc: dict[str, Any]) -> None:
        """Server-side apply of one CustomResourceDefinition (field manager obsctl, conflicts
        forced), which is how CRDs too large for client-side apply are upgraded (the
        kube-prometheus-stack upgrade notes: `kubectl apply --server-side`)."""
        name = doc["metadata"]["name"]
        with _guarded(f"apply CRD {name}", self.server):
            self.api_client.call_api(
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}",
                "PATCH",
                query_params=[("fieldManager", "obsctl"), ("force", "true")],
                header_params={"Accept": "application/json", "Content-Type": "application/apply-patch+yaml"},
                body=doc,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )

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
