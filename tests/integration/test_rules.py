"""The alert and recording rules in rules/: promtool accepts them, their unit tests pass
(and can fail), and every alert carries what on-call needs to act on it.

The rule files are the single source for the local target (rule_files) and the cluster
targets (PrometheusRule), so what is proven here holds for both.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yaml"))
RULE_TEST_FILES = sorted((RULES_DIR / "tests").glob("*.yaml"))
RUNBOOKS = REPO / "docs" / "runbooks.md"

EXPECTED_ALERTS = {"FastAPIHighErrorRate", "FastAPIHighLatency", "FastAPIPodDown"}
# level:metric:operations, https://prometheus.io/docs/practices/rules/
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")
# obsctl's local profile rewrites `for:` per alert and expects a plain duration.
PLAIN_DURATION = re.compile(r"^[1-9][0-9]*[smh]$")


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip("promtool is not on PATH; scripts/install-system-deps.sh installs it")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=120, check=False)


def load_rules(path: Path) -> list[dict]:
    with path.open() as f:
        return [rule for group in yaml.safe_load(f)["groups"] for rule in group["rules"]]


def all_rules() -> list[dict]:
    return [rule for path in RULE_FILES for rule in load_rules(path)]


def alerts() -> list[dict]:
    return [rule for rule in all_rules() if "alert" in rule]


def github_anchors(markdown: str) -> set[str]:
    """Anchors GitHub derives from headings: lower case, punctuation dropped, spaces to '-'."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def copy_rules(dest: Path) -> Path:
    """A copy of rules/ (files and their tests, same layout) that a test may break."""
    shutil.copytree(RULES_DIR, dest / "rules")
    return dest / "rules"


def test_there_are_rule_files_and_tests() -> None:
    assert RULE_FILES, "no rules/*.yaml"
    assert RULE_TEST_FILES, "no rules/tests/*.yaml"


# ------------------------------------------------------------------------ promtool


@pytest.mark.integration
def test_promtool_check_rules_is_clean() -> None:
    result = promtool("check", "rules", "--lint=all", "--lint-fatal", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.integration
def test_promtool_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", *RULE_TEST_FILES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


BREAKAGES = {
    "bad expression": ("expr", 'sum by (job) (rate(http_requests_total{job="fastapi"}[5m])'),
    "bad annotation template": ("annotations.summary", "{{ $value | no_such_function }}"),
    "bad for duration": ("for", "5 minutes"),
}


@pytest.mark.integration
@pytest.mark.parametrize("field, value", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_promtool_check_rules_fails_on_a_broken_rule(tmp_path: Path, field: str, value: str) -> None:
    rules = copy_rules(tmp_path)
    target = rules / "fastapi.rules.yaml"
    doc = yaml.safe_load(target.read_text())
    rule = next(r for g in doc["groups"] for r in g["rules"] if r.get("alert") == "FastAPIHighErrorRate")
    if field.startswith("annotations."):
        rule["annotations"][field.split(".", 1)[1]] = value
    else:
        rule[field] = value
    target.write_text(yaml.safe_dump(doc, sort_keys=False))

    result = promtool("check", "rules", target)

    assert result.returncode != 0, f"promtool accepted a broken rule:\n{result.stdout}"


@pytest.mark.integration
def test_rule_unit_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    """The unit tests pin the thresholds: an error-rate alert at 50% instead of 5% fails them."""
    rules = copy_rules(tmp_path)
    target = rules / "fastapi.rules.yaml"
    text = target.read_text()
    assert ") > 0.05" in text
    target.write_text(text.replace(") > 0.05", ") > 0.5"))

    result = promtool("test", "rules", *sorted((rules / "tests").glob("*.yaml")))

    assert result.returncode != 0, result.stdout
    assert "FastAPIHighErrorRate" in result.stdout + result.stderr


# --------------------------------------------------------------- rule contents


def test_alert_names_are_exactly_the_three() -> None:
    assert {rule["alert"] for rule in alerts()} == EXPECTED_ALERTS


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_every_alert_has_labels_annotations_and_runbook(rule: dict) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert rule["labels"].get("team")
    annotations = rule["annotations"]
    for key in ("summary", "description", "runbook", "runbook_url"):
        assert annotations.get(key, "").strip(), f"{rule['alert']}: missing annotation {key}"
    if "absent(" not in rule["expr"]:  # absent() has no value or labels worth rendering
        assert "{{" in annotations["description"], "description should render the alert's values"
    assert PLAIN_DURATION.match(str(rule["for"])), f"{rule['alert']}: for: {rule['for']!r}"


def test_runbook_urls_point_at_existing_sections() -> None:
    anchors = github_anchors(RUNBOOKS.read_text())
    for rule in alerts():
        path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert path == "docs/runbooks.md"
        assert anchor in anchors, f"{rule['alert']}: no heading for #{anchor} in {RUNBOOKS.name}"


def test_pod_down_has_a_replica_and_an_all_scope() -> None:
    pod_down = {r["labels"]["scope"]: r for r in alerts() if r["alert"] == "FastAPIPodDown"}
    assert set(pod_down) == {"replica", "all"}
    assert pod_down["replica"]["labels"]["severity"] == "warning"
    assert pod_down["all"]["labels"]["severity"] == "critical"
    assert "absent(" in pod_down["all"]["expr"]


def test_recording_rules_follow_naming_conventions() -> None:
    records = [rule["record"] for rule in all_rules() if "record" in rule]
    assert records
    assert len(records) == len(set(records))
    for name in records:
        assert RECORD_NAME.match(name), name
        assert name.startswith("job:"), f"{name}: rules aggregate by job"
