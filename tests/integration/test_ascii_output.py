"""Output a stream cannot encode degrades to ASCII: PYTHONIOENCODING=ascii used to crash `up` on
its first line (an em dash) with a UnicodeEncodeError, exit 3, before doing anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import free_port_block, local_config, make_project
from tests.integration.test_cli_errors import assert_clean_failure, obsctl

pytestmark = pytest.mark.integration

ASCII = {"PYTHONIOENCODING": "ascii"}


def test_up_degrades_to_ascii(tmp_path: Path) -> None:
    """A missing binary stops `up` in preflight, after its header line, so nothing starts."""
    make_project(tmp_path, local_config(free_port_block(14), local_extra="prometheus_binary: /nonexistent/prometheus"))
    res = obsctl("up", cwd=tmp_path, env=ASCII)
    assert res.stdout.startswith("obsctl up - environment local (target local)\nx preflight"), res.stdout + res.stderr
    assert_clean_failure(res, "prometheus not found", tmp_path)


def test_tables_degrade_to_ascii(tmp_path: Path) -> None:
    """rich draws ASCII boxes by itself on such a stream; this keeps it so (and stderr clean)."""
    make_project(tmp_path, local_config(free_port_block(14)))
    res = obsctl("verify", cwd=tmp_path, env=ASCII)  # nothing runs here: every check fails, exit 1
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr and res.stderr == ""
    assert "| processes running" in res.stdout and "| FAIL" in res.stdout and res.stdout.isascii()
    res = obsctl("doctor", cwd=tmp_path, env=ASCII)
    assert "Traceback" not in res.stderr and "UnicodeEncodeError" not in res.stderr
    assert res.stdout.isascii() and "| prometheus" in res.stdout
