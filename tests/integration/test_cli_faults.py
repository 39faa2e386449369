"""Faults and odd input through the real CLI: a one-line error and the right exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_project
from tests.integration.test_cli_errors import assert_clean_failure, obsctl

pytestmark = pytest.mark.integration


def test_app_port_range_past_65535_is_a_config_error(tmp_path: Path) -> None:
    """It used to pass validation and crash in `up` with an OverflowError (exit 3)."""
    make_project(
        tmp_path,
        "environments: {local: {target: local, app: {replicas: 2}, local: {ports: {app: 65535}}}}\n",
    )
    assert_clean_failure(obsctl("up", cwd=tmp_path), "past 65535", tmp_path)
