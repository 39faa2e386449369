"""The contract between obsctl and terraform/: the tfvars obsctl renders set ONLY declared
variables (parsed from terraform/variables.tf with python-hcl2), with matching types, and
every output obsctl reads is declared in terraform/outputs.tf (and in the driver's fixture).
One test also hands the rendered tfvars to the real `terraform plan` over variables.tf alone,
so Terraform's own type checks and validation blocks judge them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import hcl2
import pytest

from obsctl import config as c
from obsctl.targets.eks import REQUIRED_OUTPUTS, EksTarget

REPO = Path(__file__).resolve().parents[2]
TF = REPO / "terraform"
HCL = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
NOT_RENDERED = {"bastion_cluster_access"}  # its default applies (terraform/README.md)

FULL = """
default_environment: prod
environments:
  prod:
    target: eks
    app:
      image: {repository: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/app}
    aws:
      region: eu-west-1
      project: shop
      profile: prod-admin
      cluster_name: obsctl-prod
      kubernetes_version: "1.33"
      vpc_cidr: 10.20.0.0/16
      az_count: 3
      single_nat_gateway: false
      node_instance_types: [m6i.large, m5.large]
      node_ami_type: AL2023_x86_64_STANDARD
      node_min_size: 2
      node_max_size: 5
      node_desired_size: 3
      node_disk_size_gib: 80
      cluster_endpoint_public_access: true   # false is refused (tests/unit/test_aws_settings.py)
      cluster_endpoint_public_access_cidrs: [203.0.113.7/32]
      cluster_admin_principal_arns: [arn:aws:iam::123456789012:role/admin]
      cluster_log_types: [api, audit]
      cluster_log_retention_days: 30
      bastion_instance_type: t4g.micro
      bastion_ssh_cidrs: [198.51.100.0/24]
      bastion_ssh_key_name: ops
      ecr_repository_name: shop/app
      tags: {Owner: platform}
      backend: {bucket: tf-state, kms_key_id: alias/tf}
      github_oidc: {repository: acme/shop, branches: [main, release], environment: production}
"""
MINIMAL = """
default_environment: dev
environments:
  dev:
    target: eks
    aws: {region: us-east-1, cluster_name: obsctl-dev}
"""


def declared(kind: str, path: Path) -> dict[str, dict[str, Any]]:
    with path.open() as f:
        data = hcl2.load(f, serialization_options=HCL)
    return {name: body for block in data.get(kind, []) for name, body in block.items()}


def target(tmp_path: Path, text: str) -> EksTarget:
    (tmp_path / "obsctl.yaml").write_text(textwrap.dedent(text))
    return EksTarget(c.load(str(tmp_path / "obsctl.yaml")))


def _matches(tf_type: str, value: Any) -> bool:
    t = tf_type.removeprefix("${").removesuffix("}")
    if value is None:
        return True  # null: the variable's default (or null) applies
    if t == "string":
        return isinstance(value, str)
    if t == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if t == "bool":
        return isinstance(value, bool)
    if t.startswith("list("):
        return isinstance(value, list) and all(_matches(t[5:-1], v) for v in value)
    if t.startswith("object("):
        return isinstance(value, dict)  # its attributes: tests/integration/test_github_oidc.py
    if t.startswith("map("):
        return isinstance(value, dict) and all(_matches(t[4:-1], v) for v in value.values())
    raise AssertionError(f"type {tf_type} not understood by this test")


@pytest.mark.parametrize("config", [FULL, MINIMAL], ids=["full", "minimal"])
def test_tfvars_set_only_declared_variables_with_their_types(tmp_path: Path, config: str) -> None:
    variables = declared("variable", TF / "variables.tf")
    tfvars = json.loads(target(tmp_path, config).tfvars())
    assert set(tfvars) <= set(variables), f"undeclared: {set(tfvars) - set(variables)}"
    assert set(variables) - set(tfvars) == NOT_RENDERED
    required = {n for n, body in variables.items() if "default" not in body}
    assert required <= set(tfvars)
    for name, value in tfvars.items():
        assert _matches(variables[name]["type"], value), (name, variables[name]["type"], value)


def test_tfvars_carry_the_config(tmp_path: Path) -> None:
    t = target(tmp_path, FULL)
    v = json.loads(t.tfvars())
    assert v["environment"] == "prod" and v["project"] == "shop" and v["cluster_name"] == "obsctl-prod"
    assert v["node_instance_types"] == ["m6i.large", "m5.large"] and v["single_nat_gateway"] is False
    assert v["tags"] == {"Owner": "platform"} and v["bastion_ssh_key_name"] == "ops"
    assert "profile" not in v and "backend" not in v  # not Terraform variables


def test_tfvars_name_the_state_object_the_backend_uses(tmp_path: Path) -> None:
    """terraform_state (the deploy role may read exactly that object) is aws.backend's bucket
    and key as backend.tf.json has them; null with local state."""
    t = target(tmp_path, FULL)
    s3 = json.loads(t.backend())["terraform"]["backend"]["s3"]
    state = json.loads(t.tfvars())["terraform_state"]
    assert state == {"bucket": s3["bucket"], "key": s3["key"], "region": s3["region"], "kms_key_id": "alias/tf"}
    keyed = FULL.replace("{bucket: tf-state, kms_key_id: alias/tf}", "{bucket: b, key: k/s.tfstate, region: us-east-2}")
    state = json.loads(target(tmp_path, keyed).tfvars())["terraform_state"]
    assert state == {"bucket": "b", "key": "k/s.tfstate", "region": "us-east-2", "kms_key_id": None}
    assert json.loads(target(tmp_path, MINIMAL).tfvars())["terraform_state"] is None


def test_backend_s3_with_native_locking(tmp_path: Path) -> None:
    s3 = json.loads(target(tmp_path, FULL).backend())["terraform"]["backend"]["s3"]
    assert s3 == {
        "bucket": "tf-state",
        "key": "obsctl/prod/terraform.tfstate",
        "region": "eu-west-1",
        "encrypt": True,
        "use_lockfile": True,
        "kms_key_id": "alias/tf",
        "profile": "prod-admin",
    }


def test_backend_local_by_default(tmp_path: Path) -> None:
    t = target(tmp_path, MINIMAL)
    assert json.loads(t.backend()) == {"terraform": {"backend": {"local": {"path": "terraform.tfstate"}}}}
    assert t.workdir == tmp_path / ".obsctl" / "dev" / "terraform"


def test_every_output_obsctl_reads_is_declared() -> None:
    outputs = declared("output", TF / "outputs.tf")
    assert set(REQUIRED_OUTPUTS) <= set(outputs), set(REQUIRED_OUTPUTS) - set(outputs)
    fixture = declared("output", TF / "tests" / "fixture" / "main.tf")
    assert set(REQUIRED_OUTPUTS) <= set(fixture), "the driver's fixture must offer what obsctl reads"


def test_no_backend_block_in_terraform_sources() -> None:
    """backend.tf.json is rendered per environment; a backend block in terraform/ would clash."""
    for path in TF.glob("*.tf"):
        with path.open() as f:
            for block in hcl2.load(f, serialization_options=HCL).get("terraform", []):
                assert "backend" not in block, path


@pytest.mark.integration
@pytest.mark.parametrize("config", [FULL, MINIMAL], ids=["full", "minimal"])
def test_real_terraform_accepts_the_rendered_tfvars(tmp_path: Path, config: str) -> None:
    """`terraform plan` over variables.tf alone (no provider needed) type-checks the tfvars and
    runs every validation block; an undeclared variable would be reported as a warning."""
    exe = shutil.which("terraform")
    if exe is None:
        pytest.skip("terraform is not on PATH")
    work = tmp_path / "vars"
    work.mkdir()
    shutil.copy(TF / "variables.tf", work / "variables.tf")
    (work / "terraform.tfvars.json").write_text(target(tmp_path, config).tfvars())
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"}
    for args in (["init", "-input=false", "-no-color"], ["plan", "-input=false", "-no-color"]):
        res = subprocess.run([exe, *args], cwd=work, env=env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "undeclared variable" not in res.stdout + res.stderr
        assert "Warning" not in res.stdout + res.stderr, res.stdout + res.stderr
