"""The Terraform working directory of an eks environment, `.obsctl/<env>/terraform/`: symlinks
to the source's `*.tf` (and its lock file), plus `backend.tf.json` and `terraform.tfvars.json`
rendered from obsctl.yaml with the jinja2 templates in `terraform/templates/`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from obsctl import bundled
from obsctl import render as r
from obsctl.config import AwsSettings
from obsctl.targets.base import Rendered

# the Terraform shipped with obsctl (the wheel's copy, or the checkout's)
REPO_TERRAFORM = bundled.content("terraform") or Path(__file__).resolve().parents[3] / "terraform"
TEMPLATES = REPO_TERRAFORM / "templates"
TFVARS = "terraform.tfvars.json"
BACKEND = "backend.tf.json"
LOCK_FILE = ".terraform.lock.hcl"


def default_source(root: Path) -> Path:
    """terraform/ of the project when it has one, else the one shipped with obsctl."""
    here = root / "terraform"
    return here if (here / "variables.tf").is_file() else REPO_TERRAFORM


def tfvars(aws: AwsSettings, env_name: str) -> str:
    text = r.render_template(TEMPLATES, f"{TFVARS}.j2", {"aws": aws, "env_name": env_name})
    return json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def backend(aws: AwsSettings, env_name: str) -> str:
    """S3 with native locking (`use_lockfile`) when aws.backend is set, else local state."""
    b = aws.backend
    conf: dict[str, Any] | None = None
    if b is not None:
        conf = {
            "bucket": b.bucket,
            "key": b.key or f"obsctl/{env_name}/terraform.tfstate",
            "region": b.region or aws.region,
            "encrypt": True,
            "use_lockfile": True,
        }
        if b.kms_key_id:
            conf["kms_key_id"] = b.kms_key_id
        if aws.profile:
            conf["profile"] = aws.profile
    text = r.render_template(TEMPLATES, f"{BACKEND}.j2", {"backend": conf})
    return json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def render(source: Path, workdir: Path, aws: AwsSettings, env_name: str) -> Rendered:
    """Link the source's *.tf into `workdir` and write backend.tf.json and terraform.tfvars.json;
    only what changed is touched, so a second run changes nothing."""
    out = Rendered()
    workdir.mkdir(parents=True, exist_ok=True)
    wanted = sorted(source.glob("*.tf"))
    if (source / LOCK_FILE).is_file():
        wanted.append(source / LOCK_FILE)
    names = {p.name for p in wanted}
    for link in workdir.glob("*.tf"):  # a .tf removed from the source must go here too
        if link.is_symlink() and link.name not in names:
            link.unlink()
            out.changed.append(link)
    for src in wanted:
        link = workdir / src.name
        out.files.append(link)
        if link.is_symlink() and link.resolve() == src.resolve():
            continue
        if link.is_symlink() or (link.exists() and src.name != LOCK_FILE):
            link.unlink()
        elif link.exists():  # terraform init rewrote the lock file in place: keep its hashes
            continue
        link.symlink_to(src.resolve())
        out.changed.append(link)
    for name, text in ((BACKEND, backend(aws, env_name)), (TFVARS, tfvars(aws, env_name))):
        path = workdir / name
        out.files.append(path)
        if r.write_if_changed(path, text):
            out.changed.append(path)
    return out
