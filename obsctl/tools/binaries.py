"""The external binaries obsctl drives, how to find them, and how to install each here.

`obsctl doctor` lists them; preflight checks turn a missing one into a one-line error
with the install command for this OS. Project-local installs (.tools/bin, written by
scripts/install-helm.py) are searched before PATH.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from obsctl.errors import PreflightError

PROJECT_BIN = Path(__file__).resolve().parents[2] / ".tools" / "bin"


@dataclass(frozen=True)
class Binary:
    name: str  # what obsctl calls it
    candidates: tuple[str, ...]  # executable names, first found wins
    version_args: tuple[str, ...]
    debian: str  # install hint on Debian/Ubuntu
    other: str  # install hint elsewhere
    targets: tuple[str, ...]  # targets that need it
    optional: bool = False


BINARIES = (
    Binary(
        "prometheus",
        ("prometheus",),
        ("--version",),
        "apt-get install -y prometheus",
        "download from prometheus.io/download",
        ("local",),
    ),
    Binary(
        "promtool", ("promtool",), ("--version",), "apt-get install -y prometheus", "ships with Prometheus", ("local",)
    ),
    Binary(
        "alertmanager",
        ("prometheus-alertmanager", "alertmanager"),
        ("--version",),
        "apt-get install -y prometheus-alertmanager",
        "download from prometheus.io/download",
        ("local",),
    ),
    Binary(
        "grafana",
        ("grafana", "grafana-server"),
        ("--version",),
        "add Grafana's apt repository, then apt-get install -y grafana",
        "see grafana.com/docs",
        ("local",),
        optional=True,
    ),
    Binary(
        "helm",
        ("helm",),
        ("version", "--short"),
        "python3 scripts/install-helm.py (or make up)",
        "see helm.sh/docs/intro/install",
        ("kubernetes", "eks"),
    ),
    Binary(
        "kubectl",
        ("kubectl",),
        ("version", "--client"),
        "python3 scripts/install-helm.py (or make up)",
        "see kubernetes.io/docs/tasks/tools",
        ("kubernetes", "eks"),
        optional=True,
    ),
    Binary(
        "terraform",
        ("terraform",),
        ("version",),
        "apt-get install -y terraform (HashiCorp apt repository)",
        "see developer.hashicorp.com/terraform/install",
        ("eks",),
    ),
)


def _is_debian() -> bool:
    return Path("/etc/debian_version").exists()


def hint(binary: Binary) -> str:
    return binary.debian if _is_debian() else binary.other


def find(name: str, override: str | None = None) -> str | None:
    """Path of a binary by obsctl name (or an explicit override: a name or a path)."""
    spec = next(b for b in BINARIES if b.name == name)
    for candidate in (override,) if override else spec.candidates:
        if "/" in candidate:
            return candidate if Path(candidate).is_file() else None
        local = PROJECT_BIN / candidate
        if local.is_file():
            return str(local)
        found = shutil.which(candidate)
        if found:
            return found
    return None


def require(name: str, override: str | None = None) -> str:
    path = find(name, override)
    if path is None:
        spec = next(b for b in BINARIES if b.name == name)
        what = override or " or ".join(spec.candidates)
        raise PreflightError(f"{name} not found ({what} is not on PATH)", f"install it: {hint(spec)}")
    return path


def version(name: str, path: str) -> str:
    spec = next(b for b in BINARIES if b.name == name)
    try:
        out = subprocess.run([path, *spec.version_args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc.__class__.__name__})"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0][:80] if text else "unknown"
