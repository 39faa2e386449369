################################################################################
# ECR repository for the demo app image
#
# Tags are immutable (a tag always names the same image, so deploy by a unique
# tag such as the git SHA, never by re-pushing `latest`), every push is
# scanned, and images are encrypted at rest with KMS (the AWS-managed
# `aws/ecr` key: no monthly key charge and nothing left pending deletion after
# `obsctl down`). `force_delete` lets `obsctl down` remove the repository with
# its images in it, so nothing is left behind.
################################################################################

resource "aws_ecr_repository" "this" {
  name                 = var.ecr_repository_name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = true

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images after 7 days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep only the 30 most recent images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = 30
        }
        action = { type = "expire" }
      },
    ]
  })
}
