################################################################################
# Identity and placement
################################################################################

variable "project" {
  description = "Project name; becomes the `Project` tag on every resource. Lower-case letters, digits and `-`, at most 32 characters"
  type        = string
  default     = "obsctl"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,31}$", var.project))
    error_message = "project must be 1-32 characters of lower-case letters, digits and '-', starting with a letter or digit."
  }
}

variable "environment" {
  description = "Environment name (the obsctl `--env`), e.g. `dev`, `staging`, `prod`; becomes the `Environment` tag. Lower-case letters, digits and `-`, at most 32 characters"
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,31}$", var.environment))
    error_message = "environment must be 1-32 characters of lower-case letters, digits and '-', starting with a letter or digit."
  }
}

variable "region" {
  description = "AWS Region to create everything in, e.g. `eu-west-1`, `us-east-1`"
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS Region code such as 'eu-west-1'."
  }
}

variable "cluster_name" {
  description = "Name of the EKS cluster; also the value of the `obsctl.io/cluster` tag used to find leftovers, and the prefix of IAM role and security group names. Letters, digits and `-`, starting with a letter, at most 28 characters (IAM name prefixes derived from it are limited to 38)"
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,27}$", var.cluster_name))
    error_message = "cluster_name must start with a letter and contain only letters, digits and '-', at most 28 characters."
  }
}

variable "tags" {
  description = "Extra tags for every resource. `Project`, `Environment` and `obsctl.io/cluster` are always set by this configuration and cannot be overridden here; keys must not start with `aws:`"
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.tags) : !startswith(lower(k), "aws:") && length(k) <= 128])
    error_message = "Tag keys must not start with 'aws:' and must be at most 128 characters."
  }
}

################################################################################
# Network
################################################################################

variable "vpc_cidr" {
  description = "IPv4 CIDR of the new VPC, prefix length `/16` to `/20`. Private subnets get a `/(n+4)` each, public subnets a `/(n+8)` each"
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && can(regex("/(1[6-9]|20)$", var.vpc_cidr))
    error_message = "vpc_cidr must be an IPv4 CIDR with a prefix length between /16 and /20, e.g. '10.0.0.0/16'."
  }
}

variable "az_count" {
  description = "Number of Availability Zones to spread subnets and nodes over: `2` or `3`. EKS needs at least two"
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3 && floor(var.az_count) == var.az_count
    error_message = "az_count must be 2 or 3."
  }
}

variable "single_nat_gateway" {
  description = "`true`: one NAT gateway shared by all private subnets (about $32/month plus $0.045/GB processed, but nodes in every AZ lose egress if that one AZ fails). `false`: one NAT gateway per AZ (that cost times `az_count`, no cross-AZ dependency)"
  type        = bool
  default     = true
}

################################################################################
# EKS cluster
################################################################################

variable "kubernetes_version" {
  description = "Kubernetes `<major>.<minor>` version of the EKS control plane and nodes, e.g. `1.33`; at least `1.25` (the VPC CNI enforces NetworkPolicy from there). Must be a version EKS currently supports"
  type        = string
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version)) && try(tonumber(split(".", var.kubernetes_version)[1]) >= 25, false)
    error_message = "kubernetes_version must look like '1.33' and be at least 1.25 (NetworkPolicy enforcement by the VPC CNI needs it)."
  }
}

variable "cluster_endpoint_public_access" {
  description = "Whether the Kubernetes API endpoint is reachable from the internet (still IAM-authenticated, and limited to `cluster_endpoint_public_access_cidrs`). `true` lets obsctl run Helm from your machine, and obsctl refuses `false`; by hand, with `false` the API is reachable only from inside the VPC, e.g. from the bastion"
  type        = bool
  default     = true
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "IPv4 CIDRs allowed to reach the public API endpoint when `cluster_endpoint_public_access` is `true`. Narrow this to your own egress address, e.g. `[\"203.0.113.7/32\"]` (`obsctl up` prints yours); the default `[\"0.0.0.0/0\"]` relies on IAM authentication alone"
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.cluster_endpoint_public_access_cidrs) > 0 && alltrue([for c in var.cluster_endpoint_public_access_cidrs : can(cidrnetmask(c))])
    error_message = "cluster_endpoint_public_access_cidrs must be a non-empty list of IPv4 CIDRs such as '203.0.113.7/32'."
  }
}

variable "cluster_admin_principal_arns" {
  description = "IAM role or user ARNs given cluster-admin through EKS access entries (`AmazonEKSClusterAdminPolicy`), e.g. `arn:aws:iam::123456789012:role/Admin`. The identity running Terraform always gets admin (`enable_cluster_creator_admin_permissions`) and is skipped here if listed"
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.cluster_admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "Each cluster_admin_principal_arns entry must be an IAM role or user ARN such as 'arn:aws:iam::123456789012:role/Admin' (not an assumed-role session ARN)."
  }
}

variable "cluster_log_types" {
  description = "Control-plane log types sent to CloudWatch Logs; any of `api`, `audit`, `authenticator`, `controllerManager`, `scheduler`. Each costs CloudWatch ingestion (about $0.50/GB); `audit` is the largest"
  type        = list(string)
  default     = ["api", "audit", "authenticator"]

  validation {
    condition     = alltrue([for t in var.cluster_log_types : contains(["api", "audit", "authenticator", "controllerManager", "scheduler"], t)])
    error_message = "cluster_log_types entries must be among: api, audit, authenticator, controllerManager, scheduler."
  }
}

variable "cluster_log_retention_days" {
  description = "Days to keep control-plane logs (and VPC flow logs) in CloudWatch Logs; one of the values CloudWatch accepts: `1`, `3`, `5`, `7`, `14`, `30`, `60`, `90`, `120`, `150`, `180`, `365`, `400`, `545`, `731`, `1096`, `1827`, `2192`, `2557`, `2922`, `3288`, `3653`"
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.cluster_log_retention_days)
    error_message = "cluster_log_retention_days must be a CloudWatch Logs retention value: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

################################################################################
# Managed node group
################################################################################

variable "node_instance_types" {
  description = "EC2 instance types for the managed node group, in order of preference, e.g. `[\"t3.large\"]`. They must match the architecture of `node_ami_type`"
  type        = list(string)
  default     = ["t3.large"]

  validation {
    condition     = length(var.node_instance_types) > 0 && alltrue([for t in var.node_instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    error_message = "node_instance_types must be a non-empty list of EC2 instance types such as 't3.large'."
  }
}

variable "node_ami_type" {
  description = "EKS AMI type of the node group: an Amazon Linux 2023 or Bottlerocket type, e.g. `AL2023_x86_64_STANDARD`, `AL2023_ARM_64_STANDARD`, `BOTTLEROCKET_x86_64`, `BOTTLEROCKET_ARM_64` (AL2 AMIs are not published for Kubernetes 1.33 and later)"
  type        = string
  default     = "AL2023_x86_64_STANDARD"

  validation {
    condition     = can(regex("^(AL2023|BOTTLEROCKET)_[A-Za-z0-9_]+$", var.node_ami_type))
    error_message = "node_ami_type must be an AL2023_* or BOTTLEROCKET_* EKS AMI type, e.g. 'AL2023_x86_64_STANDARD'."
  }
}

variable "node_min_size" {
  description = "Minimum number of nodes in the managed node group (at least `1`: CoreDNS and the add-ons need somewhere to run)"
  type        = number
  default     = 1

  validation {
    condition     = var.node_min_size >= 1 && floor(var.node_min_size) == var.node_min_size
    error_message = "node_min_size must be a whole number >= 1."
  }
}

variable "node_max_size" {
  description = "Maximum number of nodes in the managed node group; must be >= `node_desired_size`"
  type        = number
  default     = 3

  validation {
    condition     = var.node_max_size >= 1 && var.node_max_size <= 100 && floor(var.node_max_size) == var.node_max_size
    error_message = "node_max_size must be a whole number between 1 and 100."
  }
}

variable "node_desired_size" {
  description = "Number of nodes at creation; between `node_min_size` and `node_max_size`. Later changes are ignored by the eks module so that an autoscaler can own it"
  type        = number
  default     = 2

  validation {
    condition     = var.node_desired_size >= 1 && floor(var.node_desired_size) == var.node_desired_size
    error_message = "node_desired_size must be a whole number >= 1."
  }
}

variable "node_disk_size_gib" {
  description = "Size in GiB of each node's encrypted gp3 root volume (the data volume on Bottlerocket), `20` to `1000`; container images live here, Prometheus data lives on its own persistent volumes"
  type        = number
  default     = 50

  validation {
    condition     = var.node_disk_size_gib >= 20 && var.node_disk_size_gib <= 1000 && floor(var.node_disk_size_gib) == var.node_disk_size_gib
    error_message = "node_disk_size_gib must be a whole number between 20 and 1000."
  }
}

################################################################################
# Bastion
################################################################################

variable "bastion_instance_type" {
  description = "EC2 instance type of the bastion, e.g. `t3.micro` (x86_64) or `t4g.micro` (arm64); the Amazon Linux 2023 AMI matching its architecture is chosen automatically"
  type        = string
  default     = "t3.micro"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.bastion_instance_type))
    error_message = "bastion_instance_type must be an EC2 instance type such as 't3.micro'."
  }
}

variable "bastion_ssh_cidrs" {
  description = "IPv4 CIDRs allowed to SSH (port 22) to the bastion. `[]` (the default) opens no inbound port at all: connect with AWS Systems Manager Session Manager instead. `0.0.0.0/0` is refused"
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.bastion_ssh_cidrs : can(cidrnetmask(c)) && !endswith(c, "/0")])
    error_message = "bastion_ssh_cidrs must be IPv4 CIDRs such as '203.0.113.7/32'; a /0 (the whole internet) is not allowed."
  }
}

variable "bastion_ssh_key_name" {
  description = "Name of an existing EC2 key pair for SSH to the bastion, or `null` (the default) for none: Session Manager needs no key"
  type        = string
  default     = null
}

variable "bastion_cluster_access" {
  description = "Kubernetes access the bastion's IAM role gets through its EKS access entry: `view` (`AmazonEKSViewPolicy`, read-only, no Secrets) or `admin` (`AmazonEKSClusterAdminPolicy`)"
  type        = string
  default     = "view"

  validation {
    condition     = contains(["view", "admin"], var.bastion_cluster_access)
    error_message = "bastion_cluster_access must be 'view' or 'admin'."
  }
}

################################################################################
# ECR
################################################################################

variable "ecr_repository_name" {
  description = "Name of the ECR repository for the demo app image, e.g. `obsctl/app` or `obsctl-dev-app`: lower-case letters, digits and `._-/` separators, 2-256 characters, unique in the account and Region"
  type        = string

  validation {
    condition     = length(var.ecr_repository_name) >= 2 && length(var.ecr_repository_name) <= 256 && can(regex("^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$", var.ecr_repository_name))
    error_message = "ecr_repository_name must be 2-256 characters of lower-case letters and digits, separated by single '.', '_', '-' or '/', e.g. 'obsctl/app'."
  }
}

variable "github_oidc" {
  description = "GitHub Actions deploy role assumed through GitHub's OIDC provider, or null for none. `repository` (owner/name) and `branches` whose workflows may assume it; `environment`, the GitHub environment whose jobs may (its required reviewers and deployment-branch rule guard it); `provider_arn`, an existing IAM OIDC provider for token.actions.githubusercontent.com (null: create one, there can be only one per account); `policy_arns`, managed policies added beyond what `obsctl up --skip-terraform` and `obsctl verify --skip-terraform` need (those are granted: see github_oidc.tf); none needed"
  type = object({
    repository   = string
    branches     = list(string)
    environment  = optional(string)
    provider_arn = optional(string)
    policy_arns  = optional(list(string), [])
  })
  default = null

  validation {
    condition     = var.github_oidc == null || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_oidc.repository))
    error_message = "github_oidc.repository must be owner/name, e.g. 'acme/shop'."
  }

  validation {
    condition = var.github_oidc == null || (
      length(try(var.github_oidc.branches, [])) > 0 &&
      alltrue([for b in try(var.github_oidc.branches, []) : can(regex("^[A-Za-z0-9._/-]+$", b)) && !startswith(b, "refs/")])
    )
    error_message = "github_oidc.branches must list at least one branch name such as 'main' (no wildcards, no 'refs/heads/' prefix)."
  }

  validation {
    condition     = var.github_oidc == null || try(var.github_oidc.environment, null) == null || can(regex("^[A-Za-z0-9._-]+$", var.github_oidc.environment))
    error_message = "github_oidc.environment must be a GitHub environment name of letters, digits, '.', '_' or '-'."
  }

  validation {
    condition     = var.github_oidc == null || try(var.github_oidc.provider_arn, null) == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.github_oidc.provider_arn))
    error_message = "github_oidc.provider_arn must be the ARN of an IAM OIDC provider for token.actions.githubusercontent.com."
  }

  validation {
    condition     = var.github_oidc == null || alltrue([for arn in try(var.github_oidc.policy_arns, []) : can(regex("^arn:aws[a-z-]*:iam::(aws|[0-9]{12}):policy/.+$", arn))])
    error_message = "github_oidc.policy_arns must be IAM managed policy ARNs (arn:aws:iam::aws:policy/... or arn:aws:iam::<account>:policy/...)."
  }
}

################################################################################
# Node autoscaling
################################################################################

variable "node_autoscaler" {
  description = "What adds and removes nodes of the managed node group, always between `node_min_size` and `node_max_size`: `cluster-autoscaler` (an IAM role for it through EKS Pod Identity, scoped to this cluster's node groups; obsctl installs the chart) or `none` (the group keeps `node_desired_size` nodes)"
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "cluster-autoscaler"], var.node_autoscaler)
    error_message = "node_autoscaler must be 'none' or 'cluster-autoscaler'."
  }
}

variable "terraform_state" {
  description = "Where this configuration's state is kept (obsctl.yaml `aws.backend`): `bucket`, `key`, the bucket's `region` and `kms_key_id` (null: SSE-S3), or null for local state. The GitHub Actions deploy role may read exactly that object, so `obsctl up --skip-terraform` can read the outputs from CI"
  type = object({
    bucket     = string
    key        = string
    region     = string
    kms_key_id = optional(string)
  })
  default = null
}
