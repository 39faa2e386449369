"""Prometheus rules for the SLOs of obsctl.yaml: error-ratio recordings and burn-rate alerts.

The multi-window, multi-burn-rate alerts of the Google SRE workbook ("Alerting on SLOs"),
in the standard rule-file format, one group per SLO. render.rule_groups() appends these
groups to rules/, so the local rule file and the cluster's PrometheusRule carry the same rules.

Recordings (labels: `slo`, and `job` where the SLI has one; nothing else):
- `slo:sli_requests:rate<W>` and `slo:sli_errors:rate<W>` for W in 5m, 30m, 1h, 2h, 6h: per-second
  rates read from the raw series (errors exist as 0 while requests flow without errors);
- `slo:sli_error:ratio_rate<W>` for those windows: errors / requests, only where requests > 0,
  so no traffic gives no series and never a division by zero;
- `slo:sli_error:ratio_rate1d`, `_rate3d` and the window's `_rate28d`/`_rate30d`: derived from the
  5m rates sampled once every 5 minutes by a second group per SLO (`slo:sli_errors:rate5m_every5m`,
  `slo:sli_requests:rate5m_every5m`; sum_over_time of errors / of requests, traffic-weighted).
  They read one sparse series each instead of days of every raw series (every pod, handler,
  status code) or of a recording made at every evaluation (bench/slo_rules.py: a day of 1s
  samples made 10 SLOs cost over a second per evaluation), so their cost does not grow with
  the service or the evaluation rate; the price is up to 5 minutes of lag, nothing for
  windows of a day and more. The alerting windows up to 6h read the raw series because a
  derived window lets a burst in only over 5 minutes;
- `slo:objective:ratio`, `slo:error_budget:ratio` (1 - objective) and
  `slo:period_error_budget_remaining:ratio` (1 - window error ratio / budget).

Groups, per SLO (a group is the unit Prometheus schedules and times):
- `slo-<name>`, the hot group, at the global evaluation_interval: the raw-window recordings,
  the objective and budget, then the alerts (a group evaluates its rules in order, so the
  page reads this evaluation's 5m..6h ratios);
- `slo-<name>-long`, every LONG_INTERVAL (1m): the 1d, 3d and window ratios and the budget
  remaining. Each sum_over_time reads up to 8,640 samples per series, and at every
  evaluation (1s locally) they were most of the cost (bench/slo_rules.py: 130 ms per
  evaluation for 10 SLOs with 30 days of history); a minute-old ratio over a day or more
  changes nothing. The interval must stay well under Prometheus' lookback delta (5m): the
  tickets in the hot group read `ratio_rate1d`/`_rate3d` as instant vectors, and a
  recording older than the lookback delta reads as absent, which would make the alert
  expression empty and reset its `for: 1h` timer. At 1m, a missed or slow evaluation or
  two still leaves a sample in range, and the ticket fires at most a minute later than the
  ratio crosses its threshold. Where the evaluation interval itself is drill-short (under
  DRILL_EVALUATION, the local profile's 1s) the long group runs at it instead (long_interval):
  a fresh platform shows its budget at once rather than after up to a minute (`verify` waits
  for the SLO dashboard's budget panels), and a local Prometheus keeps a day, which keeps the
  long windows cheap (bench/slo_rules.py prints the figures);
- `slo-<name>-sparse`, every 5m: the 5m rates those long windows are summed from.

Alerts: `ErrorBudgetBurn`, a contract other parts of obsctl (routing, inhibition, drills,
dashboards) rely on: labels `slo`, `severity` (critical = page, warning = ticket), `team`,
`long_window`, `short_window`, `burn_rate`; `$value` is the burn rate over the long window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from obsctl.config import duration_seconds
from obsctl.slo_spec import WINDOW_PLACEHOLDER, AvailabilitySli, CustomSli, LatencySli, Slo, le_label

ALERT = "ErrorBudgetBurn"
RAW_WINDOWS = ("5m", "30m", "1h", "2h", "6h")
DERIVED_WINDOWS = ("1d", "3d")
APP_JOB = 'job="fastapi"'
DEFAULT_RUNBOOK = "docs/runbooks.md#errorbudgetburn"
WINDOW_HOURS = {"28d": 28 * 24, "30d": 30 * 24}
SPARSE = "rate5m_every5m"  # slo:sli_errors:rate5m_every5m: the 5m rate, recorded every 5m
SPARSE_INTERVAL = "5m"
LONG_INTERVAL = "1m"  # well under the 5m lookback delta: see the module docstring
DRILL_EVALUATION = 10.0  # seconds: an evaluation interval under this is a drill profile (local: 1s)
HOURS = {"1h": 1, "6h": 6, "1d": 24, "3d": 72}


@dataclass(frozen=True)
class BurnAlert:
    """One window pair of the workbook's table: burn `factor` over `long` and `short`."""

    severity: str  # critical pages, warning opens a ticket
    long: str
    short: str
    factor: float
    for_: str


BURN_ALERTS = (
    BurnAlert("critical", "1h", "5m", 14.4, "2m"),
    BurnAlert("critical", "6h", "30m", 6, "15m"),
    BurnAlert("warning", "1d", "2h", 3, "1h"),
    BurnAlert("warning", "3d", "6h", 1, "1h"),
)


def group_name(slo: Slo) -> str:
    return f"slo-{slo.name}"


def group_names(slos: list[Slo] | tuple[Slo, ...]) -> list[str]:
    """Every rule group the SLOs generate (what a healthy Prometheus must have loaded)."""
    return [g["name"] for g in rule_groups(slos)]


def windows(slo: Slo) -> tuple[str, ...]:
    """Every window with an error-ratio recording, the compliance window last."""
    return (*RAW_WINDOWS, *DERIVED_WINDOWS, slo.window)


def _num(value: float) -> str:
    """A number as PromQL reads it, without float noise (0.005, 14.4, 6)."""
    return f"{value:.12g}"


def _raw(slo: Slo, window: str) -> tuple[str, str]:
    """(requests, errors) per second over `window` from the raw series, aggregated by job.
    `errors` may refer to this window's `slo:sli_requests` recording (recorded just before)."""
    sel = f'{{slo="{slo.name}"}}'
    requests_rec = f"slo:sli_requests:rate{window}{sel}"
    sli = slo.sli
    if isinstance(sli, AvailabilitySli):
        total = f"sum by (job) (rate(http_requests_total{{{APP_JOB}}}[{window}]))"
        bad = f'sum by (job) (rate(http_requests_total{{{APP_JOB}, status=~"5.."}}[{window}]))'
        # no 5xx series at all until the first 5xx: errors are 0 while requests flow
        return total, f"{bad} or on (job) 0 * {requests_rec}"
    if isinstance(sli, LatencySli):
        total = f"sum by (job) (rate(http_request_duration_seconds_count{{{APP_JOB}}}[{window}]))"
        good = (
            "sum by (job) (rate(http_request_duration_seconds_bucket"
            f'{{{APP_JOB}, le="{le_label(sli.threshold)}"}}[{window}]))'
        )
        return total, f"{requests_rec} - on (job) {good}"
    assert isinstance(sli, CustomSli)

    def fill(expr: str) -> str:
        return f"sum by (job) ({expr.replace(WINDOW_PLACEHOLDER, window).strip()})"

    total = fill(sli.total)
    if sli.errors is not None:
        return total, f"{fill(sli.errors)} or on (job) 0 * {requests_rec}"
    # no good events at all is all errors
    return total, f"{requests_rec} - on (job) {fill(sli.good or '')} or on (job) {requests_rec}"


def raw_recording_rules(slo: Slo) -> list[dict[str, Any]]:
    """The hot group's recordings: the raw windows up to 6h, the objective and the budget."""
    labels = {"slo": slo.name}
    sel = f'{{slo="{slo.name}"}}'
    rules: list[dict[str, Any]] = []
    for w in RAW_WINDOWS:
        total, errors = _raw(slo, w)
        rules += [
            {"record": f"slo:sli_requests:rate{w}", "expr": total, "labels": dict(labels)},
            {"record": f"slo:sli_errors:rate{w}", "expr": errors, "labels": dict(labels)},
            {
                "record": f"slo:sli_error:ratio_rate{w}",
                "expr": f"slo:sli_errors:rate{w}{sel} / (slo:sli_requests:rate{w}{sel} > 0)",
                "labels": dict(labels),
            },
        ]
    budget = _num(slo.error_budget)
    rules += [
        {"record": "slo:objective:ratio", "expr": f"vector({_num(slo.ratio)})", "labels": dict(labels)},
        {"record": "slo:error_budget:ratio", "expr": f"vector({budget})", "labels": dict(labels)},
    ]
    return rules


def long_recording_rules(slo: Slo) -> list[dict[str, Any]]:
    """The long-window group's recordings: the 1d, 3d and window ratios from the sparse 5m
    rates, then the budget remaining over the window (read in this group's order)."""
    labels = {"slo": slo.name}
    sel = f'{{slo="{slo.name}"}}'
    rules: list[dict[str, Any]] = []
    for w in (*DERIVED_WINDOWS, slo.window):
        rules.append(
            {
                "record": f"slo:sli_error:ratio_rate{w}",
                # until the first sparse sample exists (a platform younger than 5m), the whole
                # history is inside the 5m window: its ratio is the window's
                "expr": (
                    f"(sum_over_time(slo:sli_errors:{SPARSE}{sel}[{w}]) / "
                    f"(sum_over_time(slo:sli_requests:{SPARSE}{sel}[{w}]) > 0))"
                    f" or slo:sli_error:ratio_rate5m{sel}"
                ),
                "labels": dict(labels),
            }
        )
    rules.append(
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:sli_error:ratio_rate{slo.window}{sel} / {_num(slo.error_budget)}",
            "labels": dict(labels),
        }
    )
    return rules


def _spent(alert: BurnAlert, slo: Slo) -> str:
    """Share of the window's budget a burn at the threshold spends over the long window."""
    return f"{alert.factor * HOURS[alert.long] / WINDOW_HOURS[slo.window]:.0%}"


def alert_rules(slo: Slo) -> list[dict[str, Any]]:
    sel = f'{{slo="{slo.name}"}}'
    budget = _num(slo.error_budget)
    what = {
        AvailabilitySli: "requests not answered with a 5xx",
        LatencySli: f"requests answered within {getattr(slo.sli, 'threshold', 0):g}s",
        CustomSli: "good events (custom SLI)",
    }[type(slo.sli)]
    out = []
    for a in BURN_ALERTS:
        factor = _num(a.factor)
        kind = "page" if a.severity == "critical" else "ticket"
        out.append(
            {
                "alert": ALERT,
                "expr": (
                    f"(slo:sli_error:ratio_rate{a.long}{sel} / {budget}) > {factor}"
                    f" and (slo:sli_error:ratio_rate{a.short}{sel} / {budget}) > {factor}"
                ),
                "for": a.for_,
                "labels": {
                    "slo": slo.name,
                    "severity": a.severity,
                    "team": slo.team,
                    "long_window": a.long,
                    "short_window": a.short,
                    "burn_rate": factor,
                },
                "annotations": {
                    "summary": (
                        f'SLO {slo.name} burns its error budget {{{{ $value | printf "%.1f" }}}}x too fast'
                        f" ({kind}: over {a.long} and {a.short})"
                    ),
                    "description": (
                        f"SLO {slo.name} ({_num(slo.objective)}% of {what} over {slo.window}) has spent its"
                        f' error budget at {{{{ $value | printf "%.1f" }}}}x the sustainable rate over the last'
                        f" {a.long}, and still does over the last {a.short} (threshold {factor}x: {_spent(a, slo)}"
                        f" of the {slo.window} budget in {a.long})."
                    ),
                    "runbook": (
                        f"Open the SLO dashboard (slo {slo.name}) and `obsctl slo`; find what fails in the golden"
                        " signals (per handler), fix or roll back. See the runbook for the page/ticket difference."
                    ),
                    "runbook_url": slo.runbook_url or DEFAULT_RUNBOOK,
                },
            }
        )
    return out


def sparse_rules(slo: Slo) -> list[dict[str, Any]]:
    """The 5m rates once every 5 minutes: the base of the windows of a day and more, so they
    read 288 samples a day per series instead of one per evaluation (86,400 a day at the
    local 1s interval, 2,880 at 30s), and consecutive samples cover the traffic once."""
    sel = f'{{slo="{slo.name}"}}'
    return [
        {"record": f"slo:sli_{what}:{SPARSE}", "expr": f"slo:sli_{what}:rate5m{sel}", "labels": {"slo": slo.name}}
        for what in ("requests", "errors")
    ]


def long_interval(evaluation_interval: str | None = None) -> str:
    """How often the long-window groups run: LONG_INTERVAL, or a drill-short evaluation
    interval itself (the module docstring says why)."""
    if evaluation_interval and duration_seconds(evaluation_interval) < DRILL_EVALUATION:
        return evaluation_interval
    return LONG_INTERVAL


def rule_groups(slos: list[Slo] | tuple[Slo, ...], evaluation_interval: str | None = None) -> list[dict[str, Any]]:
    """Per SLO, the hot group (raw-window recordings then the alerts, at the global
    interval), the long-window group every long_interval(evaluation_interval) and the
    sparse group every 5 minutes (the module docstring says why)."""
    out: list[dict[str, Any]] = []
    long = long_interval(evaluation_interval)
    for s in slos:
        out.append({"name": group_name(s), "rules": raw_recording_rules(s) + alert_rules(s)})
        out.append({"name": f"{group_name(s)}-long", "interval": long, "rules": long_recording_rules(s)})
        out.append({"name": f"{group_name(s)}-sparse", "interval": SPARSE_INTERVAL, "rules": sparse_rules(s)})
    return out
