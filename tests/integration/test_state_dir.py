"""A broken state directory (here: a file where `.obsctl/` should be, which stops root as well
as anyone) is one line and exit 2 before anything starts, and `verify` still shows what it checked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port_block, local_config, make_project
from tests.integration.test_cli_errors import assert_clean_failure, obsctl

pytestmark = pytest.mark.integration

NEEDLE = "state directory {state} cannot be written: Not a directory ({blocker} is a file, not a folder)"


def broken_project(tmp: Path) -> str:
    make_project(tmp, local_config(free_port_block(14)))
    (tmp / ".obsctl").write_text("a stray file where the state directory should be\n")
    return NEEDLE.format(state=tmp / ".obsctl" / "local", blocker=tmp / ".obsctl")


@pytest.mark.parametrize("verb", ["up", "down", "render"])
def test_a_broken_state_dir_is_one_line_and_exit_2(tmp_path: Path, verb: str) -> None:
    """These crashed with a NotADirectoryError / PermissionError traceback and exit 3."""
    needle = broken_project(tmp_path)
    assert_clean_failure(obsctl(verb, cwd=tmp_path), needle, tmp_path)


def test_verify_still_shows_what_it_checked(tmp_path: Path) -> None:
    """Nothing runs here, so checks fail (exit 1); the table comes first, then the one-line error."""
    needle = broken_project(tmp_path)
    res = obsctl("verify", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    summary = re.fullmatch(r"0 passed, (\d+) failed, (\d+) skipped", res.stdout.splitlines()[-1].strip())
    assert summary and int(summary[1]) > 0, res.stdout
    assert res.stderr.splitlines()[0] == f"error: {needle}"


_PASSING = """
import sys
from obsctl import lifecycle
from obsctl.verify import Check
lifecycle.checklist = lambda env, target, fire_drill: ([Check("it works", lambda: "yes")], [])
from obsctl.cli import main
sys.argv = ["obsctl", "verify", "--output", "json"]
main()
"""


def test_verify_with_every_check_passing_exits_2_when_it_cannot_record(tmp_path: Path) -> None:
    """The checks are replaced by one that passes, to reach the 'nothing failed, nothing changed' case."""
    needle = broken_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("OBSCTL_ENV", "OBSCTL_CONFIG", "OBSCTL_DEBUG")}
    res = subprocess.run(
        [sys.executable, "-c", _PASSING],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2, res.stderr
    assert '"it works"' in res.stdout and '"pass"' in res.stdout
    assert res.stderr.splitlines()[0] == f"error: {needle}"
