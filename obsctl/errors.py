"""The errors obsctl raises on purpose.

Every failure a user can cause or fix is an `ObsctlError`: a one-line message saying what
is wrong and a hint saying what to do next. `cli` is the one place that turns them into
`error: ...` / `hint: ...` on stderr and an exit code; nothing below it prints or exits.
Exit codes: 1 for a failed operation, 2 for bad input found before anything was started
(config, usage, a missing binary, a port taken, a wrong kube context, no credentials).
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


class WaitTimeout(ObsctlError):
    """A wait reached its deadline; the message carries the last state seen."""
