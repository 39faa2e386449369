"""EksTarget without AWS or Terraform: the working directory, the stage order (Terraform
around the composed Kubernetes layer), the cost estimate, the kubeconfig, the guards."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from obsctl import config as c
from obsctl.errors import PreflightError
from obsctl.targets import eks as e
from obsctl.targets.eks import EksTarget, estimate_cost

CONFIG = """
default_environment: dev
environments:
  dev:
    target: eks
    aws: {{region: {region}, cluster_name: obsctl-dev{extra}}}
{more}
"""


def target(tmp_path: Path, region: str = "eu-west-1", extra: str = "", more: str = "", **kw: object) -> EksTarget:
    (tmp_path / "obsctl.yaml").write_text(textwrap.dedent(CONFIG.format(region=region, extra=extra, more=more)))
    return EksTarget(c.load(str(tmp_path / "obsctl.yaml")), **kw)  # type: ignore[arg-type]


def test_working_dir_links_sources_and_renders_the_rest(tmp_path: Path) -> None:
    src = tmp_path / "tf"
    src.mkdir()
    for name in ("main.tf", "variables.tf"):
        (src / name).write_text("# x\n")
    (src / ".terraform.lock.hcl").write_text("# lock\n")
    (src / "README.md").write_text("not linked\n")
    t = target(tmp_path, terraform_source=src)
    first = t.render_terraform()
    work = tmp_path / ".obsctl" / "dev" / "terraform"
    assert sorted(p.name for p in work.iterdir()) == [
        ".terraform.lock.hcl",
        "backend.tf.json",
        "main.tf",
        "terraform.tfvars.json",
        "variables.tf",
    ]
    for name in ("main.tf", "variables.tf", ".terraform.lock.hcl"):
        assert (work / name).is_symlink() and (work / name).resolve() == (src / name).resolve()
    assert len(first.changed) == 5
    assert t.render_terraform().changed == []  # idempotent
    # terraform init may rewrite the lock file in place (new hashes): keep it
    (work / ".terraform.lock.hcl").unlink()
    (work / ".terraform.lock.hcl").write_text("# lock with more hashes\n")
    assert t.render_terraform().changed == []
    assert (work / ".terraform.lock.hcl").read_text() == "# lock with more hashes\n"


def test_default_source_is_the_repository_terraform(tmp_path: Path) -> None:
    assert target(tmp_path).source == e.REPO_TERRAFORM


def test_up_runs_terraform_then_the_kubernetes_layer(tmp_path: Path) -> None:
    names = [s.name for s in target(tmp_path).up_stages()]
    assert names[:8] == [
        "aws preflight",
        "confirm",
        "terraform render",
        "terraform init",
        "terraform apply",
        "terraform outputs",
        "eks cluster active",
        "kubeconfig",
    ]
    assert len(names) > 8  # the Kubernetes layer's own stages follow, composed
    # Prometheus' EBS volume gets obsctl's encrypted gp3 class before kube-prometheus-stack comes
    assert names.index("storage class") < names.index("kube-prometheus-stack")


def test_prometheus_claims_obsctls_encrypted_gp3_class_on_eks(tmp_path: Path, repo_root: Path) -> None:
    for name in ("rules", "dashboards", "app"):
        (tmp_path / name).symlink_to(repo_root / name)
    k8s = target(tmp_path).kubernetes_target()
    kps, _ = k8s.values()
    claim = kps["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "obsctl-gp3-encrypted"  # named: older clusters mark gp2 default too
    body = k8s.storage_class()
    assert body["provisioner"] == "ebs.csi.aws.com" and body["reclaimPolicy"] == "Delete"
    assert body["parameters"]["type"] == "gp3" and body["parameters"]["encrypted"] == "true"
    # the scrapers of the managed control plane are off (distribution "managed")
    assert all(
        kps[c] == {"enabled": False} for c in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")
    )


def test_down_removes_the_kubernetes_layer_before_destroy_then_scans(tmp_path: Path) -> None:
    t = target(tmp_path)
    names = [s.name for s in t.down_stages(purge=True)]
    assert names[:4] == ["aws credentials", "terraform render", "terraform init", "cluster present"]
    assert names[-4:] == ["ebs volumes deleted", "terraform destroy", "leftover scan", "purge local files"]
    k8s = names[4:-4]
    assert k8s, "the Kubernetes layer's down stages must run before terraform destroy"
    # obsctl's StorageClass goes after the volumes it provisioned are released
    assert k8s.index("storage class") == k8s.index("volumes released") + 1
    # with no live cluster (already destroyed, or never created) they are skipped, not failed
    t._cluster_live = False
    stages = t.down_stages(purge=False)
    assert stages[4].run() == "skipped: no live cluster"
    # and nothing is left to delete the volumes: the leftover scan will name any (no AWS call)
    assert stages[-3].name == "ebs volumes deleted" and stages[-3].run().startswith("skipped: no live cluster")


def test_down_waits_for_volumes_as_long_as_the_kubernetes_layer_waits(tmp_path: Path) -> None:
    assert target(tmp_path).volume_timeout == 600  # kubernetes.wait_timeout's default, 10m
    assert target(tmp_path, more="    kubernetes: {wait_timeout: 90s}").volume_timeout == 90


def test_the_kubernetes_layer_is_built_with_obsctls_kubeconfig(tmp_path: Path) -> None:
    t = target(tmp_path)
    k8s = t.kubernetes_target()
    assert k8s.kubeconfig == tmp_path / ".obsctl" / "dev" / "kubeconfig"
    assert k8s.context == "obsctl-dev"


def test_kubeconfig_uses_obsctls_token_plugin(tmp_path: Path) -> None:
    t = target(tmp_path, extra=", profile: ops")
    data = t.kubeconfig_data(
        {
            "eks_cluster_name": "obsctl-dev",
            "region": "eu-west-1",
            "cluster_endpoint": "https://x.eks.amazonaws.com",
            "cluster_certificate_authority_data": "Q0E=",
        }
    )
    assert data["current-context"] == "obsctl-dev"
    user = data["users"][0]["user"]["exec"]
    assert user["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert user["args"] == [
        "-m",
        "obsctl.tools.aws_token",
        "--cluster",
        "obsctl-dev",
        "--region",
        "eu-west-1",
        "--profile",
        "ops",
    ]
    assert data["clusters"][0]["cluster"] == {
        "server": "https://x.eks.amazonaws.com",
        "certificate-authority-data": "Q0E=",
    }


def test_kube_context_settings_are_refused_on_eks(tmp_path: Path) -> None:
    t = target(tmp_path, more="    kubernetes: {context: my-laptop}")
    with pytest.raises(PreflightError, match="are not used on eks"):
        t.check_tools()


def test_tools_check_works_on_a_fresh_project(tmp_path: Path) -> None:
    """Preflight runs before `terraform render` creates .obsctl/<env>/terraform/; `terraform
    version` must not depend on it (a missing cwd used to read as 'terraform not found')."""
    from obsctl.tools import binaries

    if binaries.find("terraform") is None or binaries.find("helm") is None:
        pytest.skip("terraform and helm are needed (scripts/install-system-deps.sh; make test installs helm)")
    t = target(tmp_path)
    assert not t.workdir.exists()
    detail = t.check_tools()
    assert detail.startswith("terraform 1.") and ", helm v" in detail


def test_cost_estimate_single_vs_per_az_nat(tmp_path: Path) -> None:
    aws = target(tmp_path).aws_settings
    single = estimate_cost(aws)
    per_az = estimate_cost(aws.model_copy(update={"single_nat_gateway": False, "az_count": 3}))
    nat, _, _ = e.REGION_PRICES["eu-west-1"]
    assert per_az.hourly - single.hourly == pytest.approx(2 * (nat + e.PUBLIC_IPV4_HOUR))
    # the defaults: ≈ $0.35-0.40/h in eu-west-1 (terraform/README.md: ≈ $0.35/h in us-east-1)
    assert 0.3 < single.hourly < 0.45
    text = single.summary()
    assert "estimate" in text and "not a quote" in text and "/hour" in text
    assert "1 NAT gateway" in text and "2 × t3.large" in text


def test_cost_estimate_says_what_it_does_not_know(tmp_path: Path) -> None:
    aws = target(tmp_path, region="sa-east-1").aws_settings
    est = estimate_cost(aws.model_copy(update={"node_instance_types": ["x9.huge"]}))
    assert any("us-east-1 prices used" in n for n in est.notes)
    assert any("x9.huge" in n for n in est.notes)
    assert not any("x9.huge" in name for name, _ in est.items)


def test_progress_goes_to_the_reporter(tmp_path: Path) -> None:
    from obsctl.tools.terraform import Progress

    t = target(tmp_path)
    lines: list[str] = []
    t.reporter = lines.append
    t._progress(Progress("apply", done=3, total=11, in_flight={"module.eks.aws_eks_cluster.this[0]": 0.0}))
    assert lines and lines[0].startswith("apply 3/11 · in flight: module.eks.aws_eks_cluster.this[0] ")


def test_verify_on_eks_runs_the_aws_checks_then_the_kubernetes_layers(tmp_path: Path) -> None:
    from obsctl import lifecycle

    for name in ("rules", "dashboards", "app"):  # the cluster checks read the dashboards
        (tmp_path / name).symlink_to(e.REPO_TERRAFORM.parent / name)
    t = target(tmp_path)
    checks, drills = lifecycle.checklist(t.env, t, fire_drill=True)
    names = [ch.name for ch in checks]
    assert names[:7] == [
        "terraform outputs present and non-empty",
        "eks cluster ACTIVE",
        "eks node groups ACTIVE",
        "ecr repository exists",
        "bastion running, Online in Session Manager",
        "claims' ebs volumes encrypted gp3, tagged",
        "kubeconfig is obsctl's and mints a token",
    ]
    assert "nodes Ready" in names  # verify/cluster.py's checks, on the new cluster
    assert len(drills) == 1 and drills[0]


def test_lifecycle_connects_progress_to_an_observer_that_shows_it(tmp_path: Path) -> None:
    from obsctl import lifecycle

    seen: list[tuple[str, str]] = []

    class Observer:
        def stage_started(self, verb: str, stage: str) -> None: ...

        def stage_done(self, verb: str, stage: str, seconds: float, detail: str, ok: bool) -> None: ...

        def stage_progress(self, verb: str, line: str) -> None:
            seen.append((verb, line))

    t = target(tmp_path)
    lifecycle._connect_progress(t, Observer(), "up")
    t.reporter("apply 1/2")
    assert seen == [("up", "apply 1/2")]
