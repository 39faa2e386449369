"""The repository's own `local` environment (what `make up` brings up), on ports of the test's
own: one receiver of every type at obsctl's sinks, and `verify --fire-drill` reports, per
receiver, that the page and the resolve arrived, and that the Watchdog heartbeat arrives, all
within 90 s. Only the loopback ports and state_dir differ from obsctl.yaml: the receivers
(`sink: obsctl`) follow them with no rewriting of the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, free_port_block, make_project

pytestmark = pytest.mark.e2e


def _repo_local_env(base: int) -> str:
    doc = yaml.safe_load((ROOT / "obsctl.yaml").read_text())
    local = doc["environments"]["local"]
    ports = {"app": base, "prometheus": base + 10, "alertmanager": base + 11, "grafana": base + 12}
    ports.update(sink=base + 13, smtp=base + 9)
    local.setdefault("local", {})["ports"] = ports
    return yaml.safe_dump({"default_environment": "local", "state_dir": "st", "environments": {"local": local}})


def run(config: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OBSCTL_ENV", "OBSCTL_CONFIG") and "OBSCTL_LOCAL_" not in k}
    return subprocess.run(
        [sys.executable, "-m", "obsctl", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**env, "COLUMNS": "200"},
        cwd=config.parent,
    )


def test_every_receiver_type_gets_the_page_and_the_resolve(tmp_path: Path) -> None:
    config = make_project(tmp_path, _repo_local_env(free_port_block(14, start=24000)))
    try:
        up = run(config, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        started = time.monotonic()
        drill = run(config, "verify", "--fire-drill", "--output", "json")
        took = time.monotonic() - started
        assert drill.returncode == 0, drill.stdout + drill.stderr
        checks = {c["name"]: c for c in json.loads(drill.stdout)["checks"]}
        delivery = {n: c for n, c in checks.items() if n.startswith("drill delivery: ")}
        passed = sorted(n.split()[2] for n, c in delivery.items() if c["status"] == "pass")
        assert passed == ["local-email", "local-opsgenie", "local-pagerduty", "local-slack", "local-webhook"], delivery
        assert checks["drill delivery: local-heartbeat got the page and the resolve"]["status"] == "skip"
        reach = [c for n, c in checks.items() if n.endswith("reachable from the routing tree")]
        assert len(reach) == 6 and all(c["status"] == "pass" for c in reach), reach
        assert checks["dead man's switch: Watchdog reaches the heartbeat receiver"]["status"] == "pass"
        assert took < 90, f"verify --fire-drill took {took:.0f}s"
        # every wire format, page and resolve, in the sink's record
        lines = (tmp_path / "st/local/sink/notifications.jsonl").read_text().splitlines()
        record = [json.loads(line) for line in lines]
        kinds = {(n["kind"], n["status"]) for n in record}
        for kind in ("webhook", "slack", "pagerduty", "opsgenie", "email"):
            assert (kind, "firing") in kinds and (kind, "resolved") in kinds, kinds
    finally:
        down = run(config, "down", "--purge")
        assert down.returncode == 0, down.stderr
