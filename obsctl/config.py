"""obsctl.yaml: named environments, each with a target, validated once and frozen.

Every field has a description and a constrained type so that a typo or a wrong value
fails here, before anything starts, as `path.to.field: what is wrong` (exit 2). Defaults
are production values (the ones the cluster targets use); the `local` environment in the
repository's obsctl.yaml shortens intervals and `for:` durations explicitly, so the whole
alerting loop can be proven in about a minute.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from obsctl.errors import ConfigError
from obsctl.slo_spec import Slo, check_thresholds, merge

CONFIG_FILE = "obsctl.yaml"
DEFAULT_ENVIRONMENT = "local"

# Prometheus / Alertmanager duration syntax (Go-like, units in descending order).
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNIT_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def duration_seconds(value: str) -> float:
    """Seconds in a Prometheus duration such as `1m30s` or `500ms`."""
    match = _DURATION.match(value)
    if not value or not match:
        raise ValueError(f"'{value}' is not a duration; use Prometheus syntax such as 30s, 5m, 1h30m or 500ms")
    return sum(int(g) * unit for g, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if g)


def _check_duration(value: str) -> str:
    if duration_seconds(value) <= 0:
        raise ValueError(f"'{value}' must be longer than zero")
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
Port = Annotated[int, Field(ge=1024, le=65535, description="A TCP port on 127.0.0.1 (1024-65535).")]
Name = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- the app and what is scraped -------------------------------------------------------


class FaultSettings(_Model):
    """Faults the app injects into every demo request (per-request headers override them)."""

    error_rate: float = Field(0.0, ge=0, le=1, description="Fraction of demo requests answered with a 500.")
    latency_ms: int = Field(0, ge=0, le=60_000, description="Latency added to every demo request, in ms.")


class ImageSettings(_Model):
    """The app's container image (cluster targets only; `local` runs the source)."""

    repository: str = Field("ghcr.io/obsctl/obsctl-app", description="Image repository, without the tag.")
    tag: str = Field("0.1.0", description="Image tag; immutable tags are expected (ECR enforces them).")
    digest: str | None = Field(
        None,
        pattern=r"^sha256:[a-f0-9]{64}$",
        description="Image digest; when set the Pods run repository@digest (what checkov's CKV_K8S_43 asks for).",
    )
    pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        None,
        description=(
            "imagePullPolicy of the app's Pods. Default: `IfNotPresent` when a digest is set (the bytes cannot"
            " change) or the cluster is a laptop cluster (`kubernetes.distribution` kind or k3d, where"
            " `kind load` / `k3d image import` put the image on the nodes and there is no registry to pull"
            " from), else `Always`."
        ),
    )


class AppSettings(_Model):
    """The FastAPI service (app/)."""

    replicas: int = Field(2, ge=1, le=20, description="Replicas (pods, or local processes).")
    workers: int = Field(1, ge=1, le=16, description="uvicorn worker processes per replica.")
    version: str = Field("0.1.0", description="Version reported by the app_info metric.")
    fault: FaultSettings = Field(default_factory=FaultSettings, description="Faults injected by config.")
    image: ImageSettings = Field(default_factory=ImageSettings, description="Container image (clusters).")


class ScrapeSettings(_Model):
    """How Prometheus scrapes the app (job `fastapi`: the alert rules select on it)."""

    path: str = Field("/metrics", pattern=r"^/", description="Metrics path on the app.")
    interval: Duration = Field("30s", description="Scrape interval.")
    evaluation_interval: Duration = Field("30s", description="Rule evaluation interval.")


# --- alert routing ---------------------------------------------------------------------


class WebhookReceiver(_Model):
    """A webhook. Give `url`, or `url_env` to read it from an environment variable (a secret)."""

    url: str | None = Field(None, pattern=r"^https?://", description="Webhook URL (not a secret).")
    url_env: str | None = Field(None, description="Environment variable that holds the URL (a secret).")
    send_resolved: bool = Field(True, description="Also notify when the alert resolves.")

    @model_validator(mode="after")
    def _one_source(self) -> WebhookReceiver:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url or url_env")
        return self


class SlackReceiver(_Model):
    """A Slack incoming webhook; the URL is a secret, so it is only read from the environment."""

    api_url_env: str = Field(..., description="Environment variable that holds the Slack webhook URL.")
    channel: str = Field(..., description="Channel, e.g. #alerts.")
    send_resolved: bool = Field(True, description="Also notify when the alert resolves.")


class Receiver(_Model):
    """A named receiver for Alertmanager."""

    name: Name = Field(..., description="Receiver name used by routes.")
    webhooks: list[WebhookReceiver] = Field(default_factory=list, description="Webhook targets.")
    slack: list[SlackReceiver] = Field(default_factory=list, description="Slack targets.")


class Route(_Model):
    """A child route: alerts matching all `matchers` go to `receiver`."""

    receiver: Name = Field(..., description="Receiver name (must be declared under receivers).")
    matchers: list[str] = Field(default_factory=list, description='Alertmanager matchers, e.g. severity="critical".')
    continue_matching: bool = Field(False, description="Keep matching later routes after this one.")


class AlertingSettings(_Model):
    """Alert routing, rendered into alertmanager.yml (local) or kube-prometheus-stack values."""

    group_by: list[str] = Field(["alertname", "job"], description="Labels that group alerts.")
    group_wait: Duration = Field("30s", description="Wait before the first notification of a group.")
    group_interval: Duration = Field("5m", description="Wait between notifications of a changed group.")
    repeat_interval: Duration = Field("4h", description="Resend a still-firing group after this.")
    receivers: list[Receiver] = Field(default_factory=list, description="Receivers besides obsctl's own sink.")
    routes: list[Route] = Field(default_factory=list, description="Child routes, first match wins.")
    for_overrides: dict[str, Duration] = Field(
        default_factory=dict,
        description="Per-alert `for:` durations replacing those in rules/ (local profile: keep drills short).",
    )

    @model_validator(mode="after")
    def _routes_name_receivers(self) -> AlertingSettings:
        names = {r.name for r in self.receivers}
        for i, route in enumerate(self.routes):
            if route.receiver not in names:
                raise ValueError(
                    f"routes[{i}].receiver '{route.receiver}' is not declared under receivers"
                    f" (declared: {', '.join(sorted(names)) or 'none'})"
                )
        return self


# --- target-specific settings -----------------------------------------------------------


class LocalPorts(_Model):
    """Loopback ports of the local platform; replica N of the app listens on `app + N`."""

    app: Port = 18000
    prometheus: Port = 19090
    alertmanager: Port = 19093
    grafana: Port = 13000
    sink: Port = 19095

    @model_validator(mode="after")
    def _distinct(self) -> LocalPorts:
        seen: dict[int, str] = {}
        for name, port in self.model_dump().items():
            if port in seen:
                raise ValueError(f"{name} and {seen[port]} both use port {port}")
            seen[port] = name
        return self


class TrafficSettings(_Model):
    """The traffic generator that keeps graphs from being empty."""

    enabled: bool = Field(True, description="Run the traffic generator.")
    rps: float = Field(8.0, gt=0, le=1000, description="Requests per second across all replicas.")


class LocalSettings(_Model):
    """Processes on this machine under supervisord."""

    ports: LocalPorts = Field(default_factory=LocalPorts, description="Loopback ports.")
    traffic: TrafficSettings = Field(default_factory=TrafficSettings, description="Traffic generator.")
    prometheus_binary: str = Field("prometheus", description="Prometheus binary (name on PATH, or a path).")
    alertmanager_binary: str = Field(
        "prometheus-alertmanager",
        description="Alertmanager binary (Debian names it prometheus-alertmanager; upstream alertmanager).",
    )
    grafana_binary: str | None = Field(
        None, description="Grafana binary; by default `grafana` or `grafana-server` on PATH, else skipped."
    )
    retention: Duration = Field("1d", description="Prometheus TSDB retention.")
    ready_timeout: Duration = Field("30s", description="How long `up` waits for every process to be ready.")


# Control-plane components kube-prometheus-stack scrapes (its kubeControllerManager,
# kubeScheduler, kubeEtcd and kubeProxy values), by cluster distribution. On kubeadm-style
# clusters (kind, kubeadm) they bind their metrics to 127.0.0.1, on k3s/k3d they are embedded in
# the server, and a managed control plane (EKS, GKE, AKS) hides them: scraping them there only
# yields permanently firing *Down alerts. `generic` keeps the chart's defaults (all scraped).
CONTROL_PLANE_COMPONENTS = ("controller_manager", "scheduler", "etcd", "kube_proxy")
CONTROL_PLANE_SCRAPED: dict[str, tuple[str, ...]] = {
    "generic": CONTROL_PLANE_COMPONENTS,
    "kind": (),
    "kubeadm": (),
    "k3d": (),
    "managed": (),
}
LAPTOP_DISTRIBUTIONS = ("kind", "k3d")


class KubernetesSettings(_Model):
    """The Kubernetes layer: where and how the charts are installed."""

    context: str | None = Field(
        None, description="kube context obsctl must find current (required for target kubernetes)."
    )
    kubeconfig: str | None = Field(None, description="kubeconfig path; default $KUBECONFIG or ~/.kube/config.")
    distribution: Literal["generic", "kind", "k3d", "kubeadm", "managed"] = Field(
        "generic",
        description=(
            "What kind of cluster this is: decides which control-plane components are scraped (`kind`, `k3d`,"
            " `kubeadm`, `managed`: none, they are unreachable there; `generic`: all, the chart's default) and"
            " the app's default image pull policy (`kind`, `k3d`: IfNotPresent). eks environments are `managed`."
        ),
    )
    monitoring_namespace: Name = Field("monitoring", description="Namespace of kube-prometheus-stack.")
    app_namespace: Name = Field("observability", description="Namespace of the app.")
    kps_release: Name = Field("kube-prometheus-stack", description="Release name of kube-prometheus-stack.")
    kps_chart: str = Field(
        "prometheus-community/kube-prometheus-stack",
        description="Chart reference: repo/name, an oci:// URL or a local path.",
    )
    kps_chart_version: str = Field("88.5.3", description="Pinned kube-prometheus-stack chart version.")
    kps_repo_url: str = Field("https://prometheus-community.github.io/helm-charts", description="Chart repository URL.")
    app_release: Name = Field("obsctl-app", description="Release name of the app chart.")
    grafana_admin_secret: Name = Field(
        "obsctl-grafana-admin", description="Secret obsctl creates with the generated Grafana admin password."
    )
    alertmanager_secret: Name = Field(
        "obsctl-alertmanager-receivers",
        description=(
            "Secret obsctl creates in the monitoring namespace with the receivers' secrets (read from the"
            " environment at `up`); Alertmanager reads them as files (`*_file`), so no secret is ever in Helm values."
        ),
    )
    prometheus_retention: Duration = Field("15d", description="Prometheus TSDB retention.")
    prometheus_storage: str = Field("20Gi", description="Prometheus volume size ('' for emptyDir).")
    wait_timeout: Duration = Field("10m", description="Deadline for each wait (CRDs, rollouts, namespaces).")


class S3Backend(_Model):
    """Terraform remote state in S3 with native locking (use_lockfile, Terraform >= 1.10)."""

    bucket: str = Field(..., description="State bucket (must exist, versioned and encrypted).")
    key: str | None = Field(None, description="State object key; default obsctl/<env>/terraform.tfstate.")
    region: str | None = Field(None, description="Bucket region; default the environment's region.")
    kms_key_id: str | None = Field(None, description="KMS key for the state object; default SSE-S3.")


MIN_EKS_MINOR = 25  # terraform/variables.tf kubernetes_version holds the same floor


class AwsSettings(_Model):
    """The AWS layer (terraform/): VPC, EKS, bastion, ECR. Values map 1:1 to terraform variables."""

    region: str = Field(..., pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", description="AWS region, e.g. eu-west-1.")
    project: Name = Field("obsctl", max_length=32, description="`Project` tag on every resource.")
    terraform_lock_timeout: Duration = Field(
        "60s", description="How long Terraform waits for a state lock held by another run (-lock-timeout)."
    )
    profile: str | None = Field(None, description="AWS profile; default the standard credential chain.")
    cluster_name: str = Field(
        ...,
        pattern=r"^[a-z][-a-z0-9]*$",
        max_length=28,
        description="EKS cluster name (<= 28 chars: derived IAM names must fit); the tag leftovers are found by.",
    )
    kubernetes_version: str = Field(
        "1.33",
        pattern=r"^1\.\d+$",
        description="EKS Kubernetes version, at least 1.25 (the VPC CNI enforces NetworkPolicy from there).",
    )
    vpc_cidr: str = Field("10.0.0.0/16", description="VPC CIDR block.")
    az_count: int = Field(2, ge=2, le=3, description="Availability zones to spread subnets over.")
    single_nat_gateway: bool = Field(True, description="One NAT gateway (cheaper) instead of one per AZ.")
    node_instance_types: list[str] = Field(["t3.large"], min_length=1, description="Node instance types.")
    node_ami_type: str = Field("AL2023_x86_64_STANDARD", description="Managed node group AMI type.")
    node_min_size: int = Field(2, ge=1, description="Node group minimum size.")
    node_max_size: int = Field(4, ge=1, description="Node group maximum size.")
    node_desired_size: int = Field(2, ge=1, description="Node group desired size.")
    node_disk_size_gib: int = Field(50, ge=20, le=1000, description="Node root volume size (GiB).")
    cluster_endpoint_public_access: bool = Field(
        True,
        description="Expose the API endpoint publicly; must stay true: obsctl drives Helm and the Kubernetes"
        " API from this machine (narrow cluster_endpoint_public_access_cidrs instead).",
    )
    cluster_endpoint_public_access_cidrs: list[str] = Field(
        ["0.0.0.0/0"],
        description="CIDRs allowed to reach the public API endpoint; the default is the whole internet"
        " (IAM authentication alone guards it), so `up` warns and prints your own address as a /32 to use.",
    )
    cluster_admin_principal_arns: list[str] = Field(
        default_factory=list, description="IAM principals given cluster admin through access entries."
    )
    cluster_log_types: list[str] = Field(["api", "audit", "authenticator"], description="EKS control-plane log types.")
    cluster_log_retention_days: int = Field(90, ge=1, description="CloudWatch retention of those logs.")
    bastion_instance_type: str = Field("t3.micro", description="Bastion instance type.")
    bastion_ssh_cidrs: list[str] = Field(
        default_factory=list, description="CIDRs allowed to SSH to the bastion; empty = SSM only."
    )
    bastion_ssh_key_name: str | None = Field(None, description="EC2 key pair for SSH; none = SSM only.")
    ecr_repository_name: str = Field("obsctl-app", description="ECR repository for the app image.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on every resource.")
    backend: S3Backend | None = Field(None, description="Remote state; local state when absent.")

    @field_validator("cluster_endpoint_public_access")
    @classmethod
    def _reachable_from_here(cls, value: bool) -> bool:
        if not value:
            raise ValueError(
                "false is not supported: obsctl runs Helm and the Kubernetes API from this machine, so `up`"
                " would build the whole AWS layer and then fail to reach a private-only endpoint; keep it true"
                " and narrow cluster_endpoint_public_access_cidrs to your own address (a /32)"
            )
        return value

    @field_validator("kubernetes_version")
    @classmethod
    def _enforces_network_policy(cls, value: str) -> str:
        if int(value.split(".")[1]) < MIN_EKS_MINOR:
            raise ValueError(
                f"{value} is too old: the VPC CNI enforces the app's NetworkPolicy from 1.{MIN_EKS_MINOR} on;"
                " use a version EKS currently supports, e.g. 1.33"
            )
        return value

    @model_validator(mode="after")
    def _sizes(self) -> AwsSettings:
        if not self.node_min_size <= self.node_desired_size <= self.node_max_size:
            raise ValueError("node sizes must satisfy node_min_size <= node_desired_size <= node_max_size")
        return self


# --- environments ----------------------------------------------------------------------


class _EnvBase(_Model):
    description: str = Field("", description="What this environment is for.")
    app: AppSettings = Field(default_factory=AppSettings, description="The FastAPI service.")
    scrape: ScrapeSettings = Field(default_factory=ScrapeSettings, description="Scraping and evaluation.")
    alerting: AlertingSettings = Field(default_factory=AlertingSettings, description="Alert routing.")
    slos: list[Slo] = Field(
        default_factory=list,
        description="SLOs of this environment: added to the top-level slos; one of the same name replaces it.",
    )
    exclude_slos: list[str] = Field(default_factory=list, description="Top-level SLOs this environment drops.")


class LocalEnv(_EnvBase):
    """The default: the platform as local processes under supervisord."""

    target: Literal["local"]
    local: LocalSettings = Field(default_factory=LocalSettings, description="Local processes.")


class KubernetesEnv(_EnvBase):
    """Any existing kube context (kind, k3d, a company cluster)."""

    target: Literal["kubernetes"]
    kubernetes: KubernetesSettings = Field(..., description="The Kubernetes layer.")

    @field_validator("kubernetes")
    @classmethod
    def _context_required(cls, value: KubernetesSettings) -> KubernetesSettings:
        if not value.context:
            raise ValueError("context is required: name the kube context this environment deploys to")
        return value


class EksEnv(_EnvBase):
    """Terraform creates the AWS layer, then the Kubernetes layer goes on the new cluster."""

    target: Literal["eks"]
    aws: AwsSettings = Field(..., description="The AWS layer.")
    kubernetes: KubernetesSettings = Field(
        default_factory=KubernetesSettings, description="The Kubernetes layer (context is obsctl's own)."
    )


EnvSpec = Annotated[LocalEnv | KubernetesEnv | EksEnv, Field(discriminator="target")]
TARGETS = ("local", "kubernetes", "eks")


class ObsctlConfig(_Model):
    """The whole obsctl.yaml."""

    default_environment: str = Field(DEFAULT_ENVIRONMENT, description="Environment used without --env.")
    project_root: str = Field(
        ".", description="Folder holding rules/, dashboards/, app/, terraform/ ..., relative to this file."
    )
    state_dir: str = Field(".obsctl", description="Where rendered files, data and logs go (per environment).")
    slos: list[Slo] = Field(default_factory=list, description="SLOs every environment gets (see obsctl/slo_spec.py).")
    environments: dict[Name, EnvSpec] = Field(..., min_length=1, description="Named environments.")

    @model_validator(mode="after")
    def _default_exists(self) -> ObsctlConfig:
        if self.default_environment not in self.environments:
            raise ValueError(f"default_environment '{self.default_environment}' is not under environments")
        return self

    @model_validator(mode="after")
    def _merge_slos(self) -> ObsctlConfig:
        """Each environment's `slos` becomes its effective list (shared + own, see slo_spec.merge)."""
        for name, spec in self.environments.items():
            try:
                slos = merge(self.slos, spec.slos, spec.exclude_slos)
            except ValueError as exc:
                raise ValueError(f"environments.{name}: {exc}") from None
            self.environments[name] = spec.model_copy(update={"slos": slos, "exclude_slos": []})
        return self


# --- loading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Environment:
    """One selected environment, with the paths every layer uses."""

    name: str
    spec: LocalEnv | KubernetesEnv | EksEnv
    root: Path  # the project root: the folder holding obsctl.yaml, rules/, dashboards/, app/ ...
    config_path: Path
    state_root: Path  # .obsctl

    @property
    def target(self) -> str:
        return self.spec.target

    @property
    def state_dir(self) -> Path:
        return self.state_root / self.name

    @property
    def rendered_dir(self) -> Path:
        return self.state_dir / "rendered"


def find_config(explicit: str | None, cwd: Path | None = None) -> Path:
    """The config file: --config / OBSCTL_CONFIG, else obsctl.yaml here or in a parent folder."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {explicit} does not exist", "check the path given to --config")
        return path.resolve()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_FILE} in {here} or any parent folder",
        "run obsctl from the project checkout, or pass --config PATH",
    )


def _loc(loc: tuple[Any, ...]) -> str:
    """`environments.local.app.replicas` from a pydantic location.

    pydantic puts the discriminator value of the tagged union right after the
    environment's name (`environments.dev.local.app`); it is not a key the user wrote.
    """
    parts = [p for p in loc if p != "[key]"]
    if len(parts) > 2 and parts[0] == "environments" and parts[2] in TARGETS:
        del parts[2]
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def _message(err: dict[str, Any]) -> str:
    msg = str(err["msg"])
    if "[key]" in err["loc"]:
        return "is not a valid name: use lowercase letters, digits and '-'"
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see examples/ for every key)"
    if err["type"] == "union_tag_invalid" and err.get("ctx", {}).get("discriminator") == "'target'":
        return f"unknown target; use one of {', '.join(TARGETS)}"
    if err["type"] == "union_tag_not_found" and err.get("ctx", {}).get("discriminator") == "'target'":
        return f"missing 'target'; use one of {', '.join(TARGETS)}"
    return msg.removeprefix("Value error, ")


def parse_config(text: str, source: str) -> ObsctlConfig:
    """Parse and validate config text; every problem becomes a one-line ConfigError."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: malformed YAML: {problem}", "fix the YAML syntax at that line") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'environments:' at the top", "see examples/")
    try:
        return ObsctlConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        where = _loc(tuple(first["loc"])) or "(top level)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(
            f"{source}: {where}: {_message(first)}{more}",
            "fix obsctl.yaml; every key is documented in examples/ and `obsctl render` checks it safely",
        ) from None


def load(config: str | None = None, env: str | None = None, cwd: Path | None = None) -> Environment:
    """Load obsctl.yaml and select one environment (flags beat OBSCTL_CONFIG / OBSCTL_ENV)."""
    path = find_config(config or os.environ.get("OBSCTL_CONFIG") or None, cwd)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", "check the file's permissions and encoding") from None
    cfg = parse_config(text, path.name)
    name = env or os.environ.get("OBSCTL_ENV") or cfg.default_environment
    if name not in cfg.environments:
        known = ", ".join(sorted(cfg.environments))
        raise ConfigError(
            f"unknown environment '{name}' (known: {known})",
            f"pick one with --env NAME or OBSCTL_ENV, or add '{name}' under environments: in {path.name}",
        )
    root = (path.parent / cfg.project_root).resolve()
    check_thresholds(cfg.environments[name].slos, root, f"{path.name}: environments.{name}.slos")
    state = Path(cfg.state_dir)
    return Environment(
        name=name,
        spec=cfg.environments[name],
        root=root,
        config_path=path,
        state_root=state if state.is_absolute() else root / state,
    )
