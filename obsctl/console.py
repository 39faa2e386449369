"""The one rich Console obsctl writes to, and the helpers that keep output consistent.

Lower layers never print: they report progress through a `Reporter` (below), a callable
taking one line, which the CLI backs with rich and tests back with a list.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

_console: Console | None = None
_err: Console | None = None

# What obsctl's own text uses beyond ASCII, spelled in ASCII for a terminal or pipe that cannot
# encode it (PYTHONIOENCODING=ascii, LANG=C on an old Python): output degrades, never crashes.
_ASCII = {"—": "-", "–": "-", "✓": "ok", "✗": "x", "→": "->", "←": "<-", "…": "...", "·": "-", "≥": ">=", "≤": "<="}
_ASCII.update({"×": "x", "‘": "'", "’": "'", "“": '"', "”": '"', "•": "*", "≈": "~"})


def _to_ascii(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeEncodeError):
        raise err
    text = err.object[err.start : err.end]
    return "".join(_ASCII.get(ch, "." if "\u2800" <= ch <= "\u28ff" else "?") for ch in text), err.end


def setup_streams() -> None:
    """Make stdout and stderr degrade characters their encoding lacks instead of raising.

    rich already draws tables with ASCII boxes when the stream is not UTF-8; this covers the
    rest (an em dash in a message, a check mark, a spinner frame). Call before any output."""
    import codecs

    codecs.register_error("obsctl-ascii", _to_ascii)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("_", "-")
        if reconfigure is not None and not encoding.startswith("utf"):
            reconfigure(errors="obsctl-ascii")


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
