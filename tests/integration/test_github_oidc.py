"""The GitHub Actions deploy role (aws.github_oidc -> terraform/github_oidc.tf).

From obsctl.yaml to the IAM JSON AWS would receive:
- the config is validated (owner/name, exact branch names, an existing provider's ARN, S3 state
  and the ECR repository the role can push to), and rendered into the tfvars;
- the real `terraform plan` with the real AWS provider (a filesystem mirror of it on this
  machine; skipped where there is none) plans github_oidc.tf next to variables.tf, with the
  eks module and the ECR repository as stand-ins of known ARNs (the rest of the configuration
  needs the registry modules, which cannot be downloaded here). The IAM policy documents are
  computed locally by the provider, so the trust and permission policies are read from the
  plan's JSON and asserted statement by statement;
- the HCL itself is held to the same (python-hcl2), and no long-lived key exists anywhere.
checkov over terraform/ (tests/integration/test_terraform_static.py) covers the new file too,
including its GitHub OIDC trust checks (CKV_AWS_358).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import hcl2
import pytest

from obsctl import config as c
from obsctl.errors import ConfigError
from obsctl.targets.eks import EksTarget
from tests import tfplan
from tests.tfplan import listed, policy, terraform

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TF = REPO / "terraform"
HCL = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
PROVIDER_OIDC = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
REPO_ARN = "arn:aws:ecr:eu-west-1:123456789012:repository/shop/app"
CLUSTER_ARN = "arn:aws:eks:eu-west-1:123456789012:cluster/obsctl-prod"

CONFIG = """
default_environment: prod
environments:
  prod:
    target: eks
    app:
      image: {repository: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/app}
    aws:
      region: eu-west-1
      cluster_name: obsctl-prod
      ecr_repository_name: shop/app
      backend: {bucket: tf-state}
      github_oidc: {repository: acme/shop}
"""


def load(tmp_path: Path, text: str = CONFIG) -> c.Environment:
    (tmp_path / "obsctl.yaml").write_text(textwrap.dedent(text))
    return c.load(str(tmp_path / "obsctl.yaml"))


# --------------------------------------------------------------------------- config


def test_defaults_render_into_the_tfvars(tmp_path: Path) -> None:
    tfvars = json.loads(EksTarget(load(tmp_path)).tfvars())
    assert tfvars["github_oidc"] == {
        "repository": "acme/shop",
        "branches": ["main"],
        "environment": "prod",  # the obsctl environment: the deploy workflow's GitHub environment
        "provider_arn": None,
        "policy_arns": [],
    }


def test_no_github_oidc_renders_null(tmp_path: Path) -> None:
    text = CONFIG.replace("      github_oidc: {repository: acme/shop}\n", "")
    assert json.loads(EksTarget(load(tmp_path, text)).tfvars())["github_oidc"] is None


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ("{repository: acme}", "github_oidc.repository"),
        ("{repository: acme/shop, branches: []}", "github_oidc.branches"),
        ("{repository: acme/shop, branches: ['*']}", "github_oidc.branches[0]"),
        ("{repository: acme/shop, branches: [refs/heads/main]}", "give the branch name only"),
        ("{repository: acme/shop, provider_arn: 'arn:aws:iam::1:oidc-provider/x'}", "github_oidc.provider_arn"),
        ("{repository: acme/shop, policy_arns: [ReadOnlyAccess]}", "github_oidc.policy_arns[0]"),
        ("{repository: acme/shop, token: x}", "unknown key"),
    ],
)
def test_bad_github_oidc_is_one_line_naming_the_field(tmp_path: Path, change: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, CONFIG.replace("{repository: acme/shop}", change))
    assert needle in err.value.message and err.value.exit_code == 2
    assert "\n" not in err.value.message


def test_ci_needs_remote_state(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs aws.backend"):
        load(tmp_path, CONFIG.replace("      backend: {bucket: tf-state}\n", ""))


def test_the_image_repository_must_be_the_one_the_role_may_push_to(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not the ECR repository 'shop/app'"):
        load(tmp_path, CONFIG.replace("/shop/app}", "/other}"))


# --------------------------------------------------------------------------- the HCL


def parsed(name: str) -> dict[str, Any]:
    with (TF / name).open() as f:
        return hcl2.load(f, serialization_options=HCL)


def test_no_long_lived_key_is_created_anywhere() -> None:
    for path in TF.rglob("*.tf"):
        text = path.read_text()
        for kind in ("aws_iam_access_key", "aws_iam_user", "aws_iam_user_login_profile"):
            assert f'"{kind}"' not in text, f"{path.name} creates an {kind}"


def test_the_role_arn_is_an_output_and_the_role_gets_an_access_entry_on_this_cluster() -> None:
    outputs = {k: v for block in parsed("outputs.tf")["output"] for k, v in block.items()}
    assert outputs["github_actions_role_arn"]["value"] == "${try(aws_iam_role.github_actions[0].arn, null)}"
    eks = next(b["eks"] for b in parsed("eks.tf")["module"] if "eks" in b)
    assert "local.github_actions_access_entry" in eks["access_entries"]


def test_trust_pins_audience_and_exact_subjects() -> None:
    doc = next(
        b["aws_iam_policy_document"]["github_actions_assume"]
        for b in parsed("github_oidc.tf")["data"]
        if "github_actions_assume" in b.get("aws_iam_policy_document", {})
    )
    (statement,) = doc["statement"]
    assert statement["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    tests = {cond["variable"]: (cond["test"], cond["values"]) for cond in statement["condition"]}
    assert tests == {
        "${local.github_oidc_host}:aud": ("StringEquals", ["sts.amazonaws.com"]),
        "${local.github_oidc_host}:sub": ("StringEquals", "${local.github_oidc_subjects}"),  # never StringLike
    }


# --------------------------------------------------------------------------- the real plan


STUB = """
# main.tf's locals, and stand-ins for the ECR repository and the eks module.
locals {
  partition          = "aws"
  account_id         = "123456789012"
  ecr_repository_arn = "arn:aws:ecr:${var.region}:123456789012:repository/${var.ecr_repository_name}"
}

module "eks" {
  source       = "./eks"
  cluster_name = var.cluster_name
  region       = var.region
}

output "github_actions_role_arn" {
  value = try(aws_iam_role.github_actions[0].arn, null)
}

output "access_entries" {
  value = local.github_actions_access_entry
}
"""
EKS_STUB = """
variable "cluster_name" { type = string }
variable "region" { type = string }
output "cluster_arn" { value = "arn:aws:eks:${var.region}:123456789012:cluster/${var.cluster_name}" }
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = (TF / "github_oidc.tf").read_text()
    assert text.count("aws_ecr_repository.this.arn") == 1
    sources = {"github_oidc.tf": text.replace("aws_ecr_repository.this.arn", "local.ecr_repository_arn")}
    return tfplan.initialised(tmp_path_factory.mktemp("github-oidc"), sources, STUB, EKS_STUB)


def plan(work: Path, tmp_path: Path, github_oidc: dict[str, Any] | None, **state: Any) -> dict[str, Any]:
    """The JSON plan for the tfvars obsctl renders, with `github_oidc` replaced (and attributes
    of `terraform_state`, from `aws.backend`, when given)."""
    tfvars = json.loads(EksTarget(load(tmp_path)).tfvars())
    tfvars["github_oidc"] = github_oidc
    tfvars["terraform_state"].update(state)
    return tfplan.plan(work, tmp_path, json.dumps(tfvars))


def changes(planned: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["address"]: r["change"] for r in planned.get("resource_changes", [])}


@pytest.fixture(scope="module")
def pinned(workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One plan for two branches, an environment and an existing OIDC provider."""
    oidc = {"repository": "acme/shop", "branches": ["main", "release"], "environment": "prod"}
    return plan(workdir, tmp_path_factory.mktemp("pinned"), {**oidc, "provider_arn": PROVIDER_OIDC})


def test_plan_trust_policy(pinned: dict[str, Any]) -> None:
    (statement,) = policy(pinned, "github_actions_assume")["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": PROVIDER_OIDC}
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": [
                "repo:acme/shop:ref:refs/heads/main",
                "repo:acme/shop:ref:refs/heads/release",
                "repo:acme/shop:environment:prod",
            ],
        }
    }
    planned_changes = changes(pinned)
    assert "aws_iam_openid_connect_provider.github[0]" not in planned_changes, "an existing provider is reused"
    assert planned_changes["aws_iam_role.github_actions[0]"]["after"]["max_session_duration"] == 3600


def test_plan_permissions_are_this_repository_and_this_cluster(pinned: dict[str, Any]) -> None:
    statements = {s["Sid"]: s for s in policy(pinned, "github_actions")["Statement"]}
    assert all(s["Effect"] == "Allow" for s in statements.values())
    assert listed(statements["EcrLogin"]["Action"]) == ["ecr:GetAuthorizationToken"]
    push = statements["PushToThisRepositoryOnly"]
    assert push["Resource"] == REPO_ARN
    assert {"ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"} <= set(
        listed(push["Action"])
    )
    assert not any(a.startswith("ecr:Delete") or a.startswith("ecr:Set") for a in listed(push["Action"]))
    cluster = statements["DescribeThisClusterOnly"]
    assert listed(cluster["Resource"]) == sorted(
        [CLUSTER_ARN, "arn:aws:eks:eu-west-1:123456789012:nodegroup/obsctl-prod/*/*"]
    )
    assert all(a.startswith("eks:Describe") or a.startswith("eks:List") for a in listed(cluster["Action"]))
    # "*" only where AWS offers no resource: the registry token and read-only describes.
    for sid, statement in statements.items():
        if statement["Resource"] == "*":
            actions = listed(statement["Action"])
            assert sid in ("EcrLogin", "ReadOnlyDescribesWithoutResourceScope"), sid
            assert all(a == "ecr:GetAuthorizationToken" or ":Describe" in a for a in actions), actions


STATE_ARN = "arn:aws:s3:::tf-state/obsctl/prod/terraform.tfstate"  # aws.backend's default key for prod


def test_plan_reads_exactly_the_state_object_and_nothing_more(pinned: dict[str, Any]) -> None:
    """What `obsctl up --skip-terraform` needs (terraform init + output on the S3 backend, seen
    against moto in tests/integration/test_eks_skip_terraform.py): get the state object, list
    the bucket under the workspace prefix only. No write, no lock file, no KMS with SSE-S3."""
    statements = {s["Sid"]: s for s in policy(pinned, "github_actions")["Statement"]}
    read = statements["ReadThisStateOnly"]
    assert (read["Action"], read["Resource"]) == ("s3:GetObject", STATE_ARN)
    listing = statements["ListTheStateBucketUnderTheWorkspacePrefixOnly"]
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", "arn:aws:s3:::tf-state")
    assert listing["Condition"] == {"StringEquals": {"s3:prefix": "env:/"}}
    actions = [a for st in statements.values() for a in listed(st["Action"])]
    assert [a for a in actions if a.startswith("s3:")] == ["s3:GetObject", "s3:ListBucket"]
    assert not [a for a in actions if a.startswith(("kms:", "dynamodb:"))]


@pytest.mark.parametrize(
    ("kms_key_id", "resource", "alias"),
    [
        (
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            None,
        ),
        ("arn:aws:kms:eu-west-2:123456789012:key/k", "arn:aws:kms:eu-west-2:123456789012:key/k", None),
        ("alias/tf-state", "arn:aws:kms:eu-west-1:123456789012:key/*", "alias/tf-state"),
    ],
)
def test_plan_decrypts_the_state_only_when_it_is_kms_encrypted(
    workdir: Path, tmp_path: Path, kms_key_id: str, resource: str, alias: str | None
) -> None:
    oidc = {"repository": "acme/shop", "branches": ["main"], "provider_arn": PROVIDER_OIDC}
    statements = {
        s["Sid"]: s for s in policy(plan(workdir, tmp_path, oidc, kms_key_id=kms_key_id), "github_actions")["Statement"]
    }
    decrypt = statements["DecryptTheStateThroughS3Only"]
    assert (decrypt["Action"], decrypt["Resource"]) == ("kms:Decrypt", resource)
    want: dict[str, Any] = {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
    if alias:
        want["ForAnyValue:StringEquals"] = {"kms:ResourceAliases": alias}
    assert decrypt["Condition"] == want


def test_plan_creates_the_provider_when_none_is_given(workdir: Path, tmp_path: Path) -> None:
    planned = plan(workdir, tmp_path, {"repository": "acme/shop", "branches": ["main"]})
    provider = changes(planned)["aws_iam_openid_connect_provider.github[0]"]
    assert provider["actions"] == ["create"]
    assert provider["after"]["url"] == "https://token.actions.githubusercontent.com"
    assert provider["after"]["client_id_list"] == ["sts.amazonaws.com"]


def test_plan_extra_policies_are_attached(workdir: Path, tmp_path: Path) -> None:
    arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    oidc = {"repository": "acme/shop", "branches": ["main"], "provider_arn": PROVIDER_OIDC, "policy_arns": [arn]}
    attached = changes(plan(workdir, tmp_path, oidc))[f'aws_iam_role_policy_attachment.github_actions_extra["{arn}"]']
    assert attached["after"]["policy_arn"] == arn


def test_plan_without_github_oidc_creates_nothing(workdir: Path, tmp_path: Path) -> None:
    planned = plan(workdir, tmp_path, None)
    assert not [a for a, ch in changes(planned).items() if ch["actions"] != ["no-op"]]
    assert planned["planned_values"]["outputs"]["access_entries"]["value"] == {}


@pytest.fixture(scope="module")
def variables_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """variables.tf alone needs no provider: `terraform plan` runs its validations for real."""
    work = tmp_path_factory.mktemp("variables")
    shutil.copy(TF / "variables.tf", work / "variables.tf")
    (work / "cli.tfrc").write_text("")
    init = terraform(work, "init", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    return work


@pytest.mark.parametrize(
    ("oidc", "needle"),
    [
        ({"repository": "shop", "branches": ["main"]}, "github_oidc.repository must be owner/name"),
        ({"repository": "acme/shop", "branches": ["*"]}, "github_oidc.branches must list"),
        ({"repository": "acme/shop", "branches": ["refs/heads/main"]}, "github_oidc.branches must list"),
        ({"repository": "acme/shop", "branches": []}, "github_oidc.branches must list"),
        ({"repository": "acme/shop", "branches": ["main"], "provider_arn": "arn:x"}, "provider_arn must be"),
        ({"repository": "acme/shop", "branches": ["main"], "policy_arns": ["ReadOnlyAccess"]}, "policy_arns must be"),
    ],
)
def test_terraform_refuses_bad_values(variables_only: Path, tmp_path: Path, oidc: dict[str, Any], needle: str) -> None:
    tfvars = json.loads(EksTarget(load(tmp_path)).tfvars())
    tfvars["github_oidc"] = oidc
    (tmp_path / "t.tfvars.json").write_text(json.dumps(tfvars))
    result = terraform(variables_only, "plan", "-no-color", f"-var-file={tmp_path / 't.tfvars.json'}")
    assert result.returncode == 1
    assert needle in " ".join((result.stdout + result.stderr).split()), result.stderr


def test_terraform_accepts_what_obsctl_renders(variables_only: Path, tmp_path: Path) -> None:
    (tmp_path / "t.tfvars.json").write_text(EksTarget(load(tmp_path)).tfvars())
    result = terraform(variables_only, "plan", "-no-color", f"-var-file={tmp_path / 't.tfvars.json'}")
    assert result.returncode == 0, result.stdout + result.stderr
