"""`obsctl up` on eks asks before it creates anything that costs money, once the cost estimate is
shown; `--yes` skips the question; without a terminal and without `--yes` it refuses (exit 2).
Preflight runs for real against moto (credentials, region, instance types, the estimate)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from obsctl import config as c
from obsctl import lifecycle
from obsctl.errors import InputError
from obsctl.targets.eks import EksTarget
from obsctl.tools.aws import ENDPOINT_ENV
from tests.conftest import ROOT
from tests.integration.test_aws_moto import FAKE_ENV, REGION, fake_aws, moto_url  # noqa: F401

pytestmark = pytest.mark.integration

# a documentation address (RFC 5737) as the only CIDR: preflight has no public address to look up
CONFIG = f"""
default_environment: dev
environments:
  dev:
    target: eks
    aws: {{region: {REGION}, cluster_name: obsctl-ask, cluster_endpoint_public_access_cidrs: [203.0.113.7/32]}}
"""


def project(tmp_path: Path) -> Path:
    (tmp_path / "obsctl.yaml").write_text(textwrap.dedent(CONFIG))
    return tmp_path


class Quiet:
    def stage_started(self, verb: str, stage: str) -> None:
        pass

    def stage_done(self, verb: str, stage: str, seconds: float, detail: str, ok: bool) -> None:
        pass


def test_declined_means_nothing_created(fake_aws: str, tmp_path: Path) -> None:  # noqa: F811
    t = EksTarget(c.load(str(project(tmp_path) / "obsctl.yaml")), endpoint_url=fake_aws)
    asked: list[str] = []
    t.confirm = lambda q: asked.append(q) is not None  # records, answers no
    with pytest.raises(InputError) as info:
        lifecycle.up(t.env, Quiet(), target=t)
    assert info.value.exit_code == 2 and info.value.message == "not confirmed: nothing was created"
    assert "pass --yes" in (info.value.hint or "")
    assert len(asked) == 1 and "obsctl-ask" in asked[0] and "/hour" in asked[0], asked
    rendered = [p.name for p in t.workdir.iterdir()] if t.workdir.exists() else []
    assert rendered == [], f"terraform was rendered after a no: {rendered}"


def test_without_a_terminal_up_refuses_unless_yes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OBSCTL_"))}
    res = subprocess.run(
        [sys.executable, "-m", "obsctl", "up", "--env", "dev"],
        cwd=project(tmp_path),
        env={**env, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("error: up on eks creates AWS resources that cost money and asks first"), lines
    assert lines[1] == "hint: pass --yes to create them without asking" and len(lines) == 2
    assert not (tmp_path / ".obsctl" / "dev" / "terraform").exists()


def test_on_a_terminal_up_shows_the_estimate_then_asks(fake_aws: str, tmp_path: Path) -> None:  # noqa: F811
    """The real CLI on a pseudo-terminal: the estimate, then the question; answering n stops
    it before Terraform (exit 2)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OBSCTL_"))}
    env.update(FAKE_ENV, PYTHONPATH=str(ROOT), COLUMNS="200", TERM="dumb", AWS_EC2_METADATA_DISABLED="true")
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    env[ENDPOINT_ENV] = fake_aws
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "obsctl", "up", "--env", "dev"],
        cwd=project(tmp_path),
        env=env,
        stdin=child,
        stdout=child,
        stderr=child,
    )
    os.close(child)
    seen = b""
    answered = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:
                    break  # the child closed the terminal
                if not chunk:
                    break
                seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(main, b"n\n")
                answered = True
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    text = seen.decode(errors="replace")
    assert answered, text
    assert text.index("estimated cost") < text.index("Create or update EKS cluster obsctl-ask"), text
    assert code == 2, text
    assert "not confirmed: nothing was created" in text
    assert not (tmp_path / ".obsctl" / "dev" / "terraform" / "terraform.tfvars.json").exists()
