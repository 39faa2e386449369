"""supervisord adapter: start the daemon, drive it over its XML-RPC unix socket, stop it.

supervisord is the real process supervisor of the local target. obsctl talks to it with
supervisor's own XML-RPC transport (what supervisorctl uses), so states are structured
data, not parsed text. Failures become ToolError; nothing here prints.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsctl.errors import ToolError, WaitTimeout
from obsctl.tools import procs

CALL_TIMEOUT = 10.0  # seconds for an XML-RPC call that only reads or changes supervisord's state
# calls that wait for programs: stopwaitsecs (10) per program, plus startsecs, with room to spare
SLOW_CALLS = {"startProcess": 60.0, "stopProcess": 60.0, "stopProcessGroup": 60.0, "startProcessGroup": 60.0}


def _transport(socket_path: Path, timeout: float) -> Any:
    """supervisor's own transport (what supervisorctl uses), with a socket timeout: its unix
    connection never sets one, so a hung supervisord would block a call forever."""
    import socket as sockets

    from supervisor.xmlrpc import SupervisorTransport, UnixStreamHTTPConnection

    class Connection(UnixStreamHTTPConnection):  # supervisor has no type hints
        def connect(self) -> None:
            self.sock = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(str(socket_path))

    transport = SupervisorTransport(None, None, serverurl=f"unix://{socket_path}")
    transport._get_connection = lambda: Connection("localhost")
    return transport


def said(output: str, returncode: int) -> str:
    """What supervisord said when it refused to start: every line but its closing "For help,
    use ... -h" (which is all the last line ever holds; the cause comes before it)."""
    lines = [line.strip() for line in output.strip().splitlines()]
    meaningful = [line for line in lines if line and not line.startswith("For help, use")]
    return " ".join(meaningful)[:600] or f"exit {returncode}, no output"


@dataclass(frozen=True)
class ProcessInfo:
    name: str  # group:name
    state: str  # RUNNING, STARTING, STOPPED, BACKOFF, FATAL, EXITED, ...
    pid: int
    description: str


class Supervisor:
    """One supervisord instance, identified by its config file and unix socket."""

    def __init__(
        self,
        conf: Path,
        socket: Path,
        pidfile: Path,
        environment: dict[str, str] | None = None,
        call_timeout: float = CALL_TIMEOUT,
    ) -> None:
        self.conf = Path(os.path.abspath(conf))  # as it appears in supervisord's command line
        self.socket = socket
        self.pidfile = pidfile
        self.environment = environment or {}  # added to supervisord's own (e.g. the state-dir marker)
        self.call_timeout = call_timeout

    # -- connection ---------------------------------------------------------------------

    def _call(self, method: str, *args: Any) -> Any:
        """One XML-RPC call, bounded: a supervisord that hangs (stopped, overloaded) must not
        hang obsctl. Calls that wait for a program to start or stop get longer (SLOW_CALLS)."""
        timeout = max(self.call_timeout, SLOW_CALLS.get(method, 0.0))
        transport = _transport(self.socket, timeout)
        proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
        try:
            return getattr(proxy.supervisor, method)(*args)
        except xmlrpc.client.Fault as exc:
            raise ToolError(f"supervisord refused {method}{args}: {exc.faultString}") from None
        except TimeoutError:
            raise ToolError(
                f"supervisord did not answer {method} within {timeout:.0f}s on {self.socket} (it hangs)",
                f"check its state with `ps -o stat -p {self.pid() or '?'}` (T: stopped; `kill -CONT` it);"
                " `obsctl down` then `obsctl up` restarts it",
            ) from None
        except OSError as exc:
            raise ToolError(
                f"supervisord is not answering on {self.socket}: {exc}",
                "run `obsctl status`; `obsctl down` then `obsctl up` restarts it cleanly",
            ) from None
        finally:
            transport.close()  # one connection per call; supervisor's transport never closes it itself

    # -- which process is ours --------------------------------------------------------------

    def owns(self, pid: int) -> bool:
        """True only when `pid` is a live supervisord started with this environment's config
        file (`-c <state dir>/rendered/supervisord.conf` in /proc/PID/cmdline). A pid file
        alone proves nothing: the PID may have been reused by any process since."""
        args = procs.argv(pid)
        if not procs.alive(pid) or not any(a.endswith("supervisord") for a in args[:3]):
            return False
        return any(a == "-c" and b == str(self.conf) for a, b in zip(args, args[1:], strict=False))

    def find(self) -> list[int]:
        """This environment's supervisord processes: the pid file's when it is proven ours,
        else every process whose command line names our config (a garbage or stale pid file
        does not hide a running supervisord)."""
        listed = self._pidfile_pid()
        if listed is not None and self.owns(listed):
            return [listed]
        return [pid for pid in procs.pids() if self.owns(pid)]

    def pid(self) -> int | None:
        found = self.find()
        return found[0] if found else None

    def pidfile_note(self) -> str | None:
        """What is wrong with the pid file, when it does not name our running supervisord."""
        try:
            text = self.pidfile.read_text().strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"pid file {self.pidfile} unreadable ({exc.strerror})"
        listed = self._pidfile_pid()
        if listed is None:
            return f"pid file {self.pidfile} holds no pid ({text[:20]!r})"
        if self.owns(listed):
            return None
        if not procs.alive(listed):
            return f"pid file names pid {listed}, which is no longer running"
        return (
            f"pid file names pid {listed}, which is not this environment's supervisord"
            f" ({procs.cmdline(listed)[:60]}): left it alone"
        )

    def _pidfile_pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def answering(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return self._call("getState")["statename"] == "RUNNING"
        except ToolError:
            return False

    def running(self) -> bool:
        """Our supervisord is alive (proven by its command line) and answers on its socket."""
        return self.pid() is not None and self.answering()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start supervisord (it daemonizes) and wait until its socket answers."""
        already = self.find()
        if already:  # a second one would fight the first for every port
            raise ToolError(
                f"supervisord (pid {already[0]}) is already running for {self.conf} but not answering on {self.socket}",
                "`obsctl down` stops it",
            )
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, **self.environment},
        )
        if result.returncode != 0:
            raise ToolError(
                f"supervisord failed to start: {said(result.stderr + result.stdout, result.returncode)}",
                f"see {self.conf.parent.parent}/logs/supervisord.log",
            )
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

    def restart_process(self, name: str, log: Path) -> None:
        """(Re)start a program that is not running or crash-loops (BACKOFF: supervisord refuses
        to start it, "ALREADY_STARTED", so it is stopped first) and wait until it counts as
        started. When it does not start, the error carries its log's last lines, not just
        supervisord's fault name (SPAWN_ERROR, ABNORMAL_TERMINATION)."""
        state = self._call("getProcessInfo", name)["statename"]
        if state in ("BACKOFF", "STARTING", "RUNNING"):
            self._call("stopProcess", name, True)
        try:
            self._call("startProcess", name, True)
        except ToolError as exc:
            info = self._call("getProcessInfo", name)
            tail = self.log_tail(name, 5) or _file_tail(log, 5) or info["description"]
            raise ToolError(
                f"{name} does not start ({info['statename']}; {exc.message.rpartition(': ')[2]}): {tail}",
                f"see {log}",
            ) from None

    def stop_process(self, name: str) -> None:
        info = self._call("getProcessInfo", name)
        if info["statename"] in ("RUNNING", "STARTING", "BACKOFF"):
            self._call("stopProcess", name, True)

    def shutdown(self, timeout: float = 30.0) -> list[int]:
        """Stop every program and supervisord itself; wait until its process is gone. Over its
        socket when it answers, else SIGTERM (supervisord then stops its programs), and only to
        a pid proven to be ours. Returns the pids stopped (empty when none was running)."""
        found = self.find()
        if not found:
            return []
        try:
            self._call("shutdown")
            asked = True
        except ToolError:
            asked = False  # socket gone or deaf: signal it instead
        for pid in found:
            if (not asked or not procs.wait_gone(pid, timeout / 2)) and self.owns(pid):
                os.kill(pid, signal.SIGTERM)
            if not procs.wait_gone(pid, timeout):
                raise WaitTimeout(f"supervisord (pid {pid}) still running {timeout:.0f}s after shutdown")
        return found

    def log_tail(self, name: str, lines: int = 5) -> str:
        """The last lines a program wrote (its log file), for error messages."""
        try:
            data = self._call("tailProcessStdoutLog", name, 0, 4000)[0]
        except ToolError:
            return ""
        return " | ".join(line for line in data.strip().splitlines()[-lines:])


def _file_tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 4000))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])
