"""What obsctl creates besides namespaces, and what its releases leave behind: the LoadBalancer
Services and PVCs of its releases (deleted before the releases go, so no cloud load balancer or
disk is orphaned) and their volumes waited for, its StorageClass, and its Secrets (the Grafana
admin password, the receivers' secrets). Only what carries obsctl's mark, or belongs to one of
its releases, is ever changed or deleted. Secret values are never returned or logged here."""

from __future__ import annotations

import contextlib
import secrets as _secrets
from typing import Any

from obsctl.errors import ToolError
from obsctl.tools.kube.client import Client
from obsctl.tools.kube.errors import Conflict, NotFound
from obsctl.tools.kube.ownership import (
    DEFAULT_CLASS_ANNOTATION,
    OPERATOR_WORKLOAD_KINDS,
    ReleaseResources,
    _claim_of_statefulset,
    helm_release_of,
    owned_by,
    owner_marks,
)


class Owned(Client):
    def release_resources(self, namespace: str, releases: set[str]) -> ReleaseResources:
        """The LoadBalancer Services and PVCs in the namespace that belong to `releases`:

        - objects a release created itself (Helm's meta.helm.sh annotations name it);
        - objects the Prometheus Operator created for a custom resource of such a release
          (ownerReferences to its Prometheus / Alertmanager / ThanosRuler / PrometheusAgent);
        - PVCs made from the volumeClaimTemplates of a StatefulSet that is one of the above.

        Anything else in the namespace is someone else's and is not listed."""
        try:
            services = self._call(f"list services in {namespace}", self.core.list_namespaced_service, namespace).items
        except NotFound:
            return ReleaseResources()
        owners: set[tuple[str, str]] = set()  # (kind, name) of the releases' operator-managed resources
        for group, version, plural, kind in OPERATOR_WORKLOAD_KINDS:
            try:
                listing = self._call(
                    f"list {plural} in {namespace}",
                    self.custom.list_namespaced_custom_object,
                    group,
                    version,
                    namespace,
                    plural,
                )
            except NotFound:  # the CRD is not installed (or not served at this version)
                continue
            for obj in listing.get("items", []):
                if helm_release_of(obj.get("metadata", {}), namespace) in releases:
                    owners.add((kind, obj["metadata"]["name"]))

        def ours(meta: Any) -> bool:
            if helm_release_of(meta, namespace) in releases:
                return True
            return any((ref.kind, ref.name) in owners for ref in (meta.owner_references or []))

        sets = self._call(f"list statefulsets in {namespace}", self.apps.list_namespaced_stateful_set, namespace).items
        our_sets = [sts for sts in sets if ours(sts.metadata)]
        claims = self._call(
            f"list PVCs in {namespace}", self.core.list_namespaced_persistent_volume_claim, namespace
        ).items
        our_claims = [c for c in claims if ours(c.metadata) or any(_claim_of_statefulset(c, s) for s in our_sets)]
        return ReleaseResources(
            load_balancers=sorted(
                s.metadata.name for s in services if s.spec and s.spec.type == "LoadBalancer" and ours(s.metadata)
            ),
            claims=sorted(c.metadata.name for c in our_claims),
            volumes=sorted(c.spec.volume_name for c in our_claims if c.spec and c.spec.volume_name),
        )

    def delete_release_resources(self, namespace: str, releases: set[str], timeout: float) -> ReleaseResources:
        """Delete the LoadBalancer Services and PVCs of `releases` (see `release_resources`) and
        wait until the Services are gone, so the cloud load balancer is released while the
        controller that releases it still runs; a PVC goes when the Pod using it goes."""
        found = self.release_resources(namespace, releases)
        for name in found.load_balancers:
            with contextlib.suppress(NotFound):
                self._call(f"delete service {namespace}/{name}", self.core.delete_namespaced_service, name, namespace)
        for name in found.claims:
            with contextlib.suppress(NotFound):
                self._call(
                    f"delete PVC {namespace}/{name}",
                    self.core.delete_namespaced_persistent_volume_claim,
                    name,
                    namespace,
                )
        if found.load_balancers:
            wanted = set(found.load_balancers)

            def verdict(objs: dict[str, Any]) -> str | None:
                left = sorted(wanted & set(objs))
                return f"LoadBalancer services still present: {', '.join(left)}" if left else None

            self._await(
                f"LoadBalancer services in {namespace} gone",
                self.core.list_namespaced_service,
                (namespace,),
                verdict,
                timeout,
                hint="the cloud controller releases the load balancer; check its events",
            )
        return found

    def wait_volumes_gone(self, names: list[str], timeout: float) -> str:
        """Wait until the PersistentVolumes are gone (their provisioner deletes the disk first).
        A volume whose reclaim policy is Retain stays by design: it is named, not waited for."""
        if not names:
            return "no volumes"
        retained = []
        for name in names:
            try:
                pv = self._call(f"read persistentvolume {name}", self.core.read_persistent_volume, name)
            except NotFound:
                continue
            if (pv.spec.persistent_volume_reclaim_policy or "Delete") == "Retain":
                retained.append(name)
        wanted = set(names) - set(retained)

        def verdict(objs: dict[str, Any]) -> str | None:
            left = sorted(wanted & set(objs))
            if not left:
                return None
            return "volumes still present: " + ", ".join(
                f"{n} ({objs[n].status.phase if objs[n].status else 'unknown'})" for n in left
            )

        if wanted:
            self._await(
                "PersistentVolumes released",
                self.core.list_persistent_volume,
                (),
                verdict,
                timeout,
                hint="the storage provisioner deletes the disk, then the volume; kubectl describe pv <name>",
            )
        kept = f"; kept (reclaim policy Retain): {', '.join(sorted(retained))}" if retained else ""
        return f"{len(wanted)} volume(s) released{kept}"

    # -- storage classes -------------------------------------------------------------------------

    def ensure_storage_class(self, body: dict[str, Any], owner: str) -> str:
        """Make obsctl's StorageClass exist as `body` (created with obsctl's mark). Its
        provisioner and parameters cannot be changed in place: when obsctl's own differs it is
        deleted and created again (volumes already provisioned keep their settings). One of that
        name that is not obsctl's is refused, never changed."""
        from kubernetes import client

        name = body["metadata"]["name"]
        labels, annotations = owner_marks(owner)
        meta = body.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        storage = client.StorageV1Api(self.api_client)
        try:
            current = self._call(f"read storageclass {name}", storage.read_storage_class, name)
        except NotFound:
            current = None
        if current is not None and not owned_by(current.metadata, owner):
            raise ToolError(
                f"StorageClass {name} exists and is not obsctl's; it was not changed",
                "delete it yourself, or let obsctl's environment own it",
            )
        same = current is not None and (
            current.provisioner == body["provisioner"]
            and (current.parameters or {}) == body.get("parameters", {})
            and current.reclaim_policy == body.get("reclaimPolicy", "Delete")
            and current.volume_binding_mode == body.get("volumeBindingMode", "Immediate")
            and bool(current.allow_volume_expansion) == bool(body.get("allowVolumeExpansion"))
            and (current.metadata.annotations or {}).get(DEFAULT_CLASS_ANNOTATION)
            == meta["annotations"].get(DEFAULT_CLASS_ANNOTATION)
        )
        if same:
            return f"StorageClass {name} exists"
        if current is not None:
            self._call(f"delete storageclass {name}", storage.delete_storage_class, name)
        self._call(f"create storageclass {name}", storage.create_storage_class, body)
        return f"StorageClass {name} {'replaced' if current is not None else 'created'}"

    def delete_owned_storage_class(self, name: str, owner: str) -> str:
        """Delete the StorageClass only when it carries obsctl's mark for this environment."""
        from kubernetes import client

        storage = client.StorageV1Api(self.api_client)
        try:
            current = self._call(f"read storageclass {name}", storage.read_storage_class, name)
        except NotFound:
            return f"StorageClass {name} absent"
        if not owned_by(current.metadata, owner):
            return f"StorageClass {name} kept (not obsctl's)"
        with contextlib.suppress(NotFound):
            self._call(f"delete storageclass {name}", storage.delete_storage_class, name)
        return f"StorageClass {name} deleted"

    # -- secrets -------------------------------------------------------------------------------

    def secret_owner_state(self, namespace: str, name: str, owner: str) -> str:
        """ "absent", "owned" (obsctl made it for this environment) or "foreign"."""
        try:
            secret = self._call(f"read secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace)
        except NotFound:
            return "absent"
        return "owned" if owned_by(secret.metadata, owner) else "foreign"

    def ensure_admin_secret(self, namespace: str, name: str, owner: str, user: str = "admin") -> bool:
        """Create a Secret with `admin-user` and a generated `admin-password` unless it exists
        (an existing one is kept: Grafana's database already holds that password; one the user
        made is theirs and is used as it is). True when it was created. The password is never
        returned or logged here."""
        from kubernetes import client

        if self.secret_owner_state(namespace, name, owner) != "absent":
            return False
        labels, annotations = owner_marks(owner)
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels, annotations=annotations),
            type="Opaque",
            string_data={"admin-user": user, "admin-password": _secrets.token_urlsafe(24)},
        )
        try:
            self._call(f"create secret {namespace}/{name}", self.core.create_namespaced_secret, namespace, body)
        except Conflict:
            return False
        return True

    def apply_secret(self, namespace: str, name: str, data: dict[str, str], owner: str) -> str:
        """Make the Secret hold exactly `data` (created with obsctl's mark, or updated when it is
        obsctl's); "created", "updated" or "unchanged". A Secret of that name that is not obsctl's
        is refused, never overwritten. Values are never returned or logged."""
        import base64

        from kubernetes import client

        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in sorted(data.items())}
        labels, annotations = owner_marks(owner)
        try:
            current = self._call(f"read secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace)
        except NotFound:
            current = None
        if current is None:
            body = client.V1Secret(
                metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels, annotations=annotations),
                type="Opaque",
                data=encoded,
            )
            self._call(f"create secret {namespace}/{name}", self.core.create_namespaced_secret, namespace, body)
            return "created"
        if not owned_by(current.metadata, owner):
            raise ToolError(
                f"secret {namespace}/{name} exists and is not obsctl's; it was not changed",
                "rename kubernetes.alertmanager_secret, or remove that Secret yourself",
            )
        if (current.data or {}) == encoded:
            return "unchanged"
        patch = {"data": {k: encoded.get(k) for k in {*(current.data or {}), *encoded}}}
        self._call(f"update secret {namespace}/{name}", self.core.patch_namespaced_secret, name, namespace, patch)
        return "updated"

    def delete_owned_secret(self, namespace: str, name: str, owner: str) -> str:
        """Delete the Secret only when it carries obsctl's mark for this environment."""
        state = self.secret_owner_state(namespace, name, owner)
        if state == "owned":
            with contextlib.suppress(NotFound):
                self._call(f"delete secret {namespace}/{name}", self.core.delete_namespaced_secret, name, namespace)
            return f"{namespace}/{name} deleted"
        if state == "foreign":
            return f"{namespace}/{name} kept (not obsctl's)"
        return f"{namespace}/{name} absent"

    def read_secret_key(self, namespace: str, name: str, key: str) -> str:
        import base64

        secret = self._call(f"read secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace)
        data = secret.data or {}
        if key not in data:
            raise ToolError(f"secret {namespace}/{name} has no key {key}", "delete it and run `obsctl up` again")
        return base64.b64decode(data[key]).decode()
