"""How long obsctl.tools.manifests takes on a full kube-prometheus-stack render (median of N runs).

The chart cannot be pulled on our machines, so this runs only where an unpacked copy exists
(with its dependencies under charts/): pass --chart or set OBSCTL_KPS_CHART; without one it
prints why and exits 0. The values are what `obsctl render` writes for the example `kind`
environment (examples/obsctl.example.yaml, dummy webhook URLs). For each helm given it
templates the chart once (`--include-crds --kube-version`) and times, separately:

    parse      the YAML stream into documents
    crds       the CRD schemas found in the stream
    validate   a new Validator over every document (compiles the schemas it meets)
    revalidate the same Validator again (schemas already compiled)

and prints the problems found, so a helm that renders an invalid object shows here too.
Run: .venv/bin/python bench/validate_kps.py --chart PATH [--helm PATH ...] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from obsctl.tools import manifests as m  # noqa: E402


def render_values(tmp: Path) -> Path:
    """`obsctl render --env kind` for the example config, into tmp; returns the kps values file."""
    text = (ROOT / "examples" / "obsctl.example.yaml").read_text()
    text = text.replace("project_root: ..", f"project_root: {ROOT}").replace("state_dir: .obsctl", f"state_dir: {tmp}")
    config = tmp / "obsctl.yaml"
    config.write_text(text)
    env = {**os.environ, "TEAM_WEBHOOK_URL": "https://hooks.invalid/t", "SLACK_WEBHOOK_URL": "https://hooks.invalid/s"}
    command = [sys.executable, "-m", "obsctl", "render", "--config", str(config), "--env", "kind"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp, check=False)
    if result.returncode != 0:
        raise SystemExit(f"obsctl render failed:\n{result.stdout}\n{result.stderr}")
    return tmp / "kind" / "rendered" / "helm" / "kube-prometheus-stack.values.yaml"


def template(helm: str, chart: Path, values: Path, kube_version: str, home: Path) -> str:
    env = {**os.environ, **{var: str(home / var) for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")}}
    command = [helm, "template", "kube-prometheus-stack", str(chart), "-n", "monitoring", "-f", str(values)]
    command += ["--include-crds", "--kube-version", kube_version]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{helm} template failed:\n{result.stderr}")
    return result.stdout


def median_ms(runs: int, step: Callable[[], Any]) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(runs):
        started = time.perf_counter()
        value = step()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, value


def helm_version(helm: str) -> str:
    result = subprocess.run([helm, "version", "--short"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", type=Path, default=os.environ.get("OBSCTL_KPS_CHART"))
    parser.add_argument("--helm", action="append", help="helm binary (repeatable); default .tools/bin/helm")
    parser.add_argument("--kube-version", default=m.DEFAULT_KUBERNETES_VERSION)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.chart is None or not (Path(args.chart) / "Chart.yaml").is_file():
        print(f"skipped: no unpacked kube-prometheus-stack chart (--chart or OBSCTL_KPS_CHART; got {args.chart})")
        return 0
    helms = args.helm or [str(ROOT / ".tools" / "bin" / "helm")]
    with tempfile.TemporaryDirectory() as tmp:
        values = render_values(Path(tmp))
        for helm in helms:
            started = time.perf_counter()
            stream = template(helm, Path(args.chart), values, args.kube_version, Path(tmp) / "helm-home")
            templated = (time.perf_counter() - started) * 1000
            parse, docs = median_ms(args.runs, lambda stream=stream: m.parse_stream(stream))
            crds_ms, crds = median_ms(args.runs, lambda docs=docs: m.crd_schemas(docs))
            validate, problems = median_ms(
                args.runs, lambda docs=docs, crds=crds: m.Validator(crds, args.kube_version).validate(docs)
            )
            validator = m.Validator(crds, args.kube_version)
            validator.validate(docs)
            revalidate, _ = median_ms(args.runs, lambda docs=docs, validator=validator: validator.validate(docs))
            size = f"{len(stream.splitlines())} lines, {len(docs)} objects, {len(crds)} CRD versions"
            print(f"{helm_version(helm)}: {size}")
            print(f"  helm template {templated:7.1f} ms (once)")
            print(f"  parse         {parse:7.1f} ms   crds {crds_ms:5.1f} ms")
            print(f"  validate      {validate:7.1f} ms   revalidate {revalidate:5.1f} ms   (median of {args.runs})")
            print(f"  total         {parse + crds_ms + validate:7.1f} ms   problems: {len(problems)}")
            for problem in problems:
                print(f"    {problem}")
            print(f"  not evaluated: {len(validator.unchecked)} rules (CEL, or patterns Python cannot express)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
