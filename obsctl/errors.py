"""The errors obsctl raises on purpose.

Every failure a user can cause or fix is an `ObsctlError`: a one-line message saying what
is wrong and a hint saying what to do next. `cli` is the one place that turns them into
`error: ...` / `hint: ...` on stderr and an exit code; nothing below it prints or exits.
Exit codes: 1 for a failed operation, 2 for bad input found before anything was started
(config, usage, a missing binary, a port taken, a wrong kube context, no credentials).

Exit 2 is a promise that nothing was changed, so it is decided by *when* a failure happens,
not only by its type: adapters raise `PreflightError` only for refusals (bad input, missing
credentials, a broken binary) and `ToolError` for failures of a system they talk to (a
network error, an API error); `lifecycle.run_stages` turns ANY failure after a stage that
changes things has started into `StageFailed` (exit 1), which says where the run stopped and
how to converge.
"""

from __future__ import annotations


class ObsctlError(Exception):
    """A failure with a message for the user and, ideally, a hint for the next step."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(ObsctlError):
    """Bad input found before anything was started: nothing was changed."""

    exit_code = 2


class ConfigError(InputError):
    """obsctl.yaml (or a flag that selects from it) is unreadable, malformed or invalid."""


class PreflightError(InputError):
    """The machine or the account is not ready: a binary is missing, a port is taken, ..."""


class ToolError(ObsctlError):
    """An external tool (terraform, helm, prometheus, the Kubernetes API, AWS) failed."""


class Unreachable(ToolError):
    """A system obsctl talks to (the Kubernetes API, helm's cluster, AWS) did not answer.

    A preflight stage that probes before any change turns it into a `PreflightError`."""


class StageFailed(ObsctlError):
    """A stage of `up` / `down` failed after something may have changed: exit 1, never 2.

    Keeps the original message; the hint adds which stage stopped the run, what had run
    before it, and the command that converges."""

    def __init__(self, cause: ObsctlError, hint: str) -> None:
        super().__init__(cause.message, hint)
        self.cause = cause


class WaitTimeout(ObsctlError):
    """A wait reached its deadline; the message carries the last state seen."""
