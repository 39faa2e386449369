"""Settings read once from the environment when the app is built.

They are validated up front so that a typo in a deployment fails the worker at start-up
with a message naming the variable, instead of surfacing later as odd metrics: uvicorn
stops the parent process when a worker fails before serving, so a bad value never turns
into a restart loop. `PROMETHEUS_MULTIPROC_DIR` is checked here too because
prometheus-client would otherwise fail only on the first metric write, deep in a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from obsapp import __version__

MAX_FAULT_LATENCY_MS = 10_000
"""Upper bound for injected latency: long enough for any drill, short enough that a typo
cannot park a worker for minutes."""


class SettingsError(ValueError):
    """The environment holds a value the app cannot start with."""


class Instrumentation(StrEnum):
    """How HTTP requests are measured (`OBSAPP_INSTRUMENTATION`)."""

    ON = "on"
    """obsapp's own ASGI middleware: the contract the dashboards and alerts are written for."""
    OFF = "off"
    """No request metrics at all; the baseline for bench/app_throughput.py."""
    INSTRUMENTATOR = "instrumentator"
    """prometheus-fastapi-instrumentator instead of ours; only for comparison in the bench."""


class Settings(BaseModel):
    """The app's configuration; field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    version: Annotated[str, Field(min_length=1)] = Field(
        default=__version__,
        alias="OBSAPP_VERSION",
        description="Reported by `GET /` and the `app_info{version}` metric.",
    )
    fault_error_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        alias="OBSAPP_FAULT_ERROR_RATE",
        description="Fraction (0..1) of demo requests answered with 500, to exercise error alerts.",
    )
    fault_latency_ms: int = Field(
        default=0,
        ge=0,
        le=MAX_FAULT_LATENCY_MS,
        alias="OBSAPP_FAULT_LATENCY_MS",
        description="Milliseconds added to every demo request, to exercise latency alerts.",
    )
    instrumentation: Instrumentation = Field(
        default=Instrumentation.ON,
        alias="OBSAPP_INSTRUMENTATION",
        description="`on`, `off` or `instrumentator`; anything but `on` exists for the benchmark.",
    )
    multiproc_dir: Path | None = Field(
        default=None,
        alias="PROMETHEUS_MULTIPROC_DIR",
        description="prometheus-client multiprocess mode: one metrics file per worker in this "
        "directory, merged at scrape time. Needed whenever uvicorn runs more than one worker.",
    )

    @field_validator("multiproc_dir", mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        # Path("") would silently mean the current directory.
        if value == "":
            raise ValueError("is set but empty; unset it for single-process mode or name a directory")
        return value

    @field_validator("multiproc_dir")
    @classmethod
    def _usable_dir(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not value.is_dir():
            raise ValueError(f"{value} is not an existing directory; create it (empty) before starting")
        if not os.access(value, os.W_OK | os.X_OK):
            raise ValueError(f"{value} is not writable by uid {os.getuid()}")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (default `os.environ`), or raise `SettingsError`."""
        environ = os.environ if environ is None else environ
        names = {field.alias or name for name, field in cls.model_fields.items()}
        try:
            return cls.model_validate({name: environ[name] for name in names if name in environ})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, err['loc']))}={err['input']!r}: {err['msg']}" for err in exc.errors()
            )
            raise SettingsError(f"invalid environment: {problems}") from None
