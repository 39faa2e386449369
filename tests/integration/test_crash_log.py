"""The crash path end to end: a bug is one line on stderr, exit 3, and its traceback in a log
under the environment's state directory (or a per-user folder), written without following links.

The bug is injected into the real `obsctl.cli.main` run in a child process: a function the
command calls raises an exception obsctl does not expect.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port_block, local_config, make_project

pytestmark = pytest.mark.integration

_RUN = """
import sys
import obsctl.config, obsctl.lifecycle, obsctl.render
def bug(*args, **kwargs):
    raise KeyError("injected bug")
setattr({module}, {name!r}, bug)
from obsctl.cli import main
sys.argv = ["obsctl", *sys.argv[1:]]
main()
"""


def run_with_bug(module: str, name: str, *args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OBSCTL_ENV", "OBSCTL_CONFIG", "OBSCTL_DEBUG")}
    env.update(PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(home))
    code = _RUN.format(module=module, name=name)
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def assert_crash(res: subprocess.CompletedProcess[str], log: Path) -> None:
    assert res.returncode == 3, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unexpected KeyError: 'injected bug'"), lines
    assert f"traceback in {log};" in lines[0]
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "KeyError: 'injected bug'" in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_a_bug_logs_its_traceback_in_the_environments_state_dir(tmp_path: Path) -> None:
    make_project(tmp_path, local_config(free_port_block(14)))
    res = run_with_bug("obsctl.render", "load_rule_groups", "render", cwd=tmp_path, home=tmp_path / "home")
    assert_crash(res, tmp_path / ".obsctl" / "local" / "crash.log")
    assert not (tmp_path / "home").exists()


def test_a_planted_symlink_is_replaced_not_written_through(tmp_path: Path) -> None:
    make_project(tmp_path, local_config(free_port_block(14)))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    state = tmp_path / ".obsctl" / "local"
    state.mkdir(parents=True)
    (state / "crash.log").symlink_to(victim)
    res = run_with_bug("obsctl.render", "load_rule_groups", "render", cwd=tmp_path, home=tmp_path / "home")
    assert_crash(res, state / "crash.log")
    assert victim.read_text() == "precious\n"
    assert not (state / "crash.log").is_symlink()


def test_a_bug_before_any_environment_logs_in_the_per_user_dir(tmp_path: Path) -> None:
    """Never the current directory's .obsctl/ and never a fixed path under /tmp."""
    make_project(tmp_path, local_config(free_port_block(14)))
    res = run_with_bug("obsctl.config", "load", "render", cwd=tmp_path, home=tmp_path / "home")
    assert_crash(res, tmp_path / "home" / "obsctl" / "crash.log")
    assert not (tmp_path / ".obsctl").exists()


def test_an_unwritable_state_dir_falls_back_to_the_per_user_dir(tmp_path: Path) -> None:
    make_project(tmp_path, local_config(free_port_block(14)))
    (tmp_path / ".obsctl").write_text("not a folder\n")  # even root cannot mkdir below a file
    res = run_with_bug("obsctl.lifecycle", "checklist", "verify", cwd=tmp_path, home=tmp_path / "home")
    assert_crash(res, tmp_path / "home" / "obsctl" / "crash.log")
