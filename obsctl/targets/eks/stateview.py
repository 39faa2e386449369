"""A read-only view of an eks environment's Terraform state, `.obsctl/<env>/terraform-state/`,
for `obsctl up --skip-terraform` and `obsctl verify --skip-terraform` (the CI deploy role).

The view holds only `backend.tf.json` (the same backend as the working directory: S3 from
`aws.backend`, or the working directory's local state file), no `*.tf`. So `terraform init`
there installs no provider and no module, and `terraform output -json` reads the root
outputs of the state as it is; nothing is planned, applied or locked. Against S3 that is a
ListObjectsV2 with prefix `env:/` (the backend lists workspaces), then HeadObject and
GetObject on the state key: what terraform/github_oidc.tf grants the deploy role.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from obsctl import render as r
from obsctl.config import AwsSettings
from obsctl.targets.base import Rendered
from obsctl.targets.eks import workdir

# the S3 backend lists workspaces under `<workspace_key_prefix>/`, default "env:" (terraform/github_oidc.tf)
WORKSPACE_PREFIX = "env:/"


def state_key(aws: AwsSettings, env_name: str) -> str:
    """The state object's key, as workdir.backend renders it."""
    assert aws.backend is not None
    return aws.backend.key or f"obsctl/{env_name}/terraform.tfstate"


def backend(aws: AwsSettings, env_name: str, local_state: Path, endpoint_url: str | None = None) -> str:
    """The working directory's backend, pointed at the same state from another directory.
    `endpoint_url` (OBSCTL_AWS_ENDPOINT_URL: an S3 stand-in such as moto) also reaches S3 there."""
    conf: dict[str, Any] = json.loads(workdir.backend(aws, env_name))
    blocks = conf["terraform"]["backend"]
    if "local" in blocks:
        blocks["local"]["path"] = str(local_state.resolve())
    elif endpoint_url:
        blocks["s3"].update(
            endpoints={"s3": endpoint_url, "sts": endpoint_url},
            use_path_style=True,
            skip_metadata_api_check=True,
            skip_requesting_account_id=True,
        )
    return json.dumps(conf, indent=2, sort_keys=True) + "\n"


def render(view: Path, aws: AwsSettings, env_name: str, local_state: Path, endpoint_url: str | None = None) -> Rendered:
    """Write `view/backend.tf.json` (only when it changed); nothing else belongs there."""
    out = Rendered()
    view.mkdir(parents=True, exist_ok=True)
    path = view / workdir.BACKEND
    out.files.append(path)
    if r.write_if_changed(path, backend(aws, env_name, local_state, endpoint_url)):
        out.changed.append(path)
    return out


def where(aws: AwsSettings, env_name: str, local_state: Path) -> str:
    """Where the state is, for messages."""
    if aws.backend is None:
        return str(local_state)
    return f"s3://{aws.backend.bucket}/{state_key(aws, env_name)}"
