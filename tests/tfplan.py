"""The real `terraform plan` of a slice of terraform/, for tests that read IAM JSON from it.

The real AWS provider comes from a filesystem mirror on this machine (../shared/TOOLS.md; the
tests skip where there is none). The slice is planned next to variables.tf with stand-ins for
what it needs from the rest of the configuration (main.tf's locals, the eks module), since the
registry modules cannot be downloaded here. The provider computes IAM policy documents
locally, so a plan reads them (data sources) without calling AWS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

TF = Path(__file__).resolve().parents[1] / "terraform"
PROVIDER_MIRROR = Path("/opt/tf-plugins")
# The real provider, configured to plan without credentials or calls to AWS.
PROVIDER = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

provider "aws" {
  region                      = var.region
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}
"""
CLI_CONFIG = f"""
provider_installation {{
  filesystem_mirror {{
    path    = "{PROVIDER_MIRROR}"
    include = ["registry.terraform.io/hashicorp/aws"]
  }}
}}
"""


def terraform(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("terraform")
    if exe is None:
        pytest.skip("terraform is not on PATH")
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(work / "cli.tfrc"),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        # The provider configures itself with these and makes no AWS call for a plan of new
        # resources and policy documents (PROVIDER's skip_* settings skip the rest): nothing
        # here reaches AWS.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return subprocess.run([exe, *args], cwd=work, env=env, capture_output=True, text=True, timeout=180)


def initialised(work: Path, sources: dict[str, str], stub: str, eks_stub: str) -> Path:
    """`work` with variables.tf, `sources` (file name -> HCL), the provider, `stub` (main.tf's
    locals, the eks module) and the stand-in eks module, after a real `terraform init` from the
    mirror."""
    if not (PROVIDER_MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.skip(f"no hashicorp/aws provider mirror at {PROVIDER_MIRROR} (../shared/TOOLS.md)")
    shutil.copy(TF / "variables.tf", work / "variables.tf")
    for name, text in sources.items():
        (work / name).write_text(text)
    (work / "provider.tf").write_text(PROVIDER)
    (work / "stub.tf").write_text(stub)
    (work / "eks").mkdir()
    (work / "eks" / "main.tf").write_text(eks_stub)
    (work / "cli.tfrc").write_text(CLI_CONFIG)
    init = terraform(work, "init", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    return work


def plan(work: Path, tmp_path: Path, tfvars: str) -> dict[str, Any]:
    """The JSON plan of `work` for these tfvars (JSON text)."""
    var_file = tmp_path / "t.tfvars.json"
    var_file.write_text(tfvars)
    out = tmp_path / "plan.bin"
    result = terraform(work, "plan", "-no-color", f"-var-file={var_file}", f"-out={out}")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(terraform(work, "show", "-json", str(out)).stdout)


def policy(planned: dict[str, Any], name: str) -> dict[str, Any]:
    """The JSON of data.aws_iam_policy_document.NAME[0] as the plan computed it."""
    for resource in planned["prior_state"]["values"]["root_module"]["resources"]:
        if resource["address"] == f"data.aws_iam_policy_document.{name}[0]":
            return json.loads(resource["values"]["json"])
    raise AssertionError(f"policy document {name} was not read during the plan")


def listed(value: str | list[str]) -> list[str]:
    """An IAM Action/Resource, which the JSON gives as a string when there is one."""
    return [value] if isinstance(value, str) else sorted(value)
