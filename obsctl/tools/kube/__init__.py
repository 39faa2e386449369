"""Kubernetes adapter: the only package that imports the `kubernetes` client.

A small facade over what obsctl's Kubernetes layer needs, one module per concern:

    client       a client for one kubeconfig file and one context; calls and WATCH-based waits
                 with a deadline (WaitTimeout carries the last state seen)
    kubeconfig   the contexts of a kubeconfig, and the guard that refuses to act on any other
    namespaces   created with obsctl's mark or adopted untouched, deleted, waited for, diagnosed
    workloads    CRDs applied and Established, rollouts, the reads checks and status use
    owned        what obsctl owns besides namespaces: its releases' LoadBalancers and PVCs,
                 their volumes, its StorageClass and Secrets
    reach        the API server's service proxy, and port-forwards bound to 127.0.0.1
    logs         Pod logs by label selector, read or followed, each line tagged with its Pod
    ownership    obsctl's mark, and which objects belong to its Helm releases
    views        small views of objects and the verdicts of the waits
    errors       the ONE function that translates the library's failures (`_translate`): no
                 library exception leaves this package (tests/unit/kube/test_kube_errors.py)

Nothing here prints; secrets are returned, never logged.
"""

from __future__ import annotations

from obsctl.tools.kube.client import REQUEST_TIMEOUT
from obsctl.tools.kube.errors import Conflict, NotFound, _guarded, _translate
from obsctl.tools.kube.kubeconfig import guard_context, kubeconfig_contexts
from obsctl.tools.kube.logs import Logs
from obsctl.tools.kube.namespaces import Namespaces
from obsctl.tools.kube.owned import Owned
from obsctl.tools.kube.ownership import (
    DEFAULT_CLASS_ANNOTATION,
    ENV_ANNOTATION,
    HELM_RELEASE,
    HELM_RELEASE_NAMESPACE,
    MANAGED_BY,
    OWNER_LABEL,
    OWNER_VALUE,
    ReleaseResources,
    helm_release_of,
    owned_by,
    owner_marks,
)
from obsctl.tools.kube.reach import PortForward, Reach
from obsctl.tools.kube.views import (
    MONITORING_CRDS,
    MONITORING_PLURALS_V1,
    NodeInfo,
    PodInfo,
    crd_state,
    rollout_state,
)
from obsctl.tools.kube.workloads import Workloads


class Kube(Namespaces, Owned, Reach, Workloads, Logs):
    """A client bound to one kubeconfig file and one context (obsctl.tools.kube.client), with
    every part of the adapter."""


__all__ = [
    "DEFAULT_CLASS_ANNOTATION",
    "ENV_ANNOTATION",
    "HELM_RELEASE",
    "HELM_RELEASE_NAMESPACE",
    "MANAGED_BY",
    "MONITORING_CRDS",
    "MONITORING_PLURALS_V1",
    "OWNER_LABEL",
    "OWNER_VALUE",
    "REQUEST_TIMEOUT",
    "Conflict",
    "Kube",
    "NodeInfo",
    "NotFound",
    "PodInfo",
    "PortForward",
    "ReleaseResources",
    "_guarded",
    "_translate",
    "crd_state",
    "guard_context",
    "helm_release_of",
    "kubeconfig_contexts",
    "owned_by",
    "owner_marks",
    "rollout_state",
]
