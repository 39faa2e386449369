"""Namespaces: created with obsctl's mark (an existing one is adopted untouched), deleted, waited
for until gone, and, when one stays Terminating, what holds it (every namespaced kind the server
discovers) and, on request, its finalizers removed."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from obsctl.errors import ToolError, WaitTimeout
from obsctl.tools.kube.client import Client
from obsctl.tools.kube.errors import Conflict, NotFound, _secs
from obsctl.tools.kube.ownership import owned_by, owner_marks


class Namespaces(Client):
    def namespace_phase(self, name: str) -> str | None:
        try:
            ns = self._call(f"read namespace {name}", self.core.read_namespace, name)
        except NotFound:
            return None
        return (ns.status.phase if ns.status else None) or "Active"

    def namespace_created(self, name: str) -> float | None:
        """The namespace's creationTimestamp as a Unix time, or None when it does not exist."""
        try:
            ns = self._call(f"read namespace {name}", self.core.read_namespace, name)
        except NotFound:
            return None
        created = ns.metadata.creation_timestamp
        return created.timestamp() if created else None

    def namespace_owned(self, name: str, owner: str) -> bool | None:
        """True when obsctl created the namespace for this environment, False when it is someone
        else's (adopted), None when it does not exist."""
        try:
            ns = self._call(f"read namespace {name}", self.core.read_namespace, name)
        except NotFound:
            return None
        return owned_by(ns.metadata, owner)

    def ensure_namespace(self, name: str, timeout: float, owner: str) -> str:
        """Create the namespace with obsctl's mark unless it exists; one still Terminating from a
        previous run is waited for (it cannot be reused), not fought. An existing namespace that
        is not obsctl's is adopted as it is: never relabelled, and never deleted by `down`."""
        from kubernetes import client

        phase = self.namespace_phase(name)
        waited = ""
        if phase == "Terminating":
            self.wait_namespace_gone(name, timeout)
            waited = " (waited for the old one to finish terminating)"
            phase = None
        if phase is not None:
            if self.namespace_owned(name, owner):
                return f"{name} exists"
            return f"{name} exists and is not obsctl's: adopted (down removes only obsctl's objects from it)"
        labels, annotations = owner_marks(owner)
        body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels, annotations=annotations))
        try:
            self._call(f"create namespace {name}", self.core.create_namespace, body)
        except Conflict:
            return f"{name} exists"
        return f"{name} created{waited}"

    def delete_namespace(self, name: str) -> bool:
        """Ask for deletion; False when it was already gone."""
        try:
            self._call(f"delete namespace {name}", self.core.delete_namespace, name)
        except NotFound:
            return False
        return True

    def wait_namespace_gone(self, name: str, timeout: float, force: bool = False) -> str:
        """Wait until the namespace no longer exists. At the deadline, name what holds it (the
        namespace's own conditions and every object in it with finalizers); with `force`, remove
        those finalizers (and the namespace's) and wait once more."""

        def verdict(objs: dict[str, Any]) -> str | None:
            ns = objs.get(name)
            if ns is None:
                return None
            return f"{name} is {(ns.status.phase if ns.status else None) or 'Active'}"

        started = time.monotonic()
        try:
            self._await(
                f"namespace {name} deletion",
                self.core.list_namespace,
                (),
                verdict,
                timeout,
                field_selector=f"metadata.name={name}",
            )
            return f"{name} gone after {time.monotonic() - started:.1f}s"
        except WaitTimeout:
            blockers = self.namespace_blockers(name)
            if not force:
                raise WaitTimeout(
                    f"namespace {name} still Terminating after {_secs(timeout)}; held by: {'; '.join(blockers)}",
                    "find out why those finalizers are not removed (a controller that is gone?);"
                    " `obsctl down --force-finalizers` removes them",
                ) from None
        removed = self.remove_finalizers(name)
        self._await(
            f"namespace {name} deletion (after removing finalizers)",
            self.core.list_namespace,
            (),
            verdict,
            timeout,
            field_selector=f"metadata.name={name}",
        )
        return f"{name} gone after removing finalizers of {', '.join(removed) or 'nothing'}"

    def namespaced_resources(self) -> list[tuple[str, str, str]]:
        """(API path prefix, resource, kind) of every namespaced resource the server can list and patch,
        from discovery, as the namespace controller sees them: built-in kinds and every custom
        resource (AlertmanagerConfig, ScrapeConfig, PrometheusAgent, anyone's CRDs)."""
        found: list[tuple[str, str, str]] = []
        seen: set[tuple[str, str]] = set()  # (group, resource): a resource served at several versions once

        def add(group: str, prefix: str, listing: dict[str, Any]) -> None:
            for res in listing.get("resources", []):
                verbs = set(res.get("verbs") or [])
                key = (group, res["name"])
                if res.get("namespaced") and "/" not in res["name"] and {"list", "patch"} <= verbs and key not in seen:
                    seen.add(key)
                    found.append((prefix, res["name"], str(res.get("kind") or res["name"])))

        add("", "/api/v1", self._get_json("discover /api/v1", "/api/v1"))
        for group in self._get_json("discover /apis", "/apis").get("groups", []):
            preferred = (group.get("preferredVersion") or {}).get("groupVersion")
            # every served version, the preferred first: AlertmanagerConfig and ScrapeConfig are
            # served only at v1alpha1 of monitoring.coreos.com, whose preferred version is v1
            versions = [v.get("groupVersion") for v in group.get("versions") or []]
            for gv in dict.fromkeys([preferred, *versions]):
                if not gv:
                    continue
                try:
                    add(group.get("name", ""), f"/apis/{gv}", self._get_json(f"discover /apis/{gv}", f"/apis/{gv}"))
                except ToolError:  # an aggregated API that is down: the namespace controller reports it too
                    continue
        return found

    def _objects_with_finalizers(self, namespace: str) -> list[tuple[str, str, list[str], str]]:
        """(kind in lower case, name, finalizers, API path) of every object in the namespace
        holding finalizers, whatever its kind."""
        found: list[tuple[str, str, list[str], str]] = []
        for prefix, resource, kind in self.namespaced_resources():
            path = f"{prefix}/namespaces/{namespace}/{resource}"
            try:
                listing = self._get_json(f"list {resource} in {namespace}", path)
            except ToolError:  # gone meanwhile, or not listable after all
                continue
            for obj in listing.get("items", []) or []:
                meta = obj.get("metadata", {})
                if meta.get("finalizers"):
                    found.append((kind.lower(), meta["name"], list(meta["finalizers"]), f"{path}/{meta['name']}"))
        return found

    def namespace_blockers(self, name: str) -> list[str]:
        """What keeps a namespace Terminating: its conditions and objects with finalizers."""
        out: list[str] = []
        try:
            ns = self._call(f"read namespace {name}", self.core.read_namespace, name)
        except NotFound:
            return ["nothing (it is gone now)"]
        for cond in (ns.status.conditions if ns.status else None) or []:
            if cond.status == "True" and cond.type in (
                "NamespaceContentRemaining",
                "NamespaceFinalizersRemaining",
                "NamespaceDeletionDiscoveryFailure",
                "NamespaceDeletionContentFailure",
            ):
                out.append(f"{cond.type}: {cond.message}")
        for resource, obj, finalizers, _ in self._objects_with_finalizers(name):
            out.append(f"{resource}/{obj} (finalizers: {', '.join(finalizers)})")
        if ns.spec and ns.spec.finalizers:
            out.append(f"namespace/{name} (finalizers: {', '.join(ns.spec.finalizers)})")
        return out or ["no finalizers found (the API server may still be deleting content)"]

    def remove_finalizers(self, name: str) -> list[str]:
        """Remove the finalizers of every object in the namespace, and the namespace's own.
        Only on explicit request (--force-finalizers): the resources they guard may leak."""
        from kubernetes import client

        removed = []
        for resource, obj, _, path in self._objects_with_finalizers(name):
            try:
                self._merge_patch(f"remove finalizers of {resource}/{obj}", path, {"metadata": {"finalizers": None}})
            except NotFound:
                continue
            removed.append(f"{resource}/{obj}")
        try:
            ns = self._call(f"read namespace {name}", self.core.read_namespace, name)
        except NotFound:
            return removed
        if ns.spec and ns.spec.finalizers:
            body = client.V1Namespace(
                metadata=client.V1ObjectMeta(name=name), spec=client.V1NamespaceSpec(finalizers=[])
            )
            with contextlib.suppress(NotFound):
                self._call(f"finalize namespace {name}", self.core.replace_namespace_finalize, name, body)
            removed.append(f"namespace/{name}")
        return removed
