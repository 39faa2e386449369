"""EksTarget: the stages of the `eks` target (preflight, Terraform, the Kubernetes layer
composed, down with its volume wait and leftover scan), its status and endpoints. The price
table, the Terraform working directory and the kubeconfig are modules of their own beside it.

Progress lines (resources done / total, the slowest in flight) go to `self.reporter`, a
callback the CLI may set; this module never prints. Every stage is safe to repeat.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from obsctl import render as r
from obsctl.config import EksEnv, Environment, duration_seconds
from obsctl.console import Reporter, silent
from obsctl.errors import InputError, ObsctlError, PreflightError, ToolError, WaitTimeout
from obsctl.targets.base import Health, Rendered, Stage, StatusRow
from obsctl.targets.eks import kubeconfig, stateview, workdir
from obsctl.targets.eks.prices import CostEstimate, estimate_cost
from obsctl.tools import binaries

if TYPE_CHECKING:
    from obsctl.tools.aws import Aws, Leftover
    from obsctl.tools.terraform import Progress, TerraformRunner

# What obsctl reads from `terraform output -json` (terraform/outputs.tf must declare them all).
REQUIRED_OUTPUTS = (
    "region",
    "eks_cluster_name",
    "cluster_endpoint",
    "cluster_certificate_authority_data",
    "cluster_security_group_id",
    "vpc_id",
    "public_subnet_ids",
    "private_subnet_ids",
    "bastion_public_ip",
    "bastion_instance_id",
    "ecr_repository_url",
)
CLUSTER_ACTIVE_TIMEOUT = 20 * 60.0  # seconds; EKS takes ~10 min to create, updates can take longer
MIN_TERRAFORM_S3_LOCKFILE = (1, 10, 0)


def _aws_health(status: str) -> Health:
    """An EKS cluster's or node group's status (ACTIVE, CREATING, ..., CREATE_FAILED, DEGRADED)."""
    if status == "ACTIVE":
        return Health.ok
    if status.endswith("FAILED") or status == "DEGRADED":
        return Health.failed
    return Health.waiting


def _prefixlen(cidr: str) -> int | None:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen
    except ValueError:
        return None  # Terraform's validation names a malformed CIDR


def _architecture(ami_type: str) -> str:
    return "arm64" if "ARM" in ami_type.upper() else "x86_64"


# --- the target ---------------------------------------------------------------------------


class EksTarget:
    def __init__(
        self,
        env: Environment,
        terraform_source: Path | None = None,
        endpoint_url: str | None = None,
        scan_settle: float = 120.0,
        checkip_url: str | None = None,
    ) -> None:
        assert isinstance(env.spec, EksEnv)
        self.env = env
        self.spec: EksEnv = env.spec
        self.aws_settings = self.spec.aws
        self.cluster_name = self.aws_settings.cluster_name
        self.state = env.state_dir
        self.workdir = self.state / "terraform"
        self.log_dir = self.state / "logs"
        self.kubeconfig = self.state / "kubeconfig"
        self.context = f"obsctl-{env.name}"
        self.source = terraform_source or workdir.default_source(env.root)
        self.endpoint_url = endpoint_url
        self.checkip_url = checkip_url  # None: checkip.amazonaws.com (or OBSCTL_CHECKIP_URL)
        self.scan_settle = scan_settle  # seconds a leftover may take to disappear (ENIs, LBs)
        # seconds `down` waits for the CSI driver to delete the claims' volumes
        self.volume_timeout = duration_seconds(self.spec.kubernetes.wait_timeout)
        self.reporter: Reporter = silent  # progress lines; the CLI may replace it
        # asks whether to go on once the cost estimate is shown; None = do not ask (`up --yes`)
        self.confirm: Callable[[str], bool] | None = None
        self.last_estimate: CostEstimate | None = None
        self._outputs: dict[str, Any] | None = None
        self._outputs_lock = threading.Lock()
        self._cluster_live: bool | None = None
        # `--skip-terraform`: the Kubernetes layer only, the AWS layer's outputs read from its
        # state through a read-only view (what the narrow CI deploy role can do); never plan/apply
        self.skip_terraform = False
        self.state_view = self.state / "terraform-state"
        self._view_ready = False

    # -- adapters (imported lazily: `obsctl --help` must not pay for boto3) -----------------

    @cached_property
    def aws(self) -> Aws:
        from obsctl.tools.aws import Aws

        return Aws(self.aws_settings.region, self.aws_settings.profile, self.endpoint_url)

    @cached_property
    def terraform(self) -> TerraformRunner:
        return self._terraform_in(self.workdir)

    @cached_property
    def state_reader(self) -> TerraformRunner:
        """Terraform in the read-only view of the state (stateview): init and output only."""
        return self._terraform_in(self.state_view)

    def _terraform_in(self, directory: Path) -> TerraformRunner:
        from obsctl.tools.terraform import TerraformRunner

        env = {"AWS_PROFILE": self.aws_settings.profile} if self.aws_settings.profile else {}
        return TerraformRunner(
            directory,
            self.log_dir,
            binary=binaries.find("terraform") or "terraform",
            lock_timeout=self.aws_settings.terraform_lock_timeout,
            env=env,
        )

    def kubernetes_target(self) -> Any:
        """The Kubernetes layer on the new cluster, through obsctl's own kubeconfig and context."""
        from obsctl.targets.kubernetes import KubernetesTarget

        return KubernetesTarget(self.env, kubeconfig=self.kubeconfig, context=self.context)

    # -- render --------------------------------------------------------------------------

    def tfvars(self) -> str:
        return workdir.tfvars(self.aws_settings, self.env.name)

    def backend(self) -> str:
        return workdir.backend(self.aws_settings, self.env.name)

    def render(self) -> Rendered:
        """The Terraform working directory, and the Kubernetes layer's files."""
        out = self.render_terraform()
        try:
            k8s = self.kubernetes_target().render()
        except ImportError:
            out.notes.append("the Kubernetes layer (obsctl.targets.kubernetes) is not available: not rendered")
            return out
        out.files.extend(k8s.files)
        out.changed.extend(k8s.changed)
        out.notes.extend(k8s.notes)
        return out

    def render_terraform(self) -> Rendered:
        """`.obsctl/<env>/terraform/`: symlinks to terraform/*.tf, backend.tf.json, terraform.tfvars.json."""
        return workdir.render(self.source, self.workdir, self.aws_settings, self.env.name)

    def _render_terraform_stage(self) -> str:
        out = self.render_terraform()
        return f"{len(out.files)} files in {self.workdir}, {len(out.changed)} changed"

    # -- preflight -------------------------------------------------------------------------

    def check_credentials(self) -> str:
        """Fast: credentials exist (no network), then STS says who we are (short timeouts)."""
        ident = self.aws.identity()
        return f"account {ident.account} as {ident.arn} (credentials: {ident.credentials_from})"

    def check_tools(self) -> str:
        k = self.spec.kubernetes
        if k.context or k.kubeconfig:
            raise PreflightError(
                f"environments.{self.env.name}.kubernetes.context/kubeconfig are not used on eks:"
                f" obsctl writes its own kubeconfig ({self.kubeconfig}) for the new cluster",
                "remove those two keys from the eks environment",
            )
        found = (self.state_reader if self.skip_terraform else self.terraform).version()
        if self.aws_settings.backend is not None and found < MIN_TERRAFORM_S3_LOCKFILE:
            raise PreflightError(
                f"terraform {'.'.join(map(str, found))} cannot lock S3 state natively (use_lockfile needs >= 1.10)",
                "install Terraform >= 1.10, or remove aws.backend to keep local state",
            )
        helm = binaries.require_helm()  # missing, known-broken (helm/helm#30923) or unsupported: refused
        return f"terraform {'.'.join(map(str, found))}, helm {binaries.version('helm', helm)}"

    def check_region(self) -> CostEstimate:
        """AZs and instance types asked of the account, then the cost estimate from them."""
        a = self.aws_settings
        inputs = self.aws.cost_inputs([*a.node_instance_types, a.bastion_instance_type])
        if len(inputs.zones) < a.az_count:
            raise PreflightError(
                f"{a.region} has {len(inputs.zones)} usable availability zones, aws.az_count is {a.az_count}",
                "lower aws.az_count or pick another region",
            )
        if inputs.not_offered:
            raise PreflightError(
                f"instance type(s) not offered in {a.region}: {', '.join(inputs.not_offered)}",
                "pick types offered there (aws ec2 describe-instance-type-offerings)",
            )
        arch = _architecture(a.node_ami_type)
        wrong = [t for t in a.node_instance_types if arch not in inputs.instance_types[t].architectures]
        if wrong:
            raise PreflightError(
                f"node type(s) {', '.join(wrong)} cannot run {a.node_ami_type} ({arch})",
                "match aws.node_instance_types to aws.node_ami_type (e.g. t4g.* with *_ARM_64_*)",
            )
        self.last_estimate = estimate_cost(a, inputs)  # what the confirm stage quotes
        return self.last_estimate

    def check_endpoint_exposure(self) -> str:
        """A warning when the public API endpoint admits the whole internet, with the caller's
        own address as the /32 to use instead (when it can be found: said plainly if not)."""
        cidrs = self.aws_settings.cluster_endpoint_public_access_cidrs
        everyone = [c for c in cidrs if _prefixlen(c) == 0]
        if not everyone:
            return f"API endpoint reachable from {', '.join(cidrs)} only"
        from obsctl.tools.aws import public_ipv4

        try:
            mine = public_ipv4(self.checkip_url)
            advice = f"set aws.cluster_endpoint_public_access_cidrs: [{mine}/32] (this machine's public address)"
        except ToolError as exc:
            advice = (
                f"this machine's public address could not be found ({exc.message}):"
                " set aws.cluster_endpoint_public_access_cidrs to your egress address as a /32"
            )
        return (
            f"WARNING: the Kubernetes API endpoint is open to the whole internet ({', '.join(everyone)});"
            f" only IAM authentication guards it; {advice}"
        )

    def _preflight_stage(self) -> str:
        """Credentials first (so a machine without any fails in well under a second, before
        any Terraform run), then tools, then the region and the cost estimate."""
        who = self.check_credentials()
        tools = self.check_tools()
        estimate = self.check_region()
        return f"{who}; {tools}; {self.check_endpoint_exposure()}; {estimate.summary()}"

    def _confirm_stage(self) -> str:
        """Ask before anything that costs money is created, once preflight has shown the
        estimate (as `down` asks before it destroys). Declined: exit 2, nothing created."""
        if self.confirm is None:
            return "not asked (--yes)"
        est = self.last_estimate
        cost = f" (≈ ${est.hourly:.2f}/hour until `obsctl down`)" if est else ""
        question = f"Create or update EKS cluster {self.cluster_name} in {self.aws_settings.region}{cost}?"
        if not self.confirm(question):
            raise InputError(
                "not confirmed: nothing was created",
                f"run `obsctl up --env {self.env.name}` again and answer y, or pass --yes",
            )
        return "confirmed"

    # -- terraform stages ----------------------------------------------------------------

    def _progress(self, p: Progress) -> None:
        self.reporter(p.line())

    def _init_stage(self) -> str:
        return self.terraform.init()

    def _apply_stage(self) -> str:
        p = self.terraform.apply(self._progress)
        self._outputs = None
        return f"{p.done}/{p.total if p.total is not None else p.done} resource changes applied"

    def outputs(self, refresh: bool = False) -> dict[str, Any]:
        """Terraform's outputs (cached; verify's concurrent checks share one read)."""
        with self._outputs_lock:
            if self._outputs is None or refresh:
                self._outputs = self._view_outputs() if self.skip_terraform else self.terraform.outputs()
            return self._outputs

    def _view_outputs(self) -> dict[str, Any]:
        """Outputs through the read-only view of the state, initialized once per run."""
        if not self._view_ready:
            local_state = self.workdir / "terraform.tfstate"
            stateview.render(self.state_view, self.aws_settings, self.env.name, local_state, self.aws.endpoint_url)
            self.state_reader.init(reconfigure=True)  # the view holds no state of its own
            self._view_ready = True
        return self.state_reader.outputs()

    def read_state(self) -> str:
        """The AWS layer's outputs through the read-only view of its state (`--skip-terraform`):
        refused (exit 2) when that layer was never applied, since only a full `up` creates it."""
        out = self.outputs(refresh=True)
        missing = [k for k in REQUIRED_OUTPUTS if out.get(k) in (None, "", [], {})]
        if missing:
            where = stateview.where(self.aws_settings, self.env.name, self.workdir / "terraform.tfstate")
            never = "has no outputs" if not out else f"lacks {', '.join(missing)}"
            raise InputError(
                f"the AWS layer of {self.env.name} was never applied: its Terraform state ({where}) {never}",
                f"run a full `obsctl up --env {self.env.name}` with admin credentials first;"
                " --skip-terraform only deploys the Kubernetes layer onto it",
            )
        if out["eks_cluster_name"] != self.cluster_name:
            raise InputError(
                f"the Terraform state holds cluster {out['eks_cluster_name']}, obsctl.yaml says {self.cluster_name}",
                f"point aws.backend at {self.env.name}'s state, or fix aws.cluster_name",
            )
        return f"{len(out)} outputs read (read-only); cluster {out['eks_cluster_name']} at {out['cluster_endpoint']}"

    def _outputs_stage(self) -> str:
        out = self.outputs(refresh=True)
        missing = [k for k in REQUIRED_OUTPUTS if out.get(k) in (None, "", [], {})]
        if missing:
            raise ToolError(
                f"terraform outputs missing or empty after apply: {', '.join(missing)}",
                f"check {self.workdir} against terraform/outputs.tf, then re-run obsctl up",
            )
        r.write_if_changed(self.workdir / "last-outputs.json", json.dumps(out, indent=2, sort_keys=True) + "\n")
        return f"{len(out)} outputs; cluster {out['eks_cluster_name']} at {out['cluster_endpoint']}"

    def _cluster_active_stage(self, timeout: float = CLUSTER_ACTIVE_TIMEOUT, interval: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            c = self.aws.describe_cluster(self.cluster_name)
            if c is None:
                if self.skip_terraform:  # the state names it, EKS does not have it: not CI's to create
                    raise InputError(
                        f"EKS cluster {self.cluster_name} does not exist, though the Terraform state names it",
                        f"run a full `obsctl up --env {self.env.name}` with admin credentials",
                    )
                raise ToolError(f"EKS cluster {self.cluster_name} does not exist after apply", "re-run obsctl up")
            status = c.get("status")
            if status == "ACTIVE":
                return f"{self.cluster_name} ACTIVE, Kubernetes {c.get('version')}"
            if status in ("FAILED", "DELETING"):
                raise ToolError(f"EKS cluster {self.cluster_name} is {status}", "see the EKS console for the reason")
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"EKS cluster {self.cluster_name} still {status} after {timeout:.0f}s")
            self.reporter(f"cluster {self.cluster_name} is {status}")
            time.sleep(interval)

    def kubeconfig_data(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """A kubeconfig for the cluster whose credentials come from obsctl's token plugin."""
        a = self.aws_settings
        return kubeconfig.kubeconfig_data(self.context, outputs, a.region, a.profile, self.aws.endpoint_url)

    def write_kubeconfig(self, outputs: dict[str, Any] | None = None) -> bool:
        """Write .obsctl/<env>/kubeconfig (0600); True when it changed. Never ~/.kube/config."""
        return kubeconfig.write(self.kubeconfig, self.kubeconfig_data(outputs or self.outputs()))

    def _kubeconfig_stage(self) -> str:
        changed = self.write_kubeconfig()
        return f"{'wrote' if changed else 'unchanged'} {self.kubeconfig} (context {self.context})"

    # -- stages ----------------------------------------------------------------------------

    def _kubernetes_stages(self, verb: str, purge: bool) -> list[Stage]:
        """The Kubernetes layer's stages, composed. If the layer cannot be built before the
        cluster exists, one stage builds it when it runs and runs its stages in order."""
        try:
            k8s = self.kubernetes_target()
            stages: list[Stage] = k8s.up_stages() if verb == "up" else k8s.down_stages(purge)
            return stages
        except ObsctlError:
            return [Stage("kubernetes layer", lambda: self._deferred(verb, purge))]

    def _deferred(self, verb: str, purge: bool) -> str:
        k8s = self.kubernetes_target()
        stages = k8s.up_stages() if verb == "up" else k8s.down_stages(purge)
        details = []
        for stage in stages:
            self.reporter(f"kubernetes: {stage.name}")
            details.append(f"{stage.name}: {stage.run()}")
        return "; ".join(details)

    def up_stages(self) -> list[Stage]:
        if self.skip_terraform:
            return self._kubernetes_layer_up_stages()
        return [
            Stage("aws preflight", self._preflight_stage, changes=False),
            Stage("confirm", self._confirm_stage, changes=False),
            Stage("terraform render", self._render_terraform_stage, changes=False),
            Stage("terraform init", self._init_stage, changes=False),
            Stage("terraform apply", self._apply_stage),
            Stage("terraform outputs", self._outputs_stage),
            Stage("eks cluster active", self._cluster_active_stage),
            Stage("kubeconfig", self._kubeconfig_stage),
            *self._kubernetes_stages("up", False),
        ]

    def _kubernetes_layer_up_stages(self) -> list[Stage]:
        """`up --skip-terraform`: no cost estimate, no plan or apply; the outputs come from the
        state read-only, then the cluster, the kubeconfig and the Kubernetes layer as a full up."""
        return [
            Stage("aws preflight", self._skip_preflight_stage, changes=False),
            Stage("terraform outputs (read-only)", self.read_state, changes=False),
            Stage("eks cluster active", self._cluster_active_stage, changes=False),
            Stage("kubeconfig", self._kubeconfig_stage),
            *self._kubernetes_stages("up", False),
        ]

    def _skip_preflight_stage(self) -> str:
        return f"{self.check_credentials()}; {self.check_tools()}"

    def down_stages(self, purge: bool) -> list[Stage]:
        k8s = [Stage(s.name, self._if_cluster(s.run), s.changes) for s in self._kubernetes_stages("down", purge)]
        stages = [
            Stage("aws credentials", self.check_credentials, changes=False),
            Stage("terraform render", self._render_terraform_stage, changes=False),
            Stage("terraform init", self._init_stage, changes=False),
            Stage("cluster present", self._cluster_present_stage, changes=False),
            *k8s,
            Stage("ebs volumes deleted", self._volumes_stage),
            Stage("terraform destroy", self._destroy_stage),
            Stage("leftover scan", self._scan_stage),
        ]
        if purge:
            stages.append(Stage("purge local files", self._purge))
        return stages

    def _cluster_present_stage(self) -> str:
        out = self.outputs(refresh=True)
        if out:
            r.write_if_changed(self.workdir / "last-outputs.json", json.dumps(out, indent=2, sort_keys=True) + "\n")
        cluster = self.aws.describe_cluster(self.cluster_name)
        self._cluster_live = bool(out.get("cluster_endpoint")) and cluster is not None and cluster["status"] == "ACTIVE"
        if not self._cluster_live:
            state = "absent" if cluster is None else cluster.get("status")
            return f"cluster {self.cluster_name} {state}: the Kubernetes layer will be skipped"
        self.write_kubeconfig(out)
        return f"cluster {self.cluster_name} ACTIVE; kubeconfig {self.kubeconfig}"

    def _if_cluster(self, run: Callable[[], str]) -> Callable[[], str]:
        def guarded() -> str:
            if self._cluster_live is False:
                return "skipped: no live cluster"
            return run()

        return guarded

    def _volumes_stage(self, timeout: float | None = None, interval: float = 10.0) -> str:
        """Wait (bounded) until no EBS volume the CSI driver made for this cluster remains. The
        driver deletes a volume only after its PersistentVolume is gone, asynchronously; once
        the cluster is destroyed nothing would delete it any more."""
        if self._cluster_live is False:
            return "skipped: no live cluster to delete them (the leftover scan names any volume left)"
        timeout = self.volume_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        while True:
            left = self.aws.cluster_volumes(self.cluster_name)
            seen.update(v.id for v in left)
            if not left:
                if not seen:
                    return f"no EBS volume of cluster {self.cluster_name}'s claims exists"
                return f"{len(seen)} EBS volume(s) of cluster {self.cluster_name}'s claims deleted"
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"{len(left)} EBS volume(s) of cluster {self.cluster_name} still exist after {timeout:.0f}s: "
                    + "; ".join(str(v) for v in left),
                    "check the claims' PersistentVolumes (kubectl get pv) and the ebs-csi-controller logs;"
                    " delete the volumes once their data is not needed, then re-run obsctl down",
                )
            self.reporter(f"waiting for {len(left)} EBS volume(s) to be deleted: {', '.join(str(v) for v in left)}")
            time.sleep(interval)

    def _destroy_stage(self) -> str:
        p = self.terraform.destroy(self._progress)
        self._outputs = None
        return f"{p.done} resources destroyed"

    def leftovers(self, settle: float | None = None, interval: float = 10.0) -> list[Leftover]:
        """Scan until nothing is left or `settle` seconds pass (AWS releases ENIs and load
        balancers a little after the API says they are gone)."""
        vpc_id = None
        saved = self.workdir / "last-outputs.json"
        if saved.is_file():
            try:
                vpc_id = json.loads(saved.read_text()).get("vpc_id") or None
            except ValueError:
                vpc_id = None
        settle = self.scan_settle if settle is None else settle
        deadline = time.monotonic() + settle
        while True:
            found = self.aws.scan_leftovers(self.cluster_name, vpc_id)
            if not found or time.monotonic() >= deadline:
                return found
            self.reporter(f"{len(found)} leftover(s) still present; rescanning")
            time.sleep(interval)

    def _scan_stage(self) -> str:
        found = self.leftovers()
        if found:
            raise ToolError(
                f"{len(found)} resource(s) tagged with cluster {self.cluster_name} survived the destroy: "
                + "; ".join(str(f) for f in found),
                "delete them (console or aws cli), or re-run obsctl down; they keep costing money",
            )
        return f"nothing tagged obsctl.io/cluster={self.cluster_name} or kubernetes.io/cluster/{self.cluster_name} left"

    def _purge(self) -> str:
        removed = []
        if self.kubeconfig.exists():
            self.kubeconfig.unlink()
            removed.append(str(self.kubeconfig))
        return f"removed {', '.join(removed)}" if removed else "nothing to remove (Terraform state is kept)"

    # -- status / endpoints / port-forward ----------------------------------------------

    def status(self) -> list[StatusRow]:
        rows: list[StatusRow] = []
        try:
            if not (self.workdir / ".terraform").is_dir():
                rows.append(
                    StatusRow("terraform", "not initialized", f"run obsctl up --env {self.env.name}", Health.off)
                )
            else:
                resources = self.terraform.state_list()
                out = self.outputs(refresh=True)
                present = sum(1 for k in REQUIRED_OUTPUTS if out.get(k) not in (None, "", [], {}))
                complete = Health.ok if present == len(REQUIRED_OUTPUTS) else Health.waiting
                rows.append(
                    StatusRow(
                        "terraform",
                        "applied" if resources else "empty",
                        f"{len(resources)} resources, {present}/{len(REQUIRED_OUTPUTS)} outputs",
                        complete if resources else Health.off,
                    )
                )
        except ObsctlError as exc:
            rows.append(StatusRow("terraform", "unknown", exc.message, Health.unknown))
        cluster = None
        try:
            cluster = self.aws.describe_cluster(self.cluster_name)
            if cluster is None:
                rows.append(StatusRow("eks cluster", "absent", self.cluster_name, Health.off))
            else:
                rows.append(
                    StatusRow(
                        "eks cluster",
                        "up" if cluster["status"] == "ACTIVE" else cluster["status"],
                        f"{self.cluster_name}, Kubernetes {cluster.get('version')}",
                        _aws_health(cluster["status"]),
                    )
                )
                for ng in self.aws.nodegroups(self.cluster_name):
                    size = ng.get("scalingConfig", {})
                    rows.append(
                        StatusRow(
                            f"node group {ng['nodegroupName']}",
                            "up" if ng["status"] == "ACTIVE" else ng["status"],
                            f"desired {size.get('desiredSize')}, {', '.join(ng.get('instanceTypes') or [])}",
                            _aws_health(ng["status"]),
                        )
                    )
        except ObsctlError as exc:
            rows.append(StatusRow("eks cluster", "unknown", exc.message, Health.unknown))
        if cluster is not None and cluster.get("status") == "ACTIVE" and self.kubeconfig.is_file():
            try:
                rows.extend(self.kubernetes_target().status())
            except ImportError:
                rows.append(StatusRow("kubernetes layer", "unknown", "obsctl.targets.kubernetes is not available"))
            except ObsctlError as exc:
                rows.append(StatusRow("kubernetes layer", "unknown", exc.message, Health.unknown))
        return rows

    def endpoints(self) -> dict[str, str]:
        out: dict[str, str] = {}
        try:
            o = self.outputs()
        except ObsctlError:
            return out
        for key, name in (
            ("cluster_endpoint", "kubernetes-api"),
            ("bastion_public_ip", "bastion"),
            ("ecr_repository_url", "ecr"),
        ):
            if o.get(key):
                out[name] = str(o[key])
        if o.get("cluster_endpoint") and self.kubeconfig.is_file():
            try:
                out.update(self.kubernetes_target().endpoints())
            except (ImportError, ObsctlError):
                pass
        return out

    def survivors(self, since: float, phase: str) -> list[str]:
        """The Kubernetes layer's check; leftovers in AWS are already a failing stage of down."""
        if phase == "down":
            return []  # the cluster itself is gone; `leftover scan` proved nothing tagged survived
        return self.kubernetes_target().survivors(since, phase)

    def port_forward(self, *args: Any, **kwargs: Any) -> Any:
        if not self.kubeconfig.is_file():
            self.write_kubeconfig()
        return self.kubernetes_target().port_forward(*args, **kwargs)

    def log_components(self) -> list[str]:
        return self.kubernetes_target().log_components()

    def logs(self, *args: Any, **kwargs: Any) -> Any:
        """Pod logs of the cluster's components (the Kubernetes layer's `logs`)."""
        if not self.kubeconfig.is_file():
            self.write_kubeconfig()
        return self.kubernetes_target().logs(*args, **kwargs)
