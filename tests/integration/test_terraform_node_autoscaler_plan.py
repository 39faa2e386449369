"""terraform/node_autoscaler.tf planned for real: from obsctl.yaml's `aws.node_autoscaler` through
the tfvars obsctl renders to the IAM JSON AWS would receive.

The real `terraform plan` with the real AWS provider (a filesystem mirror on this machine,
../shared/TOOLS.md; skipped where there is none) plans node_autoscaler.tf next to variables.tf,
with the eks module as a stand-in that outputs the cluster name (the rest of the configuration
needs the registry modules, which cannot be downloaded). The provider computes the policy
documents locally, so the trust and permission policies are read from the plan's JSON.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from obsctl import config as c
from obsctl.targets import node_autoscaler as na
from obsctl.targets.eks import EksTarget
from tests import tfplan
from tests.tfplan import TF, listed, policy, terraform

pytestmark = pytest.mark.integration

ASG_ARN = "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/*"

STUB = """
# main.tf's locals, and a stand-in for the eks module.
locals {
  partition  = "aws"
  account_id = "123456789012"
}

module "eks" {
  source       = "./eks"
  cluster_name = var.cluster_name
}
"""
EKS_STUB = """
variable "cluster_name" { type = string }
output "cluster_name" { value = var.cluster_name }
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sources = {"node_autoscaler.tf": (TF / "node_autoscaler.tf").read_text()}
    work = tfplan.initialised(tmp_path_factory.mktemp("node-autoscaler"), sources, STUB, EKS_STUB)
    validate = terraform(work, "validate", "-no-color")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    return work


def plan(work: Path, tmp_path: Path, node_autoscaler: str) -> dict[str, Any]:
    """The JSON plan for the tfvars obsctl renders from a config with this node_autoscaler."""
    (tmp_path / "obsctl.yaml").write_text(
        textwrap.dedent(
            f"""
            default_environment: prod
            environments:
              prod:
                target: eks
                aws: {{region: eu-west-1, cluster_name: obsctl-prod, node_autoscaler: {node_autoscaler}}}
            """
        )
    )
    tfvars = EksTarget(c.load(str(tmp_path / "obsctl.yaml"))).tfvars()
    assert json.loads(tfvars)["node_autoscaler"] == node_autoscaler
    return tfplan.plan(work, tmp_path, tfvars)


@pytest.fixture(scope="module")
def chosen(workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return plan(workdir, tmp_path_factory.mktemp("chosen"), "cluster-autoscaler")


def test_plan_creates_the_role_its_policy_and_the_association(chosen: dict[str, Any]) -> None:
    changes = {r["address"]: r["change"] for r in chosen["resource_changes"]}
    assert set(changes) == {
        "aws_iam_role.cluster_autoscaler[0]",
        "aws_iam_role_policy.cluster_autoscaler[0]",
        "aws_eks_pod_identity_association.cluster_autoscaler[0]",
    }
    association = changes["aws_eks_pod_identity_association.cluster_autoscaler[0]"]["after"]
    assert (association["cluster_name"], association["namespace"], association["service_account"]) == (
        "obsctl-prod",
        na.NAMESPACE,
        na.SERVICE_ACCOUNT,
    )


def test_plan_trust_is_pod_identity_for_that_service_account_only(chosen: dict[str, Any]) -> None:
    [statement] = policy(chosen, "cluster_autoscaler_assume")["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert listed(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:RequestTag/eks-cluster-name": "obsctl-prod",
            "aws:RequestTag/kubernetes-namespace": "kube-system",
            "aws:RequestTag/kubernetes-service-account": "cluster-autoscaler",
        }
    }


def test_plan_permissions_write_only_to_this_clusters_groups(chosen: dict[str, Any]) -> None:
    statements = {s["Sid"]: s for s in policy(chosen, "cluster_autoscaler")["Statement"]}
    assert set(statements) == {"Discover", "DescribeOwnNodegroups", "ScaleOwnGroups"}
    assert statements["Discover"]["Resource"] == "*"
    assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in listed(statements["Discover"]["Action"]))
    assert statements["DescribeOwnNodegroups"]["Resource"] == (
        "arn:aws:eks:eu-west-1:123456789012:nodegroup/obsctl-prod/*/*"
    )
    scale = statements["ScaleOwnGroups"]
    assert listed(scale["Action"]) == [
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    assert scale["Resource"] == ASG_ARN
    assert scale["Condition"] == {
        "StringEquals": {
            "aws:ResourceTag/k8s.io/cluster-autoscaler/obsctl-prod": "owned",
            "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
        }
    }


def test_plan_without_it_creates_nothing(workdir: Path, tmp_path: Path) -> None:
    planned = plan(workdir, tmp_path, "none")
    assert [r["address"] for r in planned.get("resource_changes", [])] == []
