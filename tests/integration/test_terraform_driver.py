"""The Terraform driver against the REAL terraform binary, on a temporary copy of the
builtin-only fixture (terraform/tests/fixture): init, plan, apply with live progress,
output, destroy, a failing apply, an interrupted apply and its converging re-run, a held
state lock; and python-terraform's known traps, each shown to still exist and to be avoided.
"""

from __future__ import annotations

import json
import shutil
import signal
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from python_terraform import Terraform

from obsctl.errors import ToolError
from obsctl.tools.terraform import Progress, ProgressTracker, TerraformRunner

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "terraform" / "tests" / "fixture" / "main.tf"
FIXTURE_RESOURCES = 4  # network, cluster, bastion, ecr (+ failure[0] when fail = true)
REQUIRED = ("region", "eks_cluster_name", "cluster_endpoint", "cluster_certificate_authority_data", "vpc_id")

if shutil.which("terraform") is None:  # pragma: no cover - the project installs it
    pytest.skip("terraform is not on PATH (see scripts/install-system-deps.sh)", allow_module_level=True)


@pytest.fixture(autouse=True)
def _no_cli_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/dev/null")  # silences "no CLI config" warnings


def workdir(tmp_path: Path, **tfvars: Any) -> Path:
    d = tmp_path / "tf"
    d.mkdir(exist_ok=True)
    shutil.copy(FIXTURE, d / "main.tf")
    (d / "terraform.tfvars.json").write_text(json.dumps({"sleep_seconds": 0, **tfvars}))
    return d


def runner(d: Path, lock_timeout: str = "0s") -> TerraformRunner:
    return TerraformRunner(d, d.parent / "logs", lock_timeout=lock_timeout)


class Recorder:
    def __init__(self) -> None:
        self.snapshots: list[tuple[int, int | None, dict[str, float]]] = []
        self.lines: list[str] = []
        self.in_flight = threading.Event()

    def __call__(self, p: Progress) -> None:
        self.snapshots.append((p.done, p.total, dict(p.in_flight)))
        self.lines.append(p.line())
        if p.in_flight:
            self.in_flight.set()


# --- python-terraform's traps: still there, and avoided ---------------------------------------


def test_python_terraform_traps_still_exist_and_the_adapter_avoids_them(tmp_path: Path) -> None:
    tf = Terraform(working_dir=str(tmp_path))
    sent: list[list[str]] = []
    tf.cmd = lambda cmd, *a, **kw: sent.append(tf.generate_cmd_string(cmd, *a, **kw)) or (0, "", "")  # type: ignore[method-assign]
    tf.apply()
    tf.destroy()
    assert "-auto-approve=false" in sent[0], "trap gone? apply() no longer asks for a yes"
    assert "-force" in sent[1], "trap gone? destroy() no longer sends the removed -force"
    assert "-synchronous=false" in Terraform().generate_cmd_string("apply", synchronous=False)

    r = runner(tmp_path)
    apply, destroy = r.apply_argv(), r.destroy_argv()
    assert apply[:2] == [r.binary, "apply"] and destroy[:2] == [r.binary, "destroy"]
    for argv in (apply, destroy):
        assert "-auto-approve" in argv and "-json" in argv and "-input=false" in argv
        assert not any(a.startswith(("-force", "-synchronous", "-auto-approve=")) for a in argv), argv
        assert "-lock-timeout=0s" in argv


def test_capture_output_false_cannot_be_read(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Why apply/destroy stream through Popen: with capture_output=False the library hands
    Terraform our own stdout and returns no text at all."""
    rc, out, err = Terraform(working_dir=str(tmp_path)).cmd("version", capture_output=False)
    assert (rc, out, err) == (0, None, None)
    assert "Terraform v" in capfd.readouterr().out


# --- the whole cycle ------------------------------------------------------------------------


def test_init_plan_apply_output_destroy(tmp_path: Path) -> None:
    d = workdir(tmp_path, sleep_seconds=1)
    r = runner(d)
    assert r.version() >= (1, 5, 7)
    assert r.init() == "initialized"
    plan = r.plan()
    assert plan.changes and plan.add == FIXTURE_RESOURCES, plan
    assert r.outputs() == {}  # before the first apply

    rec = Recorder()
    final = r.apply(rec, interval=0.2)
    assert (final.done, final.total) == (FIXTURE_RESOURCES, FIXTURE_RESOURCES)
    assert final.finished and not final.in_flight
    # progress was live: totals known early, resources seen in flight with elapsed time
    assert rec.snapshots[0][1] == FIXTURE_RESOURCES
    assert any("terraform_data.cluster" in flight for _, _, flight in rec.snapshots)
    assert any("in flight: terraform_data." in line for line in rec.lines), rec.lines
    assert [s[0] for s in rec.snapshots] == sorted(s[0] for s in rec.snapshots)  # done only grows
    log = (tmp_path / "logs" / "terraform-apply.log").read_text()
    assert '"type":"apply_complete"' in log and log.startswith("$ ")

    out = r.outputs()
    for key in REQUIRED:
        assert out[key], key
    assert out["eks_cluster_name"] == "obsctl-fixture" and out["public_subnet_ids"]
    with pytest.raises(TypeError):  # the trap the adapter's outputs() avoids
        Terraform(working_dir=str(d)).output("region")
    assert len(r.state_list()) == FIXTURE_RESOURCES
    assert not r.plan().changes  # converged: a second up changes nothing

    gone = r.destroy(Recorder(), interval=0.2)
    assert (gone.done, gone.total) == (FIXTURE_RESOURCES, FIXTURE_RESOURCES)
    assert r.outputs() == {} and r.state_list() == []
    assert (tmp_path / "logs" / "terraform-destroy.log").is_file()


def test_failing_apply_is_one_tool_error_naming_the_resource(tmp_path: Path) -> None:
    d = workdir(tmp_path, fail=True)
    r = runner(d)
    r.init()
    with pytest.raises(ToolError) as info:
        r.apply()
    msg = info.value.message
    assert msg.startswith("terraform apply failed at terraform_data.failure[0]: local-exec provisioner error")
    assert "simulated failure (fail = true)" in msg
    assert "\n" not in msg
    assert "terraform-apply.log" in (info.value.hint or "")
    # what was created before the failure is in the state: a fixed re-run continues from it
    assert {"terraform_data.network", "terraform_data.cluster"} <= set(r.state_list())
    (d / "terraform.tfvars.json").write_text(json.dumps({"sleep_seconds": 0, "fail": False}))
    r.apply()
    assert not r.plan().changes


def test_interrupted_apply_then_rerun_converges(tmp_path: Path) -> None:
    d = workdir(tmp_path, sleep_seconds=3)
    r = runner(d)
    r.init()
    rec = Recorder()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            r.apply(rec, interval=0.2)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    assert rec.in_flight.wait(20), "no resource ever went in flight"
    proc = r.process
    assert proc is not None
    proc.send_signal(signal.SIGINT)  # what Ctrl-C does to the whole process group
    t.join(60)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ToolError), errors
    assert "interrupted" in errors[0].message and "re-run" in (errors[0].hint or "")

    (d / "terraform.tfvars.json").write_text(json.dumps({"sleep_seconds": 0}))
    final = r.apply()
    assert final.finished
    assert not r.plan().changes
    assert r.outputs()["eks_cluster_name"] == "obsctl-fixture"
    assert len(r.state_list()) == FIXTURE_RESOURCES


def test_held_state_lock_is_named(tmp_path: Path) -> None:
    d = workdir(tmp_path, sleep_seconds=3)
    first = runner(d)
    first.init()
    rec = Recorder()
    t = threading.Thread(target=lambda: first.apply(rec, interval=0.2))
    t.start()
    try:
        assert rec.in_flight.wait(20)
        second = runner(d, lock_timeout="1s")
        started = time.monotonic()
        with pytest.raises(ToolError) as info:
            second.apply()
        assert time.monotonic() - started < 15
        msg, hint = info.value.message, info.value.hint or ""
        assert "the state is locked by another run" in msg
        assert "OperationTypeApply" in msg and "path terraform.tfstate" in msg
        lock_id = msg.split("(lock ", 1)[1].split(",", 1)[0]
        assert len(lock_id) == 36, msg
        assert f"force-unlock {lock_id}" in hint and "terraform_lock_timeout" in hint
    finally:
        t.join(60)
    assert not first.plan().changes  # the first run was not disturbed


# --- the progress parser on its own ---------------------------------------------------------


def test_progress_tracker_counts_replacements_and_errors() -> None:
    clock = [100.0]
    tr = ProgressTracker("apply", clock=lambda: clock[0])

    def ev(kind: str, addr: str = "", **extra: Any) -> dict[str, Any]:
        return {"type": kind, "@message": kind, "hook": {"resource": {"addr": addr}, **extra}}

    tr.feed({"type": "change_summary", "changes": {"add": 2, "change": 0, "remove": 1, "operation": "plan"}})
    assert tr.progress.total == 3
    tr.feed(ev("apply_start", "a.x", action="delete"))
    tr.feed(ev("apply_complete", "a.x"))
    tr.feed(ev("apply_start", "a.x", action="create"))
    clock[0] = 160.0
    tr.feed(ev("apply_start", "b.y", action="create"))
    tr.feed(ev("apply_progress", "a.x", elapsed_seconds=70))
    assert tr.progress.line(now=160.0) == "apply 1/3 · in flight: a.x 1m10s, b.y 0s"
    tr.feed(ev("apply_errored", "b.y"))
    tr.feed(ev("apply_complete", "a.x"))
    tr.feed({"type": "change_summary", "changes": {"add": 1, "change": 0, "remove": 1, "operation": "apply"}})
    assert (tr.progress.done, tr.progress.total, tr.progress.errored) == (2, 3, ["b.y"])


# --- the eks target's working directory, on the fixture ---------------------------------------


def test_eks_working_dir_drives_real_terraform(tmp_path: Path) -> None:
    """EksTarget's render → init → apply → outputs → kubeconfig → destroy on the fixture:
    symlinks, local backend.tf.json and the rendered tfvars work with the real binary."""
    from obsctl import config as c
    from obsctl.targets.eks import EksTarget

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FIXTURE, src / "main.tf")
    (src / "fixture_vars.tf").write_text('variable "sleep_never_set" {\n  type    = number\n  default = 0\n}\n')
    (tmp_path / "obsctl.yaml").write_text(
        textwrap.dedent("""
        default_environment: dev
        environments:
          dev:
            target: eks
            aws: {region: eu-west-1, cluster_name: obsctl-drv, terraform_lock_timeout: 5s}
        """)
    )
    env = c.load(str(tmp_path / "obsctl.yaml"))
    t = EksTarget(env, terraform_source=src)
    lines: list[str] = []
    t.reporter = lines.append
    t.render_terraform()
    work = tmp_path / ".obsctl" / "dev" / "terraform"
    assert (work / "main.tf").is_symlink() and (work / "main.tf").resolve() == (src / "main.tf").resolve()
    assert json.loads((work / "backend.tf.json").read_text()) == {
        "terraform": {"backend": {"local": {"path": "terraform.tfstate"}}}
    }
    assert t.terraform.lock_timeout == "5s"
    t._init_stage()
    # the real tfvars set variables the fixture lacks: Terraform warns, obsctl goes on
    detail = t._apply_stage()
    assert detail == f"{FIXTURE_RESOURCES}/{FIXTURE_RESOURCES} resource changes applied"
    assert any(line.startswith("apply ") for line in lines)
    assert (work / "terraform.tfstate").is_file()  # local state in the env's own folder
    assert (tmp_path / ".obsctl" / "dev" / "logs" / "terraform-apply.log").is_file()
    assert "cluster obsctl-drv at https://" in t._outputs_stage()  # cluster_name came from the tfvars
    t.write_kubeconfig()
    assert (t.kubeconfig.stat().st_mode & 0o777) == 0o600
    # `--skip-terraform` (the CI deploy role): the same outputs through the read-only view of the
    # state, a directory with the backend only (here the local state file); the state untouched
    state = (work / "terraform.tfstate").read_bytes()
    ci = EksTarget(env, terraform_source=src)
    ci.skip_terraform = True
    assert ci.read_state().startswith("11 outputs read (read-only); cluster obsctl-drv at https://")
    assert ci.outputs() == t.outputs(refresh=True)
    view = tmp_path / ".obsctl" / "dev" / "terraform-state"
    assert sorted(p.name for p in view.iterdir()) == [".terraform", "backend.tf.json"]
    local = json.loads((view / "backend.tf.json").read_text())["terraform"]["backend"]["local"]
    assert local == {"path": str((work / "terraform.tfstate").resolve())}
    assert (work / "terraform.tfstate").read_bytes() == state
    # a removed .tf disappears from the working dir; a second render changes nothing else
    (src / "fixture_vars.tf").unlink()
    out = t.render_terraform()
    assert out.changed == [work / "fixture_vars.tf"] and not (work / "fixture_vars.tf").exists()
    assert t.render_terraform().changed == []
    assert t._destroy_stage() == f"{FIXTURE_RESOURCES} resources destroyed"
