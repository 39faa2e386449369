"""`python -m obsctl.tools.aws_token --cluster NAME --region R`: a kubeconfig exec credential plugin.

Prints the ExecCredential JSON with an EKS bearer token, made as `aws eks get-token` makes
it (see `Aws.eks_token`), so the kubeconfig obsctl writes needs no AWS CLI. The identity is
botocore's usual chain; `--profile` (or AWS_PROFILE) picks a profile. Failures go to stderr
as one line with exit 1: kubectl and the Kubernetes client show that line to the user.
"""

from __future__ import annotations

import argparse
import json
import sys

from obsctl.errors import ObsctlError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m obsctl.tools.aws_token", description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", required=True, help="EKS cluster name")
    parser.add_argument("--region", required=True, help="AWS Region of the cluster")
    parser.add_argument("--profile", default=None, help="AWS profile (default: the standard chain)")
    args = parser.parse_args(argv)
    from obsctl.tools.aws import Aws, exec_credential

    try:
        token, expiry = Aws(args.region, args.profile).eks_token(args.cluster)
    except ObsctlError as exc:
        sys.stderr.write(f"obsctl aws_token: {exc.message}\n")
        return 1
    sys.stdout.write(json.dumps(exec_credential(token, expiry)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
