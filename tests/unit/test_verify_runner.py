"""The check runner: every outcome is a result, concurrency keeps order, reports are well-formed."""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from obsctl.errors import ToolError
from obsctl.verify import Check, CheckFailed, CheckSkipped, eventually, passed, report, run_checks
from obsctl.verify import dashboards as dash


def _fail() -> str:
    raise CheckFailed("it is broken")


def _skip() -> str:
    raise CheckSkipped("not here")


def _tool() -> str:
    raise ToolError("prometheus is not answering")


def _bug() -> str:
    return {}["missing"]  # type: ignore[return-value]


def test_every_outcome_is_a_result() -> None:
    results = run_checks(
        [
            Check("ok", lambda: "fine"),
            Check("fail", _fail),
            Check("skip", _skip),
            Check("tool", _tool),
            Check("bug", _bug),
        ]
    )
    assert [(r.name, r.status) for r in results] == [
        ("ok", "pass"),
        ("fail", "fail"),
        ("skip", "skip"),
        ("tool", "fail"),
        ("bug", "fail"),
    ]
    assert "check crashed: KeyError" in results[-1].detail
    assert not passed(results)
    assert passed(results[:1] + results[2:3])


def test_checks_run_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=5)
    checks = [Check(f"c{i}", lambda: str(barrier.wait())) for i in range(3)]
    assert all(r.status == "pass" for r in run_checks(checks))  # would deadlock if sequential


def test_eventually_retries_then_reports_the_last_failure() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise CheckFailed("not yet")
        return "done"

    assert eventually(flaky, timeout=5, interval=0.01) == "done"
    started = time.monotonic()
    with pytest.raises(CheckFailed, match="still not ready \\(still so after 0s\\)"):
        eventually(lambda: (_ for _ in ()).throw(CheckFailed("still not ready")), timeout=0.2, interval=0.05)
    assert time.monotonic() - started < 2


def test_json_and_junit_reports(tmp_path: Path) -> None:
    results = run_checks([Check("ok", lambda: "fine"), Check("fail", _fail), Check("skip", _skip)])
    data = json.loads(report.to_json("local", "local", results))
    assert data["passed"] is False and data["counts"] == {"pass": 1, "fail": 1, "skip": 1}
    path = tmp_path / "junit.xml"
    report.write_junit(path, "local", results)
    suite = ET.parse(path).getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    assert suite.find("testcase[@name='fail']/failure").get("message") == "it is broken"  # type: ignore[union-attr]


def test_dashboard_queries_are_made_concrete() -> None:
    board = {
        "panels": [
            {
                "title": "row",
                "panels": [{"title": "A", "targets": [{"refId": "A", "expr": "rate(x[$__rate_interval])"}]}],
            },
            {
                "title": "B",
                "targets": [
                    {"refId": "B", "expr": "sum(y[${__interval}])", "hide": False},
                    {"refId": "C", "expr": "z", "hide": True},
                ],
            },
        ]
    }
    queries = dash.panel_queries(board)
    assert [(t, ref) for t, ref, _ in queries] == [("A", "A"), ("B", "B")]
    assert dash.concrete(queries[0][2], "20s") == "rate(x[20s])"
    assert dash.concrete(queries[1][2], "20s") == "sum(y[20s])"


def test_a_failed_drill_still_restores_the_platform() -> None:
    """Steps after a failure are skipped, except the `always` step that puts things back."""
    from obsctl.verify.drill import Steps

    restored = []
    steps = Steps("FastAPIPodDown")

    def broken() -> str:
        raise ToolError("prometheus is not answering")

    checks = [
        steps.step("pending", broken),
        steps.step("firing", lambda: "never"),
        steps.step("resolves", lambda: restored.append(1) or "restored", always=True),
        steps.step("sends resolved", lambda: "never"),
    ]
    assert [r.status for r in run_checks(checks, concurrent=False)] == ["fail", "skip", "pass", "skip"]
    assert restored == [1]
