################################################################################
# Cluster Autoscaler IAM (EKS Pod Identity), with `node_autoscaler =
# "cluster-autoscaler"`
#
# The autoscaler runs in kube-system as the `cluster-autoscaler` service
# account (obsctl's Helm values name it so) and finds the node group's Auto
# Scaling group by the tags EKS puts on every managed node group's group:
# `k8s.io/cluster-autoscaler/enabled = true` and
# `k8s.io/cluster-autoscaler/<cluster> = owned`. It moves the desired capacity
# only between the group's min and max (`node_min_size`, `node_max_size`), and
# the eks module ignores later changes to the desired size, so Terraform never
# undoes what the autoscaler chose.
# Ref https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/cloudprovider/aws/README.md
################################################################################

locals {
  cluster_autoscaler                 = var.node_autoscaler == "cluster-autoscaler"
  cluster_autoscaler_namespace       = "kube-system"
  cluster_autoscaler_service_account = "cluster-autoscaler"
}

data "aws_iam_policy_document" "cluster_autoscaler_assume" {
  count = local.cluster_autoscaler ? 1 : 0

  statement {
    sid     = "EksPodIdentity"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }

    # Only the autoscaler's service account in this cluster (Pod Identity's
    # session tags), as for the EBS CSI driver in eks.tf.
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/eks-cluster-name"
      values   = [var.cluster_name]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-namespace"
      values   = [local.cluster_autoscaler_namespace]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-service-account"
      values   = [local.cluster_autoscaler_service_account]
    }
  }
}

data "aws_iam_policy_document" "cluster_autoscaler" {
  count = local.cluster_autoscaler ? 1 : 0

  # Describe calls support no resource-level permissions: `*` is the only
  # resource they accept. They read, never change.
  statement {
    sid = "Discover"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
    ]
    resources = ["*"]
  }

  # Node group labels and taints, for scaling a group up from zero: this
  # cluster's node groups only.
  statement {
    sid       = "DescribeOwnNodegroups"
    actions   = ["eks:DescribeNodegroup"]
    resources = ["arn:${local.partition}:eks:${var.region}:${local.account_id}:nodegroup/${var.cluster_name}/*/*"]
  }

  # Changing capacity: only Auto Scaling groups tagged as this cluster's and
  # enabled for the autoscaler (every other group in the account is out of
  # reach), and within their min/max, which Auto Scaling itself enforces.
  statement {
    sid = "ScaleOwnGroups"
    actions = [
      "autoscaling:SetDesiredCapacity",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    resources = ["arn:${local.partition}:autoscaling:${var.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}"
      values   = ["owned"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled"
      values   = ["true"]
    }
  }
}

resource "aws_iam_role" "cluster_autoscaler" {
  count = local.cluster_autoscaler ? 1 : 0

  name_prefix        = "${var.cluster_name}-autoscaler-"
  description        = "Cluster Autoscaler of EKS cluster ${var.cluster_name} (EKS Pod Identity)"
  assume_role_policy = data.aws_iam_policy_document.cluster_autoscaler_assume[0].json
}

resource "aws_iam_role_policy" "cluster_autoscaler" {
  count = local.cluster_autoscaler ? 1 : 0

  name   = "cluster-autoscaler"
  role   = aws_iam_role.cluster_autoscaler[0].id
  policy = data.aws_iam_policy_document.cluster_autoscaler[0].json
}

resource "aws_eks_pod_identity_association" "cluster_autoscaler" {
  count = local.cluster_autoscaler ? 1 : 0

  cluster_name    = module.eks.cluster_name
  namespace       = local.cluster_autoscaler_namespace
  service_account = local.cluster_autoscaler_service_account
  role_arn        = aws_iam_role.cluster_autoscaler[0].arn
}
