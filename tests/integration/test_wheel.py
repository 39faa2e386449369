"""The built wheel is a complete obsctl: installed into a fresh venv outside the checkout and run
from a folder outside it, it renders every example environment and runs the local loop (up,
verify, down) from the content it carries (obsctl/platform/), never from this source tree.

No network: the wheel is built with the hatchling `make test` installed (--no-build-isolation),
installed with --no-deps, and its dependencies are the test venv's, reached through a .pth
line (a path line only: the test venv's own .pth files, among them the editable install of
this checkout, are not processed, so `import obsctl` can only find the wheel's copy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, free_port_block, local_config

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Installed:
    python: Path
    obsctl: Path
    package: Path  # the installed obsctl package folder
    wheel: Path


def _purelib(python: Path | str) -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    assert not base.is_relative_to(ROOT), "the venv must live outside the checkout"
    dist = base / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", dist, ROOT],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = dist.glob("obsctl-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
    python = venv / "bin" / "python"
    Path(_purelib(python), "obsctl-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel],
        check=True,
        capture_output=True,
        timeout=120,
    )
    found = subprocess.run(
        [python, "-c", "import obsctl; print(obsctl.__file__)"],
        env=_env(base),
        cwd=base,
        capture_output=True,
        text=True,
    )
    package = Path(found.stdout.strip()).parent
    assert package.is_relative_to(venv), f"obsctl imported from {package}, not from the wheel"
    return Installed(python, venv / "bin" / "obsctl", package, wheel)


def _env(home: Path) -> dict[str, str]:
    """The caller's environment without anything pointing back at this checkout."""
    drop = ("PYTHONPATH", "OBSCTL_CONFIG", "OBSCTL_ENV", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    tools = ROOT / ".tools" / "bin"  # helm, when installed: render then templates the shipped app chart
    env["PATH"] = os.pathsep.join([str(tools), env.get("PATH", "")]) if tools.is_dir() else env.get("PATH", "")
    env["XDG_STATE_HOME"] = str(home / "state")
    env["COLUMNS"] = "200"
    return env


def run(inst: Installed, cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [inst.obsctl, *args], capture_output=True, text=True, timeout=timeout, env=_env(cwd), cwd=cwd, check=False
    )


def _no_checkout_paths(folder: Path) -> None:
    """Nothing rendered names this checkout: every path in it comes from the installed wheel."""
    for path in folder.rglob("*"):
        if path.is_file():
            assert str(ROOT) not in path.read_text(encoding="utf-8", errors="replace"), path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    assert not tmp_path.is_relative_to(ROOT)
    return tmp_path


def test_the_wheel_carries_the_platform_content(installed: Installed) -> None:
    shipped = installed.package / "platform"
    for rel in ("rules", "dashboards", "helm-values", "app/chart/Chart.yaml", "app/obsapp/main.py", "obsctl.yaml"):
        assert (shipped / rel).exists(), rel
    assert (shipped / "terraform" / "variables.tf").is_file()
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert not [n for n in names if "__pycache__" in n or ".terraform" in n or n.endswith((".pyc", ".tfstate"))]
    assert not [n for n in names if not n.startswith(("obsctl/", "obsctl-"))], "files outside the package"


def test_render_every_example_environment_from_outside_the_checkout(installed: Installed, outside: Path) -> None:
    text = (ROOT / "examples" / "obsctl.example.yaml").read_text()
    # the example points project_root at this checkout; a user's copy of it uses the wheel's content
    config = outside / "obsctl.yaml"
    config.write_text("\n".join(line for line in text.splitlines() if not line.startswith("project_root:")))
    envs = list(yaml.safe_load(text)["environments"])
    assert {"local", "kind", "prod-eks"} <= set(envs)
    for env in envs:
        done = run(installed, outside, "render", "--env", env)
        assert done.returncode == 0, f"{env}: {done.stdout}{done.stderr}"
        rendered = outside / ".obsctl" / env / "rendered"
        assert any(rendered.rglob("*")), env
        _no_checkout_paths(rendered)
    app = (outside / ".obsctl" / "local" / "rendered" / "supervisord.conf").read_text()
    assert str(installed.package / "platform" / "app") in app


def test_without_any_config_the_default_local_environment_renders(installed: Installed, outside: Path) -> None:
    done = run(installed, outside, "render")
    assert done.returncode == 0, done.stdout + done.stderr
    rendered = outside / "state" / "obsctl" / "local" / "rendered"  # $XDG_STATE_HOME/obsctl/<env>
    assert (rendered / "prometheus.yml").is_file() and (rendered / "rules" / "fastapi.rules.yaml").is_file()
    assert not (outside / ".obsctl").exists()
    assert not (installed.package / "platform" / ".obsctl").exists(), "state went into the installation"


@pytest.fixture
def local_env(outside: Path) -> Iterator[Path]:
    """A local environment on free ports, with nothing but its obsctl.yaml in its folder."""
    (outside / "obsctl.yaml").write_text(textwrap.dedent(local_config(free_port_block(14))))
    yield outside
    from obsctl.tools import procs

    procs.kill_all([pid for pid, _ in procs.marked(outside / ".obsctl" / "local")])


def test_local_loop_from_the_installed_wheel(installed: Installed, local_env: Path) -> None:
    up = run(installed, local_env, "up", timeout=240)
    assert up.returncode == 0, up.stdout + up.stderr
    _no_checkout_paths(local_env / ".obsctl" / "local" / "rendered")
    check = run(installed, local_env, "verify", "--output", "json")
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    assert report["passed"] and report["counts"]["fail"] == 0, report
    names = {c["name"] for c in report["checks"]}
    assert "prometheus target fastapi up (every replica)" in names
    assert any(n.startswith("dashboard fastapi-golden-signals") for n in names)
    down = run(installed, local_env, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    from obsctl.tools import procs

    assert not procs.marked(local_env / ".obsctl" / "local"), "down left processes running"
