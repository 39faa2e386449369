"""terraform/node_autoscaler.tf: the Cluster Autoscaler's IAM through EKS Pod Identity, checked
without AWS (no provider can be downloaded here): the parsed HCL holds it to least privilege,
the real `terraform plan` over variables.tf judges `node_autoscaler`, and the service account
the role trusts is the one obsctl's Helm values give the autoscaler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from obsctl.targets import node_autoscaler as na
from tests.integration.test_terraform_static import (
    TF_DIR,
    blocks,
    labelled,
    one,
    parsed,
    plan_variables,
    resource,
    variables_only,  # noqa: F401  # the module-scoped fixture, used by name below
)

pytestmark = pytest.mark.integration

FILE = TF_DIR / "node_autoscaler.tf"
GATE = "${local.cluster_autoscaler ? 1 : 0}"


def policy_document(name: str) -> dict[str, Any]:
    for _, block in blocks("data", [FILE]):
        if name in block.get("aws_iam_policy_document", {}):
            return block["aws_iam_policy_document"][name]
    raise AssertionError(f"data.aws_iam_policy_document.{name} not found")


def statements(name: str) -> dict[str, dict[str, Any]]:
    return {s["sid"]: s for s in policy_document(name)["statement"]}


def test_the_variable_is_opt_in() -> None:
    variable = labelled("variable")["node_autoscaler"]
    assert (variable["type"], variable["default"]) == ("string", "none")
    assert parsed(FILE)["locals"][0]["cluster_autoscaler"] == '${var.node_autoscaler == "cluster-autoscaler"}'


def test_everything_exists_only_when_chosen() -> None:
    for rtype, name in (
        ("aws_iam_role", "cluster_autoscaler"),
        ("aws_iam_role_policy", "cluster_autoscaler"),
        ("aws_eks_pod_identity_association", "cluster_autoscaler"),
    ):
        assert resource(rtype, name)["count"] == GATE, f"{rtype}.{name}"
    for name in ("cluster_autoscaler_assume", "cluster_autoscaler"):
        assert policy_document(name)["count"] == GATE


def test_the_role_trusts_only_the_autoscalers_service_account_in_this_cluster() -> None:
    statement = one(policy_document("cluster_autoscaler_assume")["statement"])
    assert one(statement["principals"])["identifiers"] == ["pods.eks.amazonaws.com"]
    conditions = {c["variable"]: c["values"] for c in statement["condition"]}
    assert conditions == {
        "aws:RequestTag/eks-cluster-name": ["${var.cluster_name}"],
        "aws:RequestTag/kubernetes-namespace": ["${local.cluster_autoscaler_namespace}"],
        "aws:RequestTag/kubernetes-service-account": ["${local.cluster_autoscaler_service_account}"],
    }
    locals_ = parsed(FILE)["locals"][0]
    # the Helm values obsctl renders run the autoscaler as exactly that service account
    assert (locals_["cluster_autoscaler_namespace"], locals_["cluster_autoscaler_service_account"]) == (
        na.NAMESPACE,
        na.SERVICE_ACCOUNT,
    )
    association = resource("aws_eks_pod_identity_association", "cluster_autoscaler")
    assert association["namespace"] == "${local.cluster_autoscaler_namespace}"
    assert association["service_account"] == "${local.cluster_autoscaler_service_account}"
    assert association["cluster_name"] == "${module.eks.cluster_name}"


def test_writes_reach_only_this_clusters_tagged_groups() -> None:
    found = statements("cluster_autoscaler")
    assert set(found) == {"Discover", "DescribeOwnNodegroups", "ScaleOwnGroups"}
    # `*` only for calls that read
    discover = found["Discover"]
    assert discover["resources"] == ["*"]
    assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in discover["actions"]), discover["actions"]
    nodegroups = found["DescribeOwnNodegroups"]
    assert nodegroups["actions"] == ["eks:DescribeNodegroup"]
    assert nodegroups["resources"] == [
        "arn:${local.partition}:eks:${var.region}:${local.account_id}:nodegroup/${var.cluster_name}/*/*"
    ]
    scale = found["ScaleOwnGroups"]
    assert sorted(scale["actions"]) == [
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    assert all(":autoScalingGroup:" in r for r in scale["resources"])
    conditions = {c["variable"]: (c["test"], c["values"]) for c in scale["condition"]}
    assert conditions == {
        "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}": ("StringEquals", ["owned"]),
        "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": ("StringEquals", ["true"]),
    }


def test_no_other_policy_reaches_the_role() -> None:
    attached = [
        (rtype, label)
        for _, block in blocks("resource")
        for rtype, named in block.items()
        if rtype in ("aws_iam_role_policy_attachment", "aws_iam_role_policy", "aws_iam_policy_attachment")
        for label, body in named.items()
        if "aws_iam_role.cluster_autoscaler" in str(body.get("role", "")) + str(body.get("roles", ""))
    ]
    assert attached == [("aws_iam_role_policy", "cluster_autoscaler")]


def test_the_node_group_keeps_its_bounds() -> None:
    """The autoscaler moves the desired size between the group's min and max: those are the
    configured node_min_size / node_max_size (the eks module ignores later desired-size changes)."""
    group = labelled("module")["eks"]["eks_managed_node_groups"]["default"]
    assert (group["min_size"], group["max_size"]) == ("${var.node_min_size}", "${var.node_max_size}")


def test_the_output_is_null_without_it() -> None:
    assert (
        labelled("output")["cluster_autoscaler_role_arn"]["value"] == "${one(aws_iam_role.cluster_autoscaler[*].arn)}"
    )


@pytest.mark.parametrize(("value", "ok"), [("none", True), ("cluster-autoscaler", True), ("karpenter", False)])
def test_terraform_judges_the_value(variables_only: Path, value: str, ok: bool) -> None:  # noqa: F811
    result = plan_variables(variables_only, f"node_autoscaler={value}")
    assert (result.returncode == 0) is ok, result.stdout + result.stderr
    if not ok:
        assert "node_autoscaler must be 'none' or 'cluster-autoscaler'" in result.stderr
