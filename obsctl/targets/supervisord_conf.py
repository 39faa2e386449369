"""Values written into supervisord.conf, escaped so supervisord reads back exactly what was meant.

supervisord reads its config with ConfigParser (a newline starts a new key or section, and
`;` or `#` after whitespace starts a comment), %-expands every value (`%(here)s`), splits
`command` like a POSIX shell (shlex), and parses `environment` as KEY="value" pairs with a
non-POSIX shlex that has no escapes and strips quote characters from both ends of a value.
A project path with a space or a `%`, or config text with a quote or a newline, would
otherwise break the file or inject a section (a command of someone's choosing run by
supervisord). What the format cannot hold at all is refused before anything is written.
"""

from __future__ import annotations

import re

from obsctl.errors import PreflightError

_SAFE = re.compile(r"[A-Za-z0-9@%+=:,./_-]")
_COMMENT = re.compile(r"\s[;#]")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Unrepresentable(PreflightError):
    """A value supervisord's config format cannot hold (refused before anything changed)."""


def _refuse(what: str, value: str, why: str) -> Unrepresentable:
    return Unrepresentable(
        f"cannot write {what} into supervisord.conf: {value[:80]!r} {why}",
        "use a project path / config value without it (supervisord's config format cannot hold it)",
    )


def _no_control(what: str, value: str) -> None:
    if any(ch in value for ch in "\n\r\0"):
        raise _refuse(what, value, "contains a newline or NUL")


def _percent(value: str) -> str:
    return value.replace("%", "%%")  # supervisord %-expands every value


def value(text: str, what: str) -> str:
    """A plain value (a path in [supervisord], `directory`, a log file)."""
    _no_control(what, text)
    if text != text.strip():
        raise _refuse(what, text, "starts or ends with whitespace")
    if _COMMENT.search(text):
        raise _refuse(what, text, "has ';' or '#' after whitespace, which starts a comment there")
    return _percent(text)


def logfile(text: str, what: str) -> str:
    """A program's `stdout_logfile`: supervisor 4 %-expands it twice (options.py reads it with
    expansion, then expands it again with the program's expansions), so `%` is doubled twice."""
    return _percent(value(text, what))


def quote(arg: object) -> str:
    """One argument of `command`, escaped for supervisord's POSIX shlex split: every character
    that is not plainly safe gets a backslash (so neither a space nor `;`/`#` after it can
    start a comment either). `%` is doubled later, by `command`, for the whole line."""
    text = str(arg)
    _no_control("a command argument", text)
    if not text:
        return "''"
    return "".join(ch if _SAFE.fullmatch(ch) else "\\" + ch for ch in text)


def command(line: str, what: str) -> str:
    """A `command` built from `quote`d arguments: refuse control characters, double `%`."""
    _no_control(what, line)
    return _percent(line)


def environment(env: dict[str, str], what: str) -> str:
    """The `environment =` value: KEY="value" pairs, each value in the quote it does not contain."""
    pairs = []
    for key, val in env.items():
        if not _KEY.match(key):
            raise _refuse(f"{what} environment", key, "is not a variable name")
        label = f"{what} environment {key}"
        _no_control(label, val)
        if val[:1] in ("'", '"') or val[-1:] in ("'", '"'):
            raise _refuse(label, val, "starts or ends with a quote")
        if _COMMENT.search(val):
            raise _refuse(label, val, "has ';' or '#' after whitespace, which starts a comment there")
        q = '"' if '"' not in val else "'"
        if q in val:
            raise _refuse(label, val, "contains both kinds of quote")
        pairs.append(f"{key}={q}{_percent(val)}{q}")
    return ",".join(pairs)
