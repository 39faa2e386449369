"""The helm obsctl uses (`binaries.find("helm")`: .tools/bin/helm, Helm 4.1.4 from
scripts/install-helm.py), for real: every call obsctl makes works with it.

- The regression of issue 7: a `0` in values is false in `{{ if }}` (helm 3.18.0 rendered the true
  branch for a 0 in the chart's own values.yaml, helm/helm#30923, and kube-prometheus-stack's
  Prometheus object was rejected), through plain `helm template` and through obsctl's adapter
  (values as JSON on stdin), and through `upgrade --install` in the release lifecycle below.
- Every flag obsctl and pyhelm3 send (argv captured from tests/fakekube/fakehelm.py) is one the
  real `helm <verb> --help` lists, and so is every flag the fake accepts.
- `template`, `show chart`, `version`, and `pull` from a chart repository served on
  127.0.0.1 (`helm package` + `helm repo index`), for real.
- status, get values, get all, upgrade --install, rollback and uninstall for real, against
  tests/fakekube/helmapi.py (the slice of the Kubernetes API helm stores releases in): install,
  no-op, upgrade, recovery from pending-upgrade (rollback) and pending-install (uninstall), and
  the failures obsctl translates (cluster unreachable, resource exists, API rejects, bad chart).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from obsctl.errors import ToolError, Unreachable
from obsctl.tools import binaries
from obsctl.tools import helm as h
from tests.conftest import ROOT
from tests.fakekube.fakehelm import FLAGS, GLOBAL_FLAGS, FakeHelm
from tests.fakekube.helmapi import HelmApi

pytestmark = pytest.mark.integration

CHART_YAML = "apiVersion: v2\nname: demo\nversion: 1.2.3\n"
# like kube-prometheus-stack 88.x, whose values.yaml has `maximumStartupDurationSeconds: 0` and whose
# prometheus.yaml renders it only `{{- if ... }}`
VALUES_YAML = "x: 0\nconfig:\n  a: 1\n  b: 2\n"
TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  branch: {{ if .Values.x }}true-branch{{ else }}false-branch{{ end }}
  config: {{ toJson .Values.config | quote }}
  {{- if .Values.invalid }}
  invalid: "the test API refuses this key"
  {{- end }}
  {{- if .Values.boom }}{{ fail "boom: asked to fail" }}{{ end }}
"""


@pytest.fixture(scope="module")
def exe() -> str:
    path = binaries.find("helm")
    if path is None:
        pytest.skip("helm is not installed; run scripts/install-helm.py (make test does)")
    return path


@pytest.fixture(autouse=True)
def helm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "helm-home" / var.lower()))


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text(CHART_YAML)
    (folder / "values.yaml").write_text(VALUES_YAML)
    (folder / "templates" / "cm.yaml").write_text(TEMPLATE)
    return folder


def rendered(stream: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(stream) if d]
    assert len(docs) == 1, stream
    return docs[0]["data"]


def run(exe: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=120, check=False)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def version_of(exe: str) -> binaries.Version:
    found = binaries.parse_version(binaries.version("helm", exe))
    assert found is not None
    return found


# --- which helm -----------------------------------------------------------------------------


def test_obsctl_uses_a_helm_it_accepts(exe: str) -> None:
    assert binaries.require_helm() == exe
    if Path(exe).parent == binaries.PROJECT_BIN:  # installed by scripts/install-helm.py: the pinned one
        spec = importlib.util.spec_from_file_location("install_helm", ROOT / "scripts" / "install-helm.py")
        assert spec and spec.loader
        script = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(script)
        assert version_of(exe) == binaries.PINNED_HELM
        assert hashlib.sha256(Path(exe).read_bytes()).hexdigest() == script.HELM_SHA256


def test_version_as_obsctl_and_pyhelm3_read_it(exe: str) -> None:
    check = binaries.check_helm(exe)
    assert check.problem is None and check.version is not None
    client_version = h._exec_command_class()(executable=exe).client_version()
    assert (client_version.major, client_version.minor, client_version.patch) == check.version


# --- issue 7: 0 is false --------------------------------------------------------------------


# x given by the user (None: the chart's own `x: 0`), the branch helm must render. helm 3.18.0 gets
# only the first case wrong: it reads a chart's values.yaml numbers as json.Number (a string kind,
# so non-empty, so true), while values from --values or stdin stay float64 (checked by hand with
# 3.18.0, 3.17.2 and 4.1.4); kube-prometheus-stack's 0 is in its values.yaml.
CASES = [(None, "false-branch"), (0, "false-branch"), (1, "true-branch")]


@pytest.mark.parametrize(("x", "branch"), CASES)
def test_zero_is_false_in_plain_helm_template(
    exe: str, chart: Path, tmp_path: Path, x: int | None, branch: str
) -> None:
    args: list[str | Path] = ["template", "r", chart]
    if x is not None:
        (tmp_path / "values.yaml").write_text(f"x: {x}\n")
        args += ["--values", tmp_path / "values.yaml"]
    result = run(exe, *args)
    assert result.returncode == 0, result.stderr
    assert rendered(result.stdout)["branch"] == branch


@pytest.mark.parametrize(("x", "branch"), CASES)
def test_zero_is_false_through_obsctls_adapter(exe: str, chart: Path, x: int | None, branch: str) -> None:
    values = {} if x is None else {"x": x}  # JSON on stdin
    out = h.Helm(exe, timeout=60).template("r", h.ChartRef(str(chart)), "default", values)
    assert rendered(out)["branch"] == branch


def test_null_deletes_a_chart_default(exe: str, chart: Path) -> None:
    """helm-values/kube-prometheus-stack.yaml.j2 nulls the chart's alertmanager.config keys obsctl
    does not set (a parent-chart key, as here): null must delete the default."""
    out = h.Helm(exe, timeout=60).template("r", h.ChartRef(str(chart)), "default", {"config": {"a": None}})
    assert yaml.safe_load(rendered(out)["config"]) == {"b": 2}


# --- flags ----------------------------------------------------------------------------------


@functools.cache
def help_flags(exe: str, verb: str) -> frozenset[str]:
    """The long flags `helm <verb> --help` lists (its own and the global ones)."""
    result = run(exe, *verb.split(), "--help")
    assert result.returncode == 0, result.stderr
    return frozenset(re.findall(r"^\s+(?:-\w, )?(--[a-z0-9-]+)", result.stdout, re.M))


def verb_and_flags(argv: list[str]) -> tuple[str, set[str]]:
    verb = " ".join(argv[:2]) if argv[0] in ("get", "show") else argv[0]
    return verb, {a.split("=", 1)[0] for a in argv if a.startswith("--")}


@pytest.fixture
def repo_url(chart: Path, tmp_path: Path, exe: str) -> Iterator[str]:
    """A chart repository on 127.0.0.1 serving demo 1.2.3, built by the real helm."""
    folder = tmp_path / "repo"
    folder.mkdir()
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    assert run(exe, "package", chart, "--destination", folder).returncode == 0
    indexed = run(exe, "repo", "index", folder, "--url", url)
    assert indexed.returncode == 0, indexed.stderr
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield url
    server.shutdown()
    server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def every_call_obsctl_makes(fake: FakeHelm, chart: Path, tmp_path: Path) -> list[list[str]]:
    """Drive each adapter operation (and each pyhelm3 path behind it) against the fake; its argv."""
    helm = h.Helm(str(fake.executable), tmp_path / "kubeconfig", "ctx", timeout=60)
    local, repo = h.ChartRef(str(chart)), h.ChartRef("kube-prometheus-stack", "https://charts.invalid", "88.5.3")
    helm.status("kps", "monitoring")
    helm.ensure_release("kps", repo, "monitoring", {"x": 0})  # install
    helm.ensure_release("kps", repo, "monitoring", {"x": 0})  # unchanged: get all, get values
    fake.set_release("kps", "monitoring", "pending-upgrade", "kube-prometheus-stack", "88.5.3", {"x": 0})
    helm.ensure_release("kps", repo, "monitoring", {"x": 1})  # rollback, then upgrade
    fake.set_release("app", "observability", "pending-install", "demo", "1.2.3", {})
    helm.ensure_release("app", local, "observability", {})  # uninstall, then install
    helm.uninstall("kps", "monitoring")
    helm.template("kps", repo, "monitoring", {"x": 0})
    helm.template("app", local, "observability", {})

    async def pull() -> None:
        async with helm.client.pull_chart("kube-prometheus-stack", repo=repo.repo, version=repo.version):
            pass

    helm._run("helm pull", pull())
    binaries.check_helm(str(fake.executable))
    return fake.all_calls


def test_every_flag_obsctl_sends_is_one_the_real_helm_knows(
    exe: str, chart: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake reports the real helm's version, so pyhelm3 builds the flags for that helm."""
    fake = FakeHelm(tmp_path / "fake", version="v" + ".".join(map(str, version_of(exe))))
    monkeypatch.setenv("FAKE_HELM_STATE", str(fake.state_path))
    calls = every_call_obsctl_makes(fake, chart, tmp_path)
    verbs = {verb_and_flags(argv)[0] for argv in calls}
    assert verbs == set(FLAGS)  # every verb the fake knows was exercised
    for argv in calls:
        verb, flags = verb_and_flags(argv)
        unknown = flags - help_flags(exe, verb)
        assert not unknown, f"helm {verb} does not know {sorted(unknown)} (argv: {argv})"


def test_the_fakes_flags_are_the_real_helms(exe: str) -> None:
    if version_of(exe)[0] != binaries.PINNED_HELM[0]:
        pytest.skip(f"fakehelm mirrors Helm {binaries.PINNED_HELM[0]}; this helm is {version_of(exe)}")
    for verb, flags in FLAGS.items():
        assert set(flags) | set(GLOBAL_FLAGS) <= help_flags(exe, verb), verb


# --- show chart, pull: real -----------------------------------------------------------------


def test_show_chart_local_and_from_a_repository(exe: str, chart: Path, repo_url: str) -> None:
    helm = h.Helm(exe, timeout=60)
    local = helm._run("helm show chart", helm.client.get_chart(chart))
    remote = helm._run("helm show chart", helm.client.get_chart("demo", repo=repo_url, version="1.2.3"))
    for found in (local, remote):
        assert (found.metadata.name, found.metadata.version) == ("demo", "1.2.3")


def test_pull_from_a_repository(exe: str, repo_url: str) -> None:
    helm = h.Helm(exe, timeout=60)

    async def pull() -> tuple[str, str, bool]:
        async with helm.client.pull_chart("demo", repo=repo_url, version="1.2.3") as pulled:
            return pulled.metadata.name, pulled.metadata.version, (Path(pulled.ref) / "templates" / "cm.yaml").is_file()

    assert helm._run("helm pull demo", pull()) == ("demo", "1.2.3", True)


def test_obsctls_pull_caches_the_pinned_chart_and_says_what_went_wrong(exe: str, repo_url: str, tmp_path: Path) -> None:
    """`Helm.pull`, what `up` uses to fetch kube-prometheus-stack once into .obsctl/<env>/charts/."""
    helm = h.Helm(exe, timeout=60)
    cache = tmp_path / "charts" / "demo-1.2.3"
    got = helm.pull(h.ChartRef("demo", repo_url, "1.2.3"), cache)
    assert got == cache / "demo" and h.chart_version(got) == "1.2.3"
    assert (got / "templates" / "cm.yaml").is_file()
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == ["demo-1.2.3"]  # no temporary left
    with pytest.raises(ToolError) as info:  # a version the repository does not have
        helm.pull(h.ChartRef("demo", repo_url, "9.9.9"), tmp_path / "charts" / "demo-9.9.9")
    assert "the repository has no such chart or version" in info.value.message
    assert not (tmp_path / "charts" / "demo-9.9.9").exists()
    with pytest.raises(Unreachable) as gone:  # offline: the hint is the local chart
        helm.pull(h.ChartRef("demo", "http://127.0.0.1:1", "1.2.3"), tmp_path / "charts" / "x")
    assert "the chart repository cannot be reached" in gone.value.message
    assert "kubernetes.kps_chart" in (gone.value.hint or "")


def test_template_from_a_repository_renders_zero_as_false(exe: str, repo_url: str) -> None:
    """kube-prometheus-stack's path: a chart named in a repository, --repo and --version."""
    out = h.Helm(exe, timeout=60).template("r", h.ChartRef("demo", repo_url, "1.2.3"), "default", {"x": 0})
    assert rendered(out)["branch"] == "false-branch"


def test_a_missing_chart_version_and_an_unreachable_repository(exe: str, repo_url: str) -> None:
    helm = h.Helm(exe, timeout=60)
    with pytest.raises(ToolError) as missing:
        helm.template("r", h.ChartRef("demo", repo_url, "9.9.9"), "default", {})
    assert "chart not found" in missing.value.message and "kps_chart_version" in (missing.value.hint or "")
    with pytest.raises(ToolError) as down:
        helm.template("r", h.ChartRef("demo", f"http://127.0.0.1:{closed_port()}", "1.2.3"), "default", {})
    assert "the chart repository cannot be reached" in down.value.message
    assert "kps_repo_url" in (down.value.hint or "")


def test_a_chart_that_fails_to_render(exe: str, chart: Path) -> None:
    with pytest.raises(ToolError) as info:
        h.Helm(exe, timeout=60).template("r", h.ChartRef(str(chart)), "default", {"boom": True})
    assert "the chart failed to render" in info.value.message and "boom: asked to fail" in info.value.message


# --- releases: real, against the helm slice of the API --------------------------------------


@pytest.fixture
def api() -> Iterator[HelmApi]:
    with HelmApi() as server:
        yield server


@pytest.fixture
def cluster_helm(exe: str, api: HelmApi, tmp_path: Path) -> h.Helm:
    return h.Helm(exe, api.kubeconfig(tmp_path / "kubeconfig"), "helm-test", timeout=60)


def test_release_lifecycle(cluster_helm: h.Helm, api: HelmApi, repo_url: str) -> None:
    helm, chart = cluster_helm, h.ChartRef("demo", repo_url, "1.2.3")
    assert helm.status("demo", "mon") is None
    assert helm.ensure_release("demo", chart, "mon", {}) == "installed demo 1.2.3, revision 1 deployed"
    assert api.store["configmaps"][("mon", "demo")]["data"]["branch"] == "false-branch"  # the chart's x: 0
    assert helm.ensure_release("demo", chart, "mon", {}) == "unchanged at revision 1 (demo 1.2.3)"
    assert helm.ensure_release("demo", chart, "mon", {"x": 1}) == "upgraded demo 1.2.3, revision 2 deployed"
    assert api.store["configmaps"][("mon", "demo")]["data"]["branch"] == "true-branch"
    assert helm.status("demo", "mon") == h.ReleaseState(2, "deployed", "demo", "1.2.3")
    assert api.release("demo", "mon", 2)["config"] == {"x": 1}  # values went in as JSON on stdin

    api.set_release_status("demo", "mon", 2, "pending-upgrade")  # an interrupted upgrade
    assert helm.ensure_release("demo", chart, "mon", {"x": 1}) == (
        "recovered from pending-upgrade (revision 2, rolled back); upgraded demo 1.2.3, revision 4 deployed"
    )
    assert api.revisions("demo", "mon") == [1, 2, 3, 4]
    assert not api.release("demo", "mon", 3).get("config")  # the rollback restored revision 1 (no values)

    api.set_release_status("demo", "mon", 4, "pending-install")
    assert helm.ensure_release("demo", chart, "mon", {"x": 1}) == (
        "recovered from pending-install (revision 4, uninstalled); installed demo 1.2.3, revision 1 deployed"
    )
    assert helm.uninstall("demo", "mon") is True
    assert helm.status("demo", "mon") is None
    assert helm.uninstall("demo", "mon") is False
    assert api.store["configmaps"] == {} and api.revisions("demo", "mon") == []


def test_an_unreachable_cluster_is_unreachable_not_bad_input(exe: str, tmp_path: Path) -> None:
    """exit 1: a cluster that stops answering mid-run is not a refusal (issue 7 section 8); the
    cluster preflight probes the API itself and refuses with exit 2 before anything changes."""
    with HelmApi() as gone:
        kubeconfig = gone.kubeconfig(tmp_path / "kubeconfig")
    helm = h.Helm(exe, kubeconfig, "helm-test", timeout=60)
    with pytest.raises(Unreachable) as info:
        helm.status("demo", "mon")
    assert info.value.exit_code == 1
    assert "helm cannot reach the cluster" in info.value.message and "kube context" in (info.value.hint or "")


def test_a_resource_that_is_not_the_releases(cluster_helm: h.Helm, api: HelmApi, chart: Path) -> None:
    api.put("configmaps", "mon", {"metadata": {"name": "other"}, "data": {}})
    with pytest.raises(ToolError) as info:
        cluster_helm.ensure_release("other", h.ChartRef(str(chart)), "mon", {})
    assert "a resource already exists outside this release" in info.value.message
    assert api.store["configmaps"][("mon", "other")]["data"] == {}


def test_the_api_server_rejects_a_resource(cluster_helm: h.Helm, chart: Path) -> None:
    """What the API server did to kube-prometheus-stack under helm 3.18.0 (422, "is invalid")."""
    with pytest.raises(ToolError) as info:
        cluster_helm.ensure_release("bad", h.ChartRef(str(chart)), "mon", {"invalid": True})
    assert "the API server rejected a resource" in info.value.message and "is invalid" in info.value.message


def test_the_fake_answers_in_the_real_helms_shapes(
    exe: str, api: HelmApi, chart: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What pyhelm3 reads from helm, side by side: `upgrade -o json` carries the chart, `status -o json`
    does not (so pyhelm3 asks `get all --template` for the chart metadata), with the same keys."""
    from pyhelm3.command import CHART_METADATA_TEMPLATE

    fake = FakeHelm(tmp_path / "fake")
    monkeypatch.setenv("FAKE_HELM_STATE", str(fake.state_path))
    kube = ("--kubeconfig", str(api.kubeconfig(tmp_path / "kubeconfig")), "--kube-context", "helm-test")
    answers = {}
    for name, helm in (("real", exe), ("fake", str(fake.executable))):
        up = run(helm, "upgrade", "demo", chart, "--install", "--namespace", "mon", "--output", "json", *kube)
        status = run(helm, "status", "demo", "--namespace", "mon", "--output", "json", *kube)
        meta = run(helm, "get", "all", "demo", "--namespace", "mon", "--template", CHART_METADATA_TEMPLATE, *kube)
        assert up.returncode == status.returncode == meta.returncode == 0, up.stderr + status.stderr + meta.stderr
        answers[name] = (json.loads(up.stdout), json.loads(status.stdout), yaml.safe_load(meta.stdout))
    (real_up, real_status, real_meta), (fake_up, fake_status, fake_meta) = answers["real"], answers["fake"]
    assert real_up["chart"]["metadata"]["name"] == fake_up["chart"]["metadata"]["name"] == "demo"
    assert "chart" not in real_status and "chart" not in fake_status
    assert set(fake_status) == set(real_status)
    assert set(fake_status["info"]) <= set(real_status["info"])
    assert real_meta == fake_meta == {"apiVersion": "v2", "name": "demo", "version": "1.2.3"}
    missing = run(exe, "status", "nope", "--namespace", "mon", *kube)
    assert missing.stderr.strip() == run(str(fake.executable), "status", "nope", *kube).stderr.strip()
