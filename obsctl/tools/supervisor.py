"""supervisord adapter: start the daemon, drive it over its XML-RPC unix socket, stop it.

supervisord is the real process supervisor of the local target. obsctl talks to it with
supervisor's own XML-RPC transport (what supervisorctl uses), so states are structured
data, not parsed text. Failures become ToolError; nothing here prints.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsctl.errors import ToolError, WaitTimeout
from obsctl.tools import procs


@dataclass(frozen=True)
class ProcessInfo:
    name: str  # group:name
    state: str  # RUNNING, STARTING, STOPPED, BACKOFF, FATAL, EXITED, ...
    pid: int
    description: str


class Supervisor:
    """One supervisord instance, identified by its config file and unix socket."""

    def __init__(self, conf: Path, socket: Path, pidfile: Path) -> None:
        self.conf = conf
        self.socket = socket
        self.pidfile = pidfile

    # -- connection ---------------------------------------------------------------------

    def _call(self, method: str, *args: Any) -> Any:
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, serverurl=f"unix://{self.socket}")
        proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
        try:
            return getattr(proxy.supervisor, method)(*args)
        except xmlrpc.client.Fault as exc:
            raise ToolError(f"supervisord refused {method}{args}: {exc.faultString}") from None
        except OSError as exc:
            raise ToolError(
                f"supervisord is not answering on {self.socket}: {exc}",
                "run `obsctl status`; `obsctl down` then `obsctl up` restarts it cleanly",
            ) from None
        finally:
            transport.close()  # one connection per call; supervisor's transport never closes it itself

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if procs.alive(pid) else None

    def running(self) -> bool:
        if not self.socket.exists() or self.pid() is None:
            return False
        try:
            return self._call("getState")["statename"] == "RUNNING"
        except ToolError:
            return False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start supervisord (it daemonizes) and wait until its socket answers."""
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ToolError(f"supervisord failed to start: {last[0]}", f"see {self.conf.parent.parent}/logs/")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.running():
                return
            time.sleep(0.05)
        raise WaitTimeout(f"supervisord did not answer on {self.socket} within {timeout:.0f}s")

    def update(self) -> list[str]:
        """Apply a changed config like `supervisorctl update`: add, restart, remove groups.
        Returns the names of the groups that changed."""
        added, changed, removed = self._call("reloadConfig")[0]
        for name in removed + changed:
            try:
                self._call("stopProcessGroup", name, True)
            except ToolError:
                pass  # already stopped
            self._call("removeProcessGroup", name)
        for name in changed + added:
            self._call("addProcessGroup", name)
        return sorted(added + changed + removed)

    def processes(self) -> list[ProcessInfo]:
        return [
            ProcessInfo(
                name=f"{p['group']}:{p['name']}" if p["group"] != p["name"] else p["name"],
                state=p["statename"],
                pid=p["pid"],
                description=p["description"],
            )
            for p in self._call("getAllProcessInfo")
        ]

    def start_process(self, name: str) -> None:
        info = self._call("getProcessInfo", name)
        if info["statename"] not in ("RUNNING", "STARTING"):
            self._call("startProcess", name, True)

    def stop_process(self, name: str) -> None:
        info = self._call("getProcessInfo", name)
        if info["statename"] in ("RUNNING", "STARTING", "BACKOFF"):
            self._call("stopProcess", name, True)

    def shutdown(self, timeout: float = 30.0) -> int | None:
        """Stop every program and supervisord itself; wait until its process is gone."""
        pid = self.pid()
        if pid is None:
            return None
        try:
            self._call("shutdown")
        except ToolError:
            os.kill(pid, 15)
        if not procs.wait_gone(pid, timeout):
            raise WaitTimeout(f"supervisord (pid {pid}) still running {timeout:.0f}s after shutdown")
        return pid

    def log_tail(self, name: str, lines: int = 5) -> str:
        """The last lines a program wrote (its log file), for error messages."""
        try:
            data = self._call("tailProcessStdoutLog", name, 0, 4000)[0]
        except ToolError:
            return ""
        return " | ".join(line for line in data.strip().splitlines()[-lines:])
