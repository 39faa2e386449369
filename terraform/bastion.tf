################################################################################
# Bastion
#
# A small Amazon Linux 2023 instance in a public subnet, for reaching the
# cluster from inside the VPC (the private API endpoint) and for debugging.
# - Reached through AWS Systems Manager Session Manager: no inbound port is
#   open unless `bastion_ssh_cidrs` is set, and then only 22 from those CIDRs.
# - Its IAM role can do exactly two things in AWS: be a Session Manager target
#   (AmazonSSMManagedInstanceCore) and describe this one EKS cluster (for
#   `aws eks update-kubeconfig`). Inside Kubernetes it gets view or admin
#   through an EKS access entry (eks.tf, `bastion_cluster_access`).
# - IMDSv2 only, encrypted root volume, kubectl of the cluster's minor
#   version installed at boot with its checksum verified.
################################################################################

# The AMI must match the architecture of the chosen instance type.
data "aws_ec2_instance_type" "bastion" {
  instance_type = var.bastion_instance_type
}

locals {
  bastion_name = "${var.cluster_name}-bastion"
  bastion_arch = contains(data.aws_ec2_instance_type.bastion.supported_architectures, "arm64") ? "arm64" : "x86_64"

  bastion_user_data = <<-EOT
    #!/bin/bash
    # kubectl of the cluster's minor version (latest patch), checksum verified.
    set -euo pipefail
    arch=${local.bastion_arch == "arm64" ? "arm64" : "amd64"}
    version=$(curl -fsSL --retry 5 "https://dl.k8s.io/release/stable-${var.kubernetes_version}.txt")
    base="https://dl.k8s.io/release/$version/bin/linux/$arch"
    curl -fsSL --retry 5 -o /tmp/kubectl "$base/kubectl"
    echo "$(curl -fsSL --retry 5 "$base/kubectl.sha256")  /tmp/kubectl" | sha256sum --check --strict
    install -m 0755 /tmp/kubectl /usr/local/bin/kubectl
    rm -f /tmp/kubectl
    # One command to get a kubeconfig for this cluster.
    cat > /usr/local/bin/obsctl-kubeconfig <<'EOF'
    #!/bin/sh
    exec aws eks update-kubeconfig --region ${var.region} --name ${var.cluster_name} "$@"
    EOF
    chmod 0755 /usr/local/bin/obsctl-kubeconfig
  EOT
}

data "aws_ssm_parameter" "bastion_ami" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${local.bastion_arch}"
}

################################################################################
# IAM
################################################################################

data "aws_iam_policy_document" "bastion_assume" {
  statement {
    sid     = "Ec2AssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# Name prefixes, not names: IAM is global, so the same cluster name in two
# Regions must not collide.
resource "aws_iam_role" "bastion" {
  name_prefix        = "${local.bastion_name}-"
  description        = "Bastion of EKS cluster ${var.cluster_name}: Session Manager target, describes this cluster only"
  assume_role_policy = data.aws_iam_policy_document.bastion_assume.json
}

resource "aws_iam_role_policy_attachment" "bastion_ssm" {
  role       = aws_iam_role.bastion.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "bastion" {
  statement {
    sid       = "DescribeThisClusterOnly"
    actions   = ["eks:DescribeCluster"]
    resources = [module.eks.cluster_arn]
  }
}

resource "aws_iam_role_policy" "bastion" {
  name   = "describe-eks-cluster"
  role   = aws_iam_role.bastion.id
  policy = data.aws_iam_policy_document.bastion.json
}

resource "aws_iam_instance_profile" "bastion" {
  name_prefix = "${local.bastion_name}-"
  role        = aws_iam_role.bastion.name
}

################################################################################
# Network
################################################################################

resource "aws_security_group" "bastion" {
  name_prefix = "${local.bastion_name}-"
  description = "Bastion of EKS cluster ${var.cluster_name}: SSH only from bastion_ssh_cidrs, HTTPS egress"
  vpc_id      = module.vpc.vpc_id

  tags = {
    Name = local.bastion_name
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "bastion_ssh" {
  for_each = toset(var.bastion_ssh_cidrs)

  security_group_id = aws_security_group.bastion.id
  description       = "SSH from ${each.value} (bastion_ssh_cidrs)"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = each.value
}

# HTTPS covers everything the bastion talks to: Session Manager, the EKS API,
# STS, the Amazon Linux package repositories and dl.k8s.io. DNS, NTP and the
# instance metadata service are link-local and not subject to security groups.
resource "aws_vpc_security_group_egress_rule" "bastion_https" {
  security_group_id = aws_security_group.bastion.id
  description       = "HTTPS to AWS APIs, package repositories and the EKS API"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# Inside the VPC the cluster endpoint resolves to the private endpoint, which
# is guarded by the cluster security group.
resource "aws_vpc_security_group_ingress_rule" "cluster_api_from_bastion" {
  security_group_id            = module.eks.cluster_security_group_id
  description                  = "Kubernetes API from the bastion"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.bastion.id
}

################################################################################
# Instance
################################################################################

resource "aws_instance" "this" {
  #checkov:skip=CKV_AWS_88:The bastion is the one host meant to be reached from outside the VPC; it sits in a public subnet and needs a public IP (no inbound port is open unless bastion_ssh_cidrs is set)
  ami                         = data.aws_ssm_parameter.bastion_ami.insecure_value
  instance_type               = var.bastion_instance_type
  subnet_id                   = module.vpc.public_subnets[0]
  vpc_security_group_ids      = [aws_security_group.bastion.id]
  associate_public_ip_address = true
  iam_instance_profile        = aws_iam_instance_profile.bastion.name
  key_name                    = var.bastion_ssh_key_name

  monitoring    = true
  ebs_optimized = true

  user_data                   = local.bastion_user_data
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    encrypted             = true
    volume_type           = "gp3"
    volume_size           = 10
    delete_on_termination = true
    tags                  = merge(local.tags, { Name = local.bastion_name })
  }

  tags = {
    Name = local.bastion_name
  }

  lifecycle {
    # A new Amazon Linux release would otherwise replace the bastion on every
    # `obsctl up`; take it deliberately with `terraform apply -replace=aws_instance.this`.
    ignore_changes = [ami]
  }
}
