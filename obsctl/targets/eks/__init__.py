"""The `eks` target: Terraform for the AWS layer, then the Kubernetes layer on the new cluster.

`eks` is `kubernetes` with Terraform before it and after it:

    up:   preflight (credentials, tools, cost estimate) → render the Terraform working dir →
          init → apply (live progress) → outputs → cluster ACTIVE → kubeconfig →
          the Kubernetes layer's own up stages (KubernetesTarget, composed)
    down: credentials → render → init → the Kubernetes layer's down stages (while the cluster
          exists: its LoadBalancers and volumes must go before the VPC can) → wait until the
          EBS CSI driver has deleted the volumes of the cluster's claims (it does so after
          their PersistentVolumes go; destroying the cluster first would orphan them) →
          destroy → scan for anything still tagged with the cluster; fail with the list if
          any survived

The working directory `.obsctl/<env>/terraform/` holds symlinks to `terraform/*.tf` (and the
lock file when there is one), `backend.tf.json` (S3 with `use_lockfile`, or local state in
that directory) and `terraform.tfvars.json`, both rendered from obsctl.yaml with the jinja2
templates in `terraform/templates/`. The kubeconfig for the new cluster is obsctl's own,
`.obsctl/<env>/kubeconfig`, whose `exec` plugin is `python -m obsctl.tools.aws_token`: no AWS
CLI is needed, and the user's ~/.kube/config is never written.

Progress lines (resources done / total, the slowest in flight) go to `self.reporter`, a
callback the CLI may set; this package never prints. Every stage is safe to repeat.

One module per reason to change: `prices` (the cost estimate's table), `workdir` (the
Terraform working directory), `kubeconfig` (obsctl's kubeconfig for the cluster) and
`target` (the stages, status and endpoints).
"""

from obsctl.targets.eks.prices import PUBLIC_IPV4_HOUR, REGION_PRICES, CostEstimate, estimate_cost
from obsctl.targets.eks.target import REQUIRED_OUTPUTS, EksTarget
from obsctl.targets.eks.workdir import REPO_TERRAFORM

__all__ = [
    "PUBLIC_IPV4_HOUR",
    "REGION_PRICES",
    "REPO_TERRAFORM",
    "REQUIRED_OUTPUTS",
    "CostEstimate",
    "EksTarget",
    "estimate_cost",
]
