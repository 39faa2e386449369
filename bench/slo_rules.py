"""What the generated rules of 10 SLOs cost on a real local Prometheus with traffic, read
from `prometheus_rule_group_last_duration_seconds` (goal: < 50 ms per evaluation in total).

A throwaway local platform (`obsctl up`: the app, traffic, Prometheus evaluating every 1s)
gets 10 SLOs: four availability, four latency, two custom. Each SLO has three groups
(obsctl/slo.py): the hot one (raw windows and the alerts) at every evaluation, the
long-window one (1d, 3d, window ratios, budget remaining) every 1m and the sparse one (5m
rates) every 5m. The long windows read the sparse samples over up to 30 days, so a fresh
Prometheus flatters them; --backfill-days N writes N days of those samples into the TSDB
first (promtool tsdb create-blocks-from openmetrics): 1 is the local Prometheus after a day
(its retention), 30 a production one over a full 30d window. Backfilled data arrives as 2h
blocks that Prometheus has not compacted yet, so those figures are pessimistic. It lets the
rules run for --seconds and prints, per group, the median and the worst last evaluation time
over the second half of the run (Prometheus scrapes itself every 1s), then the totals: the
hot groups' per evaluation (every 1s, the goal's figure), the long-window groups' once a
minute and the sparse groups' once every 5 minutes; then tears the platform down.
Run: .venv/bin/python bench/slo_rules.py [--seconds 180] [--backfill-days 0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from pydantic import TypeAdapter  # noqa: E402

from obsctl import slo  # noqa: E402
from obsctl.slo_spec import Slo  # noqa: E402
from tests.conftest import free_port_block, local_config, make_project  # noqa: E402

SLOS = """
slos:
  - {name: avail-995, objective: 99.5, sli: {type: availability}}
  - {name: avail-999, objective: 99.9, window: 28d, sli: {type: availability}}
  - {name: avail-99, objective: 99, sli: {type: availability}}
  - {name: avail-95, objective: 95, window: 28d, sli: {type: availability}}
  - {name: lat-100ms, objective: 99, sli: {type: latency, threshold: 0.1}}
  - {name: lat-250ms, objective: 99.5, sli: {type: latency, threshold: 250ms}}
  - {name: lat-500ms, objective: 99.9, sli: {type: latency, threshold: 0.5}}
  - {name: lat-1s, objective: 99.95, window: 28d, sli: {type: latency, threshold: 1}}
  - name: items-writes
    objective: 99.5
    sli:
      type: custom
      errors: sum by (job) (rate(http_requests_total{job="fastapi", method="POST", status=~"5.."}[{{window}}]))
      total: sum by (job) (rate(http_requests_total{job="fastapi", method="POST"}[{{window}}]))
  - name: items-reads
    objective: 99.9
    sli:
      type: custom
      good: sum by (job) (rate(http_requests_total{job="fastapi", method="GET", status!~"5.."}[{{window}}]))
      total: sum by (job) (rate(http_requests_total{job="fastapi", method="GET"}[{{window}}]))
"""


def obsctl(config: Path, *args: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "obsctl", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if out.returncode != 0:
        raise SystemExit(f"obsctl {' '.join(args)} failed:\n{out.stdout}{out.stderr}")


def backfill(data_dir: Path, names: list[str], days: float, step: int = 300) -> int:
    """`days` of each SLO's sparse 5m rates (what the 1d, 3d and window rules read), one
    sample every `step` seconds as the sparse group records them, as TSDB blocks in
    `data_dir`; returns the number of samples."""
    promtool = shutil.which("promtool")
    if promtool is None:
        raise SystemExit("promtool is not on PATH (apt-get install prometheus)")
    end = int(time.time()) - 600
    start = end - int(days * 86400)
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / "backfill.om"
    samples = 0
    with source.open("w") as fh:
        for metric, value in ((f"slo:sli_requests:{slo.SPARSE}", "8"), (f"slo:sli_errors:{slo.SPARSE}", "0.01")):
            fh.write(f"# TYPE {metric} gauge\n")
            for name in names:
                labels = f'{{job="fastapi",slo="{name}"}}'
                fh.writelines(f"{metric}{labels} {value} {ts}\n" for ts in range(start, end, step))
                samples += len(range(start, end, step))
        fh.write("# EOF\n")
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(source), str(data_dir)], check=True
    )
    source.unlink()
    return samples


def query(base: str, expr: str) -> list[dict]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.load(resp)["data"]["result"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="how long the rules run before reading")
    parser.add_argument("--backfill-days", type=float, default=0.0, help="days of SLO recordings to backfill")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = free_port_block(14, start=31000)
        text = local_config(base, local_extra="retention: 31d")
        text = (
            text[: text.index("    slos:")] + textwrap.indent(SLOS.strip("\n"), "    ") + "\n"
        )  # ours, not the default two
        config = make_project(Path(tmp), text)
        specs = TypeAdapter(list[Slo]).validate_python(yaml.safe_load(SLOS)["slos"])
        names = [spec.name for spec in specs]
        if args.backfill_days:
            started = time.monotonic()
            data = Path(tmp) / ".obsctl" / "local" / "data" / "prometheus"
            n = backfill(data, names, args.backfill_days)
            print(
                f"backfilled {n:,} samples ({args.backfill_days:g} days every 5m) in {time.monotonic() - started:.0f} s"
            )
        prometheus = f"http://127.0.0.1:{base + 10}"
        groups = 'prometheus_rule_group_last_duration_seconds{rule_group=~".*;slo-.*"}'
        half = f"[{int(args.seconds) // 2}s]"
        try:
            obsctl(config, "up")
            time.sleep(args.seconds)
            median = query(prometheus, f"quantile_over_time(0.5, {groups}{half})")
            worst = query(prometheus, f"max_over_time({groups}{half})")
            held = query(prometheus, f'count_over_time(slo:sli_requests:{slo.SPARSE}{{slo="avail-995"}}[30d])')
        finally:
            obsctl(config, "down", "--purge")
    return report(specs, median, worst, held)


LONG = slo.long_interval("1s")  # the local profile's evaluation interval: drill-short
KINDS = (  # group name suffix, what it is, how often it runs
    ("", "hot groups, per evaluation", "every 1s"),
    ("-long", "long-window groups, per evaluation", f"every {LONG} (clusters: {slo.LONG_INTERVAL})"),
    ("-sparse", "sparse groups, per evaluation", f"every {slo.SPARSE_INTERVAL}"),
)


def kind(group: str) -> str:
    return next((suffix for suffix, _, _ in KINDS[1:] if group.endswith(suffix)), "")


def report(specs: list[Slo], median: list[dict], worst: list[dict], held: list[dict]) -> int:
    worst_by = {s["metric"]["rule_group"]: float(s["value"][1]) for s in worst}
    rows = sorted(
        (
            kind(name := s["metric"]["rule_group"].split(";")[-1]),
            name,
            float(s["value"][1]),
            worst_by.get(s["metric"]["rule_group"], 0.0),
        )
        for s in median
    )
    expected = len(slo.rule_groups(specs))
    if len(rows) != expected:
        print(f"expected {expected} SLO rule groups, Prometheus reports {len(rows)}", file=sys.stderr)
        return 1
    rules = sum(len(g["rules"]) for g in slo.rule_groups(specs))
    samples = held[0]["value"][1] if held else 0
    print(
        f"{len(specs)} SLOs, {rules} rules in {len(rows)} groups (hot every 1s, -long every {LONG},"
        f" -sparse every {slo.SPARSE_INTERVAL}); a 30d window holds {samples} sparse samples per series"
    )
    print(f"{'group':<24}{'median ms':>10}{'worst ms':>10}")
    for _, name, value, bad in rows:
        note = "   (not run yet)" if bad == 0 else ""
        print(f"{name:<24}{value * 1000:>10.2f}{bad * 1000:>10.2f}{note}")
    for suffix, what, how_often in KINDS:
        mine = [(v, b) for k, _, v, b in rows if k == suffix]
        total, total_worst = sum(v for v, _ in mine), sum(b for _, b in mine)
        goal = ""
        print(f"total, {what} ({how_often}): median {total * 1000:.2f} ms, worst {total_worst * 1000:.2f} ms{goal}")
    every = [(v, b) for k, _, v, b in rows if k == "" or (k == "-long" and LONG == "1s")]
    print(
        f"total of every group that runs at each 1s evaluation here (hot{' + long' if LONG == '1s' else ''}):"
        f" median {sum(v for v, _ in every) * 1000:.2f} ms, worst {sum(b for _, b in every) * 1000:.2f} ms"
        " (goal: < 50 ms per evaluation)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
