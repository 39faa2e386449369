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
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from obsctl import bundled, crashlog, inputs
from obsctl.errors import ConfigError
from obsctl.slo_spec import Slo, check_thresholds, merge

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

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
    # strict: YAML `replicas: true` or `send_resolved: "no"` must not quietly become 1 or False
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


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


class AutoscalingSettings(_Model):
    """A HorizontalPodAutoscaler on request rate per Pod (cluster targets; docs/autoscaling.md).

    The rate is `http_requests_total` (what the dashboards chart), served to the HPA as the Pods
    metric `http_requests_per_second` by prometheus-adapter, which obsctl installs after
    kube-prometheus-stack. With it on, the chart stops setting the Deployment's replicas."""

    min: int = Field(..., ge=1, le=100, description="Fewest replicas the HPA keeps (at least 1).")
    max: int = Field(..., ge=1, le=100, description="Most replicas the HPA may run (at least min).")
    target_rps_per_pod: float = Field(
        ...,
        ge=0.001,
        le=100_000,
        description="Requests per second each Pod should serve on average; more than 0 (Kubernetes"
        " quantities stop at milli precision, so at least 0.001).",
    )

    @model_validator(mode="after")
    def _range(self) -> AutoscalingSettings:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be at least min ({self.min})")
        return self


class AppSettings(_Model):
    """The FastAPI service (app/)."""

    replicas: int = Field(2, ge=1, le=20, description="Replicas (pods, or local processes).")
    workers: int = Field(1, ge=1, le=16, description="uvicorn worker processes per replica.")
    version: str = Field(
        "0.1.0",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$",  # pasted into supervisord.conf: no quote, no newline
        description="Version reported by the app_info metric: letters, digits and . _ + - (e.g. 1.2.3, 1.2.3-rc.1).",
    )
    fault: FaultSettings = Field(default_factory=FaultSettings, description="Faults injected by config.")
    image: ImageSettings = Field(default_factory=ImageSettings, description="Container image (clusters).")
    autoscaling: AutoscalingSettings | None = Field(
        None,
        description="Scale the app's Pods on request rate (cluster targets); absent: `replicas` Pods, always.",
    )


class ScrapeSettings(_Model):
    """How Prometheus scrapes the app (job `fastapi`: the alert rules select on it)."""

    path: str = Field("/metrics", pattern=r"^/", description="Metrics path on the app.")
    interval: Duration = Field("30s", description="Scrape interval.")
    evaluation_interval: Duration = Field("30s", description="Rule evaluation interval.")


# --- alert routing ---------------------------------------------------------------------


class WebhookReceiver(_Model):
    """A webhook. Give `url`, or `url_env` to read it from an environment variable (a secret);
    neither with the receiver's `sink: obsctl`."""

    url: str | None = Field(None, pattern=r"^https?://", description="Webhook URL (not a secret).")
    url_env: str | None = Field(None, description="Environment variable that holds the URL (a secret).")
    send_resolved: bool = Field(True, description="Also notify when the alert resolves.")

    @model_validator(mode="after")
    def _one_source(self) -> WebhookReceiver:
        if self.url is not None and self.url_env is not None:
            raise ValueError("give exactly one of url or url_env")
        return self


class SlackReceiver(_Model):
    """A Slack incoming webhook; the URL is a secret, so it is only read from the environment."""

    api_url_env: str | None = Field(None, description="Environment variable that holds the Slack webhook URL.")
    channel: str = Field(..., description="Channel, e.g. #alerts.")
    send_resolved: bool = Field(True, description="Also notify when the alert resolves.")


def _matching(pattern: str, what: str) -> Any:
    """A validator that names what a value must look like (a bare regex helps nobody)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(f"'{value}' is not {what}")
        return value

    return AfterValidator(check)


EnvVar = Annotated[
    str,
    Field(max_length=128, description="An environment variable's name."),
    _matching(r"^[A-Za-z_][A-Za-z0-9_]*$", "an environment variable name (letters, digits, _; e.g. PD_ROUTING_KEY)"),
]
HttpUrl = Annotated[str, _matching(r"^https?://[^\s/]+(/\S*)?$", "an http(s):// URL")]
Address = Annotated[str, _matching(r"^[^@\s,]+@[^@\s,]+$", "one e-mail address (name@domain)")]
HostPort = Annotated[str, _matching(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$", "host:port (e.g. smtp.example.com:587)")]


class PagerDutyReceiver(_Model):
    """PagerDuty Events API v2. The routing (integration) key is a secret: only read from the environment."""

    routing_key_env: EnvVar | None = Field(None, description="Environment variable that holds the routing key.")
    url: HttpUrl | None = Field(
        None, description="Events API URL override (default PagerDuty's); locally obsctl's own sink."
    )
    severity: Literal["critical", "error", "warning", "info"] | None = Field(
        None, description="PagerDuty severity; default: Alertmanager's (`error`)."
    )
    send_resolved: bool = Field(True, description="Also resolve the incident when the alert resolves.")


class EmailReceiver(_Model):
    """E-mail over SMTP. STARTTLS is always required (`require_tls`), so no password crosses in clear."""

    to: Address = Field(..., description="Recipient address.")
    sender: Address = Field(..., alias="from", description="From address.")
    smarthost: HostPort | None = Field(None, description="SMTP server as host:port (e.g. smtp.example.com:587).")
    auth_username: str | None = Field(None, description="SMTP AUTH user name (not a secret).")
    auth_password_env: EnvVar | None = Field(None, description="Environment variable that holds the SMTP password.")
    ca_file: str | None = Field(
        None, description="CA bundle that signs the server's certificate (relative paths: from the config file)."
    )
    insecure_skip_verify: bool = Field(False, description="Skip certificate verification (a self-signed test server).")
    send_resolved: bool = Field(True, description="Also mail when the alert resolves.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _auth_pair(self) -> EmailReceiver:
        if (self.auth_username is None) != (self.auth_password_env is None):
            raise ValueError("give both auth_username and auth_password_env, or neither")
        if self.ca_file and self.insecure_skip_verify:
            raise ValueError("give ca_file or insecure_skip_verify, not both")
        return self


class OpsgenieReceiver(_Model):
    """Opsgenie Alert API (v2). The API key is a secret: only read from the environment."""

    api_key_env: EnvVar | None = Field(None, description="Environment variable that holds the Opsgenie API key.")
    api_url: HttpUrl | None = Field(
        None, description="API base URL override (default api.opsgenie.com; EU accounts: api.eu.opsgenie.com)."
    )
    priority: Literal["P1", "P2", "P3", "P4", "P5"] | None = Field(None, description="Alert priority.")
    send_resolved: bool = Field(True, description="Also close the Opsgenie alert when the alert resolves.")


# Per integration: (one of these says where it delivers, what `sink: obsctl` supplies instead)
OWN_SINK_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "webhooks": (("url", "url_env"), ("url", "url_env")),
    "slack": (("api_url_env",), ("api_url_env",)),
    "pagerduty": (("routing_key_env",), ("routing_key_env", "url")),
    "email": (("smarthost",), ("smarthost", "auth_username", "auth_password_env", "ca_file", "insecure_skip_verify")),
    "opsgenie": (("api_key_env",), ("api_key_env", "api_url")),
}


class Receiver(_Model):
    """A named receiver for Alertmanager."""

    name: Name = Field(..., description="Receiver name used by routes.")
    webhooks: list[WebhookReceiver] = Field(default_factory=list, description="Webhook targets.")
    slack: list[SlackReceiver] = Field(default_factory=list, description="Slack targets.")
    pagerduty: list[PagerDutyReceiver] = Field(default_factory=list, description="PagerDuty (Events v2) targets.")
    email: list[EmailReceiver] = Field(default_factory=list, description="E-mail targets.")
    opsgenie: list[OpsgenieReceiver] = Field(default_factory=list, description="Opsgenie targets.")
    sink: Literal["obsctl"] | None = Field(
        None,
        description="`obsctl`: every integration goes to obsctl's own local sink for its type; the local target"
        " supplies where (from local.ports, state_dir) and the credentials. Local target only.",
    )

    @model_validator(mode="after")
    def _where_it_goes(self) -> Receiver:
        """Without `sink`, each integration names where it delivers; with `sink: obsctl`, none may (obsctl does)."""
        for kind, (needed, supplied) in OWN_SINK_FIELDS.items():
            for j, item in enumerate(getattr(self, kind)):
                given = [f for f in supplied if f in item.model_fields_set]
                if self.sink and given:
                    raise ValueError(
                        f"{kind}[{j}].{given[0]}: sink: obsctl supplies it (obsctl's own {kind} sink);"
                        " remove it, or remove sink to deliver elsewhere"
                    )
                if not self.sink and not any(getattr(item, f) is not None for f in needed):
                    raise ValueError(f"{kind}[{j}]: give {' or '.join(needed)} (or sink: obsctl on the local target)")
        if self.sink and not any(getattr(self, kind) for kind in OWN_SINK_FIELDS):
            raise ValueError(f"sink: obsctl needs an integration to deliver ({', '.join(OWN_SINK_FIELDS)})")
        return self

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in ("null", "obsctl-sink"):
            raise ValueError(f"'{value}' is obsctl's own receiver; pick another name")
        return value


class SeverityReceivers(_Model):
    """Who hears what: `page` gets severity=critical, `ticket` gets severity=warning."""

    page: list[Name] = Field(default_factory=list, description="Receivers paged for severity=critical.")
    ticket: list[Name] = Field(default_factory=list, description="Receivers ticketed for severity=warning.")


class HeartbeatSettings(_Model):
    """The dead man's switch: Watchdog always fires, and this receiver hears it every `repeat_interval`."""

    receiver: Name = Field(..., description="Receiver of the Watchdog heartbeat (declared under receivers).")
    repeat_interval: Duration = Field("1m", description="How often the heartbeat is sent again.")


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
    page: list[Name] = Field(
        default_factory=list, description="Receivers for severity=critical (after `routes`, unless a team has its own)."
    )
    ticket: list[Name] = Field(
        default_factory=list, description="Receivers for severity=warning (after `routes`, unless a team has its own)."
    )
    teams: dict[Name, SeverityReceivers] = Field(
        default_factory=dict,
        description="Per value of the `team` label: its own page/ticket receivers (an empty list: the global one).",
    )
    heartbeat: HeartbeatSettings | None = Field(
        None, description="Dead man's switch receiver for Watchdog; without it Watchdog goes to `null`."
    )
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
        named = [("page", n) for n in self.page] + [("ticket", n) for n in self.ticket]
        named += [
            (f"teams.{t}.{k}", n) for t, s in self.teams.items() for k in ("page", "ticket") for n in getattr(s, k)
        ]
        if self.heartbeat:
            named.append(("heartbeat.receiver", self.heartbeat.receiver))
        for where, name in named:
            if name not in names:
                raise ValueError(
                    f"{where}: receiver '{name}' is not declared under receivers"
                    f" (declared: {', '.join(sorted(names)) or 'none'})"
                )
        dupes = sorted({n for n in (r.name for r in self.receivers) if [r.name for r in self.receivers].count(n) > 1})
        if dupes:
            raise ValueError(f"receivers: name(s) {', '.join(dupes)} declared more than once")
        return self


# --- target-specific settings -----------------------------------------------------------


class LocalPorts(_Model):
    """Loopback ports of the local platform; replica N of the app listens on `app + N`."""

    app: Port = 18000
    prometheus: Port = 19090
    alertmanager: Port = 19093
    grafana: Port = 13000
    sink: Port = 19095
    smtp: Port = 19025  # obsctl's SMTP sink (STARTTLS + AUTH), for the local e-mail receiver

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
    adapter_release: Name = Field(
        "prometheus-adapter", description="Release name of prometheus-adapter (installed only with app.autoscaling)."
    )
    adapter_chart: str = Field(
        "prometheus-community/prometheus-adapter",
        description="prometheus-adapter chart reference: repo/name (from kps_repo_url), an oci:// URL or a local path.",
    )
    adapter_chart_version: str = Field("5.3.0", description="Pinned prometheus-adapter chart version.")
    node_autoscaler_chart: str = Field(
        "autoscaler/cluster-autoscaler",
        description="cluster-autoscaler chart (eks with aws.node_autoscaler: cluster-autoscaler): repo/name (from"
        " node_autoscaler_repo_url), an oci:// URL or a local path.",
    )
    node_autoscaler_chart_version: str = Field("9.59.0", description="Pinned cluster-autoscaler chart version.")
    node_autoscaler_repo_url: str = Field(
        "https://kubernetes.github.io/autoscaler", description="Chart repository of cluster-autoscaler."
    )
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


class GithubOidcSettings(_Model):
    """A role GitHub Actions assumes through GitHub's OIDC provider (terraform/github_oidc.tf):
    push to this environment's ECR repository and deploy to its cluster, with no stored key."""

    repository: str = Field(
        ..., pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", description="GitHub repository, owner/name."
    )
    branches: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]+$")]] = Field(
        ["main"], min_length=1, description="Branches whose workflows may assume the role (exact names, no wildcard)."
    )
    environment: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="GitHub environment whose jobs may assume the role; default: this obsctl environment's name"
        " (the deploy workflow's environment, guarded by its required reviewers).",
    )
    provider_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$",
        description="An existing IAM OIDC provider for GitHub (one per account); default: Terraform creates it.",
    )
    policy_arns: list[Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/.+$")]] = Field(
        default_factory=list,
        description="Managed policies added to the role beyond what `obsctl up --skip-terraform` needs (granted:"
        " push to the ECR repository, reach the cluster, read the Terraform state); none by default, none needed.",
    )

    @field_validator("branches")
    @classmethod
    def _branch_names(cls, value: list[str]) -> list[str]:
        for branch in value:
            if branch.startswith("refs/"):
                raise ValueError(
                    f"'{branch}': give the branch name only, e.g. 'main' (the role trusts refs/heads/<name>)"
                )
        return value


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
    node_autoscaler: Literal["none", "cluster-autoscaler"] = Field(
        "none",
        description="Who adds and removes nodes between node_min_size and node_max_size: `cluster-autoscaler`"
        " (Terraform makes its IAM role through EKS Pod Identity, obsctl installs the chart) or `none`.",
    )
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
    github_oidc: GithubOidcSettings | None = Field(
        None, description="A deploy role for GitHub Actions through OIDC (README: Run obsctl from CI); none if absent."
    )

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

    @model_validator(mode="after")
    def _own_sink_is_local(self) -> Self:
        """obsctl's own sinks run only under the local target: a cluster has nothing to deliver them to."""
        target = getattr(self, "target", "local")
        for i, rec in enumerate(self.alerting.receivers):
            if rec.sink and target != "local":
                raise ValueError(
                    f"alerting.receivers[{i}].sink: obsctl's own sink runs only on the local target, not {target};"
                    f" point {rec.name} at its service instead (url_env, routing_key_env, smarthost ...)"
                )
        return self


class LocalEnv(_EnvBase):
    """The default: the platform as local processes under supervisord."""

    target: Literal["local"]
    local: LocalSettings = Field(default_factory=LocalSettings, description="Local processes.")

    @model_validator(mode="after")
    def _replica_ports(self) -> LocalEnv:
        """Replica N listens on `ports.app + N`: the whole range must fit and stay clear of the others."""
        ports, replicas = self.local.ports, self.app.replicas
        last = ports.app + replicas - 1
        if last > 65535:
            raise ValueError(
                f"local.ports.app {ports.app} with {replicas} replicas needs ports up to {last}, past 65535;"
                f" lower local.ports.app to at most {65536 - replicas}"
            )
        clash = [
            f"{name} {port}" for name, port in ports.model_dump().items() if name != "app" and ports.app <= port <= last
        ]
        if clash:
            raise ValueError(
                f"the app replicas use ports {ports.app}-{last} (local.ports.app + replica), which collides with"
                f" {', '.join(clash)}; move local.ports.app or those ports out of that range"
            )
        return self

    @field_validator("app")
    @classmethod
    def _no_autoscaler_here(cls, value: AppSettings) -> AppSettings:
        if value.autoscaling is not None:
            raise ValueError(
                "autoscaling needs a cluster target (a HorizontalPodAutoscaler scales Pods); the local"
                " target runs app.replicas processes: remove app.autoscaling here, or set app.replicas"
            )
        return value


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

    @model_validator(mode="after")
    def _ci_can_deploy(self) -> EksEnv:
        if self.aws.github_oidc is None:
            return self
        if self.aws.backend is None:
            raise ValueError(
                "aws.github_oidc needs aws.backend: every CI run starts from a fresh checkout, so local Terraform"
                " state would be lost and `up` would create a second AWS layer; configure S3 state"
            )
        if not self.app.image.repository.endswith("/" + self.aws.ecr_repository_name):
            raise ValueError(
                f"app.image.repository '{self.app.image.repository}' is not the ECR repository"
                f" '{self.aws.ecr_repository_name}' the CI role may push to; set it to"
                f" <account>.dkr.ecr.{self.aws.region}.amazonaws.com/{self.aws.ecr_repository_name}"
            )
        return self


EnvSpec = Annotated[LocalEnv | KubernetesEnv | EksEnv, Field(discriminator="target")]
TARGETS = ("local", "kubernetes", "eks")


class ObsctlConfig(_Model):
    """The whole obsctl.yaml."""

    default_environment: str = Field(DEFAULT_ENVIRONMENT, description="Environment used without --env.")
    project_root: str | None = Field(
        None,
        description="Folder holding rules/, dashboards/, app/, helm-values/, terraform/, relative to this file."
        " Unset: this file's folder when it has rules/ (a checkout), else the content shipped with obsctl.",
    )
    state_dir: str = Field(
        ".obsctl",
        description="Where rendered files, data and logs go (per environment),"
        " relative to project_root when set, else to this file's folder.",
    )
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
    root: Path  # the content: rules/, dashboards/, app/ ... (project_root, a checkout, or obsctl's own)
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


def find_config(explicit: str | None, cwd: Path | None = None) -> Path | None:
    """The config file: --config / OBSCTL_CONFIG, else obsctl.yaml here or in a parent folder;
    None when there is none (load() then uses the default config shipped with obsctl)."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            problem = inputs.path_problem(path) or "does not exist"
            raise ConfigError(f"config file {explicit} {problem}", "check the path given to --config")
        return path.resolve()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
        if why := inputs.path_problem(candidate):  # a directory or a loop is not "no obsctl.yaml"
            raise ConfigError(f"{candidate} {why}", "make it the config file, or pass --config PATH")
    return None


def default_state_root() -> Path:
    """Where state goes when no obsctl.yaml was found: $XDG_STATE_HOME/obsctl (~/.local/state/obsctl),
    the per-user folder the crash log falls back to as well."""
    return crashlog.user_dir().expanduser().resolve()


def _project(path: Path, cfg: ObsctlConfig) -> tuple[Path, Path]:
    """(where the content is read from, the folder state_dir is relative to) for a config file.

    `project_root` names a project's own content; unset, the config's folder is the project
    when it has rules/ (a checkout), else obsctl's shipped content is used and state stays
    next to the config file."""
    if cfg.project_root is not None:
        folder = (path.parent / cfg.project_root).resolve()
        if not folder.is_dir():
            raise ConfigError(
                f"{path.name}: project_root: {folder} is not a folder",
                "point it at a folder holding rules/, dashboards/, app/ ..., or remove it to use obsctl's own content",
            )
        return folder, folder
    if (path.parent / "rules").is_dir():
        return path.parent, path.parent
    shipped = bundled.content_root()
    if shipped is None:
        raise ConfigError(
            "this obsctl has no platform content (rules/, dashboards/, app/ ...)",
            f"reinstall obsctl from a wheel, or set project_root in {path.name} to a checkout",
        )
    return shipped, path.parent


def _loc(loc: tuple[Any, ...]) -> str:
    """`environments.local.app.replicas` from a pydantic location.

    pydantic puts the discriminator value of the tagged union right after the
    environment's name (`environments.dev.local.app`); it is not a key the user wrote.
    """
    parts = [p for p in loc if p != "[key]"]
    if len(parts) > 2 and parts[0] == "environments" and parts[2] in TARGETS:
        del parts[2]
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def _message(err: ErrorDetails) -> str:
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
    data = inputs.load_yaml(text, source, "fix the YAML syntax at that line")
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


IMAGE_DIGEST_ENV = "OBSCTL_APP_IMAGE_DIGEST"


def with_image_digest(spec: LocalEnv | KubernetesEnv | EksEnv, digest: str) -> LocalEnv | KubernetesEnv | EksEnv:
    """`spec` with `app.image.digest` set from OBSCTL_APP_IMAGE_DIGEST (empty: unchanged).

    CI pushes the image and hands its digest to `up` this way, so the Pods run exactly the
    bytes that were built and tested, without a config edit per commit."""
    if not digest:
        return spec
    try:
        pinned = ImageSettings.model_validate({**spec.app.image.model_dump(), "digest": digest})
    except ValidationError:
        raise ConfigError(
            f"{IMAGE_DIGEST_ENV}='{digest}' is not an image digest (sha256: followed by 64 lowercase hex digits)",
            f"set it to the digest the registry returned for the push (docker/build-push-action's `digest`"
            f" output), or unset {IMAGE_DIGEST_ENV}",
        ) from None
    return spec.model_copy(update={"app": spec.app.model_copy(update={"image": pinned})})


def load(config: str | None = None, env: str | None = None, cwd: Path | None = None) -> Environment:
    """Load obsctl.yaml and select one environment (flags beat OBSCTL_CONFIG / OBSCTL_ENV)."""
    found = find_config(config or os.environ.get("OBSCTL_CONFIG") or None, cwd)
    path = found or bundled.default_config()
    if path is None:
        here = (cwd or Path.cwd()).resolve()
        raise ConfigError(
            f"no {CONFIG_FILE} in {here} or any parent folder, and this obsctl ships no default",
            "run obsctl from the project checkout, or pass --config PATH",
        )
    text = inputs.read_text(path, "config file", inputs.CONFIG_MAX_BYTES)
    cfg = parse_config(text, path.name)
    name = env or os.environ.get("OBSCTL_ENV") or cfg.default_environment
    if name not in cfg.environments:
        known = ", ".join(sorted(cfg.environments))
        raise ConfigError(
            f"unknown environment '{name}' (known: {known})",
            f"pick one with --env NAME or OBSCTL_ENV, or add '{name}' under environments: in {path.name}",
        )
    root, project = _project(path, cfg)
    check_thresholds(cfg.environments[name].slos, root, f"{path.name}: environments.{name}.slos")
    state = Path(cfg.state_dir)
    if found is None:  # the shipped default config: state never goes into the installation
        state = default_state_root()
    return Environment(
        name=name,
        spec=with_image_digest(cfg.environments[name], os.environ.get(IMAGE_DIGEST_ENV, "")),
        root=root,
        config_path=path,
        state_root=state if state.is_absolute() else project / state,
    )
