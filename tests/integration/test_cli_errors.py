"""Bad input through the real CLI: exit 2, one `error:` line and a hint, no traceback, nothing started."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port_block, local_config, make_project

pytestmark = pytest.mark.integration


def obsctl(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("OBSCTL_ENV", "OBSCTL_CONFIG")}
    full.update(COLUMNS="200", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "obsctl", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=60
    )


def assert_clean_failure(res: subprocess.CompletedProcess[str], needle: str, project: Path) -> None:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and needle in lines[0], lines
    assert len(lines) == 2 and lines[1].startswith("hint: "), lines
    assert not (project / ".obsctl" / "local" / "run").exists(), "something was started"


@pytest.mark.parametrize(
    ("extra_yaml", "args", "needle"),
    [
        ("", ["up", "--env", "nope"], "unknown environment 'nope'"),
        ("    bogus: 1\n", ["up"], "bogus: unknown key"),
        ("", ["verify", "--config", "missing.yaml"], "does not exist"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, extra_yaml: str, args: list[str], needle: str) -> None:
    config = make_project(tmp_path, local_config(free_port_block(14)))
    if extra_yaml:
        config.write_text(config.read_text() + extra_yaml.strip() + "\n")
    assert_clean_failure(obsctl(*args, cwd=tmp_path), needle, tmp_path)


def test_env_var_selects_unknown_env(tmp_path: Path) -> None:
    make_project(tmp_path, local_config(free_port_block(14)))
    res = obsctl("up", cwd=tmp_path, env={"OBSCTL_ENV": "staging"})
    assert_clean_failure(res, "unknown environment 'staging'", tmp_path)


def test_malformed_yaml(tmp_path: Path) -> None:
    make_project(tmp_path, "environments:\n  local: {target: local\n")
    assert_clean_failure(obsctl("up", cwd=tmp_path), "malformed YAML", tmp_path)


def test_missing_binary(tmp_path: Path) -> None:
    base = free_port_block(14)
    make_project(tmp_path, local_config(base, local_extra="prometheus_binary: /nonexistent/prometheus"))
    res = obsctl("up", cwd=tmp_path)
    assert_clean_failure(res, "prometheus not found", tmp_path)
    assert "apt-get install -y prometheus" in res.stderr


def test_port_taken(tmp_path: Path) -> None:
    base = free_port_block(14)
    make_project(tmp_path, local_config(base))
    with socket.socket() as s:
        s.bind(("127.0.0.1", base + 10))
        s.listen()
        res = obsctl("up", cwd=tmp_path)
    assert_clean_failure(res, f"port {base + 10} (prometheus) is already in use by pid {os.getpid()}", tmp_path)
    assert "local.ports.prometheus" in res.stderr


def test_unexpected_error_is_one_line_with_log(tmp_path: Path) -> None:
    """A bug (here: the rules folder is a broken link) is one line and exit 3 or a clean error, never a traceback."""
    make_project(tmp_path, local_config(free_port_block(14)))
    (tmp_path / "dashboards").unlink()
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "bad.json").write_text("{nope")
    res = obsctl("render", cwd=tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "bad.json: not valid JSON" in res.stderr


def test_help_lists_every_verb(tmp_path: Path) -> None:
    res = obsctl("--help", cwd=tmp_path)
    assert res.returncode == 0
    for verb in ("up", "down", "verify", "port-forward", "rebuild-test", "render", "status", "doctor"):
        assert verb in res.stdout


def test_slo_without_slos_exits_2(tmp_path: Path) -> None:
    config = make_project(tmp_path, local_config(free_port_block(14)))
    text = config.read_text()
    config.write_text(text[: text.index("slos:")])  # the test config's shared slos come last
    assert_clean_failure(obsctl("slo", cwd=tmp_path), "environment 'local' defines no slos", tmp_path)
