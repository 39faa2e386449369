"""Every captured Terraform verb has a bound: python-terraform's `cmd()` waits forever, so a hung
init (a provider download), plan (a refresh) or output (a state backend) hung obsctl with it.

A fake `terraform` script that hangs stands in for the network that does not answer; it
records the SIGINT obsctl sends, which is how real Terraform releases its state lock. The real
terraform, on the builtin-only fixture, proves the bounds do not get in the way of real runs.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from obsctl.errors import ToolError
from obsctl.tools.terraform import TIMEOUTS, TerraformRunner

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[2] / "terraform" / "tests" / "fixture" / "main.tf"

HANGING = """#!/bin/sh
# a terraform that answers `version` and hangs on everything else, like a dead network
if [ "$1" = version ]; then echo '{"terraform_version": "1.11.4"}'; exit 0; fi
echo "Initializing provider plugins..."
trap 'echo interrupted > "$(dirname "$0")/got-sigint"; exit 1' INT
{ignore_int}
sleep 60 >/dev/null 2>&1 &
wait $!
sleep 60 >/dev/null 2>&1
"""


def fake_terraform(tmp: Path, ignore_int: bool = False) -> Path:
    exe = tmp / "bin" / "terraform"
    exe.parent.mkdir()
    exe.write_text(HANGING.replace("{ignore_int}", "trap '' INT" if ignore_int else ""))
    exe.chmod(0o755)
    return exe


def runner(tmp: Path, exe: Path, seconds: float = 0.5) -> TerraformRunner:
    r = TerraformRunner(
        tmp / "tf", tmp / "logs", binary=str(exe), lock_timeout="0s", timeouts=dict.fromkeys(TIMEOUTS, seconds)
    )
    r.interrupt_grace = 2.0
    return r


@pytest.mark.parametrize("verb", ["init", "plan", "outputs"])
def test_a_hung_verb_is_stopped_gracefully_and_named(tmp_path: Path, verb: str) -> None:
    exe = fake_terraform(tmp_path)
    r = runner(tmp_path, exe)
    started = time.monotonic()
    with pytest.raises(ToolError) as err:
        getattr(r, verb)()
    assert time.monotonic() - started < 10
    name = "output" if verb == "outputs" else verb
    assert err.value.message.startswith(f"terraform {name} hung: no result after 0s in {tmp_path / 'tf'}")
    assert "Initializing provider plugins..." in err.value.message
    assert err.value.hint and str(r.log_path(name)) in err.value.hint
    assert (exe.parent / "got-sigint").read_text() == "interrupted\n", "terraform was not interrupted gracefully"
    assert "stopped after" in r.log_path(name).read_text()


def test_a_terraform_that_ignores_sigint_is_killed_after_the_grace(tmp_path: Path) -> None:
    r = runner(tmp_path, fake_terraform(tmp_path, ignore_int=True))
    started = time.monotonic()
    with pytest.raises(ToolError, match="terraform init hung"):
        r.init()
    assert 2.0 <= time.monotonic() - started < 10


def test_the_lock_wait_is_added_to_the_verbs_that_lock(tmp_path: Path) -> None:
    r = TerraformRunner(tmp_path, tmp_path, lock_timeout="2m")
    assert r.bound("plan") == TIMEOUTS["plan"] + 120
    assert r.bound("init") == TIMEOUTS["init"] + 120
    assert r.bound("output") == TIMEOUTS["output"]


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")
def test_real_terraform_runs_well_within_its_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/dev/null")
    d = tmp_path / "tf"
    d.mkdir()
    shutil.copy(FIXTURE, d / "main.tf")
    (d / "terraform.tfvars.json").write_text(json.dumps({"sleep_seconds": 0}))
    r = TerraformRunner(d, tmp_path / "logs", binary=shutil.which("terraform") or "terraform", lock_timeout="0s")
    r.timeouts = dict.fromkeys(TIMEOUTS, 60.0)
    assert r.version() >= (1, 5, 7)
    assert r.init() == "initialized"
    assert r.plan().changes
    assert r.outputs() == {}
