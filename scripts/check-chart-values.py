#!/usr/bin/env python3
"""Every key of a rendered values file exists in a chart's values.yaml (or sits under a free-form
value there, such as `resources: {}`), so a misspelled key that Helm would silently ignore is
caught. For charts without a values.schema.json (prometheus-adapter); obsctl's own `obsctl:`
marker is skipped. Used by hand against a chart fetched for the purpose (docs/autoscaling.md):

    python3 scripts/check-chart-values.py CHART/values.yaml .obsctl/<env>/rendered/helm/X.values.yaml [KEY ...]

Each KEY names a map the chart's templates pass through whole although its default is not
empty (cluster-autoscaler's `extraArgs`: every entry becomes a `--flag`); what is under it is not checked.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml


def paths(values: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in values.items():
        yield (*prefix, str(key))
        if isinstance(value, dict) and value:
            yield from paths(value, (*prefix, str(key)))


def known(chart: Any, path: tuple[str, ...], free: set[str]) -> bool:
    node = chart
    for depth, key in enumerate(path):
        if ".".join(path[:depth]) in free:
            return True
        if not isinstance(node, dict) or not node:
            return True  # under a free-form value ({} / [] / null in the chart): passed to toYaml as is
        if key not in node:
            return False
        node = node[key]
    return True


def main(chart_values: str, rendered: str, *free: str) -> int:
    chart = yaml.safe_load(Path(chart_values).read_text())
    ours = yaml.safe_load(Path(rendered).read_text())
    unknown = [".".join(p) for p in paths(ours) if p[0] != "obsctl" and not known(chart, p, set(free))]
    print("keys the chart does not have:", ", ".join(unknown) or "none")
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
