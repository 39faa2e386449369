"""scripts/check-chart-values.py, the by-hand check of rendered values against a fetched chart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check-chart-values.py"
CHART_VALUES = "prometheus: {url: x, port: 9090}\nresources: {}\nrules: {default: true, custom: []}\n"


def run(tmp_path: Path, ours: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "chart.yaml").write_text(CHART_VALUES)
    (tmp_path / "ours.yaml").write_text(ours)
    argv = [sys.executable, str(SCRIPT), str(tmp_path / "chart.yaml"), str(tmp_path / "ours.yaml")]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def test_known_and_free_form_keys_pass(tmp_path: Path) -> None:
    ours = "obsctl: {environment: x}\nprometheus: {port: 1}\nresources: {limits: {cpu: 1m}}\nrules: {custom: [1]}\n"
    result = run(tmp_path, ours)
    assert (result.returncode, result.stdout.strip()) == (0, "keys the chart does not have: none")


def test_a_misspelled_key_fails(tmp_path: Path) -> None:
    result = run(tmp_path, "prometheus: {ulr: x}\n")
    assert (result.returncode, result.stdout.strip()) == (1, "keys the chart does not have: prometheus.ulr")
