"""`obsctl logs` on a cluster: the real kubernetes client reads and follows Pod logs from the fake
API (GET .../pods/{name}/log with container, tailLines, sinceSeconds, follow), every Pod of a
component found through its workload's selector, each line tagged with its Pod."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from obsctl.errors import InputError, ToolError
from obsctl.targets.base import LogOutput
from obsctl.targets.kubernetes import KubernetesTarget
from tests.fakekube import FakeKube, pod, workload

PROM_LABELS = {"app.kubernetes.io/name": "prometheus", "operator.prometheus.io/name": "kps-prometheus"}


def _prometheus(fake: FakeKube, t: KubernetesTarget, pods: tuple[str, ...] = ("prom-0", "prom-1")) -> None:
    """The Prometheus StatefulSet's Pods as the operator makes them: two containers, the main
    one named by kubectl's default-container annotation, and one Pod of another workload that
    a looser selector would also pick."""
    fake.put("namespaces", {"metadata": {"name": t.mon_ns}})
    sts = workload("statefulsets", t.monitoring_workloads()["prometheus"], labels=PROM_LABELS)
    fake.put("statefulsets", sts, t.mon_ns)
    for name in pods:
        _prom_pod(fake, t, name)
    fake.put("pods", pod("other-0", {"app.kubernetes.io/name": "prometheus"}), t.mon_ns)
    fake.log(t.mon_ns, "other-0", "not prometheus")


def _prom_pod(fake: FakeKube, t: KubernetesTarget, name: str) -> None:
    body = pod(name, PROM_LABELS)
    body["metadata"]["annotations"] = {"kubectl.kubernetes.io/default-container": "prometheus"}
    body["spec"]["containers"] = [{"name": "config-reloader", "image": "x"}, {"name": "prometheus", "image": "y"}]
    fake.put("pods", body, t.mon_ns)
    fake.log(t.mon_ns, name, "reloader noise", container="config-reloader")


class Collect:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.out = LogOutput(lambda s, line: self.lines.append((s, line)), self.errors.append)

    def wait_for(self, item: tuple[str, str], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while item not in self.lines:
            assert time.monotonic() < deadline, (item, self.lines, self.errors)
            time.sleep(0.02)


def test_fake_api_log_semantics(fake: FakeKube, target: KubernetesTarget) -> None:
    """The fake answers as the API server does: a container is required when a Pod has several,
    tailLines takes the last N lines and sinceSeconds then drops the older ones."""
    _prometheus(fake, target)
    now = time.time()
    fake.log(target.mon_ns, "prom-0", "old", container="prometheus", at=now - 600)
    fake.log(target.mon_ns, "prom-0", "new-1", "new-2", container="prometheus", at=now - 5)
    base = f"{fake.url}/api/v1/namespaces/{target.mon_ns}/pods/prom-0/log"
    refused = httpx.get(base)
    assert refused.status_code == 400
    assert "a container name must be specified for pod prom-0" in refused.json()["message"]
    assert httpx.get(base, params={"container": "nope"}).status_code == 400
    got = httpx.get(base, params={"container": "prometheus", "tailLines": "2", "sinceSeconds": "60"}).text
    assert got == "new-1\nnew-2\n"
    got = httpx.get(base, params={"container": "prometheus", "tailLines": "3", "sinceSeconds": "60"}).text
    assert got == "new-1\nnew-2\n"  # tail first (old, new-1, new-2), then since drops "old"
    assert httpx.get(base, params={"container": "prometheus", "tailLines": "0"}).text == ""


def test_logs_reads_every_pod_of_the_component_prefixed(fake: FakeKube, target: KubernetesTarget) -> None:
    _prometheus(fake, target)
    now = time.time()
    for name in ("prom-0", "prom-1"):
        fake.log(target.mon_ns, name, f"{name} early", container="prometheus", at=now - 900)
        fake.log(target.mon_ns, name, f"{name} a", f"{name} b", container="prometheus", at=now - 1)
    got = Collect()
    target.logs("prometheus", follow=False, tail=None, since=None, out=got.out)
    assert got.lines == [
        ("prom-0", "prom-0 early"),
        ("prom-0", "prom-0 a"),
        ("prom-0", "prom-0 b"),
        ("prom-1", "prom-1 early"),
        ("prom-1", "prom-1 a"),
        ("prom-1", "prom-1 b"),
    ]
    got = Collect()
    target.logs("prometheus", follow=False, tail=1, since=None, out=got.out)
    assert got.lines == [("prom-0", "prom-0 b"), ("prom-1", "prom-1 b")]
    got = Collect()
    target.logs("prometheus", follow=False, tail=None, since=600.0, out=got.out)
    assert [line for _, line in got.lines] == ["prom-0 a", "prom-0 b", "prom-1 a", "prom-1 b"]
    assert any("tailLines=1" in p for _, p in fake.requests) and any("sinceSeconds=600" in p for _, p in fake.requests)


def test_logs_of_the_app_use_its_selector(fake: FakeKube, target: KubernetesTarget) -> None:
    fake.put("namespaces", {"metadata": {"name": target.app_ns}})
    labels = dict(p.split("=") for p in target.app_selector.split(","))
    for i in range(2):
        fake.put("pods", pod(f"app-{i}", labels), target.app_ns)
        fake.log(target.app_ns, f"app-{i}", f"hello from {i}")
    got = Collect()
    target.logs("app", follow=False, tail=None, since=None, out=got.out)
    assert got.lines == [("app-0", "hello from 0"), ("app-1", "hello from 1")]


def test_follow_streams_pods_concurrently_and_picks_up_new_ones(fake: FakeKube, target: KubernetesTarget) -> None:
    _prometheus(fake, target)
    fake.log(target.mon_ns, "prom-0", "before", container="prometheus")
    got = Collect()
    worker = threading.Thread(target=target.logs, args=("prometheus", True, 1, None, got.out), daemon=True)
    worker.start()
    try:
        got.wait_for(("prom-0", "before"))
        fake.log(target.mon_ns, "prom-1", "one", container="prometheus")
        fake.log(target.mon_ns, "prom-0", "zero", container="prometheus")
        got.wait_for(("prom-1", "one"))
        got.wait_for(("prom-0", "zero"))
        # a Pod goes (its stream ends quietly) and a replacement comes: followed from its first line
        fake.remove("pods", "prom-0", target.mon_ns)
        _prom_pod(fake, target, "prom-2")
        fake.log(target.mon_ns, "prom-2", "replacement up", container="prometheus")
        got.wait_for(("prom-2", "replacement up"), timeout=8)
        fake.log(target.mon_ns, "prom-1", "still here", container="prometheus")
        got.wait_for(("prom-1", "still here"))
    finally:
        got.out.stop.set()
        worker.join(5)
    assert not worker.is_alive(), "follow did not stop"
    assert got.errors == []
    assert ("other-0", "not prometheus") not in got.lines
    assert all(line != "reloader noise" for _, line in got.lines)


def test_unknown_component_lists_the_known_ones(target: KubernetesTarget) -> None:
    with pytest.raises(InputError) as info:
        target.logs("sink", follow=False, tail=None, since=None, out=Collect().out)
    assert info.value.exit_code == 2
    assert "unknown component 'sink'" in info.value.message
    for name in ("app", "prometheus", "alertmanager", "grafana", "operator"):
        assert name in (info.value.hint or "")


def test_a_component_that_is_not_installed(fake: FakeKube, target: KubernetesTarget) -> None:
    fake.put("namespaces", {"metadata": {"name": target.mon_ns}})
    with pytest.raises(ToolError) as info:
        target.logs("operator", follow=False, tail=None, since=None, out=Collect().out)
    assert "operator is not running" in info.value.message


def test_cli_logs_against_the_fake_api(fake: FakeKube, target: KubernetesTarget, cluster_env) -> None:
    """The real CLI in a subprocess: prefixed lines on stdout; bad input exits 2 in one line."""
    _prometheus(fake, target)
    fake.log(target.mon_ns, "prom-0", "[brackets] stay", "last", container="prometheus")
    base = [sys.executable, "-m", "obsctl", "logs"]
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": os.getcwd()}
    cwd = cluster_env.config_path.parent

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)

    res = run("prometheus", "--env", "lab", "--tail", "2")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["[prom-0] [brackets] stay", "[prom-0] last"]
    bad = run("nope", "--env", "lab")
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[0] == "error: unknown component 'nope' for a cluster"
    assert "Traceback" not in bad.stderr
    bad = run("app", "--env", "lab", "--since", "soon")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --since:"), bad.stderr
