"""The AWS adapter: credentials, identity, cost inputs, EKS facts and tokens, the leftover scan.

The only module (with its entry point `obsctl.tools.aws_token`) that imports boto3 and
botocore. Every botocore failure is translated in `_translate`; none leaks out. Only a
refusal before anything changes is a PreflightError (exit 2): no credentials, an unknown
profile, or credentials AWS rejects, found by the preflight identity check. The same
failures in the middle of an operation (a session token that expires during `down`), and
every other API or network failure, are ToolErrors (exit 1): something may have changed.

The credential check must answer in well under a second on a machine with none, so it
never touches the network first: botocore's own credential resolver is asked with its
instance-metadata provider taken out (env, shared files, SSO, process, container...),
and only when that finds nothing is instance metadata (IMDS) tried, with a short
timeout and one attempt. The identity call that follows uses short connect/read
timeouts and no retries.

`endpoint_url` (or OBSCTL_AWS_ENDPOINT_URL) points every client at one endpoint: the
tests run all of this against a moto server on loopback. botocore's per-service variable
(AWS_ENDPOINT_URL_SSM, ...) still wins for its service, as it wins over AWS_ENDPOINT_URL:
one service can live elsewhere (a VPC endpoint; in the tests, a stub for a call moto lacks).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
import botocore.exceptions as bx
from botocore.config import Config

from obsctl.errors import ObsctlError, PreflightError, ToolError

ENDPOINT_ENV = "OBSCTL_AWS_ENDPOINT_URL"
CHECKIP_URL = "https://checkip.amazonaws.com"  # answers with the caller's public IPv4 address
CHECKIP_ENV = "OBSCTL_CHECKIP_URL"
CHECKIP_TIMEOUT = 2.0  # seconds: preflight must not hang on a machine without internet
CLUSTER_TAG = "obsctl.io/cluster"
# The EBS CSI driver marks every volume it creates with CSI_VOLUME_TAG (true) and, with its
# default extra-create-metadata, names the claim in the PVC tags.
CSI_VOLUME_TAG = "ebs.csi.aws.com/cluster"
PVC_NAME_TAG = "kubernetes.io/created-for/pvc/name"
PVC_NAMESPACE_TAG = "kubernetes.io/created-for/pvc/namespace"
TOKEN_PREFIX = "k8s-aws-v1."
TOKEN_HEADER = "x-k8s-aws-id"
TOKEN_LIFETIME = dt.timedelta(minutes=14)  # presigned for 15 min; refresh a minute early, as `aws eks get-token`
IMDS_TIMEOUT = 0.4  # seconds; only asked when nothing else has credentials

# The credential check: fail fast, never retry (a missing or wrong credential does not heal).
FAST = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 1, "mode": "standard"})
NORMAL = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 4, "mode": "standard"})

T = TypeVar("T")

_CREDENTIAL_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "AuthFailure",
    "RequestExpired",  # EC2's answer to expired temporary credentials
}


def _translate(exc: Exception, what: str, preflight: bool = False) -> ObsctlError:
    """The one place a boto3/botocore failure becomes an obsctl error (most specific first).

    `preflight`: the call is part of the checks that run before anything changes, so a
    credential problem is a refusal (PreflightError, exit 2); anywhere else it is a
    ToolError (exit 1) with the same message and hint."""
    refusal = PreflightError if preflight else ToolError
    if isinstance(exc, bx.ProfileNotFound):
        return refusal(f"AWS profile not found: {exc}", "check aws.profile / AWS_PROFILE and ~/.aws/config")
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return refusal(f"no usable AWS credentials for {what}: {exc}", _CRED_HINT)
    if isinstance(exc, bx.TokenRetrievalError | bx.SSOTokenLoadError | bx.UnauthorizedSSOTokenError):
        return refusal(f"AWS SSO session expired or missing ({what})", "run: aws sso login")
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code, message = str(err.get("Code", "")), _one_line(str(err.get("Message", "")))
        if code in _CREDENTIAL_CODES:
            return refusal(f"AWS rejected the credentials ({code}) during {what}: {message}", _CRED_HINT)
        if "AccessDenied" in code or code == "UnauthorizedOperation":
            return ToolError(f"{what}: access denied ({code}): {message}", "the identity needs permission for this")
        return ToolError(f"{what} failed: {code}: {message}")
    if isinstance(exc, bx.ConnectTimeoutError | bx.EndpointConnectionError | bx.ReadTimeoutError):
        return ToolError(f"cannot reach AWS for {what}: {_one_line(str(exc))}", "check the network, proxy and region")
    return ToolError(f"{what} failed: {exc.__class__.__name__}: {_one_line(str(exc))}")


def _one_line(text: str) -> str:
    """botocore's messages can span lines (ParamValidationError's report); errors are one line."""
    return " ".join(text.split())


_CRED_HINT = (
    "configure credentials (aws configure, aws sso login, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY),"
    " or set aws.profile in obsctl.yaml"
)


@contextmanager
def _aws(what: str, preflight: bool = False) -> Iterator[None]:
    try:
        yield
    except (bx.BotoCoreError, bx.ClientError) as exc:
        raise _translate(exc, what, preflight) from None


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str
    user_id: str
    credentials_from: str


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_mib: int
    architectures: tuple[str, ...]


@dataclass
class CostInputs:
    """What the cost estimate and the region check need, asked of the account itself."""

    zones: list[str]
    instance_types: dict[str, InstanceType]
    not_offered: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Leftover:
    kind: str
    id: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.id}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Volume:
    """An EBS volume the CSI driver created for a PersistentVolumeClaim."""

    id: str
    state: str
    pvc: str = ""  # namespace/name from the driver's PVC tags, when it set them
    type: str = ""  # gp3, gp2, io2, ...
    encrypted: bool = False
    cluster_tagged: bool = False  # carries obsctl.io/cluster (the add-on's extraVolumeTags)

    def __str__(self) -> str:
        return f"{self.id} ({self.state}, pvc {self.pvc or 'unknown'})"


class Aws:
    """boto3 for one region (and optional profile and endpoint)."""

    def __init__(self, region: str, profile: str | None = None, endpoint_url: str | None = None) -> None:
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url or os.environ.get(ENDPOINT_ENV) or None
        # One boto3 Session per thread: a Session is not thread safe (creating clients from one
        # in several threads races on its shared loaders and credential resolver), and `verify`
        # runs the AWS checks in a thread pool. Clients are thread safe once created.
        self._local = threading.local()

    @property
    def session(self) -> boto3.Session:
        """This thread's session."""
        return self._get_session(preflight=False)

    def _get_session(self, preflight: bool) -> boto3.Session:
        session: boto3.Session | None = getattr(self._local, "session", None)
        if session is None:
            with _aws("loading the AWS configuration", preflight):
                session = boto3.Session(profile_name=self.profile, region_name=self.region)
            self._local.session = session
        return session

    def client(self, service: str, config: Config = NORMAL, preflight: bool = False) -> Any:
        """A client for `service`; `preflight` marks the checks made before anything changes."""
        endpoint = None if os.environ.get(_service_endpoint_env(service)) else self.endpoint_url
        with _aws(f"creating the {service} client", preflight):
            session = self._get_session(preflight)
            return session.client(service, region_name=self.region, endpoint_url=endpoint, config=config)

    # -- credentials and identity -----------------------------------------------------

    def credentials_source(self) -> str:
        """How botocore would find credentials ('env', 'shared-credentials-file', 'iam-role', ...).
        PreflightError when there are none, decided without a network call unless only
        instance metadata is left to ask."""
        import botocore.session
        from botocore.credentials import InstanceMetadataProvider
        from botocore.utils import InstanceMetadataFetcher

        with _aws("looking for AWS credentials", preflight=True):
            core = botocore.session.Session(profile=self.profile)
            resolver = core.get_component("credential_provider")
            resolver.remove("iam-role")  # the one provider that always goes to the network
            creds = resolver.load_credentials()
            if creds is None and not _truthy(os.environ.get("AWS_EC2_METADATA_DISABLED")):
                # botocore's own IMDS provider takes whole seconds as its timeout (1 s default)
                fetcher = InstanceMetadataFetcher(timeout=IMDS_TIMEOUT, num_attempts=1)
                creds = InstanceMetadataProvider(iam_role_fetcher=fetcher).load()
        if creds is None:
            where = f"profile {self.profile}" if self.profile else "the environment, ~/.aws/credentials, ~/.aws/config"
            raise PreflightError(f"no AWS credentials found (looked in {where}, SSO, instance metadata)", _CRED_HINT)
        return str(getattr(creds, "method", "unknown"))

    def identity(self) -> Identity:
        """Who we are (STS GetCallerIdentity): fast timeouts, no retries. A preflight check:
        missing or rejected credentials are a PreflightError (exit 2)."""
        source = self.credentials_source()
        with _aws("checking the AWS identity (sts:GetCallerIdentity)", preflight=True):
            out = self.client("sts", FAST, preflight=True).get_caller_identity()
        return Identity(out["Account"], out["Arn"], out["UserId"], source)

    # -- cost inputs and region checks --------------------------------------------------

    def cost_inputs(self, instance_types: list[str]) -> CostInputs:
        """Usable AZs of the region, and the instance types' shape and availability there."""
        ec2 = self.client("ec2")
        with _aws("describing availability zones"):
            zones = ec2.describe_availability_zones(
                Filters=[{"Name": "opt-in-status", "Values": ["opt-in-not-required"]}]
            )["AvailabilityZones"]
        names = sorted(z["ZoneName"] for z in zones if z.get("State", "available") == "available")
        wanted = sorted(set(instance_types))
        with _aws("describing instance types"):
            offered = {
                o["InstanceType"]
                for page in ec2.get_paginator("describe_instance_type_offerings").paginate(
                    LocationType="region", Filters=[{"Name": "instance-type", "Values": wanted}]
                )
                for o in page["InstanceTypeOfferings"]
            }
            found: dict[str, InstanceType] = {}
            known = [t for t in wanted if t in offered]
            if known:
                for it in ec2.describe_instance_types(InstanceTypes=known)["InstanceTypes"]:
                    found[it["InstanceType"]] = InstanceType(
                        it["InstanceType"],
                        int(it["VCpuInfo"]["DefaultVCpus"]),
                        int(it["MemoryInfo"]["SizeInMiB"]),
                        tuple(it.get("ProcessorInfo", {}).get("SupportedArchitectures", [])),
                    )
        return CostInputs(names, found, [t for t in wanted if t not in found])

    # -- EKS ------------------------------------------------------------------------------

    def describe_cluster(self, name: str) -> dict[str, Any] | None:
        """The cluster, or None when it does not exist."""
        eks = self.client("eks")
        return _or_none(
            lambda: eks.describe_cluster(name=name)["cluster"],
            "ResourceNotFoundException",
            f"describing EKS cluster {name}",
        )

    def nodegroups(self, cluster: str) -> list[dict[str, Any]]:
        eks = self.client("eks")
        with _aws(f"listing node groups of {cluster}"):
            names = eks.list_nodegroups(clusterName=cluster)["nodegroups"]
            return [eks.describe_nodegroup(clusterName=cluster, nodegroupName=n)["nodegroup"] for n in names]

    def ecr_repository(self, name: str) -> dict[str, Any] | None:
        """The repository, or None when it does not exist."""
        ecr = self.client("ecr")
        return _or_none(
            lambda: ecr.describe_repositories(repositoryNames=[name])["repositories"][0],
            "RepositoryNotFoundException",
            f"describing ECR repository {name}",
        )

    def eks_token(self, cluster: str, now: dt.datetime | None = None) -> tuple[str, dt.datetime]:
        """A bearer token for the cluster, made the way `aws eks get-token` makes it: a presigned
        STS GetCallerIdentity URL, signed together with the `x-k8s-aws-id: <cluster>` header,
        base64url without padding, prefixed `k8s-aws-v1.`. Returns (token, expiry in UTC)."""
        sts = self.client("sts", FAST)

        def add_cluster_header(request: Any, **_: Any) -> None:
            request.headers[TOKEN_HEADER] = cluster

        sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
        with _aws("presigning the EKS token"):
            url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
        token = TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
        expiry = (now or dt.datetime.now(dt.UTC)) + TOKEN_LIFETIME
        return token, expiry

    # -- the bastion -----------------------------------------------------------------------

    def instance_state(self, instance_id: str) -> str | None:
        """The EC2 instance's state name (`running`, `stopped`, ...), or None when it does not exist."""
        ec2 = self.client("ec2")

        def state() -> str | None:
            reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
            instances = [i for r in reservations for i in r["Instances"]]
            return str(instances[0]["State"]["Name"]) if instances else None

        return _or_none(
            state,
            ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"),
            f"describing EC2 instance {instance_id}",
        )

    def session_manager_info(self, instance_id: str) -> dict[str, Any] | None:
        """What Systems Manager knows of the instance (PingStatus `Online`, `ConnectionLost`,
        `Inactive`; agent version, platform), or None when its agent never registered."""
        ssm = self.client("ssm")
        with _aws(f"asking Systems Manager about {instance_id} (ssm:DescribeInstanceInformation)"):
            out = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
        found = [i for i in out.get("InstanceInformationList", []) if i.get("InstanceId") == instance_id]
        return found[0] if found else None

    # -- volumes --------------------------------------------------------------------------

    def cluster_volumes(self, cluster: str) -> list[Volume]:
        """EBS volumes the CSI driver created for the cluster's claims that still exist, in any
        state but `deleted`: tagged with the cluster (obsctl's tag from the add-on's
        extraVolumeTags, or the `kubernetes.io/cluster/<name>` tag the add-on's cluster id
        adds) AND with the driver's own mark. Node and bastion root volumes carry the cluster
        tag too, but not the mark: they go with `terraform destroy`."""
        ec2 = self.client("ec2")
        csi = {"Name": f"tag:{CSI_VOLUME_TAG}", "Values": ["true"]}
        found: dict[str, Volume] = {}
        for tagged in (
            {"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]},
            {"Name": "tag-key", "Values": [f"kubernetes.io/cluster/{cluster}"]},
        ):
            with _aws(f"listing the EBS volumes of cluster {cluster}"):
                for page in ec2.get_paginator("describe_volumes").paginate(Filters=[tagged, csi]):
                    for v in page["Volumes"]:
                        if v.get("State") == "deleted":
                            continue
                        tags = {t["Key"]: t.get("Value", "") for t in v.get("Tags", [])}
                        pvc = "/".join(x for x in (tags.get(PVC_NAMESPACE_TAG), tags.get(PVC_NAME_TAG)) if x)
                        found[v["VolumeId"]] = Volume(
                            v["VolumeId"],
                            str(v.get("State", "")),
                            pvc,
                            str(v.get("VolumeType", "")),
                            bool(v.get("Encrypted")),
                            tags.get(CLUSTER_TAG) == cluster,
                        )
        return sorted(found.values(), key=lambda v: v.id)

    # -- leftovers ------------------------------------------------------------------------

    def scan_leftovers(self, cluster: str, vpc_id: str | None = None) -> list[Leftover]:
        """Everything still tagged with the cluster (ours, the AWS LB controller's, the EBS CSI
        driver's, the VPC CNI's, EKS's own) including KMS keys not scheduled for deletion, plus
        the cluster and its log groups by name."""
        found: list[Leftover] = []
        for scan in (
            self._scan_cluster,
            self._scan_ec2,
            self._scan_elbv2,
            self._scan_elb_classic,
            self._scan_log_groups,
            self._scan_kms,
        ):
            found.extend(scan(cluster, vpc_id))
        return found

    def _scan_cluster(self, cluster: str, _: str | None) -> list[Leftover]:
        c = self.describe_cluster(cluster)
        return [Leftover("eks cluster", cluster, c.get("status", ""))] if c else []

    def _scan_ec2(self, cluster: str, vpc_id: str | None) -> list[Leftover]:
        ec2 = self.client("ec2")
        out: dict[tuple[str, str], Leftover] = {}

        def each(kind: str, op: str, key: str, ident: str, extra: list[dict[str, Any]], detail: Callable) -> None:
            for flt in _tag_filters(cluster):
                with _aws(f"scanning {kind}s"):
                    for page in ec2.get_paginator(op).paginate(Filters=[flt, *extra]):
                        for item in page[key]:
                            items = item["Instances"] if key == "Reservations" else [item]
                            for it in items:
                                out[(kind, it[ident])] = Leftover(kind, it[ident], detail(it))

        alive = ["pending", "running", "shutting-down", "stopping", "stopped"]
        each(
            "instance",
            "describe_instances",
            "Reservations",
            "InstanceId",
            [{"Name": "instance-state-name", "Values": alive}],
            lambda i: i["State"]["Name"],
        )
        each(
            "security group",
            "describe_security_groups",
            "SecurityGroups",
            "GroupId",
            [],
            lambda g: g.get("GroupName", ""),
        )
        each(
            "network interface",
            "describe_network_interfaces",
            "NetworkInterfaces",
            "NetworkInterfaceId",
            [],
            lambda n: n.get("Status", ""),
        )
        each(
            "ebs volume",
            "describe_volumes",
            "Volumes",
            "VolumeId",
            [],
            lambda v: f"{v.get('Size')} GiB, {v.get('State')}",
        )
        each(
            "nat gateway",
            "describe_nat_gateways",
            "NatGateways",
            "NatGatewayId",
            [{"Name": "state", "Values": ["pending", "available", "failed"]}],
            lambda n: n.get("State", ""),
        )
        each("vpc", "describe_vpcs", "Vpcs", "VpcId", [], lambda v: v.get("CidrBlock", ""))
        for flt in _tag_filters(cluster):
            with _aws("scanning elastic IPs"):
                for a in ec2.describe_addresses(Filters=[flt])["Addresses"]:
                    ident = a.get("AllocationId") or a.get("PublicIp", "?")
                    out[("elastic ip", ident)] = Leftover("elastic ip", ident, a.get("PublicIp", ""))
        return list(out.values())

    def _scan_elbv2(self, cluster: str, _: str | None) -> list[Leftover]:
        elb = self.client("elbv2")
        out = []
        with _aws("scanning load balancers (elbv2)"):
            lbs = [lb for p in elb.get_paginator("describe_load_balancers").paginate() for lb in p["LoadBalancers"]]
            tgs = [tg for p in elb.get_paginator("describe_target_groups").paginate() for tg in p["TargetGroups"]]
            lb_tags = _elbv2_tags(elb, [lb["LoadBalancerArn"] for lb in lbs])
            tg_tags = _elbv2_tags(elb, [tg["TargetGroupArn"] for tg in tgs])
        for lb in lbs:
            if _tagged(lb_tags.get(lb["LoadBalancerArn"], {}), cluster):
                out.append(Leftover("load balancer", lb["LoadBalancerName"], lb.get("Type", "")))
        for tg in tgs:
            if _tagged(tg_tags.get(tg["TargetGroupArn"], {}), cluster):
                out.append(Leftover("target group", tg["TargetGroupName"], tg["TargetGroupArn"]))
        return out

    def _scan_elb_classic(self, cluster: str, _: str | None) -> list[Leftover]:
        elb = self.client("elb")
        out = []
        with _aws("scanning classic load balancers"):
            names = [
                d["LoadBalancerName"]
                for p in elb.get_paginator("describe_load_balancers").paginate()
                for d in p["LoadBalancerDescriptions"]
            ]
            for i in range(0, len(names), 20):
                for desc in elb.describe_tags(LoadBalancerNames=names[i : i + 20])["TagDescriptions"]:
                    tags = {t["Key"]: t.get("Value", "") for t in desc.get("Tags", [])}
                    if _tagged(tags, cluster):
                        out.append(Leftover("classic load balancer", desc["LoadBalancerName"]))
        return out

    def _scan_log_groups(self, cluster: str, vpc_id: str | None) -> list[Leftover]:
        logs = self.client("logs")
        prefixes = [f"/aws/eks/{cluster}/"] + ([f"/aws/vpc-flow-log/{vpc_id}"] if vpc_id else [])
        out: list[Leftover] = []
        with _aws("scanning CloudWatch log groups"):
            for prefix in prefixes:
                for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
                    out.extend(Leftover("log group", g["logGroupName"]) for g in page["logGroups"])
        return out

    def _scan_kms(self, cluster: str, _: str | None) -> list[Leftover]:
        """Keys tagged with the cluster that are not on their way out. After the destroy the
        eks module's key is PendingDeletion for its 7-day window: fine. Enabled (or Disabled:
        still billed, never deleted) is a leftover. A key whose policy hides its tags from us
        is skipped: the module's key keeps the default policy, which admits the account's IAM
        principals, so it is readable to whoever created it."""
        kms = self.client("kms")
        with _aws("scanning KMS keys"):
            aliases: dict[str, str] = {}
            for page in kms.get_paginator("list_aliases").paginate():
                for a in page["Aliases"]:
                    if a.get("TargetKeyId"):
                        aliases.setdefault(a["TargetKeyId"], a["AliasName"])
            keys = [k["KeyId"] for page in kms.get_paginator("list_keys").paginate() for k in page["Keys"]]
        out = []
        for key in keys:
            if aliases.get(key, "").startswith("alias/aws/"):
                continue  # AWS-managed (aws/ebs, aws/ecr, ...): never ours, never deleted
            tags = _or_none(
                lambda key=key: {
                    t["TagKey"]: t.get("TagValue", "")
                    for page in kms.get_paginator("list_resource_tags").paginate(KeyId=key)
                    for t in page["Tags"]
                },
                ("AccessDeniedException", "NotFoundException"),
                f"reading the tags of KMS key {key}",
            )
            if not tags or not _tagged(tags, cluster):
                continue
            meta = _or_none(
                lambda key=key: kms.describe_key(KeyId=key)["KeyMetadata"],
                ("AccessDeniedException", "NotFoundException"),
                f"describing KMS key {key}",
            )
            if meta is None or meta.get("KeyState") in KMS_GOING:
                continue
            detail = ", ".join(x for x in (meta.get("KeyState", ""), aliases.get(key, "")) if x)
            out.append(Leftover("kms key", key, detail))
        return out


KMS_GOING = ("PendingDeletion", "PendingReplicaDeletion")


def _service_endpoint_env(service: str) -> str:
    """botocore's per-service endpoint variable for a client name (ssm: AWS_ENDPOINT_URL_SSM,
    elbv2: AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2), named the way botocore names it."""
    from botocore import utils

    name = utils.SERVICE_NAME_ALIASES.get(service, service)
    name = utils.CLIENT_NAME_TO_HYPHENIZED_SERVICE_ID_OVERRIDES.get(name, name)
    return "AWS_ENDPOINT_URL_" + name.replace("-", "_").upper()


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def _tag_filters(cluster: str) -> list[dict[str, Any]]:
    """EC2 filters, one per tag convention (filters in one call are ANDed, so one call each)."""
    return [
        {"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]},  # terraform/ (default_tags, modules' tags)
        {"Name": "tag-key", "Values": [f"kubernetes.io/cluster/{cluster}"]},  # cloud provider, EBS CSI, LB ctrl
        {"Name": "tag:eks:cluster-name", "Values": [cluster]},  # EKS-managed node groups
        {"Name": "tag:cluster.k8s.amazonaws.com/name", "Values": [cluster]},  # VPC CNI ENIs
        {"Name": "tag:KubernetesCluster", "Values": [cluster]},  # EBS CSI volumes (legacy tag)
        {"Name": "tag:elbv2.k8s.aws/cluster", "Values": [cluster]},  # AWS LB controller security groups
    ]


def _tagged(tags: dict[str, str], cluster: str) -> bool:
    return (
        tags.get(CLUSTER_TAG) == cluster
        or f"kubernetes.io/cluster/{cluster}" in tags
        or tags.get("elbv2.k8s.aws/cluster") == cluster
        or tags.get("eks:cluster-name") == cluster
    )


def _elbv2_tags(elb: Any, arns: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for i in range(0, len(arns), 20):
        for desc in elb.describe_tags(ResourceArns=arns[i : i + 20])["TagDescriptions"]:
            out[desc["ResourceArn"]] = {t["Key"]: t.get("Value", "") for t in desc.get("Tags", [])}
    return out


def public_ipv4(url: str | None = None, timeout: float = CHECKIP_TIMEOUT) -> str:
    """This machine's public IPv4 address as AWS sees it, from checkip.amazonaws.com (or
    `url`, or OBSCTL_CHECKIP_URL). ToolError saying why when it cannot be found."""
    import ipaddress
    import urllib.error
    import urllib.request

    url = url or os.environ.get(CHECKIP_ENV) or CHECKIP_URL
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            text = resp.read(64).decode("ascii", errors="replace").strip()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ToolError(f"{url} did not answer: {_one_line(str(reason))}") from None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ToolError(f"{url} answered {text[:40]!r}, not an IP address") from None
    if address.version != 4 or not address.is_global:
        raise ToolError(f"{url} answered {address}, not a public IPv4 address")
    return str(address)


def exec_credential(token: str, expiry: dt.datetime) -> dict[str, Any]:
    """The ExecCredential a kubeconfig `exec` plugin prints."""
    return {
        "kind": "ExecCredential",
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "spec": {},
        "status": {"expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"), "token": token},
    }


def _or_none(describe: Any, not_found: str | tuple[str, ...], doing: str) -> Any:
    """`describe()`, or None when AWS answers with the code(s) `not_found`; any other
    failure is translated."""
    codes = (not_found,) if isinstance(not_found, str) else not_found
    try:
        return describe()
    except bx.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in codes:
            return None
        raise _translate(exc, doing) from None
    except bx.BotoCoreError as exc:
        raise _translate(exc, doing) from None
