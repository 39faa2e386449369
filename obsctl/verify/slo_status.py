"""`obsctl slo`: each SLO's current SLI, error budget remaining and burn rates, read from
the recordings obsctl/slo.py generates, in whichever Prometheus the environment runs.

Three queries answer it for every SLO at once (all error ratios, the budget remaining, the
ErrorBudgetBurn alerts firing), through the same path `verify` uses: the local Prometheus on
the local target, the API server's service proxy on clusters. A value Prometheus has not got
(no traffic yet, a window not yet evaluated) is None, shown as "-", never a made-up 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from obsctl.config import Environment
from obsctl.errors import ConfigError
from obsctl.slo import ALERT, DERIVED_WINDOWS, RAW_WINDOWS
from obsctl.slo_spec import Slo

Query = Callable[[str], list[dict[str, Any]]]
BURN_WINDOWS = (*RAW_WINDOWS, *DERIVED_WINDOWS)


@dataclass
class SloStatus:
    """One SLO (and job, when its SLI keeps one) as Prometheus sees it now."""

    slo: str
    job: str | None
    objective: float  # percent
    window: str
    sli: float | None = None  # share of good events over the window, 0..1
    sli_5m: float | None = None
    budget_remaining: float | None = None  # 1 = untouched, 0 = spent, < 0 = SLO missed
    burn_rates: dict[str, float | None] = field(default_factory=dict)  # window -> error ratio / budget
    firing: list[str] = field(default_factory=list)  # "critical 1h/5m", ...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _key(metric: dict[str, str]) -> tuple[str, str | None]:
    return metric.get("slo", ""), metric.get("job")


def collect(slos: list[Slo], query: Query) -> list[SloStatus]:
    """The status of every SLO in `slos`, in config order; an SLO Prometheus has no series for
    yet is one row of Nones."""
    names = "|".join(s.name for s in slos)
    ratios: dict[tuple[str, str | None], dict[str, float]] = {}
    for sample in query(f'{{__name__=~"slo:sli_error:ratio_rate.+", slo=~"{names}"}}'):
        window = sample["metric"].get("__name__", "").removeprefix("slo:sli_error:ratio_rate")
        ratios.setdefault(_key(sample["metric"]), {})[window] = float(sample["value"][1])
    remaining = {
        _key(s["metric"]): float(s["value"][1])
        for s in query(f'slo:period_error_budget_remaining:ratio{{slo=~"{names}"}}')
    }
    firing: dict[tuple[str, str | None], list[str]] = {}
    for s in query(f'ALERTS{{alertname="{ALERT}", alertstate="firing", slo=~"{names}"}}'):
        m = s["metric"]
        firing.setdefault(_key(m), []).append(f"{m.get('severity')} {m.get('long_window')}/{m.get('short_window')}")
    out = []
    for spec in slos:
        keys = sorted({k for k in (*ratios, *remaining) if k[0] == spec.name}, key=lambda k: k[1] or "")
        for key in keys or [(spec.name, None)]:
            r = ratios.get(key, {})
            budget = spec.error_budget
            out.append(
                SloStatus(
                    slo=spec.name,
                    job=key[1],
                    objective=spec.objective,
                    window=spec.window,
                    sli=None if spec.window not in r else 1 - r[spec.window],
                    sli_5m=None if "5m" not in r else 1 - r["5m"],
                    budget_remaining=remaining.get(key),
                    burn_rates={w: (r[w] / budget if w in r else None) for w in BURN_WINDOWS},
                    firing=sorted(firing.get(key, [])),
                )
            )
    return out


def for_environment(env: Environment, target: Any) -> list[SloStatus]:
    """The environment's SLOs, read from its Prometheus the way `verify` reaches it."""
    if not env.spec.slos:
        raise ConfigError(
            f"environment '{env.name}' defines no slos",
            "add slos: to obsctl.yaml (top level for every environment, or under the environment);"
            " see examples/obsctl.example.yaml",
        )
    if env.target == "local":
        return collect(list(env.spec.slos), target.prometheus.query)
    kube = target.kubernetes_target() if env.target == "eks" else target

    def query(expr: str) -> list[dict[str, Any]]:
        return kube.prometheus("api/v1/query", query=expr)["result"]

    return collect(list(env.spec.slos), query)
