"""The Terraform AWS layer in terraform/, checked without AWS and without providers.

No provider or module can be downloaded here, so `terraform validate` and `plan` cannot
run. What can, runs for real: `terraform fmt -check` (and a proof that it can fail),
checkov over our own resources, and contract tests on the parsed HCL that hold the
configuration to what the obsctl driver and the house style rely on: every variable
typed and described, the outputs the driver reads, `~>` pins, common tags, IMDSv2 and
encryption on the bastion, immutable scanned ECR images. The builtin-only fixture in
terraform/tests/fixture/ is applied for real, since the driver's own tests use it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "terraform"
TF_FILES = sorted(TF_DIR.glob("*.tf"))
FIXTURE_DIR = TF_DIR / "tests" / "fixture"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
CHECKOV_CONFIG = TF_DIR / ".checkov.yaml"

# What the obsctl config renders into the tfvars JSON: every one must be declared.
RENDERED_VARIABLES = {
    "project",
    "environment",
    "region",
    "cluster_name",
    "kubernetes_version",
    "vpc_cidr",
    "az_count",
    "single_nat_gateway",
    "node_instance_types",
    "node_ami_type",
    "node_min_size",
    "node_max_size",
    "node_desired_size",
    "node_disk_size_gib",
    "node_autoscaler",
    "cluster_endpoint_public_access",
    "cluster_endpoint_public_access_cidrs",
    "cluster_admin_principal_arns",
    "cluster_log_types",
    "cluster_log_retention_days",
    "bastion_instance_type",
    "bastion_ssh_cidrs",
    "bastion_ssh_key_name",
    "ecr_repository_name",
    "github_oidc",
    "tags",
}
# What the driver reads from `terraform output -json`.
REQUIRED_OUTPUTS = {
    "eks_cluster_name",
    "bastion_public_ip",
    "vpc_id",
    "public_subnet_ids",
    "private_subnet_ids",
    "ecr_repository_url",
    "cluster_endpoint",
    "cluster_certificate_authority_data",
    "region",
    "bastion_instance_id",
    "cluster_security_group_id",
}
COMMON_TAG_KEYS = ("Project", "Environment", '"obsctl.io/cluster"')

# python-hcl2 >= 8: plain strings, no comments, blocks without markers.
HCL_OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


# --------------------------------------------------------------------------- helpers


def terraform(*args: str | Path, cwd: Path | None = None, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("terraform")
    if exe is None:
        pytest.skip("terraform is not on PATH; scripts/install-system-deps.sh says where to get it")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    return subprocess.run(
        [exe, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@cache
def parsed(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return hcl2.load(f, serialization_options=HCL_OPTIONS)


def blocks(kind: str, files: list[Path] | None = None) -> list[tuple[Path, Any]]:
    """Every top-level block of `kind` ("variable", "resource", ...) with its file."""
    return [(path, block) for path in files or TF_FILES for block in parsed(path).get(kind, [])]


def labelled(kind: str, files: list[Path] | None = None) -> dict[str, dict[str, Any]]:
    """One-label blocks (variable, output, module, provider) by label."""
    found: dict[str, dict[str, Any]] = {}
    for _, block in blocks(kind, files):
        for label, body in block.items():
            assert label not in found, f"{kind} {label!r} is declared twice"
            found[label] = body
    return found


def resource(rtype: str, name: str) -> dict[str, Any]:
    for _, block in blocks("resource"):
        if rtype in block and name in block[rtype]:
            return block[rtype][name]
    raise AssertionError(f"resource {rtype}.{name} not found in terraform/")


def terraform_settings() -> dict[str, Any]:
    settings = [block for _, block in blocks("terraform")]
    assert len(settings) == 1, "exactly one terraform {} block expected (versions.tf)"
    return settings[0]


def jsonencoded(expression: str) -> Any:
    """The value inside `${jsonencode(...)}`, parsed as HCL (an add-on's configuration_values)."""
    prefix, suffix = "${jsonencode(", ")}"
    assert expression.startswith(prefix) and expression.endswith(suffix), expression
    return hcl2.loads("v = " + expression[len(prefix) : -len(suffix)], serialization_options=HCL_OPTIONS)["v"]


def addon(name: str) -> dict[str, Any]:
    addons = labelled("module")["eks"]["addons"]
    assert name in addons, f"the eks module installs no {name} add-on"
    return dict(addons[name])


def one(value: Any) -> Any:
    """A nested block parses as a list of one body; an attribute as its value."""
    if isinstance(value, list):
        assert len(value) == 1, f"expected one block, got {value!r}"
        return value[0]
    return value


def test_terraform_files_exist() -> None:
    names = {path.name for path in TF_FILES}
    for expected in (
        "versions.tf",
        "variables.tf",
        "outputs.tf",
        "main.tf",
        "vpc.tf",
        "eks.tf",
        "bastion.tf",
        "ecr.tf",
    ):
        assert expected in names


# --------------------------------------------------------------------------- fmt


def test_fmt_check_passes() -> None:
    result = terraform("fmt", "-check", "-recursive", "-diff", TF_DIR)
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


def test_fmt_check_fails_on_a_badly_formatted_file(tmp_path: Path) -> None:
    tree = tmp_path / "terraform"
    shutil.copytree(TF_DIR, tree, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    (tree / "bad.tf").write_text('locals {\nx=1\n    yy   =  "a"\n}\n')
    result = terraform("fmt", "-check", "-recursive", tree)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "bad.tf" in result.stdout


# --------------------------------------------------------------------------- checkov


def test_checkov_finds_no_failed_checks() -> None:
    if not CHECKOV.exists():
        pytest.skip(f"{CHECKOV.relative_to(REPO)} is missing; run scripts/install-checkov.sh (make test does)")
    result = subprocess.run(
        [str(CHECKOV), "-d", str(TF_DIR), "--config-file", str(CHECKOV_CONFIG), "--skip-download", "-o", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = next(r["summary"] for r in reports if r.get("check_type") == "terraform")
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]})"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert summary["parsing_errors"] == 0, result.stdout
    assert summary["passed"] > 0, "checkov scanned nothing"
    assert summary["failed"] == 0 and not failed, "checkov failed checks:\n" + "\n".join(failed)


def test_every_checkov_skip_is_inline_with_a_reason() -> None:
    config = CHECKOV_CONFIG.read_text()
    assert not re.search(r"^\s*(skip-check|skip_check)\s*:", config, flags=re.MULTILINE), (
        "skip checks inline next to the resource, with a reason, not in .checkov.yaml"
    )
    skips = [
        (path.name, match) for path in TF_FILES for match in re.findall(r"#\s*checkov:skip=([^\n]*)", path.read_text())
    ]
    for name, skip in skips:
        check_id, _, reason = skip.partition(":")
        assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", check_id.strip()), f"{name}: {skip}"
        assert len(reason.strip()) >= 30, f"{name}: skip of {check_id} needs a reason a reviewer can judge"


# --------------------------------------------------------------------------- versions


def test_required_version_is_at_least_1_5_7() -> None:
    assert terraform_settings()["required_version"] == ">= 1.5.7"


def test_providers_are_pinned_with_pessimistic_constraints() -> None:
    providers = one(terraform_settings()["required_providers"])
    assert providers["aws"]["source"] == "hashicorp/aws"
    assert re.fullmatch(r"~> 6\.\d+", providers["aws"]["version"]), providers["aws"]["version"]
    for name, spec in providers.items():
        assert spec["version"].startswith("~> "), f"provider {name} must be pinned with ~>"


def test_no_backend_block_the_driver_renders_one() -> None:
    settings = terraform_settings()
    assert "backend" not in settings and "cloud" not in settings
    assert "backend.tf.json" in (TF_DIR / "versions.tf").read_text(), "versions.tf should say why"


@pytest.mark.parametrize(
    ("module", "source", "major"),
    [("vpc", "terraform-aws-modules/vpc/aws", 6), ("eks", "terraform-aws-modules/eks/aws", 21)],
)
def test_community_modules_are_pinned_to_their_major(module: str, source: str, major: int) -> None:
    body = labelled("module")[module]
    assert body["source"] == source
    # `~> 21.0`, not `~> 21`: with a single component `~>` would also allow 22.
    assert re.fullmatch(rf"~> {major}\.\d+", body["version"]), body["version"]


def test_every_module_is_pinned() -> None:
    for name, body in labelled("module").items():
        assert str(body.get("version", "")).startswith("~> "), f"module {name} must be pinned with ~>"


# --------------------------------------------------------------------------- variables and outputs


def test_every_variable_has_a_type_and_a_description() -> None:
    for name, body in labelled("variable").items():
        assert body.get("type"), f"variable {name} has no type"
        assert len(str(body.get("description", "")).strip()) >= 10, f"variable {name} has no description"


def test_the_rendered_tfvars_variables_are_declared() -> None:
    declared = labelled("variable")
    assert declared.keys() >= RENDERED_VARIABLES, sorted(RENDERED_VARIABLES - declared.keys())
    # Anything the config does not render must have a default, or apply would prompt.
    for name in declared.keys() - RENDERED_VARIABLES:
        assert "default" in declared[name], f"variable {name} is not rendered by obsctl and has no default"


@pytest.mark.parametrize(
    ("name", "type_", "default"),
    [
        ("project", "string", "obsctl"),
        ("vpc_cidr", "string", "10.0.0.0/16"),
        ("az_count", "number", 2),
        ("single_nat_gateway", "bool", True),
        ("node_instance_types", "${list(string)}", ["t3.large"]),
        ("node_ami_type", "string", "AL2023_x86_64_STANDARD"),
        ("cluster_admin_principal_arns", "${list(string)}", []),
        ("bastion_instance_type", "string", "t3.micro"),
        ("bastion_ssh_cidrs", "${list(string)}", []),
        ("bastion_ssh_key_name", "string", None),
        ("tags", "${map(string)}", {}),
    ],
)
def test_variable_types_and_defaults(name: str, type_: str, default: Any) -> None:
    body = labelled("variable")[name]
    assert body["type"] == type_
    assert body["default"] == default


def test_single_nat_gateway_describes_the_trade_off() -> None:
    description = labelled("variable")["single_nat_gateway"]["description"]
    assert "$32" in description and "per AZ" in description


def test_required_outputs_exist_with_descriptions() -> None:
    outputs = labelled("output")
    assert outputs.keys() >= REQUIRED_OUTPUTS, sorted(REQUIRED_OUTPUTS - outputs.keys())
    for name, body in outputs.items():
        assert len(str(body.get("description", "")).strip()) >= 10, f"output {name} has no description"


def test_fixture_outputs_match_the_real_outputs() -> None:
    """The driver's tests read the fixture's outputs in place of the real ones."""
    fixture_outputs = labelled("output", [FIXTURE_DIR / "main.tf"])
    assert fixture_outputs.keys() == labelled("output").keys()


# A tfvars JSON as obsctl renders it: every variable set, valid values.
RENDERED_TFVARS: dict[str, Any] = {
    "project": "obsctl",
    "environment": "dev",
    "region": "eu-west-1",
    "cluster_name": "obsctl-dev",
    "kubernetes_version": "1.33",
    "vpc_cidr": "10.0.0.0/16",
    "az_count": 3,
    "single_nat_gateway": False,
    "node_instance_types": ["t3.large", "t3a.large"],
    "node_ami_type": "AL2023_x86_64_STANDARD",
    "node_min_size": 1,
    "node_max_size": 3,
    "node_desired_size": 2,
    "node_disk_size_gib": 50,
    "node_autoscaler": "none",
    "cluster_endpoint_public_access": True,
    "cluster_endpoint_public_access_cidrs": ["203.0.113.7/32"],
    "cluster_admin_principal_arns": ["arn:aws:iam::123456789012:role/Admin"],
    "cluster_log_types": ["api", "audit", "authenticator"],
    "cluster_log_retention_days": 30,
    "bastion_instance_type": "t3.micro",
    "bastion_ssh_cidrs": [],
    "bastion_ssh_key_name": None,
    "ecr_repository_name": "obsctl/app",
    "github_oidc": {
        "repository": "acme/shop",
        "branches": ["main"],
        "environment": "dev",
        "provider_arn": None,
        "policy_arns": [],
    },
    "tags": {"Owner": "platform"},
}


@pytest.fixture(scope="module")
def variables_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """variables.tf alone needs no provider, so `terraform plan` runs its validations for real."""
    work = tmp_path_factory.mktemp("variables")
    shutil.copy(TF_DIR / "variables.tf", work / "variables.tf")
    (work / "rendered.tfvars.json").write_text(json.dumps(RENDERED_TFVARS))
    init = terraform("init", "-no-color", cwd=work)
    assert init.returncode == 0, init.stdout + init.stderr
    return work


def plan_variables(work: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    args = [arg for override in overrides for arg in ("-var", override)]
    return terraform("plan", "-no-color", "-var-file=rendered.tfvars.json", *args, cwd=work)


def test_rendered_tfvars_pass_validation(variables_only: Path) -> None:
    assert RENDERED_TFVARS.keys() == RENDERED_VARIABLES
    result = plan_variables(variables_only)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "undeclared variable" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "override",
    [
        "node_ami_type=BOTTLEROCKET_ARM_64",
        'bastion_ssh_cidrs=["198.51.100.0/24"]',
        "bastion_ssh_key_name=ops",
        "az_count=2",
        "region=us-gov-west-1",
        "cluster_log_retention_days=3653",
        "kubernetes_version=1.25",
    ],
)
def test_valid_values_are_accepted(variables_only: Path, override: str) -> None:
    result = plan_variables(variables_only, override)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "override",
    [
        "vpc_cidr=10.0.0.0/24",
        "vpc_cidr=not-a-cidr",
        "az_count=4",
        'bastion_ssh_cidrs=["0.0.0.0/0"]',
        "cluster_name=a-cluster-name-far-too-long-for-iam",
        "node_ami_type=AL2_x86_64",
        'cluster_log_types=["api","kubelet"]',
        "cluster_log_retention_days=10",
        'cluster_admin_principal_arns=["arn:aws:sts::123456789012:assumed-role/Admin/me"]',
        "ecr_repository_name=Obsctl/App",
        "node_min_size=0",
        'tags={"aws:reserved"="x"}',
        "kubernetes_version=1.24",
        "kubernetes_version=1.x",
    ],
)
def test_invalid_values_are_rejected(variables_only: Path, override: str) -> None:
    result = plan_variables(variables_only, override)
    assert result.returncode == 1
    assert "Invalid value for variable" in result.stderr, result.stderr


# --------------------------------------------------------------------------- tags


def test_common_tags_reach_every_resource() -> None:
    providers = labelled("provider")
    default_tags = one(providers["aws"]["default_tags"])
    assert default_tags["tags"] == "${local.tags}"
    tags_expr = next(block["tags"] for _, block in blocks("locals") if "tags" in block)
    for key in COMMON_TAG_KEYS:
        assert f"{key} = " in tags_expr, f"local.tags lacks {key}: {tags_expr}"
    assert "var.cluster_name" in tags_expr
    # AWS creates some resources from module inputs (node instances and volumes from the
    # launch template, the cluster's primary security group): default_tags cannot reach them.
    for name, body in labelled("module").items():
        assert body.get("tags") == "${local.tags}", f"module {name} must get tags = local.tags"


def test_subnets_are_tagged_for_load_balancers() -> None:
    vpc = labelled("module")["vpc"]
    assert vpc["public_subnet_tags"] == {"kubernetes.io/role/elb": "1"}
    assert vpc["private_subnet_tags"] == {"kubernetes.io/role/internal-elb": "1"}


# --------------------------------------------------------------------------- EKS


def test_eks_uses_access_entries_encryption_and_logs() -> None:
    eks = labelled("module")["eks"]
    assert eks["authentication_mode"] == "API"
    assert eks["enable_cluster_creator_admin_permissions"] is True
    assert "secrets" in str(eks["encryption_config"])
    assert eks["enabled_log_types"] == "${var.cluster_log_types}"
    assert eks["cloudwatch_log_group_retention_in_days"] == "${var.cluster_log_retention_days}"
    assert eks["subnet_ids"] == "${module.vpc.private_subnets}"
    assert {"vpc-cni", "kube-proxy", "coredns"} <= eks["addons"].keys()


def test_vpc_cni_enforces_network_policy() -> None:
    """Without `enableNetworkPolicy` the VPC CNI ignores NetworkPolicy objects: the app
    chart's policy would exist and do nothing. The add-on schema wants the string "true"."""
    cni = addon("vpc-cni")
    assert jsonencoded(cni["configuration_values"])["enableNetworkPolicy"] == "true"
    # It needs VPC CNI >= v1.14.0-eksbuild.3: the newest version, never a pinned older one.
    assert cni.get("most_recent") is True and "addon_version" not in cni
    assert cni["before_compute"] is True


def local_value(name: str) -> Any:
    found = [block[name] for _, block in blocks("locals") if name in block]
    assert len(found) == 1, f"local.{name} must be declared once"
    return found[0]


def test_ebs_csi_volumes_carry_the_cluster_tag_the_teardown_looks_for() -> None:
    """The driver tags volumes with the cluster only when told to (`extraVolumeTags`);
    `obsctl down` waits for, and the leftover scan finds, volumes by obsctl's cluster tag."""
    from obsctl.tools.aws import CLUSTER_TAG

    config = jsonencoded(addon("aws-ebs-csi-driver")["configuration_values"])
    assert config["controller"]["extraVolumeTags"] == "${local.ebs_csi_volume_tags}"
    tags = local_value("ebs_csi_volume_tags")
    assert tags[CLUSTER_TAG] == "${var.cluster_name}"
    assert tags["Project"] == "${var.project}" and tags["Environment"] == "${var.environment}"
    # Only validated values: the driver's --extra-tags flag cannot carry `,` or `=`.
    assert "${var.tags}" not in str(tags) and "ManagedBy" not in tags


def test_ebs_csi_addon_creates_no_unencrypted_default_storage_class() -> None:
    """`defaultStorageClass` makes `ebs-csi-default-sc`: gp3 but not encrypted, and the add-on
    re-asserts it as the default on every update. The encrypted default comes from the
    Kubernetes layer; the add-on's schema has no StorageClass parameters (a key it does not
    know fails the apply)."""
    ebs = addon("aws-ebs-csi-driver")
    config = jsonencoded(ebs["configuration_values"])
    assert set(config) == {"controller"}, f"unexpected add-on settings: {sorted(config)}"
    assert set(config["controller"]) == {"extraVolumeTags"}
    assert ebs.get("most_recent") is True and "addon_version" not in ebs  # v1.58.0+ (cluster-scoped IAM)


def test_ebs_csi_role_is_pod_identity_for_its_controller_and_cluster_scoped() -> None:
    ebs = addon("aws-ebs-csi-driver")
    assert ebs["pod_identity_association"] == [
        {"role_arn": "${aws_iam_role.ebs_csi.arn}", "service_account": "ebs-csi-controller-sa"}
    ]
    assert "service_account_role_arn" not in ebs  # not IRSA as well
    trust = next(
        block["aws_iam_policy_document"]["ebs_csi_assume"]
        for _, block in blocks("data")
        if "ebs_csi_assume" in block.get("aws_iam_policy_document", {})
    )
    statement = one(trust["statement"])
    assert one(statement["principals"])["identifiers"] == ["pods.eks.amazonaws.com"]
    conditions = {c["variable"]: c["values"] for c in statement["condition"]}
    assert conditions == {
        "aws:RequestTag/eks-cluster-name": ["${var.cluster_name}"],
        "aws:RequestTag/kubernetes-namespace": ["kube-system"],
        "aws:RequestTag/kubernetes-service-account": ["ebs-csi-controller-sa"],
    }
    role = resource("aws_iam_role", "ebs_csi")
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.ebs_csi_assume.json}"
    attached = [
        body["policy_arn"]
        for _, block in blocks("resource")
        for rtype, named in block.items()
        if rtype in ("aws_iam_role_policy_attachment", "aws_iam_role_policy", "aws_iam_policy_attachment")
        for body in named.values()
        if "aws_iam_role.ebs_csi" in str(body.get("role", ""))
    ]
    # Only volumes tagged for this cluster, not every volume in the account
    # (AmazonEBSCSIDriverPolicy); no KMS grant: the aws/ebs key needs none.
    assert attached == ["arn:${local.partition}:iam::aws:policy/AmazonEBSCSIDriverEKSClusterScopedPolicy"]


def test_node_group_volume_is_encrypted_and_imdsv2_only() -> None:
    group = labelled("module")["eks"]["eks_managed_node_groups"]["default"]
    ebs = group["block_device_mappings"]["root"]["ebs"]
    assert ebs["encrypted"] is True
    assert ebs["volume_size"] == "${var.node_disk_size_gib}"
    assert group["metadata_options"]["http_tokens"] == "required"


# --------------------------------------------------------------------------- bastion


def test_bastion_requires_imdsv2_and_encrypts_its_root_volume() -> None:
    instance = resource("aws_instance", "this")
    assert one(instance["metadata_options"])["http_tokens"] == "required"
    assert one(instance["root_block_device"])["encrypted"] is True
    assert instance["iam_instance_profile"] == "${aws_iam_instance_profile.bastion.name}"


def test_bastion_opens_ssh_only_to_the_configured_cidrs() -> None:
    group = resource("aws_security_group", "bastion")
    assert "ingress" not in group and "egress" not in group, "rules are separate resources"
    ingress = [
        (rtype, name, body)
        for _, block in blocks("resource")
        for rtype, named in block.items()
        if rtype in ("aws_vpc_security_group_ingress_rule", "aws_security_group_rule")
        for name, body in named.items()
        if body.get("security_group_id") == "${aws_security_group.bastion.id}"
    ]
    assert [name for _, name, _ in ingress] == ["bastion_ssh"]
    ssh = ingress[0][2]
    assert ssh["for_each"] == "${toset(var.bastion_ssh_cidrs)}"
    assert (ssh["from_port"], ssh["to_port"]) == (22, 22)


def test_bastion_role_is_least_privilege() -> None:
    policy = next(
        block["aws_iam_policy_document"]["bastion"]
        for _, block in blocks("data")
        if "bastion" in block.get("aws_iam_policy_document", {})
    )
    assert len(policy["statement"]) == 1, "one statement: eks:DescribeCluster on this cluster"
    statement = policy["statement"][0]
    assert statement["actions"] == ["eks:DescribeCluster"]
    assert statement["resources"] == ["${module.eks.cluster_arn}"]
    attachment = resource("aws_iam_role_policy_attachment", "bastion_ssm")
    assert attachment["policy_arn"].endswith(":iam::aws:policy/AmazonSSMManagedInstanceCore")


def test_bastion_has_an_access_entry() -> None:
    eks_tf = (TF_DIR / "eks.tf").read_text()
    assert "aws_iam_role.bastion.arn" in eks_tf
    assert "AmazonEKSViewPolicy" in eks_tf and "AmazonEKSClusterAdminPolicy" in eks_tf


# --------------------------------------------------------------------------- ECR


def test_ecr_tags_are_immutable_scanned_and_kms_encrypted() -> None:
    repo = resource("aws_ecr_repository", "this")
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert one(repo["image_scanning_configuration"])["scan_on_push"] is True
    assert one(repo["encryption_configuration"])["encryption_type"] == "KMS"
    assert resource("aws_ecr_lifecycle_policy", "this")["repository"] == "${aws_ecr_repository.this.name}"


# --------------------------------------------------------------------------- fixture


def fixture_copy(tmp_path: Path) -> Path:
    work = tmp_path / "fixture"
    work.mkdir()
    shutil.copy(FIXTURE_DIR / "main.tf", work / "main.tf")
    init = terraform("init", "-no-color", cwd=work)
    assert init.returncode == 0, init.stdout + init.stderr
    return work


def test_fixture_applies_reports_outputs_and_destroys(tmp_path: Path) -> None:
    work = fixture_copy(tmp_path)
    apply = terraform("apply", "-auto-approve", "-no-color", "-var", "sleep_seconds=0", cwd=work)
    assert apply.returncode == 0, apply.stdout + apply.stderr
    out = terraform("output", "-json", cwd=work)
    outputs = {name: value["value"] for name, value in json.loads(out.stdout).items()}
    assert outputs.keys() == REQUIRED_OUTPUTS
    assert isinstance(outputs["public_subnet_ids"], list) and outputs["public_subnet_ids"]
    again = terraform("plan", "-detailed-exitcode", "-no-color", "-var", "sleep_seconds=0", cwd=work)
    assert again.returncode == 0, "a second run must have nothing to do:\n" + again.stdout
    destroy = terraform("destroy", "-auto-approve", "-no-color", "-var", "sleep_seconds=0", cwd=work)
    assert destroy.returncode == 0, destroy.stdout + destroy.stderr


def test_fixture_fail_makes_apply_fail(tmp_path: Path) -> None:
    work = fixture_copy(tmp_path)
    apply = terraform("apply", "-auto-approve", "-no-color", "-var", "sleep_seconds=0", "-var", "fail=true", cwd=work)
    assert apply.returncode == 1
    assert "simulated failure" in apply.stdout + apply.stderr
