"""How long `obsctl render --env kind` takes for the example config (median of N runs), the way a
user reviews a cluster environment before `up` (and `up` renders again in its render stage).

With an unpacked kube-prometheus-stack chart (--chart or OBSCTL_KPS_CHART; our machines cannot
pull one), render also templates it and validates every object against its CRDs, which is most
of the time; without one it renders the values and the app's manifests only, and says so.
Run: .venv/bin/python bench/render.py [--chart PATH] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", default=os.environ.get("OBSCTL_KPS_CHART"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        text = (ROOT / "examples" / "obsctl.example.yaml").read_text()
        text = text.replace("project_root: ..", f"project_root: {ROOT}").replace(
            "state_dir: .obsctl", f"state_dir: {tmp}"
        )
        if args.chart:
            text = text.replace(
                "kps_chart: prometheus-community/kube-prometheus-stack", f"kps_chart: {Path(args.chart).resolve()}", 1
            )
        config = Path(tmp) / "obsctl.yaml"
        config.write_text(text)
        env = {k: v for k, v in os.environ.items() if k not in ("TEAM_WEBHOOK_URL", "SLACK_WEBHOOK_URL")}
        env.update({v: str(Path(tmp) / v.lower()) for v in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")})
        times = []
        for _ in range(args.runs):
            started = time.monotonic()
            out = subprocess.run(
                [sys.executable, "-m", "obsctl", "render", "--config", str(config), "--env", "kind"],
                capture_output=True,
                text=True,
                env=env,
                timeout=600,
                check=False,
            )
            times.append(time.monotonic() - started)
            if out.returncode != 0:
                print(out.stdout + out.stderr, file=sys.stderr)
                return 1
    what = f"with the chart at {args.chart} (templated and validated)" if args.chart else "without a chart on disk"
    print(f"obsctl render --env kind {what}: median {statistics.median(times):.2f} s over {args.runs} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
