"""The external binaries obsctl drives, how to find them, and how to install each here.

`obsctl doctor` lists them; preflight checks turn a missing one into a one-line error
with the install command for this OS. Project-local installs (.tools/bin, written by
scripts/install-helm.py) are searched before PATH.

helm is also checked by version (`require_helm`), before anything changes: a helm that is
known to break the platform, or that pyhelm3 cannot drive, is refused with the reason and the
fix. Ref helm/helm#30923: helm 3.18.0 evaluates a `0` in values as true inside `{{ if }}`, so
kube-prometheus-stack renders `maximumStartupDurationSeconds: 0` on the Prometheus object and
the API server rejects the release (prometheus-community/helm-charts#5690).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from obsctl.errors import PreflightError

PROJECT_BIN = Path(__file__).resolve().parents[2] / ".tools" / "bin"

Version = tuple[int, int, int]

# What scripts/install-helm.py installs into .tools/bin (its docstring says why this one).
PINNED_HELM: Version = (4, 1, 4)
# The oldest helm obsctl drives: pyhelm3 runs `uninstall --wait` (helm 3.7) and obsctl accepts
# oci:// charts, which need no HELM_EXPERIMENTAL_OCI from helm 3.8 on. Helm 2 (Tiller) is out.
MIN_HELM: Version = (3, 8, 0)
# pyhelm3 0.5.8 knows the flags of Helm 3 and Helm 4 (`--atomic` / `--rollback-on-failure`, ...).
MAX_HELM_MAJOR = 4


@dataclass(frozen=True)
class BrokenHelm:
    """A helm release that cannot install the platform: why, the upstream issue, the fix."""

    version: Version
    problem: str
    issue: str
    fixed_in: str


BROKEN_HELM: tuple[BrokenHelm, ...] = (
    BrokenHelm(
        (3, 18, 0),
        "it evaluates a 0 in values as true in {{ if }}, so kube-prometheus-stack renders"
        " maximumStartupDurationSeconds: 0 and the API server rejects the Prometheus object",
        "helm/helm#30923, prometheus-community/helm-charts#5690",
        "3.18.1",
    ),
)


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
        "amtool",
        ("amtool",),
        ("--version",),
        "apt-get install -y prometheus-alertmanager",
        "ships with Alertmanager",
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
        "python3 scripts/install-helm.py (Helm 4.1.4 into .tools/bin; or make up)",
        "Helm >= 3.18.1 or 4.x, see helm.sh/docs/intro/install",
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


def _dotted(v: Version) -> str:
    return ".".join(map(str, v))


def parse_version(text: str) -> Version | None:
    """(major, minor, patch) from `helm version --short` output (`v4.1.4+g05fa379`, or helm 2's
    `Client: v2.17.0+ga690bad`); None when there is no version in it."""
    m = re.search(r"\bv?(\d+)\.(\d+)\.(\d+)", text)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def helm_problem(found: Version) -> str | None:
    """Why obsctl refuses this helm version (to follow "helm X.Y.Z at PATH"), or None when it can use it."""
    for broken in BROKEN_HELM:
        if broken.version == found:
            return f"is known to break the platform: {broken.problem} ({broken.issue})"
    if found[0] < 3:
        return "is Helm 2 (Tiller), which obsctl does not support"
    if found < MIN_HELM:
        return f"is older than {_dotted(MIN_HELM)}, the oldest helm obsctl can drive"
    if found[0] > MAX_HELM_MAJOR:
        return "is newer than the Helm 3 and 4 that obsctl (pyhelm3) can drive"
    return None


def helm_fix(found: Version | None = None) -> str:
    """The hint that goes with a refused helm."""
    fixed = next((b.fixed_in for b in BROKEN_HELM if b.version == found), None)
    other = f"helm >= {fixed}" if fixed else f"helm >= {_dotted(MIN_HELM)} (3.x or 4.x)"
    return (
        f"python3 scripts/install-helm.py installs Helm {_dotted(PINNED_HELM)} into .tools/bin"
        f" (used before PATH), or put {other} on PATH"
    )


@dataclass(frozen=True)
class HelmCheck:
    """What `helm version` said, the version in it, and why obsctl refuses it (None: usable)."""

    path: str
    said: str
    version: Version | None
    problem: str | None

    def message(self) -> str:
        """One line: which helm, what is wrong with it."""
        which = f"helm {_dotted(self.version)}" if self.version else "helm"
        return f"{which} at {self.path} {self.problem or 'is usable'}"


def check_helm(path: str) -> HelmCheck:
    """Run `helm version --short` once and judge the version it reports."""
    said = version("helm", path)
    found = parse_version(said)
    if found is None:
        return HelmCheck(path, said, None, f"does not say which version it is (`helm version --short`: {said})")
    return HelmCheck(path, said, found, helm_problem(found))


def require_helm() -> str:
    """The path of a helm obsctl can use; PreflightError (missing, known-broken, unsupported) otherwise.

    Call it before anything changes: it runs only `helm version`."""
    path = require("helm")
    check = check_helm(path)
    if check.problem:
        raise PreflightError(check.message(), helm_fix(check.version))
    return path
