"""`verify --junit PATH` through the real CLI. Nothing runs in these throwaway projects, so every
check fails fast (exit 1); what is tested is the report: `--junit DIR` used to crash with
IsADirectoryError (exit 3) after the checks ran and before their results were shown."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import free_port_block, local_config, make_project
from tests.integration.test_cli_errors import obsctl

pytestmark = pytest.mark.integration


def _suite(path: Path) -> ET.Element:
    suite = ET.parse(path).getroot()
    assert suite.tag == "testsuite" and int(suite.get("failures", "0")) >= 1
    assert suite.find("testcase[@name='processes running']/failure") is not None
    return suite


@pytest.mark.parametrize("given", ["reports", "reports/"])
def test_junit_into_a_folder(tmp_path: Path, given: str) -> None:
    make_project(tmp_path, local_config(free_port_block(14)))
    (tmp_path / "reports").mkdir()
    res = obsctl("verify", "--junit", given, cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr and res.stderr == ""
    written = tmp_path / given / "obsctl-verify-local.xml"
    assert f"JUnit report: {given.rstrip('/')}/obsctl-verify-local.xml" in res.stdout
    _suite(written)


def test_junit_into_a_file(tmp_path: Path) -> None:
    make_project(tmp_path, local_config(free_port_block(14)))
    res = obsctl("verify", "--output", "json", "--junit", "out/verify.xml", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert '"checks"' in res.stdout
    _suite(tmp_path / "out" / "verify.xml")


def test_an_unwritable_junit_path_is_one_line_after_the_results(tmp_path: Path) -> None:
    make_project(tmp_path, local_config(free_port_block(14)))
    (tmp_path / "afile").write_text("x\n")
    res = obsctl("verify", "--junit", "afile/verify.xml", cwd=tmp_path)
    assert res.returncode == 1  # a check failed; the report problem does not hide that
    assert "processes running" in res.stdout
    lines = res.stderr.strip().splitlines()
    assert lines[0] == "error: cannot write the JUnit report to afile/verify.xml: afile is not a folder", lines
    assert len(lines) == 2 and lines[1].startswith("hint: ")
