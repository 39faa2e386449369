"""The eks target's checklist: the AWS layer asked directly, then the Kubernetes layer's checks.

The AWS checks read Terraform's outputs and ask AWS itself (boto3), so a cluster that
Terraform believes in but EKS does not, a node group stuck CREATING, a bastion Session
Manager cannot reach, or an unencrypted or untagged Prometheus volume, fails here. The
Kubernetes layer's checks and drill are the `kubernetes` target's own (verify/cluster.py),
run on the new cluster through obsctl's kubeconfig.
"""

from __future__ import annotations

import base64
from typing import Any

from obsctl.targets.eks import REQUIRED_OUTPUTS, EksTarget
from obsctl.verify import Check, CheckFailed


def checks(t: EksTarget) -> list[Check]:
    out = [
        Check("terraform outputs present and non-empty", lambda: _outputs(t), "aws"),
        Check("eks cluster ACTIVE", lambda: _cluster(t), "aws"),
        Check("eks node groups ACTIVE", lambda: _nodegroups(t), "aws"),
        Check("ecr repository exists", lambda: _ecr(t), "aws"),
        Check("bastion running, Online in Session Manager", lambda: _bastion(t), "aws"),
        Check("claims' ebs volumes encrypted gp3, tagged", lambda: _volumes(t), "aws"),
        Check("kubeconfig is obsctl's and mints a token", lambda: _kubeconfig(t), "aws"),
    ]
    from obsctl.verify import cluster

    return out + cluster.checks(t.kubernetes_target())


def drills(t: EksTarget) -> list[list[Check]]:
    from obsctl.verify import cluster

    return [cluster.drill_pod_down(t.kubernetes_target())]


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _outputs(t: EksTarget) -> str:
    out = t.outputs()
    missing = [k for k in REQUIRED_OUTPUTS if k not in out]
    empty = [k for k in REQUIRED_OUTPUTS if k in out and _empty(out[k])]
    if missing or empty:
        parts = ([f"missing: {', '.join(missing)}"] if missing else []) + (
            [f"empty: {', '.join(empty)}"] if empty else []
        )
        raise CheckFailed(f"terraform outputs {'; '.join(parts)} (run obsctl up --env {t.env.name})")
    if out["eks_cluster_name"] != t.cluster_name:
        raise CheckFailed(f"the state holds cluster {out['eks_cluster_name']}, the config says {t.cluster_name}")
    return f"all {len(REQUIRED_OUTPUTS)} outputs present"


def _cluster(t: EksTarget) -> str:
    c = t.aws.describe_cluster(t.cluster_name)
    if c is None:
        raise CheckFailed(f"EKS has no cluster {t.cluster_name} in {t.aws_settings.region}")
    if c.get("status") != "ACTIVE":
        raise CheckFailed(f"cluster {t.cluster_name} is {c.get('status')}")
    endpoint = t.outputs().get("cluster_endpoint")
    if endpoint and c.get("endpoint") and c["endpoint"] != endpoint:
        raise CheckFailed(f"EKS says the endpoint is {c['endpoint']}, Terraform's output says {endpoint}")
    want = t.aws_settings.kubernetes_version
    if c.get("version") and c["version"] != want:
        raise CheckFailed(f"cluster runs Kubernetes {c['version']}, the config asks for {want}")
    return f"{t.cluster_name} ACTIVE, Kubernetes {c.get('version')}"


def _nodegroups(t: EksTarget) -> str:
    groups = t.aws.nodegroups(t.cluster_name)
    if not groups:
        raise CheckFailed(f"cluster {t.cluster_name} has no managed node group")
    bad = [f"{g['nodegroupName']}={g['status']}" for g in groups if g.get("status") != "ACTIVE"]
    if bad:
        raise CheckFailed(f"node groups not ACTIVE: {', '.join(bad)}")
    desired = sum(int(g.get("scalingConfig", {}).get("desiredSize", 0)) for g in groups)
    return f"{len(groups)} node group(s) ACTIVE, {desired} node(s) desired"


def _ecr(t: EksTarget) -> str:
    name = t.aws_settings.ecr_repository_name
    repo = t.aws.ecr_repository(name)
    if repo is None:
        raise CheckFailed(f"ECR repository {name} does not exist")
    if repo.get("imageTagMutability") not in (None, "IMMUTABLE"):
        raise CheckFailed(f"ECR repository {name} allows mutable tags")
    return str(repo.get("repositoryUri", name))


def _bastion(t: EksTarget) -> str:
    """The seed's checklist reaches the cluster from the bastion; with SSH closed an operator
    gets there through Session Manager, which needs the instance running and its SSM agent
    registered and Online."""
    output = t.outputs().get("bastion_instance_id")
    if _empty(output):
        raise CheckFailed(f"terraform output bastion_instance_id is empty (run obsctl up --env {t.env.name})")
    instance = str(output)
    state = t.aws.instance_state(instance)
    if state is None:
        raise CheckFailed(
            f"bastion {instance} does not exist in {t.aws_settings.region} (run obsctl up --env {t.env.name})"
        )
    if state != "running":
        raise CheckFailed(
            f"bastion {instance} is {state}, not running (aws ec2 start-instances --instance-ids {instance})"
        )
    info = t.aws.session_manager_info(instance)
    if info is None:
        raise CheckFailed(
            f"bastion {instance} is running but not registered with Session Manager: its SSM agent has not"
            " checked in (instance profile with AmazonSSMManagedInstanceCore, HTTPS egress to ssm, ssmmessages"
            " and ec2messages)"
        )
    ping = info.get("PingStatus")
    if ping != "Online":
        raise CheckFailed(f"bastion {instance}: Session Manager says {ping} (last ping {info.get('LastPingDateTime')})")
    agent = f" (agent {info['AgentVersion']})" if info.get("AgentVersion") else ""
    return f"{instance} running, Session Manager Online{agent}: aws ssm start-session --target {instance}"


def _volumes(t: EksTarget) -> str:
    """Prometheus' data lives on an EBS volume the CSI driver created from the claim: it must
    be encrypted gp3 (the default StorageClass's parameters) and carry the cluster tag (the
    add-on's extraVolumeTags), or `obsctl down` cannot wait for it and the scan cannot find it."""
    from obsctl.tools.aws import CLUSTER_TAG

    if not t.spec.kubernetes.prometheus_storage:
        return "no persistent volume asked for (kubernetes.prometheus_storage is empty)"
    volumes = t.aws.cluster_volumes(t.cluster_name)
    if not volumes:
        raise CheckFailed(
            f"no EBS volume carries {CLUSTER_TAG}={t.cluster_name} and the EBS CSI driver's mark: the Prometheus"
            " claim is not bound yet, or the aws-ebs-csi-driver add-on lacks its extraVolumeTags"
        )
    bad = []
    for v in volumes:
        wrong = [
            why
            for why, ok in (
                ("not encrypted", v.encrypted),
                (f"{v.type or 'type unknown'}, not gp3", v.type == "gp3"),
                (f"no {CLUSTER_TAG} tag", v.cluster_tagged),
            )
            if not ok
        ]
        if wrong:
            bad.append(f"{v}: {', '.join(wrong)}")
    if bad:
        raise CheckFailed(
            "; ".join(bad) + " (new volumes follow the default StorageClass, which must be encrypted gp3;"
            " an existing volume keeps what it was created with)"
        )
    claims = ", ".join(v.pvc or v.id for v in volumes)
    return f"{len(volumes)} volume(s) encrypted gp3, tagged {CLUSTER_TAG}={t.cluster_name}: {claims}"


def _kubeconfig(t: EksTarget) -> str:
    import yaml

    if not t.kubeconfig.is_file():
        raise CheckFailed(f"{t.kubeconfig} is missing (obsctl up writes it)")
    data = yaml.safe_load(t.kubeconfig.read_text()) or {}
    if data.get("current-context") != t.context:
        raise CheckFailed(f"{t.kubeconfig}: current context is {data.get('current-context')}, expected {t.context}")
    user: dict[str, Any] = next((u["user"] for u in data.get("users", []) if u.get("name") == t.context), {})
    if "obsctl.tools.aws_token" not in " ".join(user.get("exec", {}).get("args", [])):
        raise CheckFailed(f"{t.kubeconfig}: the user does not use obsctl's token plugin")
    token, _ = t.aws.eks_token(t.cluster_name)
    url = base64.urlsafe_b64decode(token.removeprefix("k8s-aws-v1.") + "==").decode()
    if "Action=GetCallerIdentity" not in url:
        raise CheckFailed("the minted token is not a presigned GetCallerIdentity URL")
    return f"context {t.context}, token minted ({len(token)} chars)"
