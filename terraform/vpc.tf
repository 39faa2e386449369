################################################################################
# VPC
#
# One public and one private subnet per AZ. Nodes live in the private subnets
# and reach the internet through NAT; the bastion and internet-facing load
# balancers live in the public ones. Subnets carry the role tags the AWS Load
# Balancer Controller (and the in-tree service controller) use to pick them.
################################################################################

module "vpc" {
  #checkov:skip=CKV_TF_1:Registry module pinned to one major version with `~>` (house style, asserted by tests/integration/test_terraform_static.py); a git source pinned to a commit hash would bypass registry version resolution
  source  = "terraform-aws-modules/vpc/aws"
  version = "~> 6.0"

  name = var.cluster_name
  cidr = var.vpc_cidr
  azs  = local.azs

  # /16 -> private /20s from the bottom of the range, public /24s from x.x.48.0.
  private_subnets = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 4, i)]
  public_subnets  = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, i + 48)]

  enable_nat_gateway     = true
  single_nat_gateway     = var.single_nat_gateway
  one_nat_gateway_per_az = !var.single_nat_gateway

  # Required for the private EKS endpoint to resolve inside the VPC.
  enable_dns_hostnames = true
  enable_dns_support   = true

  # Instances in public subnets get a public IP only when they ask for one
  # (the bastion does, explicitly).
  map_public_ip_on_launch = false

  # Adopt the VPC's default security group and strip its rules, so nothing
  # can silently fall back on it (CIS AWS 5.4).
  manage_default_security_group  = true
  default_security_group_ingress = []
  default_security_group_egress  = []

  # VPC flow logs to CloudWatch Logs, kept as long as the control-plane logs.
  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_max_aggregation_interval               = 600
  flow_log_cloudwatch_log_group_retention_in_days = var.cluster_log_retention_days

  public_subnet_tags = {
    "kubernetes.io/role/elb" = "1"
  }
  private_subnet_tags = {
    "kubernetes.io/role/internal-elb" = "1"
  }

  tags = local.tags
}
