"""A fake `helm` executable that behaves like Helm 4.1.4 (the version scripts/install-helm.py
pins): it records every invocation and serves canned release state.

`FakeHelm(folder)` writes `folder/helm` (a Python script run by this interpreter) and an empty
state file. pyhelm3's real code path runs against it: `version`, `status -o json`,
`get values -o json`, `get all --template` (pyhelm3 reads a revision's chart metadata that way),
`show chart`, `upgrade --install -o json` (values read from stdin), `rollback`, `uninstall`,
`template`, `pull`. A test seeds releases (e.g. one stuck in pending-install) with
`FakeHelm.set_release` and reads back `calls` (argv lists) and the stored values.

Where pyhelm3's behaviour depends on helm, the fake does what helm 4.1.4 does, and
tests/integration/test_helm_binary.py pins each of these beliefs to the real binary:
- `version` reports v4.1.4 (so pyhelm3 builds Helm 4 flags: `--rollback-on-failure`, ...);
  `FakeHelm(folder, version="v3.18.0")` pretends to be another helm;
- `status -o json` has no `chart` key (helm strips it), so pyhelm3 asks `get all --template`
  for the chart metadata; `upgrade -o json` has it; empty `hooks` and `config` are left out;
- a flag that is not in FLAGS (the flags helm 4.1.4's `--help` lists for that verb, restricted
  to those pyhelm3 and obsctl may send) fails like helm: `Error: unknown flag: --x`. Deprecated
  flags that helm 4 still accepts with a warning (`--atomic`, `--force`) are refused here on purpose;
- the error messages are helm 4's (`Error: release: not found`, ...).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

PINNED_VERSION = "v4.1.4"

# Flags helm 4.1.4 accepts on every verb (`helm <verb> --help`, "Global Flags") that obsctl or
# pyhelm3 send.
GLOBAL_FLAGS = (
    "--debug",
    "--kube-apiserver",
    "--kube-context",
    "--kube-insecure-skip-tls-verify",
    "--kube-token",
    "--kubeconfig",
    "--namespace",
)
# Per verb: the flags pyhelm3 0.5.8's command builders (and obsctl's version call) can
# send that helm 4.1.4 lists in `helm <verb> --help`. Pinned: test_helm_binary.py.
FLAGS: dict[str, tuple[str, ...]] = {
    "version": ("--short", "--template"),
    "status": ("--output", "--revision"),
    "get values": ("--all", "--output", "--revision"),
    "get all": ("--revision", "--template"),
    "show chart": ("--devel", "--repo", "--version"),
    "upgrade": (
        "--cleanup-on-fail",
        "--create-namespace",
        "--description",
        "--devel",
        "--disable-openapi-validation",
        "--dry-run",
        "--force-conflicts",
        "--force-replace",
        "--history-max",
        "--install",
        "--no-hooks",
        "--output",
        "--repo",
        "--reset-values",
        "--reuse-values",
        "--rollback-on-failure",
        "--server-side",
        "--skip-crds",
        "--take-ownership",
        "--timeout",
        "--values",
        "--version",
        "--wait",
        "--wait-for-jobs",
    ),
    "rollback": (
        "--cleanup-on-fail",
        "--dry-run",
        "--history-max",
        "--no-hooks",
        "--timeout",
        "--wait",
        "--wait-for-jobs",
    ),
    "uninstall": ("--dry-run", "--keep-history", "--no-hooks", "--timeout", "--wait"),
    "template": (
        "--devel",
        "--include-crds",
        "--is-upgrade",
        "--no-hooks",
        "--repo",
        "--skip-crds",
        "--values",
        "--version",
    ),
    "pull": ("--destination", "--devel", "--repo", "--untar", "--version"),
}
# Flags that take no value (everything else in FLAGS takes the next argument).
SWITCHES = (
    "--all",
    "--cleanup-on-fail",
    "--create-namespace",
    "--debug",
    "--devel",
    "--disable-openapi-validation",
    "--force-conflicts",
    "--force-replace",
    "--include-crds",
    "--install",
    "--is-upgrade",
    "--keep-history",
    "--kube-insecure-skip-tls-verify",
    "--no-hooks",
    "--reset-values",
    "--reuse-values",
    "--rollback-on-failure",
    "--short",
    "--skip-crds",
    "--strict",
    "--take-ownership",
    "--untar",
    "--wait",
    "--wait-for-jobs",
    "--dry-run",
)

SCRIPT = r"""
import json, os, sys
from pathlib import Path

state_path = Path(os.environ["FAKE_HELM_STATE"])
argv = sys.argv[1:]
stdin = sys.stdin.read() if "-" in argv else ""
state = json.loads(state_path.read_text())
state["calls"].append({"argv": argv, "stdin_is_values": bool(stdin)})
FLAGS, GLOBAL_FLAGS, SWITCHES = state["flags"], state["global_flags"], state["switches"]

def save():
    state_path.write_text(json.dumps(state))

def fail(msg):
    save()
    sys.stderr.write(msg + "\n")
    sys.exit(1)

verb = " ".join(argv[:2]) if argv[:1] in (["get"], ["show"]) else (argv[0] if argv else "")
if verb not in FLAGS:
    fail(f'Error: unknown command "{verb}" for "helm"')
positional, options, rest = [], {}, argv[len(verb.split()):]
i = 0
while i < len(rest):
    arg = rest[i]
    if arg.startswith("-") and arg != "-":
        name, eq, value = arg.partition("=")
        if name not in FLAGS[verb] and name not in GLOBAL_FLAGS:
            fail(f"Error: unknown flag: {name}")
        if not eq and name not in SWITCHES:
            i += 1
            value = rest[i]
        options[name] = value if (eq or name not in SWITCHES) else True
    else:
        positional.append(arg)
    i += 1

def opt(name, default=None):
    return options.get(name, default)

def manifest(name):
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"

def status_doc(name, rel, with_chart):
    doc = {
        "name": name, "namespace": rel["namespace"], "version": rel["revision"],
        "info": {"status": rel["status"], "first_deployed": "2025-01-01T00:00:00Z",
                 "last_deployed": "2025-01-01T00:00:00Z", "description": "fake"},
        "manifest": f"---\n# Source: {rel['chart']}/templates/cm.yaml\n{manifest(name)}",
        "apply_method": "ssa",
    }
    if rel["values"]:  # helm leaves out empty user values
        doc["config"] = rel["values"]
    if with_chart:  # helm status strips the chart; install/upgrade output keeps it
        doc["chart"] = {"metadata": {"apiVersion": "v2", "name": rel["chart"], "version": rel["version"]}}
    return doc

def chart_of(ref):
    chart_yaml = Path(ref) / "Chart.yaml"
    if chart_yaml.is_file():
        import re
        text = chart_yaml.read_text()
        return re.search(r"^name: *(\S+)", text, re.M).group(1), re.search(r"^version: *(\S+)", text, re.M).group(1)
    if state.get("missing_charts") and ref in state["missing_charts"]:
        fail(f'Error: chart "{ref}" version "{opt("--version")}" not found in {opt("--repo")} repository')
    return ref.rsplit("/", 1)[-1], opt("--version", "1.0.0")

rels = state["releases"]
if verb == "version":
    v = state["version"]
    print(v if "--template" in options else f"{v}+g05fa379" if "--short" in options else
          f'version.BuildInfo{{Version:"{v}", GitCommit:"05fa379", GitTreeState:"clean"}}', end="")
elif verb == "status":
    name = positional[0]
    if name not in rels:
        fail("Error: release: not found")
    print(json.dumps(status_doc(name, rels[name], with_chart=False)))
elif verb == "get values":
    name = positional[0]
    if name not in rels:
        fail("Error: release: not found")
    print(json.dumps(rels[name]["values"]))
elif verb == "get all":
    name = positional[0]
    if name not in rels:
        fail("Error: release: not found")
    rel = rels[name]  # what pyhelm3's CHART_METADATA_TEMPLATE renders to
    print(f'apiVersion: v2\nname: "{rel["chart"]}"\nversion: "{rel["version"]}"', end="")
elif verb == "show chart":
    ref = positional[0]
    chart_yaml = Path(ref) / "Chart.yaml"
    if chart_yaml.is_file():
        sys.stdout.write(chart_yaml.read_text())
    else:
        chart, version = chart_of(ref)
        print(f"apiVersion: v2\nname: {chart}\nversion: {version}")
elif verb == "upgrade":
    name, ref = positional[0], positional[1]
    if state.get("fail_upgrade"):
        fail(state["fail_upgrade"])
    chart, version = chart_of(ref)
    old = rels.get(name)
    rels[name] = {
        "namespace": opt("--namespace", "default"), "revision": (old["revision"] + 1) if old else 1,
        "status": "deployed", "chart": chart, "version": version, "values": json.loads(stdin or "{}"),
    }
    print(json.dumps(status_doc(name, rels[name], with_chart=True)))
elif verb == "rollback":
    name = positional[0]
    if name not in rels:
        fail("Error: release: not found")
    rel = rels[name]
    rel["revision"] += 1
    rel["status"] = "deployed"
    rel["values"] = rel.get("previous_values", rel["values"])
    print("Rollback was a success! Happy Helming!")
elif verb == "uninstall":
    name = positional[0]
    if name not in rels:
        fail(f"Error: uninstall: Release not loaded: {name}: release: not found")
    del rels[name]
    print(f'release "{name}" uninstalled')
elif verb == "template":
    name, ref = positional[0], positional[1]
    chart, _ = chart_of(ref)
    print(f"---\n# Source: {chart}/templates/cm.yaml\n{manifest(name)}", end="")
elif verb == "pull":
    ref = positional[0]
    chart, version = chart_of(ref)
    folder = Path(opt("--destination", ".")) / chart
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {chart}\nversion: {version}\n")
save()
"""


class FakeHelm:
    def __init__(self, folder: Path, version: str = PINNED_VERSION) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.executable = folder / "helm"
        self.state_path = folder / "helm-state.json"
        self.executable.write_text(f"#!{sys.executable}\n{SCRIPT}")
        self.executable.chmod(self.executable.stat().st_mode | stat.S_IEXEC)
        self._write(
            {
                "calls": [],
                "releases": {},
                "version": version,
                "flags": FLAGS,
                "global_flags": GLOBAL_FLAGS,
                "switches": SWITCHES,
            }
        )

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
    def all_calls(self) -> list[list[str]]:
        """argv of every call, `version` included."""
        return [c["argv"] for c in self.state()["calls"]]

    @property
    def calls(self) -> list[list[str]]:
        """argv of every call except `version` (pyhelm3 asks it once per client)."""
        return [c for c in self.all_calls if c[:1] != ["version"]]

    def verbs(self) -> list[str]:
        return [" ".join(a for a in c[:2] if not a.startswith("-")) for c in self.calls]

    def clear_calls(self) -> None:
        st = self.state()
        st["calls"] = []
        self._write(st)


def apply_env(fake: FakeHelm) -> None:
    os.environ.update(fake.env())
