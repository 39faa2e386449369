"""`slos:` in obsctl.yaml: service-level objectives, validated once like the rest of the config.

An SLO is a name, an objective (the percentage of good events, e.g. 99.5), a window (28d or
30d) and an SLI: the app's availability (share of requests not answered with a 5xx), its
latency (share of requests faster than a threshold that is one of the request histogram's
bucket bounds), or a custom ratio written in PromQL (`good`/`total` or `errors`/`total`).

Where they come from (the semantics examples/obsctl.example.yaml documents):
- top-level `slos:` is the shared default list: every environment gets it;
- an environment's own `slos:` extends it: an SLO whose name is already in the shared list
  replaces that entry as a whole (no field-by-field merge), a new name is added;
- an environment's `exclude_slos:` drops shared SLOs by name (a name not in the shared list
  is refused, so a typo does not silently keep an SLO).
The result, in that order, is what the environment's `slos` holds after loading.

The latency threshold is checked against the bucket bounds in the app's own code
(app/obsapp/metrics.py BUCKETS) once the project root is known (`check_thresholds`), so a
histogram change in the app is the single source.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from obsctl.errors import ConfigError

# The fastest page burns 14.4x the budget; an objective at or below 100 - 100/14.4 (93.06 %)
# has a budget so large that a 14.4x burn would need more than 100 % errors.
PAGE_BURN_RATE = 14.4
MIN_OBJECTIVE = 100 - 100 / PAGE_BURN_RATE
WINDOW_PLACEHOLDER = "{{window}}"
APP_METRICS_FILE = Path("app/obsapp/metrics.py")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _seconds(value: object) -> object:
    """`0.25`, `"250ms"`, `"0.25s"` or `"1s"` -> seconds (a bare number is seconds)."""
    if isinstance(value, str):
        text = value.strip()
        scale = 0.001 if text.endswith("ms") else 1.0
        try:
            return float(text.removesuffix("ms").removesuffix("s")) * scale
        except ValueError:
            raise ValueError(f"'{value}' is not a duration; write seconds (0.25) or 250ms / 0.25s") from None
    return value


class AvailabilitySli(_Model):
    """Built in: the share of the app's requests (job fastapi) not answered with a 5xx."""

    type: Literal["availability"]


class LatencySli(_Model):
    """Built in: the share of the app's requests answered within `threshold`."""

    type: Literal["latency"]
    threshold: Annotated[float, BeforeValidator(_seconds)] = Field(
        ...,
        gt=0,
        description=(
            "Seconds (0.25) or a duration (250ms); must be one of the bucket bounds of"
            " http_request_duration_seconds (app/obsapp/metrics.py BUCKETS), since only those are counted."
        ),
    )


class CustomSli(_Model):
    """Any ratio of two per-second rates in PromQL: give `total` and one of `good` or `errors`.

    Write `[{{window}}]` where the range goes (`sum(rate(x_total{code=~"5.."}[{{window}}]))`);
    obsctl fills in 5m and the windows up to 6h, and derives the longer windows from the 5m
    recording. Results are aggregated `by (job)`, so the recorded series stay small."""

    type: Literal["custom"]
    total: str = Field(..., description="PromQL: all events per second, with [{{window}}] as the range.")
    good: str | None = Field(None, description="PromQL: good events per second (or give `errors`).")
    errors: str | None = Field(None, description="PromQL: bad events per second (or give `good`).")

    @model_validator(mode="after")
    def _one_of_good_errors(self) -> CustomSli:
        if (self.good is None) == (self.errors is None):
            raise ValueError("give exactly one of good or errors (beside total)")
        for field in ("total", "good", "errors"):
            expr = getattr(self, field)
            if expr is not None and WINDOW_PLACEHOLDER not in expr:
                raise ValueError(
                    f"{field} has no {WINDOW_PLACEHOLDER}: write the range as [{WINDOW_PLACEHOLDER}],"
                    " e.g. sum(rate(http_requests_total[{{window}}]))"
                )
        return self


Sli = Annotated[AvailabilitySli | LatencySli | CustomSli, Field(discriminator="type")]


class Slo(_Model):
    """One service-level objective; obsctl generates its recording rules and burn-rate alerts."""

    name: str = Field(
        ...,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=40,
        description="The SLO's name: the `slo` label on every series and alert it generates.",
    )
    objective: float = Field(
        ...,
        lt=100,
        description="Percentage of good events over the window, e.g. 99.5 (the error budget is the rest).",
    )
    window: Literal["28d", "30d"] = Field("30d", description="The compliance window the budget is spent over.")
    team: str = Field("platform", min_length=1, description="`team` label on the alerts (routing).")
    runbook_url: str | None = Field(None, description="Runbook for this SLO; default docs/runbooks.md#errorbudgetburn.")
    description: str = Field("", description="What the SLO promises, for people (dashboard, `obsctl slo`).")
    sli: Sli = Field(..., description="What is measured: availability, latency or custom.")

    @field_validator("objective")
    @classmethod
    def _burnable(cls, value: float) -> float:
        if value <= MIN_OBJECTIVE:
            raise ValueError(
                f"{value:g} is too low: the page alert fires at {PAGE_BURN_RATE}x the error budget, which needs"
                f" an objective above {MIN_OBJECTIVE:.2f} (100 - 100/{PAGE_BURN_RATE}); below that a 14.4x burn"
                " would take more than 100 % errors"
            )
        return value

    @property
    def error_budget(self) -> float:
        """1 - objective as a ratio, rounded so 99.5 gives 0.005 and not 0.0050000000000000044."""
        return round(1 - self.objective / 100, 12)

    @property
    def ratio(self) -> float:
        return round(self.objective / 100, 12)


def merge(shared: list[Slo], own: list[Slo], exclude: list[str]) -> list[Slo]:
    """The environment's SLOs: shared ones not excluded, each replaced by an own one of the
    same name, then own ones with new names. Unknown excluded names and duplicate names are
    refused (ValueError, reported by the config loader with the field's path)."""
    for where, slos in (("slos", shared), ("environment slos", own)):
        names = [s.name for s in slos]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"{where}: SLO name(s) {', '.join(dupes)} given twice; names must be unique")
    shared_names = {s.name for s in shared}
    unknown = [n for n in exclude if n not in shared_names]
    if unknown:
        raise ValueError(
            f"exclude_slos names {', '.join(unknown)}, not in the top-level slos"
            f" (shared: {', '.join(sorted(shared_names)) or 'none'})"
        )
    mine = {s.name: s for s in own}
    out = [mine.pop(s.name, s) for s in shared if s.name not in exclude]
    return out + list(mine.values())


def app_buckets(root: Path) -> tuple[float, ...]:
    """The request histogram's bucket bounds, read from the app's source (BUCKETS = (...))."""
    path = root / APP_METRICS_FILE
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError) as exc:
        raise ConfigError(
            f"cannot read the app's histogram buckets from {path}: {exc}",
            "latency SLOs need the app's source (app/); run obsctl from a complete checkout or set project_root",
        ) from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "BUCKETS" for t in node.targets):
            return tuple(float(v) for v in ast.literal_eval(node.value))
    raise ConfigError(f"{path} defines no BUCKETS", "the app's request histogram buckets are expected there")


def le_label(bound: float) -> str:
    """The `le` label value prometheus_client writes for a bucket bound (Go float format: 1.0, 0.25)."""
    return repr(float(bound))


def check_thresholds(slos: list[Slo] | tuple[Slo, ...], root: Path, where: str) -> None:
    """Every latency SLO's threshold is a bucket bound of the app's histogram; else one line
    naming the SLO, the value and the bounds."""
    latency = [s for s in slos if isinstance(s.sli, LatencySli)]
    if not latency:
        return
    buckets = app_buckets(root)
    for slo in latency:
        threshold = slo.sli.threshold  # type: ignore[union-attr]  # narrowed by the filter above
        if not any(abs(threshold - b) < 1e-12 for b in buckets):
            raise ConfigError(
                f"{where}: SLO '{slo.name}': sli.threshold {threshold:g}s is not a bucket bound of"
                f" http_request_duration_seconds (bounds: {', '.join(f'{b:g}' for b in buckets)})",
                "pick one of those bounds: a latency SLI can only count requests at or below a bucket's bound",
            )
