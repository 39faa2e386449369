"""Where the traceback of an unexpected error (a bug) goes, written so it cannot be hijacked.

The log belongs with the environment whose command crashed (`<state dir>/crash.log`), or, when
the crash came before an environment was resolved (or its state directory cannot be written),
in a per-user folder: `$XDG_STATE_HOME/obsctl`, else `~/.local/state/obsctl`. It is never put
at a fixed path in a shared folder such as /tmp, where another user could plant a symlink and
have obsctl overwrite a file of theirs choosing; and it is written to a fresh file created
with O_EXCL and mode 0600, then renamed over `crash.log`, so a symlink at that name is replaced,
never followed.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path

NAME = "crash.log"


def user_dir() -> Path:
    """The per-user folder for a crash log when no environment's state directory is known."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "obsctl"


def write(exc: BaseException, state_dir: Path | None) -> Path | None:
    """Write the traceback; the log's path, or None if no folder could take it."""
    text = f"obsctl crashed at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n" + "".join(traceback.format_exception(exc))
    for folder in ([state_dir] if state_dir else []) + [user_dir()]:
        try:
            return _write_in(folder, text)
        except OSError:
            continue
    return None


def _write_in(folder: Path, text: str) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".crash-", suffix=".log", dir=folder)  # O_EXCL, 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        path = folder / NAME
        os.replace(tmp, path)  # replaces a symlink named crash.log, does not write through it
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
