"""Process and port facts from /proc and the socket layer (Linux).

On these machines background processes are not reaped by PID 1, so a dead child can look
alive to `kill -0`: `alive()` reads the process state and counts a zombie as dead.
Every process obsctl starts for an environment carries OBSCTL_STATE_DIR=<its state dir> in
its environment (inherited by workers), which is how `down` proves nothing is left behind.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

MARKER = "OBSCTL_STATE_DIR"


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # the state is the field after the parenthesised command name
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def started(pid: int) -> float | None:
    """When a process started, in seconds since the epoch (to within a second: the boot time
    in /proc/stat is whole seconds); None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        btime = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
    except (OSError, StopIteration):
        return None
    # starttime is field 22 of stat(5), in clock ticks since boot; fields[0] is field 3 (the state)
    return int(btime.split()[1]) + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def port_bindable(port: int, host: str = "127.0.0.1") -> bool:
    """True when we could listen on host:port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def marked(state_dir: Path) -> list[tuple[int, str]]:
    """Live processes started for this state dir: (pid, command line)."""
    needle = f"{MARKER}={state_dir}".encode()
    found = []
    me = os.getpid()
    for pid in pids():
        if pid == me:
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if needle + b"\0" in environ + b"\0" and alive(pid):
            found.append((pid, cmdline.replace(b"\0", b" ").decode(errors="replace").strip()))
    return found


def kill_all(pids: list[int], timeout: float = 5.0) -> list[int]:
    """TERM, then KILL what is left; returns the pids still alive after that."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.05)
    return [p for p in pids if alive(p)]


def port_owner(port: int) -> int | None:
    """The pid listening on 127.0.0.1/0.0.0.0:port (TCP, IPv4 or IPv6), when it can be found."""
    return port_owners([port]).get(port)


def pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def argv(pid: int) -> list[str]:
    """A process's arguments exactly as it was started (NUL-separated in /proc, so a path with a
    space stays one argument); empty when the process is gone or unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="surrogateescape") for a in raw.split(b"\0")[:-1]] if raw else []


def port_owners(ports: list[int]) -> dict[int, int]:
    """port -> pid listening on it (TCP, IPv4 or IPv6), for the ports that have one, in one
    pass over /proc (port_owner per port would walk every process's fds once per port)."""
    by_inode: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if fields[3] == "0A" and port in ports:  # 0A = LISTEN
                by_inode[f"socket:[{fields[9]}]"] = port
    owners: dict[int, int] = {}
    if not by_inode:
        return owners
    for pid in pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                listening = by_inode.get(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
            if listening is not None:
                owners.setdefault(listening, pid)
    return owners


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"
