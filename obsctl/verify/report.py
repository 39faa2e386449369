"""Machine-readable verification reports: JSON for scripts, JUnit XML for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

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


def write_junit(path: Path, env: str, results: list[Result]) -> None:
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
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
