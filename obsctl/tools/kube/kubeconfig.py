"""kubeconfig files: which contexts they hold, and the guard that refuses to act on any context
but the one the environment names."""

from __future__ import annotations

import os
from pathlib import Path

from obsctl.errors import PreflightError
from obsctl.tools.kube.errors import _guarded


def kubeconfig_contexts(kubeconfig: Path | None) -> tuple[list[str], str | None]:
    """Context names in a kubeconfig, and its current context."""
    from kubernetes import config

    path = str(kubeconfig) if kubeconfig else None
    files = [Path(p).expanduser() for p in (path or os.environ.get("KUBECONFIG") or "~/.kube/config").split(":")]
    if not any(f.is_file() for f in files):
        raise PreflightError(
            f"no kubeconfig at {':'.join(str(f) for f in files)}",
            "set kubernetes.kubeconfig in obsctl.yaml or KUBECONFIG, or create the cluster's context first",
        )
    with _guarded(f"read kubeconfig {kubeconfig or '(default)'}"):
        contexts, current = config.list_kube_config_contexts(config_file=path)
    return [c["name"] for c in contexts], (current or {}).get("name")


def guard_context(kubeconfig: Path | None, expected: str, env_name: str) -> str:
    """Refuse to act unless the kubeconfig's current context is `expected` (exit 2 otherwise)."""
    names, current = kubeconfig_contexts(kubeconfig)
    if current != expected:
        hint = f"kubectl config use-context {expected}"
        if expected not in names:
            hint = f"the kubeconfig has no context {expected} (it has: {', '.join(names) or 'none'})"
        raise PreflightError(
            f"current kube context is {current or '(none)'}, environment {env_name} expects {expected}", hint
        )
    return current
