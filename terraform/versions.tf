# Provider and module version contract.
#
# There is deliberately NO backend block here: the obsctl driver renders a
# `backend.tf.json` (S3 with `use_lockfile = true`, or local) into the
# per-environment working directory (.obsctl/<env>/...) next to a copy of this
# configuration, so one code base serves every environment without editing.
terraform {
  required_version = ">= 1.5.7"

  required_providers {
    # terraform-aws-modules/eks 21.x and vpc 6.x need hashicorp/aws >= 6.28 in
    # their newest releases; `~>` keeps us on 6.x.
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.28"
    }
    # Not used directly: required by the eks module (OIDC thumbprint, waits).
    # Pinned here so a new major of either cannot arrive unreviewed.
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.9"
    }
  }
}
