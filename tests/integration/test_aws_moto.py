"""The boto3 code against a moto server on loopback (no AWS here): credentials and identity,
cost inputs, the EKS token and the kubeconfig (read back by the real kubernetes client,
which runs obsctl's exec plugin), the leftover scan (a clean account passes, planted
leftovers are found), the eks checks; and `obsctl up` with no credentials at all, through
the real CLI: exit 2, one error line, well under a second, no Terraform run.

moto fakes AWS's API, not its behaviour: clusters are ACTIVE at once, nothing is billed,
signatures are not checked. The EKS loop for real is tests/e2e/test_eks_loop.py (opt-in).
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from obsctl import config as c
from obsctl.errors import PreflightError, ToolError
from obsctl.targets.eks import EksTarget
from obsctl.tools.aws import Aws

pytestmark = pytest.mark.integration  # no warning filter needed: moto 5.2 / botocore 1.44 emit none here

REGION = "eu-west-1"
CLUSTER = "obsctl-moto"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def fake_aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """Fake credentials in the environment, no user AWS files, a fresh moto account state."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in FAKE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=5).close()
    yield moto_url


# A reply: (HTTP status, headers, body).
Reply = tuple[int, dict[str, str], bytes]


@pytest.fixture
def stub_aws() -> Iterator[Callable[[Callable[[str, bytes], Reply]], str]]:
    """Serve `answer(operation, body)` on loopback, for what moto cannot do (a call it lacks,
    an AWS error it never sends). `operation` is the X-Amz-Target of JSON protocols
    (`AmazonSSM.DescribeInstanceInformation`), the `Action` of query protocols, or
    `METHOD path` for REST ones. The real boto3 client talks to it."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(answer: Callable[[str, bytes], Reply]) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def _reply(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = urllib.parse.parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
                operation = self.headers.get("X-Amz-Target") or action or f"{self.command} {self.path}"
                status, headers, payload = answer(operation, body)
                self.send_response(status)
                for key, value in {**headers, "Content-Length": str(len(payload))}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _reply

            def log_message(self, *args: Any) -> None:  # keep pytest's output clean
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def expired_token(operation: str, _: bytes) -> Reply:
    """What AWS answers to every call once a session token has expired, in each protocol."""
    message = "The security token included in the request is expired"
    if operation == "GetCallerIdentity":  # STS, query protocol
        xml = f"<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"  # noqa: E501
        return 403, {"Content-Type": "text/xml"}, xml.encode()
    if not operation.startswith(("GET ", "POST ")) and "." not in operation:  # EC2's own query dialect
        xml = f"<Response><Errors><Error><Code>RequestExpired</Code><Message>{message}</Message></Error></Errors><RequestID>r</RequestID></Response>"  # noqa: E501
        return 400, {"Content-Type": "text/xml"}, xml.encode()
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": "ExpiredTokenException"}
    return 403, headers, json.dumps({"message": message}).encode()


def client(url: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=url)


def write_eks_config(tmp_path: Path, **aws: Any) -> Path:
    extra = "".join(f", {k}: {json.dumps(v)}" for k, v in aws.items())
    path = tmp_path / "obsctl.yaml"
    path.write_text(
        textwrap.dedent(f"""
        default_environment: dev
        environments:
          dev:
            target: eks
            aws: {{region: {REGION}, cluster_name: {CLUSTER}{extra}}}
        """)
    )
    return path


def eks_target(tmp_path: Path, url: str, **aws: Any) -> EksTarget:
    write_eks_config(tmp_path, **aws)
    return EksTarget(c.load(str(tmp_path / "obsctl.yaml")), endpoint_url=url, scan_settle=0)


def make_cluster(url: str) -> None:
    ec2 = client(url, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    eks = client(url, "eks")
    eks.create_cluster(
        name=CLUSTER,
        version="1.33",
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": subnets},
        tags={"obsctl.io/cluster": CLUSTER},
    )
    eks.create_nodegroup(
        clusterName=CLUSTER,
        nodegroupName="default",
        nodeRole="arn:aws:iam::123456789012:role/node",
        subnets=subnets,
        scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2},
        instanceTypes=["t3.large"],
    )


# --- credentials and identity ---------------------------------------------------------------


def test_identity_from_env_credentials(fake_aws: str) -> None:
    ident = Aws(REGION, endpoint_url=fake_aws).identity()
    assert ident.account == "123456789012" and ident.arn.startswith("arn:aws:")
    assert ident.credentials_from == "env"


def test_no_credentials_is_a_fast_preflight_error(fake_aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in FAKE_ENV:
        monkeypatch.delenv(key)
    started = time.monotonic()
    with pytest.raises(PreflightError) as info:
        Aws(REGION, endpoint_url=fake_aws).identity()
    assert time.monotonic() - started < 0.5
    assert info.value.message.startswith("no AWS credentials found") and info.value.exit_code == 2


def test_unknown_profile_is_a_preflight_error(fake_aws: str) -> None:
    with pytest.raises(PreflightError, match="AWS profile not found"):
        Aws(REGION, profile="nope", endpoint_url=fake_aws).identity()
    with pytest.raises(ToolError, match="AWS profile not found") as info:  # not a refusal once past preflight
        Aws(REGION, profile="nope", endpoint_url=fake_aws).describe_cluster(CLUSTER)
    assert info.value.exit_code == 1


def test_expired_credentials_refuse_in_preflight_and_fail_an_operation(fake_aws: str, stub_aws: Any) -> None:
    """The same expired token: exit 2 when the identity check finds it before anything has
    changed; exit 1 when it surfaces in the middle of an operation (an EKS describe during
    `down`, the EC2 scans), because by then something may have changed."""
    url = stub_aws(expired_token)
    aws = Aws(REGION, endpoint_url=url)
    with pytest.raises(PreflightError, match=r"AWS rejected the credentials \(ExpiredToken\)") as refused:
        aws.identity()
    assert refused.value.exit_code == 2
    with pytest.raises(ToolError, match=r"rejected the credentials \(ExpiredTokenException\)") as eks:
        aws.describe_cluster(CLUSTER)
    with pytest.raises(ToolError, match=r"\(ExpiredTokenException\) during describing EKS cluster"):
        aws.scan_leftovers(CLUSTER)  # the EKS describe comes first: same error
    with pytest.raises(ToolError, match=r"\(RequestExpired\) during scanning") as ec2:
        aws._scan_ec2(CLUSTER, None)
    for failed in (eks.value, ec2.value):
        assert not isinstance(failed, PreflightError) and failed.exit_code == 1 and failed.hint


# --- cost inputs and the estimate -----------------------------------------------------------


def test_cost_inputs_and_region_check(fake_aws: str, tmp_path: Path) -> None:
    inputs = Aws(REGION, endpoint_url=fake_aws).cost_inputs(["t3.large", "t3.micro", "t3.bogus"])
    assert len(inputs.zones) >= 3 and all(z.startswith(REGION) for z in inputs.zones)
    large = inputs.instance_types["t3.large"]
    assert (large.vcpus, large.memory_mib, "x86_64" in large.architectures) == (2, 8192, True)
    assert inputs.not_offered == ["t3.bogus"]

    t = eks_target(tmp_path, fake_aws)
    est = t.check_region()
    assert est.region == REGION and 0.25 < est.hourly < 0.6
    assert "2 × t3.large (2 vCPU, 8 GiB)" in est.summary() and "estimate" in est.summary()


@pytest.mark.parametrize(
    ("aws", "needle"),
    [
        ({"node_instance_types": ["t4g.large"]}, "cannot run AL2023_x86_64_STANDARD (x86_64)"),
        ({"node_instance_types": ["t3.bogus"]}, "not offered in eu-west-1: t3.bogus"),
    ],
)
def test_region_check_refuses_bad_instance_types(fake_aws: str, tmp_path: Path, aws: dict, needle: str) -> None:
    with pytest.raises(PreflightError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        eks_target(tmp_path, fake_aws, **aws).check_region()


# --- the EKS token and kubeconfig -----------------------------------------------------------


def test_token_is_a_presigned_get_caller_identity_with_the_cluster_header(fake_aws: str) -> None:
    token, expiry = Aws(REGION, endpoint_url=fake_aws).eks_token(CLUSTER)
    assert token.startswith("k8s-aws-v1.") and "=" not in token
    url = base64.urlsafe_b64decode(token.removeprefix("k8s-aws-v1.") + "==").decode()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["Action"] == ["GetCallerIdentity"] and query["X-Amz-Expires"] == ["60"]
    assert query["X-Amz-SignedHeaders"] == ["host;x-k8s-aws-id"]
    assert 13 * 60 < (expiry - expiry.now(expiry.tzinfo)).total_seconds() <= 14 * 60
    # without an endpoint override it is AWS's regional STS endpoint (presigning needs no network)
    real, _ = Aws(REGION).eks_token(CLUSTER)
    host = urllib.parse.urlsplit(base64.urlsafe_b64decode(real.removeprefix("k8s-aws-v1.") + "==").decode()).netloc
    assert host == f"sts.{REGION}.amazonaws.com"


def test_kubeconfig_exec_plugin_works_with_the_kubernetes_client(fake_aws: str, tmp_path: Path) -> None:
    make_cluster(fake_aws)
    t = eks_target(tmp_path, fake_aws)
    c_ = client(fake_aws, "eks").describe_cluster(name=CLUSTER)["cluster"]
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()
    outputs = {"eks_cluster_name": CLUSTER, "region": REGION, "cluster_endpoint": c_["endpoint"]}
    outputs["cluster_certificate_authority_data"] = ca
    home = tmp_path / "home"
    home.mkdir()
    assert t.write_kubeconfig(outputs) and not t.write_kubeconfig(outputs)  # second write: unchanged
    assert (t.kubeconfig.stat().st_mode & 0o777) == 0o600 and not (home / ".kube").exists()

    # the plugin on its own, as kubectl would run it
    data = __import__("yaml").safe_load(t.kubeconfig.read_text())
    exec_ = data["users"][0]["user"]["exec"]
    env = {**os.environ, **{e["name"]: e["value"] for e in exec_["env"]}}
    res = subprocess.run([exec_["command"], *exec_["args"]], env=env, capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    cred = json.loads(res.stdout)
    assert cred["kind"] == "ExecCredential" and cred["status"]["token"].startswith("k8s-aws-v1.")

    # and through the real kubernetes client's kubeconfig loader, which runs the plugin itself
    from kubernetes import client as kclient
    from kubernetes import config as kconfig

    cfg = kclient.Configuration()
    kconfig.load_kube_config(str(t.kubeconfig), context=t.context, client_configuration=cfg)
    assert cfg.host == c_["endpoint"].rstrip("/")
    assert cfg.api_key["authorization"].startswith("Bearer k8s-aws-v1.")


def test_token_plugin_without_credentials_fails_in_one_line(fake_aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in os.environ.items() if k not in FAKE_ENV}
    cmd = [sys.executable, "-m", "obsctl.tools.aws_token", "--cluster", CLUSTER, "--region", REGION]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "credentials" in res.stderr and "Traceback" not in res.stderr


# --- cluster facts and the eks checks -------------------------------------------------------


def test_cluster_facts_and_aws_checks(fake_aws: str, tmp_path: Path) -> None:
    from obsctl.verify import CheckFailed
    from obsctl.verify import eks as checks

    t = eks_target(tmp_path, fake_aws)
    assert t.aws.describe_cluster(CLUSTER) is None
    with pytest.raises(CheckFailed, match="no cluster obsctl-moto"):
        checks._cluster(t)
    make_cluster(fake_aws)
    t._outputs = {"cluster_endpoint": t.aws.describe_cluster(CLUSTER)["endpoint"]}
    assert t._cluster_active_stage(timeout=5) == f"{CLUSTER} ACTIVE, Kubernetes 1.33"
    assert checks._cluster(t).startswith(f"{CLUSTER} ACTIVE")
    assert checks._nodegroups(t) == "1 node group(s) ACTIVE, 2 node(s) desired"
    with pytest.raises(CheckFailed, match="ECR repository obsctl-app does not exist"):
        checks._ecr(t)
    client(fake_aws, "ecr").create_repository(repositoryName="obsctl-app", imageTagMutability="IMMUTABLE")
    assert checks._ecr(t).endswith("/obsctl-app")
    rows = {r.component: r for r in t.status()}
    assert rows["eks cluster"].state == "up" and rows["node group default"].state == "up"
    assert rows["terraform"].state == "not initialized"


# --- the bastion and Session Manager ---------------------------------------------------------


def session_manager(registered: dict[str, str]) -> Callable[[str, bytes], Reply]:
    """Systems Manager's DescribeInstanceInformation, which moto does not implement: answers
    for the instances in `registered` (id -> PingStatus) that the request's InstanceIds
    filter names, in the JSON protocol the real boto3 client parses."""

    def answer(operation: str, body: bytes) -> Reply:
        assert operation == "AmazonSSM.DescribeInstanceInformation", operation
        wanted = {v for f in json.loads(body).get("Filters", []) if f["Key"] == "InstanceIds" for v in f["Values"]}
        items = [
            {
                "InstanceId": instance,
                "PingStatus": ping,
                "LastPingDateTime": 1_790_000_000.0,
                "AgentVersion": "3.3.2299.0",
                "PlatformType": "Linux",
                "PlatformName": "Amazon Linux",
                "ResourceType": "EC2Instance",
            }
            for instance, ping in registered.items()
            if instance in wanted
        ]
        body = json.dumps({"InstanceInformationList": items}).encode()
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, body

    return answer


def test_bastion_check_asks_ec2_and_session_manager(
    fake_aws: str, tmp_path: Path, stub_aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from obsctl.verify import CheckFailed
    from obsctl.verify import eks as checks

    # The statuses the stub answers are the ones botocore's model of the API allows.
    pings = client(fake_aws, "ssm").meta.service_model.shape_for("PingStatus").enum
    assert {"Online", "ConnectionLost", "Inactive"} <= set(pings)
    registered: dict[str, str] = {}
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", stub_aws(session_manager(registered)))  # EC2 stays on moto
    ec2 = client(fake_aws, "ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    bastion = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    t = eks_target(tmp_path, fake_aws)

    t._outputs = {"bastion_instance_id": ""}
    with pytest.raises(CheckFailed, match="terraform output bastion_instance_id is empty"):
        checks._bastion(t)
    t._outputs = {"bastion_instance_id": "i-0123456789abcdef0"}
    with pytest.raises(CheckFailed, match="bastion i-0123456789abcdef0 does not exist in eu-west-1"):
        checks._bastion(t)
    t._outputs = {"bastion_instance_id": bastion}
    with pytest.raises(CheckFailed, match="is running but not registered with Session Manager"):
        checks._bastion(t)
    registered[bastion] = "ConnectionLost"
    with pytest.raises(CheckFailed, match=f"bastion {bastion}: Session Manager says ConnectionLost"):
        checks._bastion(t)
    registered[bastion] = "Online"
    registered["i-someoneelse"] = "Online"
    assert checks._bastion(t) == (
        f"{bastion} running, Session Manager Online (agent 3.3.2299.0): aws ssm start-session --target {bastion}"
    )
    ec2.stop_instances(InstanceIds=[bastion])
    with pytest.raises(CheckFailed, match=f"bastion {bastion} is stopped, not running"):
        checks._bastion(t)


# --- the leftover scan ----------------------------------------------------------------------


def test_clean_scan_passes(fake_aws: str, tmp_path: Path) -> None:
    ec2 = client(fake_aws, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]  # someone else's, untagged
    ec2.create_security_group(GroupName="other", Description="x", VpcId=vpc)
    ec2.create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "obsctl.io/cluster", "Value": "another"}]}],
    )
    client(fake_aws, "logs").create_log_group(logGroupName="/aws/eks/another/cluster")
    kms = client(fake_aws, "kms")
    kms.create_key(Tags=[{"TagKey": "obsctl.io/cluster", "TagValue": "another"}])
    kms.create_key(Description="untagged, someone else's")
    # the eks module's key after terraform destroy: pending deletion for 7 days, which is fine
    ours = kms.create_key(Tags=[{"TagKey": "obsctl.io/cluster", "TagValue": CLUSTER}])["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=ours, PendingWindowInDays=7)
    t = eks_target(tmp_path, fake_aws)
    assert t.aws.scan_leftovers(CLUSTER) == []
    assert t._scan_stage().startswith("nothing tagged obsctl.io/cluster=obsctl-moto")


def test_scan_finds_planted_leftovers(fake_aws: str, tmp_path: Path) -> None:
    ec2 = client(fake_aws, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]
    sg = ec2.create_security_group(
        GroupName="k8s-elb-leftover",
        Description="left by the LB controller",
        VpcId=vpc,
        TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": "obsctl.io/cluster", "Value": CLUSTER}]}
        ],
    )["GroupId"]
    vol = ec2.create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=20,
        TagSpecifications=[
            {"ResourceType": "volume", "Tags": [{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}]}
        ],
    )["VolumeId"]
    eni = ec2.create_network_interface(SubnetId=subnet["SubnetId"])["NetworkInterface"]["NetworkInterfaceId"]
    ec2.create_tags(Resources=[eni], Tags=[{"Key": "cluster.k8s.amazonaws.com/name", "Value": CLUSTER}])
    elb = client(fake_aws, "elbv2")
    sub2 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.2.0/24", AvailabilityZone=f"{REGION}b")["Subnet"]
    lb = elb.create_load_balancer(
        Name="k8s-monitori-grafana",
        Subnets=[subnet["SubnetId"], sub2["SubnetId"]],
        Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": CLUSTER}],
    )["LoadBalancers"][0]
    elb.create_target_group(
        Name="k8s-tg", Protocol="HTTP", Port=80, VpcId=vpc, Tags=[{"Key": "obsctl.io/cluster", "Value": CLUSTER}]
    )
    client(fake_aws, "elb").create_load_balancer(
        LoadBalancerName="a1b2c3",
        Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 30080}],
        AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}],
    )
    client(fake_aws, "logs").create_log_group(logGroupName=f"/aws/eks/{CLUSTER}/cluster")
    kms = client(fake_aws, "kms")
    secrets_key = kms.create_key(Tags=[{"TagKey": "obsctl.io/cluster", "TagValue": CLUSTER}])["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/eks/{CLUSTER}", TargetKeyId=secrets_key)
    disabled_key = kms.create_key(Tags=[{"TagKey": f"kubernetes.io/cluster/{CLUSTER}", "TagValue": "owned"}])
    kms.disable_key(KeyId=disabled_key["KeyMetadata"]["KeyId"])

    leftovers = Aws(REGION, endpoint_url=fake_aws).scan_leftovers(CLUSTER)
    found = {(f.kind, f.id) for f in leftovers}
    assert {str(f) for f in leftovers if f.kind == "kms key"} == {
        f"kms key {secrets_key} (Enabled, alias/eks/{CLUSTER})",
        f"kms key {disabled_key['KeyMetadata']['KeyId']} (Disabled)",
    }
    assert found == {
        ("kms key", secrets_key),
        ("kms key", disabled_key["KeyMetadata"]["KeyId"]),
        ("security group", sg),
        ("ebs volume", vol),
        ("network interface", eni),
        ("load balancer", lb["LoadBalancerName"]),
        ("target group", "k8s-tg"),
        ("classic load balancer", "a1b2c3"),
        ("log group", f"/aws/eks/{CLUSTER}/cluster"),
    }
    t = eks_target(tmp_path, fake_aws)
    with pytest.raises(ToolError) as info:
        t._scan_stage()
    assert info.value.message.startswith(f"9 resource(s) tagged with cluster {CLUSTER} survived the destroy: ")
    assert sg in info.value.message and vol in info.value.message and secrets_key in info.value.message
    assert "\n" not in info.value.message


# --- down waits for the volumes of the claims ------------------------------------------------


def csi_volume(
    url: str,
    cluster: str = CLUSTER,
    pvc: str = "prometheus-db-prometheus-0",
    volume_type: str = "gp3",
    encrypted: bool = True,
    **extra: str,
) -> str:
    """A volume as the EBS CSI add-on creates it for a claim (obsctl's extraVolumeTags, the
    driver's mark and its extra-create-metadata tags)."""
    tags = {
        "obsctl.io/cluster": cluster,
        "ebs.csi.aws.com/cluster": "true",
        "CSIVolumeName": "pvc-1234",
        "kubernetes.io/created-for/pvc/name": pvc,
        "kubernetes.io/created-for/pvc/namespace": "monitoring",
        **extra,
    }
    return str(
        client(url, "ec2").create_volume(
            AvailabilityZone=f"{REGION}a",
            Size=20,
            VolumeType=volume_type,
            Encrypted=encrypted,
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        )["VolumeId"]
    )


def test_volume_wait_ignores_root_volumes_and_other_clusters(fake_aws: str, tmp_path: Path) -> None:
    ec2 = client(fake_aws, "ec2")
    root = [{"Key": "obsctl.io/cluster", "Value": CLUSTER}, {"Key": "Name", "Value": "node"}]
    ec2.create_volume(
        AvailabilityZone=f"{REGION}a", Size=50, TagSpecifications=[{"ResourceType": "volume", "Tags": root}]
    )  # a node's root volume: goes with terraform destroy, not waited for
    csi_volume(fake_aws, cluster="another")
    t = eks_target(tmp_path, fake_aws)
    lines: list[str] = []
    t.reporter = lines.append
    assert t._volumes_stage(timeout=0, interval=0) == f"no EBS volume of cluster {CLUSTER}'s claims exists"
    assert lines == []


def test_volume_wait_reports_progress_until_the_driver_deletes_them(fake_aws: str, tmp_path: Path) -> None:
    prometheus = csi_volume(fake_aws)
    # a claim's volume tagged only by the add-on's cluster id (no extraVolumeTags): waited for too
    alertmanager = csi_volume(fake_aws, pvc="alertmanager-db-0", **{f"kubernetes.io/cluster/{CLUSTER}": "owned"})
    ec2 = client(fake_aws, "ec2")
    ec2.delete_tags(Resources=[alertmanager], Tags=[{"Key": "obsctl.io/cluster"}])
    t = eks_target(tmp_path, fake_aws)
    lines: list[str] = []

    def driver_deletes_one_per_poll(line: str) -> None:  # the EBS CSI driver, as the stage waits
        lines.append(line)
        ec2.delete_volume(VolumeId=sorted([prometheus, alertmanager])[len(lines) - 1])

    t.reporter = driver_deletes_one_per_poll
    detail = t._volumes_stage(timeout=3600, interval=0)
    assert detail == f"2 EBS volume(s) of cluster {CLUSTER}'s claims deleted"
    assert len(lines) == 2 and lines[0].startswith("waiting for 2 EBS volume(s) to be deleted: ")
    assert f"{prometheus} (available, pvc monitoring/prometheus-db-prometheus-0)" in lines[0]
    assert f"{alertmanager} (available, pvc monitoring/alertmanager-db-0)" in lines[0]


def test_volume_wait_fails_naming_the_volumes_that_do_not_go(fake_aws: str, tmp_path: Path) -> None:
    from obsctl.errors import WaitTimeout

    ec2 = client(fake_aws, "ec2")
    kept = csi_volume(fake_aws)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    node = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, Placement={"AvailabilityZone": f"{REGION}a"})
    attached = csi_volume(fake_aws, pvc="grafana")
    ec2.attach_volume(VolumeId=attached, InstanceId=node["Instances"][0]["InstanceId"], Device="/dev/xvdf")
    t = eks_target(tmp_path, fake_aws)
    with pytest.raises(WaitTimeout) as info:
        t._volumes_stage(timeout=0, interval=0)
    msg = info.value.message
    assert msg.startswith(f"2 EBS volume(s) of cluster {CLUSTER} still exist after 0s: ") and "\n" not in msg
    assert f"{kept} (available, pvc monitoring/prometheus-db-prometheus-0)" in msg
    assert f"{attached} (in-use, pvc monitoring/grafana)" in msg
    assert info.value.exit_code == 1 and "kubectl get pv" in (info.value.hint or "")


def test_volume_check_wants_encrypted_gp3_volumes_with_the_cluster_tag(fake_aws: str, tmp_path: Path) -> None:
    from obsctl.verify import CheckFailed
    from obsctl.verify import eks as checks

    t = eks_target(tmp_path, fake_aws)
    with pytest.raises(CheckFailed, match="no EBS volume carries obsctl.io/cluster=obsctl-moto"):
        checks._volumes(t)  # the claim is unbound, or the add-on does not tag
    good = csi_volume(fake_aws)
    assert checks._volumes(t) == (
        f"1 volume(s) encrypted gp3, tagged obsctl.io/cluster={CLUSTER}: monitoring/prometheus-db-prometheus-0"
    )
    # what the add-on's own ebs-csi-default-sc makes in an account without EBS default encryption
    plain = csi_volume(fake_aws, pvc="old-claim", encrypted=False)
    legacy = csi_volume(fake_aws, pvc="gp2-claim", volume_type="gp2", **{f"kubernetes.io/cluster/{CLUSTER}": "owned"})
    client(fake_aws, "ec2").delete_tags(Resources=[legacy], Tags=[{"Key": "obsctl.io/cluster"}])
    with pytest.raises(CheckFailed) as info:
        checks._volumes(t)
    msg = str(info.value)
    assert f"{plain} (available, pvc monitoring/old-claim): not encrypted" in msg
    assert f"{legacy} (available, pvc monitoring/gp2-claim): gp2, not gp3, no obsctl.io/cluster tag" in msg
    assert good not in msg and "\n" not in msg
    # Prometheus on an emptyDir: no claim, nothing to check
    (tmp_path / "obsctl.yaml").write_text(
        (tmp_path / "obsctl.yaml").read_text() + "    kubernetes: {prometheus_storage: ''}\n"
    )
    no_claim = EksTarget(c.load(str(tmp_path / "obsctl.yaml")), endpoint_url=fake_aws)
    assert checks._volumes(no_claim) == "no persistent volume asked for (kubernetes.prometheus_storage is empty)"


# --- the real CLI with no credentials at all --------------------------------------------------


def _up_without_aws(tmp_path: Path, home: Path, columns: int) -> subprocess.CompletedProcess[str]:
    """`obsctl up --env dev --yes` through the real CLI with no AWS or obsctl variables, HOME at
    `home`, and a `terraform` on PATH that only leaves tmp_path/terraform-ran behind if it is ever
    run (--yes: with no terminal, `up` on eks otherwise refuses before it looks for credentials)."""
    recorder = tmp_path / "bin"
    recorder.mkdir()
    (recorder / "terraform").write_text(f"#!/bin/sh\ntouch {tmp_path}/terraform-ran\n")
    (recorder / "terraform").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OBSCTL_"))}
    env.update(HOME=str(home), COLUMNS=str(columns), PATH=f"{recorder}:{env.get('PATH', '')}")
    return subprocess.run(
        [sys.executable, "-m", "obsctl", "up", "--env", "dev", "--yes"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_up_without_credentials_fails_fast_through_the_cli(tmp_path: Path) -> None:
    write_eks_config(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    started = time.monotonic()
    res = _up_without_aws(tmp_path, home, columns=200)
    elapsed = time.monotonic() - started
    print(f"obsctl up without AWS credentials failed in {elapsed:.2f}s")
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("error: no AWS credentials found"), lines
    assert len(lines) == 2 and lines[1].startswith("hint: ")
    assert "Traceback" not in res.stdout + res.stderr
    assert not (tmp_path / "terraform-ran").exists() and not (tmp_path / ".obsctl" / "dev" / "terraform").exists()
    assert elapsed < 3.0, f"took {elapsed:.2f}s (target: under a second)"


def test_a_private_only_endpoint_is_refused_through_the_cli_before_anything_runs(tmp_path: Path) -> None:
    write_eks_config(tmp_path, cluster_endpoint_public_access=False)
    res = _up_without_aws(tmp_path, tmp_path, columns=400)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith(
        "error: obsctl.yaml: environments.dev.aws.cluster_endpoint_public_access: false is not supported: "
    ), lines
    assert len(lines) == 2 and lines[1].startswith("hint: ")
    assert not (tmp_path / "terraform-ran").exists() and not (tmp_path / ".obsctl").exists()
