"""The SLO rules obsctl generates (obsctl/slo.py), proven with the real promtool both ways.

For each kind of SLI (availability, latency, custom errors/total, custom good/total) and a
few objectives and windows, the generated rule file must pass `promtool check rules` and a
generated `promtool test rules` file of scenarios on synthetic traffic (1000s of requests a
minute, sampled every minute):

- fast burn: after 6h of clean traffic, 20x the budget in errors; the 1h/5m page goes pending
  when the 1h error ratio crosses 14.4x the budget (after 43 minutes: 20x/59 > 14.4x/60 per
  sampled minute) and fires its `for:` (2m) later, and not before;
- slow burn: after 6h of clean traffic, 4x the budget for a day: the 3d/6h ticket opens after
  about 3h, the 1d/2h one after about 19h, and nothing pages, ever;
- within budget: 0.9x the budget for 26h: no alert, budget remaining ~10 %;
- no traffic (counters flat, or no series at all): no ratio series and no alert;
- a total outage from the first minute: the exact labels and annotations of the page, with
  the burn rate ($value) in them.

A last test breaks the generator (the page's burn rate 14.4 -> 4) and proves these tests fail.

promtool evaluates every group at each `evaluation_interval` (1m here) whatever its own
`interval:`: the long-window group (every 1m, slo.LONG_INTERVAL) runs as in production; the
sparse group (5m in production) samples every minute, which leaves its traffic-weighted
ratios unchanged. `group_eval_order` puts the hot group first, so its tickets read the long
windows' ratios of the previous minute: the worst lag a separate 1m group gives them.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from obsctl import render as r
from obsctl import slo
from obsctl.slo_spec import Slo

pytestmark = pytest.mark.integration

PER_MINUTE = 10_000  # requests a minute: error shares of a budget stay whole numbers
GOOD_HOURS = 6


@dataclass(frozen=True)
class Case:
    id: str
    spec: dict[str, Any]
    job: str = "fastapi"  # the `job` label the SLI's series keep ("" when it aggregates it away)

    @property
    def slo(self) -> Slo:
        return TypeAdapter(Slo).validate_python(self.spec)


# one keeps `job` (sum by (job)), the other aggregates it away (sum): both must work
CHECKOUT_ERRORS = 'sum by (job) (rate(checkout_requests_total{code=~"5.."}[{{window}}]))'
CHECKOUT_TOTAL_BY_JOB = "sum by (job) (rate(checkout_requests_total[{{window}}]))"
CHECKOUT_GOOD = 'sum(rate(checkout_requests_total{code!~"5.."}[{{window}}]))'
CHECKOUT_TOTAL = "sum(rate(checkout_requests_total[{{window}}]))"
CASES = [
    Case("availability-99.5-30d", {"name": "availability", "objective": 99.5, "sli": {"type": "availability"}}),
    Case(
        "availability-99.9-28d",
        {"name": "avail-999", "objective": 99.9, "window": "28d", "team": "web", "sli": {"type": "availability"}},
    ),
    Case("latency-99-250ms", {"name": "latency", "objective": 99, "sli": {"type": "latency", "threshold": "250ms"}}),
    Case(
        "custom-errors-99.5",
        {
            "name": "checkout",
            "objective": 99.5,
            "sli": {"type": "custom", "errors": CHECKOUT_ERRORS, "total": CHECKOUT_TOTAL_BY_JOB},
        },
        job="checkout",
    ),
    Case(
        "custom-good-98",
        {
            "name": "checkout-good",
            "objective": 98,
            "sli": {"type": "custom", "good": CHECKOUT_GOOD, "total": CHECKOUT_TOTAL},
        },
        job="",
    ),
]


# ------------------------------------------------------------------ input series


def counter(phases: list[tuple[int, float]]) -> str:
    """promtool values of a counter sampled every minute: 0 at t=0, then `inc` more each
    minute for `minutes` minutes, phase after phase (`a+bxn` gives n+1 values a .. a+n*b)."""
    out, last = ["0"], 0.0
    for minutes, inc in phases:
        out.append(f"{last + inc:g}+{inc:g}x{minutes - 1}")
        last += inc * minutes
    return " ".join(out)


def input_series(case: Case, phases: list[tuple[int, float]]) -> list[dict[str, str]]:
    """The raw series an SLI reads, for phases of (minutes, error share of requests)."""
    good = counter([(m, PER_MINUTE * (1 - e)) for m, e in phases])
    bad = counter([(m, PER_MINUTE * e) for m, e in phases])
    total = counter([(m, PER_MINUTE) for m, _ in phases])
    sli = case.spec["sli"]["type"]
    if sli == "availability":
        base = 'http_requests_total{job="fastapi",instance="app-0",method="GET",handler="/api/items"'
        return [
            {"series": f'{base},status="200"}}', "values": good},
            {"series": f'{base},status="500"}}', "values": bad},
        ]
    if sli == "latency":
        base = 'job="fastapi",instance="app-0",method="GET",handler="/api/items"'
        le = slo.le_label(case.slo.sli.threshold)  # type: ignore[union-attr]
        return [
            {"series": f'http_request_duration_seconds_bucket{{{base},le="{le}"}}', "values": good},
            {"series": f'http_request_duration_seconds_bucket{{{base},le="+Inf"}}', "values": total},
            {"series": f"http_request_duration_seconds_count{{{base}}}", "values": total},
        ]
    base = 'checkout_requests_total{job="checkout",instance="shop-0"'
    return [{"series": f'{base},code="200"}}', "values": good}, {"series": f'{base},code="503"}}', "values": bad}]


# ------------------------------------------------------------------ scenarios


def at(minutes: int) -> str:
    return f"{minutes}m"


def alerts(case: Case, state: str, **match: str) -> str:
    sel = ",".join([f'alertname="{slo.ALERT}"', f'slo="{case.slo.name}"', f'alertstate="{state}"'])
    sel += "".join(f',{k}="{v}"' for k, v in match.items())
    return f"ALERTS{{{sel}}}"


def alert_labels(case: Case, state: str, pair: slo.BurnAlert) -> str:
    labels = {
        "alertname": slo.ALERT,
        "alertstate": state,
        "burn_rate": f"{pair.factor:g}",
        **({"job": case.job} if case.job else {}),
        "long_window": pair.long,
        "severity": pair.severity,
        "short_window": pair.short,
        "slo": case.slo.name,
        "team": case.slo.team,
    }
    return "ALERTS{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def expect(case: Case, minutes: int, state: str, pairs: list[slo.BurnAlert], **match: str) -> dict[str, Any]:
    """At `minutes`, exactly `pairs` are in `state` (among the alerts `match` selects)."""
    return {
        "expr": alerts(case, state, **match),
        "eval_time": at(minutes),
        "exp_samples": [{"labels": alert_labels(case, state, p), "value": 1} for p in pairs],
    }


PAGE_1H, PAGE_6H, TICKET_1D, TICKET_3D = slo.BURN_ALERTS


def fast_burn(case: Case) -> dict[str, Any]:
    good = GOOD_HOURS * 60
    checks = [
        expect(case, good + 42, "pending", [], severity="critical"),  # 20x/59 * 42 < 14.4x: not yet
        expect(case, good + 42, "firing", []),
        expect(case, good + 44, "pending", [PAGE_1H], severity="critical"),
        expect(case, good + 44, "firing", [], severity="critical"),
        expect(case, good + 46, "firing", [PAGE_1H]),  # 43m + for: 2m, and nothing else yet
    ]
    return {
        "name": f"{case.id}: fast burn (20x) pages after ~45m, not before",
        "interval": "1m",
        "input_series": input_series(case, [(good, 0.0), (60, 20 * case.slo.error_budget)]),
        "promql_expr_test": checks,
    }


def slow_burn(case: Case) -> dict[str, Any]:
    good = GOOD_HOURS * 60
    quiet_pages = [expect(case, good + h * 60, "firing", [], severity="critical") for h in (1, 3, 6, 12, 20, 24)]
    quiet_pages += [expect(case, good + h * 60, "pending", [], severity="critical") for h in (1, 3, 6, 12, 20, 24)]
    return {
        "name": f"{case.id}: slow burn (4x) opens tickets and never pages",
        "interval": "1m",
        "input_series": input_series(case, [(good, 0.0), (24 * 60, 4 * case.slo.error_budget)]),
        "promql_expr_test": [
            expect(case, good + 60, "firing", []),
            expect(case, good + 4 * 60, "firing", [TICKET_3D]),  # 3d/6h past 1x after 2h, + for: 1h
            expect(case, good + 17 * 60, "firing", [TICKET_3D]),  # 1d/2h not yet past 3x
            expect(case, good + 20 * 60, "firing", [TICKET_1D, TICKET_3D]),
            *quiet_pages,
        ],
    }


def within_budget(case: Case) -> dict[str, Any]:
    sel = f'{{slo="{case.slo.name}"}}'
    remaining = f"slo:period_error_budget_remaining:ratio{sel}"
    job = f'job="{case.job}",' if case.job else ""
    return {
        "name": f"{case.id}: 0.9x the budget stays quiet",
        "interval": "1m",
        "input_series": input_series(case, [(26 * 60, 0.9 * case.slo.error_budget)]),
        "promql_expr_test": [
            *(
                {"expr": f'ALERTS{{alertname="{slo.ALERT}"}}', "eval_time": at(m), "exp_samples": []}
                for m in (10, 60, 6 * 60, 24 * 60, 26 * 60)
            ),
            {
                # about a tenth of the budget left (0.9x spent); `bool` makes the value exact
                "expr": f"({remaining} > bool 0.09) * ({remaining} < bool 0.11)",
                "eval_time": at(26 * 60),
                "exp_samples": [{"labels": f'{{{job}slo="{case.slo.name}"}}', "value": 1}],
            },
        ],
    }


def no_traffic(case: Case) -> list[dict[str, Any]]:
    sel = f'{{slo="{case.slo.name}"}}'
    empty = [
        {"expr": expr, "eval_time": at(m), "exp_samples": []}
        for m in (10, 60, 120)
        for expr in (
            f"slo:sli_error:ratio_rate5m{sel}",
            f"slo:sli_error:ratio_rate1h{sel}",
            f"slo:sli_error:ratio_rate{case.slo.window}{sel}",
            f"slo:period_error_budget_remaining:ratio{sel}",
            f'ALERTS{{alertname="{slo.ALERT}"}}',
        )
    ]
    flat = [{**s, "values": s["values"].split()[0] + "+0x120"} for s in input_series(case, [(1, 0.0)])]
    return [
        {
            "name": f"{case.id}: counters that do not move",
            "interval": "1m",
            "input_series": flat,
            "promql_expr_test": empty,
        },
        {"name": f"{case.id}: no series at all", "interval": "1m", "input_series": [], "promql_expr_test": empty},
    ]


def outage_annotations(case: Case) -> dict[str, Any]:
    """100 % errors from the first minute: the burn rate is exactly 1/budget."""
    rule = next(x for g in slo.rule_groups([case.slo]) for x in g["rules"] if x.get("alert") and x["for"] == "2m")
    burn = f"{1 / case.slo.error_budget:.1f}"
    annotations = {k: v.replace('{{ $value | printf "%.1f" }}', burn) for k, v in rule["annotations"].items()}
    return {
        "name": f"{case.id}: a total outage pages with the burn rate in its text",
        "interval": "1m",
        "input_series": input_series(case, [(20, 1.0)]),
        "alert_rule_test": [
            {"eval_time": "2m", "alertname": slo.ALERT, "exp_alerts": []},  # pending: for 2m
            {
                "eval_time": "10m",
                "alertname": slo.ALERT,  # only the 1h/5m page: the others wait 15m and 1h
                "exp_alerts": [
                    {
                        "exp_labels": rule["labels"] | ({"job": case.job} if case.job else {}),
                        "exp_annotations": annotations,
                    }
                ],
            },
        ],
    }


def write_suite(case: Case, folder: Path, groups: list[dict[str, Any]] | None = None) -> Path:
    """The generated rule file and its promtool test file in `folder`; returns the test file."""
    rules = folder / "slo.rules.yaml"
    rules.write_text(r.rules_yaml(groups if groups is not None else slo.rule_groups([case.slo])))
    tests = [fast_burn(case), slow_burn(case), within_budget(case), *no_traffic(case), outage_annotations(case)]
    order = [g["name"] for g in slo.rule_groups([case.slo])]  # hot, long, sparse
    assert slo.LONG_INTERVAL == "1m", "the scenarios evaluate every 1m: keep them in step"
    doc = {"rule_files": [rules.name], "evaluation_interval": "1m", "group_eval_order": order, "tests": tests}
    path = folder / "slo.rules.test.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    return path


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip("promtool is not on PATH; ../shared/TOOLS.md says how to get it")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=300, check=False)


# ------------------------------------------------------------------ the tests


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_generated_rules_pass_promtool_check(case: Case, tmp_path: Path) -> None:
    write_suite(case, tmp_path)
    result = promtool("check", "rules", "--lint=all", "--lint-fatal", tmp_path / "slo.rules.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_burn_rate_alerts_both_ways(case: Case, tmp_path: Path) -> None:
    tests = write_suite(case, tmp_path)
    result = promtool("test", "rules", tests)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "SUCCESS" in result.stdout


def test_the_scenarios_catch_a_wrong_burn_rate(tmp_path: Path) -> None:
    """The page's expression at 3.5x instead of 14.4x (labels untouched): the slow burn (4x)
    pages and the fast burn pages too early, and promtool says so."""
    case = CASES[0]
    groups = slo.rule_groups([case.slo])
    page = next(x for g in groups for x in g["rules"] if x.get("for") == "2m")
    assert page["expr"].count("> 14.4") == 2
    page["expr"] = page["expr"].replace("> 14.4", "> 3.5")
    result = promtool("test", "rules", write_suite(case, tmp_path, groups))
    assert result.returncode != 0, result.stdout
    # promtool names each failing expression and time: the page fired during the slow burn
    # (6h + 20h = 1d2h) and before the fast burn's 43rd minute (6h42m)
    out = result.stdout + result.stderr
    assert "time: 1d2h" in out and "time: 6h42m" in out, out[-3000:]
