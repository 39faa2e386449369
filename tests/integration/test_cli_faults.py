"""Faults and odd input through the real CLI: a one-line error and the right exit code, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port_block, local_config, make_project
from tests.integration.test_cli_errors import assert_clean_failure, obsctl

pytestmark = pytest.mark.integration


def test_app_port_range_past_65535_is_a_config_error(tmp_path: Path) -> None:
    """It used to pass validation and crash in `up` with an OverflowError (exit 3)."""
    make_project(
        tmp_path,
        "environments: {local: {target: local, app: {replicas: 2}, local: {ports: {app: 65535}}}}\n",
    )
    assert_clean_failure(obsctl("up", cwd=tmp_path), "past 65535", tmp_path)


def _project_with_own_content(tmp: Path) -> Path:
    """A project whose rules/ and dashboards/ are copies the test may break (make_project links the repo's)."""
    config = make_project(tmp, local_config(free_port_block(14)))
    for name in ("rules", "dashboards"):
        (tmp / name).unlink()
        shutil.copytree(ROOT / name, tmp / name)
    return config


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("rules/broken.yaml", "groups:\n  - name: x\n    rules: [\n  - bad\n", "rules/broken.yaml:4:3: malformed YAML"),
        ("rules/dup.yaml", "groups: []\ngroups: []\n", "rules/dup.yaml:2:1: malformed YAML: duplicate key 'groups'"),
        ("rules/list.yaml", "- a\n", "rules/list.yaml: expected a mapping with a 'groups:' list"),
        ("dashboards/broken.json", '{\n "a": 1,\n nope}\n', "broken.json: not valid JSON: Expecting property name"),
        ("dashboards/list.json", "[1, 2]\n", "dashboards/list.json: expected a JSON object"),
    ],
)
def test_malformed_content_names_the_file_and_line(tmp_path: Path, name: str, text: str, needle: str) -> None:
    """A broken rules/*.yaml used to crash with 'unexpected ParserError' (exit 3)."""
    _project_with_own_content(tmp_path)
    (tmp_path / name).write_text(text)
    for verb in ("render", "up"):
        assert_clean_failure(obsctl(verb, cwd=tmp_path), needle, tmp_path)
