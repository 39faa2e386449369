"""obsctl's own kubeconfig for an EKS cluster, `.obsctl/<env>/kubeconfig` (0600): its `exec`
plugin is `python -m obsctl.tools.aws_token`, so no AWS CLI is needed, and the user's
~/.kube/config is never written."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import obsctl
from obsctl import render as r

HEADER = "# Written by obsctl for this environment's EKS cluster -- do not edit.\n"


def kubeconfig_data(
    context: str, outputs: dict[str, Any], region: str, profile: str | None, endpoint_url: str | None
) -> dict[str, Any]:
    """A kubeconfig for the cluster in Terraform's `outputs` whose credentials come from
    obsctl's token plugin, run by this Python with this obsctl importable."""
    args = ["-m", "obsctl.tools.aws_token", "--cluster", outputs["eks_cluster_name"], "--region"]
    args.append(outputs.get("region") or region)
    if profile:
        args += ["--profile", profile]
    env = [{"name": "PYTHONPATH", "value": str(Path(obsctl.__file__).resolve().parent.parent)}]
    if endpoint_url:
        from obsctl.tools.aws import ENDPOINT_ENV

        env.append({"name": ENDPOINT_ENV, "value": endpoint_url})
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": context,
                "cluster": {
                    "server": outputs["cluster_endpoint"],
                    "certificate-authority-data": outputs["cluster_certificate_authority_data"],
                },
            }
        ],
        "users": [
            {
                "name": context,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": sys.executable,
                        "args": args,
                        "env": env,
                        "interactiveMode": "Never",
                        "provideClusterInfo": False,
                    }
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    }


def write(path: Path, data: dict[str, Any]) -> bool:
    """Write the kubeconfig (0600); True when it changed."""
    import yaml

    return r.write_if_changed(path, HEADER + yaml.safe_dump(data, sort_keys=False), secret=True)
