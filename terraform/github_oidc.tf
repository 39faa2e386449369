################################################################################
# GitHub Actions deploy role (only when `github_oidc` is set)
#
# The deploy workflow (.github/workflows/deploy.yml) exchanges the job's OIDC
# token for this role's short-lived credentials: no AWS key is stored in
# GitHub or anywhere else.
# - Trust: GitHub's OIDC provider (created here, or an existing one by ARN:
#   an account can hold only one per URL), audience `sts.amazonaws.com`, and
#   a subject that is exactly one of `repo:<owner/name>:ref:refs/heads/<branch>`
#   or `repo:<owner/name>:environment:<environment>` (a job that names a GitHub
#   environment gets that subject instead of the branch; the environment's
#   required reviewers and deployment-branch rule guard it). No wildcard.
# - In AWS: push to this one ECR repository, describe this one cluster and its
#   node groups, and the read-only describe calls `obsctl up`'s preflight and
#   `obsctl verify` make, which AWS cannot scope to a resource.
# - In Kubernetes: an EKS access entry on this cluster only. It is cluster
#   admin because `obsctl up` installs CRDs, ClusterRoles and webhooks.
# - The Terraform state, read-only (`terraform_state`, from aws.backend):
#   `obsctl up --skip-terraform` in CI reads the AWS layer's outputs with
#   `terraform init` + `terraform output`, which get the state object and list
#   the bucket under the workspace prefix `env:/` (the S3 backend asks which
#   workspaces exist); no lock is taken, nothing is written. kms:Decrypt on the
#   state's key only when aws.backend.kms_key_id is set, only through S3.
#   Planning or applying the AWS layer stays with an administrator.
# - `policy_arns` adds what the user decides to grant beyond that (e.g. a
#   full `obsctl up` from CI); none by default.
################################################################################

locals {
  github_oidc_enabled = var.github_oidc != null
  github_oidc_host    = "token.actions.githubusercontent.com"
  github_repository   = try(var.github_oidc.repository, "")
  github_oidc_subjects = concat(
    [for branch in try(var.github_oidc.branches, []) : "repo:${local.github_repository}:ref:refs/heads/${branch}"],
    try(var.github_oidc.environment, null) == null ? [] : ["repo:${local.github_repository}:environment:${var.github_oidc.environment}"],
  )
  # the S3 backend lists `<workspace_key_prefix>/` on init and output; obsctl keeps the default "env:"
  state_workspace_prefix = "env:/"
  state_kms_key_id       = try(var.terraform_state.kms_key_id, null)
  state_kms_alias = local.state_kms_key_id == null ? null : (
    startswith(local.state_kms_key_id, "alias/") ? local.state_kms_key_id : try(regex(":(alias/.+)$", local.state_kms_key_id)[0], null)
  )
  state_kms_resource = local.state_kms_key_id == null ? null : (
    local.state_kms_alias != null ? "arn:${local.partition}:kms:${var.terraform_state.region}:${local.account_id}:key/*" : (
      startswith(local.state_kms_key_id, "arn:") ? local.state_kms_key_id : "arn:${local.partition}:kms:${var.terraform_state.region}:${local.account_id}:key/${local.state_kms_key_id}"
    )
  )

  github_oidc_provider_arn = try(coalesce(
    try(var.github_oidc.provider_arn, null),
    try(aws_iam_openid_connect_provider.github[0].arn, null),
  ), null)

  # Merged into the eks module's access_entries (eks.tf); empty without the role.
  github_actions_access_entry = {
    for role in aws_iam_role.github_actions : "github-actions" => {
      principal_arn = role.arn
      policy_associations = {
        admin = {
          policy_arn   = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
          access_scope = { type = "cluster" }
        }
      }
    }
  }
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.github_oidc_enabled && try(var.github_oidc.provider_arn, null) == null ? 1 : 0

  url            = "https://${local.github_oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "github_actions_assume" {
  count = local.github_oidc_enabled ? 1 : 0

  statement {
    sid     = "GitHubActionsOidc"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.github_oidc_host}:sub"
      values   = local.github_oidc_subjects
    }
  }
}

resource "aws_iam_role" "github_actions" {
  count = local.github_oidc_enabled ? 1 : 0

  name_prefix          = "${var.cluster_name}-gha-"
  description          = "GitHub Actions (${local.github_repository}) deploys to EKS cluster ${var.cluster_name}: push to its ECR repository, reach this cluster"
  assume_role_policy   = data.aws_iam_policy_document.github_actions_assume[0].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "github_actions" {
  count = local.github_oidc_enabled ? 1 : 0

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # the registry token is account-wide; AWS has no resource for it
  }

  statement {
    sid = "PushToThisRepositoryOnly"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeRepositories",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [aws_ecr_repository.this.arn]
  }

  statement {
    sid     = "DescribeThisClusterOnly"
    actions = ["eks:DescribeCluster", "eks:ListNodegroups", "eks:DescribeNodegroup"]
    resources = [
      module.eks.cluster_arn,
      "arn:${local.partition}:eks:${var.region}:${local.account_id}:nodegroup/${var.cluster_name}/*/*",
    ]
  }

  statement {
    sid = "ReadOnlyDescribesWithoutResourceScope"
    actions = [
      "ec2:DescribeAvailabilityZones",
      "ec2:DescribeInstanceTypeOfferings",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeInstances",
      "ec2:DescribeVolumes",
      "ssm:DescribeInstanceInformation",
    ]
    resources = ["*"] # these List/Describe calls support no resource-level permissions
  }

  dynamic "statement" {
    for_each = var.terraform_state == null ? [] : [var.terraform_state]
    content {
      sid       = "ReadThisStateOnly"
      actions   = ["s3:GetObject"]
      resources = ["arn:${local.partition}:s3:::${statement.value.bucket}/${statement.value.key}"]
    }
  }

  dynamic "statement" {
    for_each = var.terraform_state == null ? [] : [var.terraform_state]
    content {
      sid       = "ListTheStateBucketUnderTheWorkspacePrefixOnly"
      actions   = ["s3:ListBucket"]
      resources = ["arn:${local.partition}:s3:::${statement.value.bucket}"]
      condition {
        test     = "StringEquals"
        variable = "s3:prefix"
        values   = [local.state_workspace_prefix]
      }
    }
  }

  dynamic "statement" {
    for_each = local.state_kms_key_id == null ? [] : [var.terraform_state]
    content {
      sid       = "DecryptTheStateThroughS3Only"
      actions   = ["kms:Decrypt"]
      resources = [local.state_kms_resource]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${statement.value.region}.amazonaws.com"]
      }
      dynamic "condition" {
        for_each = local.state_kms_alias == null ? [] : [local.state_kms_alias]
        content {
          test     = "ForAnyValue:StringEquals"
          variable = "kms:ResourceAliases"
          values   = [condition.value]
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "github_actions" {
  count = local.github_oidc_enabled ? 1 : 0

  name   = "push-ecr-reach-eks"
  role   = aws_iam_role.github_actions[0].id
  policy = data.aws_iam_policy_document.github_actions[0].json
}

resource "aws_iam_role_policy_attachment" "github_actions_extra" {
  for_each = toset(try(var.github_oidc.policy_arns, []))

  role       = aws_iam_role.github_actions[0].name
  policy_arn = each.value
}
