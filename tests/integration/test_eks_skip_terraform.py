"""`obsctl up/verify --skip-terraform` on eks: the Kubernetes layer only, what the narrow CI deploy
role (terraform/github_oidc.tf) may do. The AWS layer's outputs are read from its state through
a read-only view: the real terraform binary runs `init` and `output -json` against the S3
backend, which is moto's S3 here (state object put there as a full `up` would leave it). Nothing
is planned or applied: no `*.tf` is in the view, no lock file is written, the state object is
the same bytes afterwards, and the working directory of a full `up` is never created."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from obsctl import config as c
from obsctl import lifecycle
from obsctl.errors import InputError
from obsctl.targets.eks import REQUIRED_OUTPUTS, EksTarget
from obsctl.tools.aws import ENDPOINT_ENV
from obsctl.verify import run_checks
from tests.conftest import ROOT
from tests.integration.test_aws_moto import FAKE_ENV, REGION, client, fake_aws, moto_url  # noqa: F401

pytestmark = pytest.mark.integration

BUCKET = "tf-state"
KEY = "obsctl/dev/terraform.tfstate"
CLUSTER = "obsctl-ci"

CONFIG = f"""
default_environment: dev
environments:
  dev:
    target: eks
    aws:
      region: {REGION}
      cluster_name: {CLUSTER}
      cluster_endpoint_public_access_cidrs: [203.0.113.7/32]
      backend: {{bucket: {BUCKET}}}
"""


@pytest.fixture(autouse=True)
def _no_cli_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/dev/null")


class AwsCalls:
    """Every AWS API call boto3 makes in this process while `recording`, as IAM actions
    (`eks:DescribeCluster`): what the deploy role must allow."""

    def __init__(self) -> None:
        self.actions: set[str] = set()
        self.recording = False


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsCalls]:
    from botocore.client import BaseClient

    calls = AwsCalls()
    real = BaseClient._make_api_call

    def recorded(self: Any, operation: str, params: Any) -> Any:
        if calls.recording:
            calls.actions.add(f"{self.meta.service_model.signing_name}:{operation}")
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recorded)
    yield calls


def role_actions() -> set[str]:
    """The actions terraform/github_oidc.tf's permission policy grants the deploy role (its
    static statements; the state's S3/KMS ones are Terraform's own calls, asserted on the real
    plan in tests/integration/test_github_oidc.py). sts:GetCallerIdentity needs no permission."""
    import hcl2

    opts = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    with (ROOT / "terraform" / "github_oidc.tf").open() as f:
        data = hcl2.load(f, serialization_options=opts)
    doc = next(
        b["aws_iam_policy_document"]["github_actions"]
        for b in data["data"]
        if "github_actions" in b.get("aws_iam_policy_document", {})
    )
    return {a for st in doc["statement"] for a in st["actions"]} | {"sts:GetCallerIdentity"}


def outputs(**override: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "region": REGION,
        "eks_cluster_name": CLUSTER,
        "cluster_endpoint": "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
        "cluster_certificate_authority_data": "Q0E=",
        "cluster_security_group_id": "sg-1",
        "vpc_id": "vpc-1",
        "public_subnet_ids": ["subnet-a"],
        "private_subnet_ids": ["subnet-b"],
        "bastion_public_ip": "198.51.100.4",
        "bastion_instance_id": "i-0123456789abcdef0",
        "ecr_repository_url": f"123456789012.dkr.ecr.{REGION}.amazonaws.com/obsctl-app",
    }
    values.update(override)
    return values


def state_document(values: dict[str, Any]) -> bytes:
    """A Terraform 1.11 state (format 4) holding only root outputs, as `apply` writes them."""
    kinds = {str: "string", list: ["list", "string"]}
    outs = {k: {"value": v, "type": kinds[type(v)]} for k, v in values.items()}
    doc = {"version": 4, "terraform_version": "1.11.4", "serial": 7, "lineage": "obsctl-test", "outputs": outs}
    return json.dumps({**doc, "resources": [], "check_results": None}).encode()


def bucket(url: str, state: bytes | None) -> Any:
    s3 = client(url, "s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    if state is not None:
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=state)
    return s3


def project(tmp_path: Path) -> Path:
    (tmp_path / "obsctl.yaml").write_text(textwrap.dedent(CONFIG))
    return tmp_path


def ci_target(tmp_path: Path, url: str) -> EksTarget:
    t = EksTarget(c.load(str(project(tmp_path) / "obsctl.yaml")), endpoint_url=url, scan_settle=0)
    t.skip_terraform = True
    return t


def test_outputs_come_from_the_s3_state_read_only(fake_aws: str, tmp_path: Path) -> None:  # noqa: F811
    state = state_document(outputs())
    s3 = bucket(fake_aws, state)
    t = ci_target(tmp_path, fake_aws)
    detail = t.read_state()
    assert detail.startswith(f"{len(REQUIRED_OUTPUTS)} outputs read (read-only); cluster {CLUSTER}"), detail
    assert t.outputs() == outputs()
    # the view: the backend only (no *.tf, so no provider, no module, nothing to plan)
    view = tmp_path / ".obsctl" / "dev" / "terraform-state"
    assert sorted(p.name for p in view.iterdir()) == [".terraform", "backend.tf.json"]
    backend = json.loads((view / "backend.tf.json").read_text())["terraform"]["backend"]["s3"]
    assert (backend["bucket"], backend["key"], backend["use_lockfile"]) == (BUCKET, KEY, True)
    assert not (tmp_path / ".obsctl" / "dev" / "terraform").exists()  # a full up's working directory
    # nothing written to the bucket: no lock file, the state the same bytes
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [KEY]
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == state
    # again: same answer (the view is re-initialized with -reconfigure, it holds no state)
    assert ci_target(tmp_path, fake_aws).read_state() == detail


@pytest.mark.parametrize(
    ("state", "needle"),
    [
        (None, "has no outputs"),
        (state_document(outputs(ecr_repository_url="", bastion_instance_id="")), "lacks bastion_instance_id, ecr_"),
    ],
)
def test_never_applied_is_refused(fake_aws: str, tmp_path: Path, state: bytes | None, needle: str) -> None:  # noqa: F811
    bucket(fake_aws, state)
    with pytest.raises(InputError) as info:
        ci_target(tmp_path, fake_aws).read_state()
    assert info.value.exit_code == 2
    assert info.value.message.startswith(
        f"the AWS layer of dev was never applied: its Terraform state (s3://{BUCKET}/{KEY}) {needle}"
    ), info.value.message
    assert "run a full `obsctl up --env dev` with admin credentials first" in (info.value.hint or "")


def test_a_state_of_another_cluster_is_refused(fake_aws: str, tmp_path: Path) -> None:  # noqa: F811
    bucket(fake_aws, state_document(outputs(eks_cluster_name="someone-else")))
    with pytest.raises(InputError, match="the Terraform state holds cluster someone-else"):
        ci_target(tmp_path, fake_aws).read_state()


def test_up_stages_leave_terraform_out(tmp_path: Path) -> None:
    t = EksTarget(c.load(str(project(tmp_path) / "obsctl.yaml")))
    full = [s.name for s in t.up_stages()]
    t.skip_terraform = True
    only = [s.name for s in t.up_stages()]
    assert only[:4] == ["aws preflight", "terraform outputs (read-only)", "eks cluster active", "kubeconfig"]
    assert not {"confirm", "terraform render", "terraform init", "terraform apply"} & set(only)
    assert only[4:] == full[8:]  # the Kubernetes layer's stages, as a full up runs them


def cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OBSCTL_"))}
    env.update(FAKE_ENV, PYTHONPATH=str(ROOT), COLUMNS="200", AWS_EC2_METADATA_DISABLED="true")
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    env[ENDPOINT_ENV] = url
    return subprocess.run(
        [sys.executable, "-m", "obsctl", *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("yes", [["--yes"], []], ids=["yes", "no-terminal-no-yes"])
def test_cli_up_skip_terraform_refuses_a_never_applied_layer(
    fake_aws: str,  # noqa: F811
    tmp_path: Path,
    yes: list[str],
) -> None:
    """No terminal, as in CI: preflight passes (moto's STS, terraform, helm), then the read-only
    state read refuses, exit 2, one error line and its hint, and nothing rendered. Without --yes
    too: --skip-terraform creates nothing in AWS, so there is no cost question to ask."""
    bucket(fake_aws, None)
    project(tmp_path)
    res = cli(tmp_path, fake_aws, "up", "--env", "dev", *yes, "--skip-terraform")
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in res.stderr, res.stderr
    never = f"the AWS layer of dev was never applied: its Terraform state (s3://{BUCKET}/{KEY}) has no outputs"
    assert lines[0] == f"error: {never}"
    assert lines[1].startswith("hint: run a full `obsctl up --env dev` with admin credentials first")
    assert not (tmp_path / ".obsctl" / "dev" / "terraform").exists()


def test_cli_skip_terraform_is_for_eks_only(tmp_path: Path) -> None:
    (tmp_path / "obsctl.yaml").write_text("default_environment: local\nenvironments:\n  local: {target: local}\n")
    res = cli(tmp_path, "http://127.0.0.1:9", "verify", "--skip-terraform")
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith("error: --skip-terraform is for eks environments; local is a local environment")


def test_verify_reads_the_outputs_the_same_way_and_calls_only_what_the_role_allows(
    fake_aws: str,  # noqa: F811
    tmp_path: Path,
    aws_calls: AwsCalls,
) -> None:
    """verify's AWS checks with --skip-terraform: the outputs check passes from the S3 state with no
    working directory, and every AWS call the AWS checks make is one the deploy role is granted
    (so verify needs no skip of its own)."""
    ec2 = client(fake_aws, "ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    bastion = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    client(fake_aws, "ecr").create_repository(repositoryName="obsctl-app")
    eks = client(fake_aws, "eks")
    eks.create_cluster(
        name=CLUSTER, version="1.33", roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={}
    )
    role = "arn:aws:iam::123456789012:role/node"
    eks.create_nodegroup(clusterName=CLUSTER, nodegroupName="default", nodeRole=role, subnets=["subnet-a"])
    bucket(fake_aws, state_document(outputs(bastion_instance_id=bastion)))
    t = ci_target(tmp_path, fake_aws)
    t.write_kubeconfig()
    checks, _ = lifecycle.checklist(t.env, t, fire_drill=False)
    first = checks[0]
    assert first.name == "terraform outputs present and non-empty"
    aws_calls.recording = True
    assert first.run() == f"all {len(REQUIRED_OUTPUTS)} outputs present"
    results = run_checks([ch for ch in checks if ch.group == "aws"])
    aws_calls.recording = False
    assert len(results) == 7, results
    assert {"eks:DescribeCluster", "eks:ListNodegroups", "ecr:DescribeRepositories", "ec2:DescribeInstances"} <= (
        aws_calls.actions
    ), aws_calls.actions
    assert aws_calls.actions <= role_actions(), aws_calls.actions - role_actions()
    assert not (tmp_path / ".obsctl" / "dev" / "terraform").exists()


# --- the whole `up --skip-terraform`: S3 state (moto) -> kubeconfig -> the Kubernetes layer (fake API)


def test_up_skip_terraform_deploys_the_kubernetes_layer_on_the_states_cluster(
    fake_aws: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws_calls: AwsCalls,
) -> None:
    """The state (in moto's S3) names a cluster whose endpoint is the fake Kubernetes API; moto's
    EKS says it is ACTIVE. `up --skip-terraform` reads the outputs with the real terraform,
    writes obsctl's kubeconfig for that endpoint (the real client authenticates through obsctl's
    token plugin against moto's STS) and runs the Kubernetes layer's stages on it, in order."""
    import base64

    from obsctl.targets.base import Rendered
    from obsctl.targets.kubernetes import KubernetesTarget
    from tests.fakekube import FakeKube
    from tests.fakekube.platform import Controllers, RecordingHelm, serve_platform

    text = CONFIG + textwrap.indent(
        textwrap.dedent("""
        app: {replicas: 2}
        scrape: {interval: 1s, evaluation_interval: 1s}
        kubernetes: {kps_chart_version: 88.5.3, wait_timeout: 3s}
        """),
        "    ",
    )
    for name in ("rules", "dashboards", "app"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "obsctl.yaml").write_text(textwrap.dedent(text))
    eks = client(fake_aws, "eks")
    eks.create_cluster(
        name=CLUSTER, version="1.33", roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={}
    )
    monkeypatch.setattr(KubernetesTarget, "render", lambda self: Rendered())
    with FakeKube() as fake:
        ca = base64.b64encode(b"not used over http").decode()
        bucket(fake_aws, state_document(outputs(cluster_endpoint=fake.url, cluster_certificate_authority_data=ca)))
        t = EksTarget(c.load(str(tmp_path / "obsctl.yaml")), endpoint_url=fake_aws, scan_settle=0)
        t.skip_terraform = True
        k8s = t.kubernetes_target()
        monkeypatch.setattr(EksTarget, "kubernetes_target", lambda self: k8s)
        timeline: list[str] = []
        k8s._helm = RecordingHelm(fake, k8s, timeline)
        servers = serve_platform(fake, k8s)
        try:
            with Controllers(fake, k8s):

                class Observer:
                    def stage_started(self, verb: str, stage: str) -> None:
                        timeline.append(f"{verb}: {stage}")

                    def stage_done(self, verb: str, stage: str, seconds: float, detail: str, ok: bool) -> None:
                        timeline.append(f"  {'ok' if ok else 'FAILED'}: {detail}")

                aws_calls.recording = True
                lifecycle.up(t.env, Observer(), target=t)
                aws_calls.recording = False
        finally:
            servers.shutdown()
            servers.server_close()
    started = [line for line in timeline if line.startswith("up: ")]
    assert started[:4] == [
        "up: aws preflight",
        "up: terraform outputs (read-only)",
        "up: eks cluster active",
        "up: kubeconfig",
    ], timeline
    assert "up: kube-prometheus-stack" in started and started[-1] == "up: rollouts", timeline
    assert "helm ensure obsctl-app" in timeline
    assert not [line for line in timeline if "FAILED" in line], timeline
    assert "eks:DescribeCluster" in aws_calls.actions and aws_calls.actions <= role_actions(), aws_calls.actions
    # every request carried the EKS token obsctl's plugin minted (a presigned GetCallerIdentity)
    assert fake.tokens and all(tok.startswith("Bearer k8s-aws-v1.") for tok in fake.tokens), fake.tokens
    kubeconfig = (tmp_path / ".obsctl" / "dev" / "kubeconfig").read_text()
    assert fake.url in kubeconfig and "obsctl.tools.aws_token" in kubeconfig
    assert not (tmp_path / ".obsctl" / "dev" / "terraform").exists()  # no plan, no apply


def test_a_cluster_the_state_names_but_eks_lacks_is_refused(fake_aws: str, tmp_path: Path) -> None:  # noqa: F811
    """Recreating the cluster is the AWS layer's job, not CI's: exit 2 with the admin's command."""
    bucket(fake_aws, state_document(outputs()))
    t = ci_target(tmp_path, fake_aws)
    t.read_state()
    with pytest.raises(InputError) as info:
        t._cluster_active_stage(timeout=0)
    assert info.value.message == f"EKS cluster {CLUSTER} does not exist, though the Terraform state names it"
    assert "run a full `obsctl up --env dev` with admin credentials" in (info.value.hint or "")
