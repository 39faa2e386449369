################################################################################
# Provider, shared data and naming
#
# Every resource carries `Project`, `Environment` and `obsctl.io/cluster`:
# the provider's default_tags cover what this configuration and the modules
# create directly, and the same map goes to the modules' `tags` inputs so that
# what AWS creates on our behalf (node instances and volumes launched from the
# launch template, the cluster's primary security group) is tagged too.
# `obsctl down` finds leftovers by scanning for `obsctl.io/cluster`.
################################################################################

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

locals {
  # Required tags last: `var.tags` can add keys but not override these.
  tags = merge(var.tags, {
    Project             = var.project
    Environment         = var.environment
    "obsctl.io/cluster" = var.cluster_name
    ManagedBy           = "obsctl-terraform"
  })

  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id

  # First `az_count` usable zones, sorted so the choice is stable across runs.
  azs = slice(sort(data.aws_availability_zones.available.names), 0, var.az_count)
}

data "aws_caller_identity" "current" {}

# Resolves an assumed-role session ARN to the role ARN, so the identity running
# Terraform can be recognised in `cluster_admin_principal_arns`.
data "aws_iam_session_context" "current" {
  arn = data.aws_caller_identity.current.arn
}

# Cross-variable checks live here as preconditions: variable validations may
# only refer to their own variable before Terraform 1.9, and we support 1.5.7.
data "aws_partition" "current" {
  lifecycle {
    precondition {
      condition     = var.node_min_size <= var.node_desired_size && var.node_desired_size <= var.node_max_size
      error_message = "Node group sizes must satisfy node_min_size <= node_desired_size <= node_max_size."
    }
  }
}

# The chosen zones must never change under a running environment, or the
# subnets (and everything in them) would be replaced: no `state` filter (a
# zone that is impaired for an hour must not reshuffle the list), and the
# names are sorted before slicing (AWS gives a newly added zone the next free
# letter, so it sorts last and never displaces a chosen zone).
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:The result is sorted and sliced to the first az_count names, so a zone AWS adds later (it gets the next letter) never enters the selection; an allowlist of zone names cannot be written portably because zone names map to different physical zones, and exist or not, per account
  # Regular zones only: no Local Zones or Wavelength Zones.
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }

  # Zones where EKS cannot place control-plane network interfaces.
  # Ref https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html
  exclude_zone_ids = ["use1-az3", "usw1-az2", "cac1-az3"]

  lifecycle {
    postcondition {
      condition     = length(self.names) >= var.az_count
      error_message = "The Region has fewer usable Availability Zones than az_count."
    }
  }
}

check "bastion_ssh_has_a_key" {
  assert {
    condition     = length(var.bastion_ssh_cidrs) == 0 || var.bastion_ssh_key_name != null
    error_message = "bastion_ssh_cidrs opens port 22 but bastion_ssh_key_name is null, so no key can log in; use Session Manager or set a key pair."
  }
}
