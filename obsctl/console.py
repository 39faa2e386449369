"""The one rich Console obsctl writes to, and the helpers that keep output consistent.

Lower layers never print: they report progress through a `Reporter` (below), a callable
taking one line, which the CLI backs with rich and tests back with a list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

_console: Console | None = None
_err: Console | None = None


def console() -> Console:
    """The stdout console, created on first use (rich is imported lazily for start-up time)."""
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(highlight=False)
    return _console


def err_console() -> Console:
    global _err
    if _err is None:
        from rich.console import Console

        _err = Console(stderr=True, highlight=False)
    return _err


# A progress sink: called with a line of human-readable progress. Lower layers accept
# one of these instead of printing, so the CLI decides how (and whether) to show it.
Reporter = Callable[[str], None]


def silent(_: str) -> None:
    """A Reporter that drops everything (library use, tests)."""
