################################################################################
# Outputs read by the obsctl driver (`terraform output -json`)
################################################################################

output "region" {
  description = "AWS Region everything was created in"
  value       = var.region
}

################################################################################
# Cluster
################################################################################

output "eks_cluster_name" {
  description = "Name of the EKS cluster (for `aws eks update-kubeconfig --name`)"
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "HTTPS endpoint of the Kubernetes API server"
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64-encoded certificate authority data of the cluster, for a kubeconfig"
  value       = module.eks.cluster_certificate_authority_data
}

output "cluster_security_group_id" {
  description = "ID of the cluster security group that guards the private API endpoint"
  value       = module.eks.cluster_security_group_id
}

################################################################################
# Network
################################################################################

output "vpc_id" {
  description = "ID of the VPC"
  value       = module.vpc.vpc_id
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, one per AZ (bastion, internet-facing load balancers)"
  value       = module.vpc.public_subnets
}

output "private_subnet_ids" {
  description = "IDs of the private subnets, one per AZ (nodes, internal load balancers)"
  value       = module.vpc.private_subnets
}

################################################################################
# Bastion
################################################################################

output "bastion_public_ip" {
  description = "Public IPv4 address of the bastion (changes if the instance is stopped and started)"
  value       = aws_instance.this.public_ip
}

output "bastion_instance_id" {
  description = "Instance ID of the bastion, for `aws ssm start-session --target`"
  value       = aws_instance.this.id
}

################################################################################
# ECR
################################################################################

output "ecr_repository_url" {
  description = "URL of the ECR repository (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`) to push the app image to"
  value       = aws_ecr_repository.this.repository_url
}

################################################################################
# GitHub Actions
################################################################################

output "github_actions_role_arn" {
  description = "ARN of the role GitHub Actions assumes through OIDC (`role-to-assume`; the deploy workflow's OBSCTL_AWS_ROLE_ARN), or null when `github_oidc` is not set"
  value       = try(aws_iam_role.github_actions[0].arn, null)
}

################################################################################
# Node autoscaling
################################################################################

output "cluster_autoscaler_role_arn" {
  description = "IAM role of the Cluster Autoscaler (EKS Pod Identity, service account `kube-system/cluster-autoscaler`); null unless `node_autoscaler = \"cluster-autoscaler\"`"
  value       = one(aws_iam_role.cluster_autoscaler[*].arn)
}
