"""Machine-readable verification reports: JSON for scripts, JUnit XML for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from obsctl.errors import InputError
from obsctl.verify import Result, passed


def to_json(env: str, target: str, results: list[Result]) -> str:
    return json.dumps(
        {
            "environment": env,
            "target": target,
            "passed": passed(results),
            "counts": {s: sum(r.status == s for r in results) for s in ("pass", "fail", "skip")},
            "checks": [r.to_dict() for r in results],
        },
        indent=2,
    )


def junit_path(given: Path, env: str) -> Path:
    """The report's file: `given`, or `obsctl-verify-<env>.xml` inside it when it is a folder."""
    if given.is_dir():
        return given / f"obsctl-verify-{env}.xml"
    return given


def write_junit(path: Path, env: str, results: list[Result]) -> Path:
    """Write the report; returns the file written. An unwritable path is one line (exit 2)."""
    path = junit_path(path, env)
    suite = ET.Element(
        "testsuite",
        name=f"obsctl verify ({env})",
        tests=str(len(results)),
        failures=str(sum(r.status == "fail" for r in results)),
        skipped=str(sum(r.status == "skip" for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"obsctl.{r.group}", name=r.name, time=f"{r.seconds:.3f}")
        if r.status == "fail":
            ET.SubElement(case, "failure", message=r.detail).text = r.detail
        elif r.status == "skip":
            ET.SubElement(case, "skipped", message=r.detail)
        else:
            ET.SubElement(case, "system-out").text = r.detail
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        why = f"{path.parent} is not a folder" if path.parent.exists() and not path.parent.is_dir() else exc.strerror
        raise InputError(
            f"cannot write the JUnit report to {path}: {why or exc}",
            "give --junit a writable file or folder (the checks above ran; nothing else changed)",
        ) from None
    return path
