"""Reading files a person wrote (obsctl.yaml, rules/*.yaml, dashboards/*.json) without trusting them.

Every problem becomes a one-line `ConfigError` (exit 2) naming the file and, where there is
one, the line: a missing file, a directory, a symlink loop, a file too large to be a config,
malformed YAML or JSON, a key given twice. YAML is parsed with libyaml (`CSafeLoader`) when
PyYAML was built with it (about ten times faster than the pure-Python parser), else with
`SafeLoader`; both refuse duplicate keys, which PyYAML silently lets the last one win.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from obsctl.errors import ConfigError

# obsctl.yaml is a few KiB; the example documenting every key is about 10 KiB. A file of
# more than 1 MiB is a mistake (a log or a dump under the wrong name), and parsing one
# of 50 MiB took minutes and gigabytes before it was refused; refuse it before reading.
CONFIG_MAX_BYTES = 1024 * 1024


def read_text(path: Path, what: str, max_bytes: int | None = None) -> str:
    """The file's text; what is wrong with it (missing, a directory, a loop, too big) in one line."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"{what} {path} {_why(exc)}", _fix(exc, what)) from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{what} {path} is a directory, not a file", f"give the path of the {what} itself")
        if max_bytes is not None and info.st_size > max_bytes:
            raise _too_big(path, what, max_bytes)
        data = f.read() if max_bytes is None else f.read(max_bytes + 1)  # a FIFO or /dev/zero has no size
    if max_bytes is not None and len(data) > max_bytes:
        raise _too_big(path, what, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path} is not UTF-8 text (byte {exc.start})", f"save the {what} as UTF-8") from None


def _too_big(path: Path, what: str, max_bytes: int) -> ConfigError:
    return ConfigError(
        f"{what} {path} is larger than {max_bytes / 1048576:g} MiB, too large to be a {what}",
        "check that the path names the right file",
    )


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "does not exist"
    if exc.errno == errno.ELOOP:
        return "is a symlink loop (a link that points back to itself)"
    if exc.errno == errno.EISDIR:
        return "is a directory, not a file"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot be read: permission denied"
    return f"cannot be read: {exc.strerror or exc}"


def _fix(exc: OSError, what: str) -> str:
    if exc.errno == errno.ELOOP:
        return "point the link at the real file (ls -l shows where it points)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"make the {what} readable by this user"
    return "check the path"


def path_problem(path: Path) -> str | None:
    """Why `path` exists but is not a readable file (a directory, a loop), or None."""
    try:
        info = path.stat()
    except OSError as exc:
        return None if exc.errno == errno.ENOENT else _why(exc)
    return "is a directory, not a file" if stat.S_ISDIR(info.st_mode) else None


# --- YAML ------------------------------------------------------------------------------------


def _loader() -> type:
    """A safe loader (libyaml when available) that refuses a mapping key given twice."""
    global _LOADER
    if _LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class StrictLoader(base):  # type: ignore[valid-type,misc]  # base is chosen at run time
            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                seen: dict[Any, int] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue  # `<<: *anchor` keys may be overridden on purpose
                    key = self.construct_object(key_node, deep=True)
                    try:
                        first = seen.get(key)
                    except TypeError:
                        continue  # an unhashable key: the constructor reports it
                    if first is not None:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key '{key}' (first given at line {first})", key_node.start_mark
                        )
                    seen[key] = key_node.start_mark.line + 1
                return super().construct_mapping(node, deep=deep)

        _LOADER = StrictLoader
    return _LOADER


_LOADER: type | None = None


def load_yaml(text: str, source: str, hint: str) -> Any:
    """Parse one YAML document; a syntax error or duplicate key is `source:line:col: problem`."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: malformed YAML: {problem}", hint) from None


def load_json(text: str, source: str, hint: str) -> Any:
    """Parse JSON; a syntax error is `source: not valid JSON: problem: line L column C (char N)`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON: {exc}", hint) from None
