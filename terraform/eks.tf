################################################################################
# EKS cluster
#
# - Access is managed only through EKS access entries (`authentication_mode =
#   "API"`, no aws-auth ConfigMap). The identity running Terraform is admin;
#   `cluster_admin_principal_arns` are admins; the bastion role gets view or
#   admin (bastion.tf).
# - Kubernetes Secrets are envelope-encrypted with a KMS key the module creates
#   (rotation on). Control-plane logs go to a CloudWatch log group the module
#   creates with our retention, so it is deleted on destroy.
# - One managed node group in the private subnets, on an encrypted gp3 root
#   volume, IMDSv2 only with a hop limit of 1 (pods cannot reach node
#   credentials through the instance metadata service).
# - Add-ons are EKS-managed. The VPC CNI enforces NetworkPolicy. The EBS CSI
#   driver (needed for Prometheus and Alertmanager persistent volumes) gets its
#   IAM role through EKS Pod Identity and tags every volume with the cluster.
################################################################################

locals {
  # Admins from the variable, minus the identity running Terraform: it already
  # has the module's `cluster_creator` entry and EKS refuses a second entry for
  # the same principal.
  cluster_admin_access_entries = {
    for arn in var.cluster_admin_principal_arns : "admin-${arn}" => {
      principal_arn = arn
      policy_associations = {
        admin = {
          policy_arn   = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
          access_scope = { type = "cluster" }
        }
      }
    } if arn != data.aws_iam_session_context.current.issuer_arn
  }

  bastion_access_entry = {
    bastion = {
      principal_arn = aws_iam_role.bastion.arn
      policy_associations = {
        (var.bastion_cluster_access) = {
          policy_arn   = "arn:${local.partition}:eks::aws:cluster-access-policy/${var.bastion_cluster_access == "admin" ? "AmazonEKSClusterAdminPolicy" : "AmazonEKSViewPolicy"}"
          access_scope = { type = "cluster" }
        }
      }
    }
  }

  # Tags the EBS CSI driver puts on every volume it creates. Only the
  # identifying tags: their values are validated (no `,` or `=`, which the
  # driver's --extra-tags flag cannot carry), and `ManagedBy` would be untrue.
  ebs_csi_volume_tags = {
    Project             = var.project
    Environment         = var.environment
    "obsctl.io/cluster" = var.cluster_name
  }

  # Bottlerocket keeps the OS on /dev/xvda and containers on the data volume
  # /dev/xvdb; on AL2023 everything is on the root volume /dev/xvda.
  node_volume_device = startswith(var.node_ami_type, "BOTTLEROCKET") ? "/dev/xvdb" : "/dev/xvda"
}

module "eks" {
  #checkov:skip=CKV_TF_1:Registry module pinned to one major version with `~>` (house style, asserted by tests/integration/test_terraform_static.py); a git source pinned to a commit hash would bypass registry version resolution
  source  = "terraform-aws-modules/eks/aws"
  version = "~> 21.0"

  name               = var.cluster_name
  kubernetes_version = var.kubernetes_version

  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnets

  endpoint_private_access      = true
  endpoint_public_access       = var.cluster_endpoint_public_access
  endpoint_public_access_cidrs = var.cluster_endpoint_public_access_cidrs

  # Access entries only.
  authentication_mode                      = "API"
  enable_cluster_creator_admin_permissions = true
  access_entries                           = merge(local.cluster_admin_access_entries, local.bastion_access_entry, local.github_actions_access_entry)

  # Envelope encryption of Secrets with a module-created, rotated KMS key.
  # 7 days is the shortest deletion window KMS allows: `obsctl down` should
  # not leave a key pending for a month.
  encryption_config               = { resources = ["secrets"] }
  create_kms_key                  = true
  enable_kms_key_rotation         = true
  kms_key_deletion_window_in_days = 7

  enabled_log_types                      = var.cluster_log_types
  create_cloudwatch_log_group            = true
  cloudwatch_log_group_retention_in_days = var.cluster_log_retention_days

  # `most_recent`: the newest add-on version for the cluster's Kubernetes
  # version; the settings below need recent ones (see each add-on).
  addons = {
    # Networking must exist before nodes join, or they never become Ready.
    vpc-cni = {
      before_compute = true
      most_recent    = true
      # Enforce NetworkPolicy (the app chart ships one): without this the VPC
      # CNI's network policy agent is off and every policy silently does
      # nothing. Needs VPC CNI >= v1.14.0-eksbuild.3, Kubernetes >= 1.25
      # (var.kubernetes_version) and a 5.10+ kernel (AL2023, Bottlerocket).
      # Ref https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy-configure.html
      configuration_values = jsonencode({
        enableNetworkPolicy = "true"
      })
    }
    eks-pod-identity-agent = {
      before_compute = true
    }
    kube-proxy = {}
    coredns    = {}
    aws-ebs-csi-driver = {
      # v1.58.0+ for the cluster-scoped IAM policy below (the add-on then tags
      # every volume `ebs.csi.aws.com/cluster-name`, it sets the driver's
      # --k8s-tag-cluster-id itself).
      most_recent = true
      pod_identity_association = [{
        role_arn        = aws_iam_role.ebs_csi.arn
        service_account = "ebs-csi-controller-sa"
      }]
      configuration_values = jsonencode({
        # Every volume the driver creates (Prometheus' and Alertmanager's)
        # carries the cluster tag, so `obsctl down` can wait for them to go
        # and the leftover scan finds any that did not.
        controller = {
          extraVolumeTags = local.ebs_csi_volume_tags
        }
        # No `defaultStorageClass`: the add-on's `ebs-csi-default-sc` has no
        # parameters, so its volumes are unencrypted unless the account
        # encrypts EBS by default, and every add-on update re-asserts its
        # default annotation. The add-on schema offers no StorageClass
        # parameters; obsctl's Kubernetes layer creates the default class
        # (encrypted gp3).
      })
    }
  }

  eks_managed_node_groups = {
    default = {
      ami_type       = var.node_ami_type
      instance_types = var.node_instance_types
      capacity_type  = "ON_DEMAND"

      min_size     = var.node_min_size
      max_size     = var.node_max_size
      desired_size = var.node_desired_size

      subnet_ids = module.vpc.private_subnets

      # The module's custom launch template ignores `disk_size`; size and
      # encrypt the volume through the launch template instead.
      block_device_mappings = {
        root = {
          device_name = local.node_volume_device
          ebs = {
            volume_size           = var.node_disk_size_gib
            volume_type           = "gp3"
            encrypted             = true
            delete_on_termination = true
          }
        }
      }

      metadata_options = {
        http_endpoint               = "enabled"
        http_tokens                 = "required"
        http_put_response_hop_limit = 1
      }

      labels = {
        "obsctl.io/node-group" = "default"
      }
    }
  }

  tags = local.tags
}

################################################################################
# EBS CSI driver IAM role (EKS Pod Identity)
################################################################################

data "aws_iam_policy_document" "ebs_csi_assume" {
  statement {
    sid     = "EksPodIdentity"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }

    # Only the driver's controller service account in this cluster, through
    # the session tags Pod Identity sets.
    # Ref https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/eks-cluster-name"
      values   = [var.cluster_name]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-namespace"
      values   = ["kube-system"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-service-account"
      values   = ["ebs-csi-controller-sa"]
    }
  }
}

resource "aws_iam_role" "ebs_csi" {
  name_prefix        = "${var.cluster_name}-ebs-csi-"
  description        = "EBS CSI driver controller of EKS cluster ${var.cluster_name} (EKS Pod Identity)"
  assume_role_policy = data.aws_iam_policy_document.ebs_csi_assume.json
}

# Least privilege: AWS's cluster-scoped policy lets the driver create only
# volumes it tags `ebs.csi.aws.com/cluster-name = <this cluster>`, and modify,
# attach or delete only volumes so tagged (attach only to this cluster's
# instances), matched against the `eks-cluster-name` session tag Pod Identity
# sets. The broader AmazonEBSCSIDriverPolicy reaches every volume in the
# account. No KMS statement: volumes are encrypted with the AWS-managed
# `aws/ebs` key (the StorageClass names no kmsKeyId), whose key policy already
# admits use through EC2; a customer-managed key would need one here.
# Ref https://github.com/kubernetes-sigs/aws-ebs-csi-driver/issues/2918
resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.ebs_csi.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEBSCSIDriverEKSClusterScopedPolicy"
}
