"""The kube context guard: obsctl acts only when the kubeconfig's current context is the
environment's; a kubeconfig with two contexts pointing at the fake API."""

from __future__ import annotations

from pathlib import Path

import pytest

from obsctl.errors import PreflightError
from obsctl.targets.kubernetes import KubernetesTarget
from obsctl.tools import kube as k
from tests.fakekube import FakeKube
from tests.fakekube.fixtures import make_env


def test_guard_passes_on_the_expected_context(kubeconfig: Path) -> None:
    assert k.kubeconfig_contexts(kubeconfig) == (["fake-a", "fake-b"], "fake-a")
    assert k.guard_context(kubeconfig, "fake-a", "lab") == "fake-a"


def test_guard_refuses_another_current_context(fake: FakeKube, tmp_path: Path) -> None:
    other = fake.kubeconfig(tmp_path / "other", current="fake-b")
    with pytest.raises(PreflightError) as info:
        k.guard_context(other, "fake-a", "lab")
    assert info.value.message == "current kube context is fake-b, environment lab expects fake-a"
    assert info.value.hint == "kubectl config use-context fake-a"
    assert info.value.exit_code == 2


def test_guard_names_the_contexts_when_the_expected_one_is_missing(kubeconfig: Path) -> None:
    with pytest.raises(PreflightError) as info:
        k.guard_context(kubeconfig, "prod", "lab")
    assert "has no context prod (it has: fake-a, fake-b)" in (info.value.hint or "")


def test_target_stages_start_with_the_guard_and_touch_nothing_on_the_wrong_context(
    fake: FakeKube,
    tmp_path: Path,
) -> None:
    env = make_env(tmp_path, fake.kubeconfig(tmp_path / "kc", current="fake-b"))
    t = KubernetesTarget(env)
    up, down = t.up_stages(), t.down_stages(purge=False)
    assert up[0].name == down[0].name == "preflight"
    with pytest.raises(PreflightError):
        up[0].run()
    with pytest.raises(PreflightError):
        down[0].run()
    assert not [r for r in fake.requests if r[0] != "GET"]  # nothing was changed


def test_the_eks_seam_uses_its_own_kubeconfig_and_context(fake: FakeKube, tmp_path: Path) -> None:
    env = make_env(tmp_path, tmp_path / "does-not-exist")
    own = fake.kubeconfig(tmp_path / "eks-kubeconfig", current="fake-b")
    t = KubernetesTarget(env, kubeconfig=own, context="fake-b")
    assert t.guard().startswith("current context fake-b")


def test_missing_kubeconfig_names_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(PreflightError, match=f"no kubeconfig at {tmp_path}/.kube/config"):
        k.guard_context(None, "fake-a", "lab")
    with pytest.raises(PreflightError, match="no kubeconfig at /nowhere/config"):
        k.guard_context(Path("/nowhere/config"), "fake-a", "lab")
