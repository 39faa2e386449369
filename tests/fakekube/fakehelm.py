"""A fake `helm` executable: records every invocation and serves canned release state.

`install(folder)` writes `folder/helm` (a Python script run by this interpreter) and an empty
state file. pyhelm3's real code path runs against it: `helm version`, `status -o json`,
`get values -o json`, `show chart`, `upgrade --install -o json` (values read from stdin),
`rollback`, `uninstall`. A test seeds releases (e.g. one stuck in pending-install) with
`FakeHelm.set_release` and reads back `calls` (argv lists) and the stored values.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

SCRIPT = r"""
import json, os, sys
from pathlib import Path

state_path = Path(os.environ["FAKE_HELM_STATE"])
argv = sys.argv[1:]
stdin = sys.stdin.read() if "-" in argv else ""
state = json.loads(state_path.read_text())
state["calls"].append({"argv": argv, "stdin_is_values": bool(stdin)})

def opt(name, default=None):
    return argv[argv.index(name) + 1] if name in argv else default

def save():
    state_path.write_text(json.dumps(state))

def fail(msg):
    save()
    sys.stderr.write(msg + "\n")
    sys.exit(1)

def status_doc(name, rel):
    return {
        "name": name, "namespace": rel["namespace"], "version": rel["revision"],
        "info": {"status": rel["status"], "last_deployed": "2025-01-01T00:00:00Z", "description": "fake"},
        "chart": {"metadata": {"apiVersion": "v2", "name": rel["chart"], "version": rel["version"]}},
        "manifest": "", "hooks": [],
    }

cmd = argv[0] if argv else ""
rels = state["releases"]
if cmd == "version":
    print("v3.18.0", end="")
elif cmd == "status":
    name = argv[1]
    if name not in rels:
        fail("Error: release: not found")
    print(json.dumps(status_doc(name, rels[name])))
elif cmd == "get" and argv[1] == "values":
    name = argv[2]
    if name not in rels:
        fail("Error: release: not found")
    print(json.dumps(rels[name]["values"]))
elif cmd == "show" and argv[1] == "chart":
    ref = argv[2]
    chart_yaml = Path(ref) / "Chart.yaml"
    if chart_yaml.is_file():
        sys.stdout.write(chart_yaml.read_text())
    else:
        if state.get("missing_charts") and ref in state["missing_charts"]:
            fail(f'Error: chart "{ref}" version "{opt("--version")}" not found in {opt("--repo")} repository')
        print(f"apiVersion: v2\nname: {ref.rsplit('/', 1)[-1]}\nversion: {opt('--version', '1.0.0')}")
elif cmd == "upgrade":
    name, ref = argv[1], argv[2]
    if state.get("fail_upgrade"):
        fail(state["fail_upgrade"])
    chart_yaml = Path(ref) / "Chart.yaml"
    if chart_yaml.is_file():
        import re
        text = chart_yaml.read_text()
        chart = re.search(r"^name: *(\S+)", text, re.M).group(1)
        version = re.search(r"^version: *(\S+)", text, re.M).group(1)
    else:
        chart, version = ref.rsplit("/", 1)[-1], opt("--version", "1.0.0")
    old = rels.get(name)
    rels[name] = {
        "namespace": opt("--namespace", "default"), "revision": (old["revision"] + 1) if old else 1,
        "status": "deployed", "chart": chart, "version": version, "values": json.loads(stdin or "{}"),
    }
    print(json.dumps(status_doc(name, rels[name])))
elif cmd == "rollback":
    name = argv[1]
    rel = rels[name]
    rel["revision"] += 1
    rel["status"] = "deployed"
    rel["values"] = rel.get("previous_values", rel["values"])
elif cmd == "uninstall":
    name = argv[1]
    if name not in rels:
        fail(f"Error: uninstall: Release not loaded: {name}: release: not found")
    del rels[name]
else:
    fail(f"Error: fake helm does not know {argv}")
save()
"""


class FakeHelm:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.executable = folder / "helm"
        self.state_path = folder / "helm-state.json"
        self.executable.write_text(f"#!{sys.executable}\n{SCRIPT}")
        self.executable.chmod(self.executable.stat().st_mode | stat.S_IEXEC)
        self.state_path.write_text(json.dumps({"calls": [], "releases": {}}))

    def env(self) -> dict[str, str]:
        return {"FAKE_HELM_STATE": str(self.state_path)}

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text())

    def _write(self, state: dict[str, Any]) -> None:
        self.state_path.write_text(json.dumps(state))

    def set_release(self, name: str, namespace: str, status: str, chart: str, version: str, values: Any) -> None:
        st = self.state()
        st["releases"][name] = {
            "namespace": namespace,
            "revision": 2,
            "status": status,
            "chart": chart,
            "version": version,
            "values": values,
            "previous_values": values,
        }
        self._write(st)

    def set(self, **options: Any) -> None:
        st = self.state()
        st.update(options)
        self._write(st)

    @property
    def calls(self) -> list[list[str]]:
        """argv of every call except `version` (pyhelm3 asks it once per client)."""
        return [c["argv"] for c in self.state()["calls"] if c["argv"][:1] != ["version"]]

    def verbs(self) -> list[str]:
        return [" ".join(a for a in c[:2] if not a.startswith("-")) for c in self.calls]

    def clear_calls(self) -> None:
        st = self.state()
        st["calls"] = []
        self._write(st)


def apply_env(fake: FakeHelm) -> None:
    os.environ.update(fake.env())
