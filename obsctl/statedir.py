"""The environment's state directory (`<state_dir>/<env>`): proven writable before a command relies on it.

Everything obsctl renders, runs and records lives there. When it cannot be written (a
read-only filesystem, a folder owned by someone else, a file where a folder should be) the
OSError used to surface as a traceback with exit 3 from whichever write came first, after
`verify` had run every check and before it could show them. Commands now ask here first
and get one line naming the folder, the reason and the fix (exit 2: nothing was changed).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from obsctl.errors import InputError


class StateDirError(InputError):
    """The state directory cannot be created or written. Nothing was changed (exit 2)."""


def problem(path: Path, exc: OSError) -> StateDirError:
    """The one-line error for an OSError met while writing under the state directory."""
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    if blocker := _file_in_the_way(path):
        where = f" ({blocker} is a file, not a folder)"
    return StateDirError(
        f"state directory {path} cannot be written: {exc.strerror or exc}{where}",
        "fix its permissions or remove what is in the way, or set state_dir in obsctl.yaml to a writable folder",
    )


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest of `path` and its parents that exists but is not a folder (say, a stray file)."""
    for folder in (path, *path.parents):
        if folder.exists() or folder.is_symlink():
            return None if folder.is_dir() else folder
    return None


def ensure_writable(path: Path) -> Path:
    """Create `path` if needed and prove a file can be created in it; StateDirError if not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise problem(path, exc) from None
    return path
