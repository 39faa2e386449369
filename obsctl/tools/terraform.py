"""The Terraform adapter: init, plan, apply, destroy, output, over python-terraform.

The only module that imports python_terraform. Every Terraform failure leaves this module
as ONE `ToolError` naming the failing resource and the last lines of Terraform's message
(or a `ToolError` naming the state lock when another run holds it); nothing here prints.

python-terraform 0.10.1 (2019) predates Terraform 1.x; its traps, each handled and
pinned by tests/integration/test_terraform_driver.py so an upgrade that changes them is noticed:

* `apply()` without `skip_plan=True` sends `-auto-approve=false` and waits for a "yes".
* `destroy()` sends `-force`, removed in Terraform 0.15: pass `force=IsNotFlagged` and
  `auto_approve=IsFlagged`.
* `output("name")` raises TypeError (`terraform output -json NAME` prints the bare value,
  the library indexes it with ['value']): read all outputs with `output_cmd(json=IsFlagged)`.
* `synchronous=False` is popped only after the command line is built, so it reaches
  Terraform as `-synchronous=false`: never pass it.
* `capture_output=False` streams to our own stdout, where nothing can read it line by line,
  and with `capture_output=True` nothing is seen before the process exits. So `apply` and
  `destroy`, which need live progress, are run here with `subprocess.Popen` reading
  Terraform's machine-readable UI (`-json`) line by line. Their argument lists are still
  built by python-terraform's `generate_cmd_string`, so every command has one shape.
* `cmd()` waits for Terraform with no timeout, so a hung init, plan or output hangs obsctl:
  `_Terraform.cmd()` runs the argument list the library built with a bound per verb
  (`TIMEOUTS`), stops Terraform gracefully (SIGINT, so the state lock is released) when it
  is passed, and the error names the verb that hung.
* `cmd()` logs failures with `Logger.warn`, a DeprecationWarning since Python 3.3 (an error
  under `-W error`): library calls run with that one warning filtered.
* The constructor and every successful `cmd()` parse the local state file into
  `self.tfstate`; while another run writes that file it may be empty, and the JSON error
  escapes (and with remote state it is the wrong file anyway): `_Terraform` skips it.
* The library gives Terraform a copy of `os.environ` and has no way to add to it: library
  calls run with the adapter's extra variables (AWS_PROFILE, TF_IN_AUTOMATION) overlaid on
  `os.environ` under a lock, and restored afterwards.

Progress comes from the `-json` UI events (`planned_change`, `change_summary`,
`apply_start`, `apply_progress`, `apply_complete`, `apply_errored`, `diagnostic`):
resources done out of the planned total, and the slowest ones in flight with their
elapsed time, reported through a callback. The full event stream and Terraform's stderr
go to `<log_dir>/terraform-<verb>.log`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_terraform import IsFlagged, IsNotFlagged, Terraform

from obsctl.errors import PreflightError, ToolError

MIN_VERSION = (1, 5, 7)
TAIL_LINES = 6  # lines of Terraform's own message kept in an error

_library_lock = threading.RLock()


# --- progress --------------------------------------------------------------------------


@dataclass
class Progress:
    """Where an apply or destroy is: resources done of the planned total, and what runs now."""

    verb: str
    done: int = 0
    total: int | None = None
    errored: list[str] = field(default_factory=list)
    in_flight: dict[str, float] = field(default_factory=dict)  # address -> monotonic start
    finished: bool = False

    def slowest(self, now: float | None = None, limit: int = 3) -> list[tuple[str, float]]:
        """The resources in flight longest, with seconds elapsed, slowest first."""
        now = time.monotonic() if now is None else now
        ranked = sorted(self.in_flight.items(), key=lambda kv: kv[1])[:limit]
        return [(addr, now - started) for addr, started in ranked]

    def line(self, now: float | None = None) -> str:
        """One human line: `apply 3/11 · in flight: module.eks.aws_eks_cluster.this[0] 4m12s, ...`."""
        total = "?" if self.total is None else str(self.total)
        text = f"{self.verb} {self.done}/{total}"
        flight = self.slowest(now)
        if flight:
            text += " · in flight: " + ", ".join(f"{a} {_elapsed(s)}" for a, s in flight)
            if len(self.in_flight) > len(flight):
                text += f" (+{len(self.in_flight) - len(flight)} more)"
        return text


ProgressCallback = Callable[[Progress], None]


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass
class Diagnostic:
    severity: str
    summary: str
    detail: str = ""
    address: str = ""


class ProgressTracker:
    """Folds Terraform's machine-readable UI events into a `Progress` and the diagnostics."""

    def __init__(self, verb: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.progress = Progress(verb)
        self.diagnostics: list[Diagnostic] = []
        self.planned: set[str] = set()
        self.clock = clock
        self.interrupted = False

    def feed(self, event: dict[str, Any]) -> bool:
        """Take one event; True when the progress changed."""
        kind = event.get("type")
        p = self.progress
        message = str(event.get("@message", ""))
        if kind == "planned_change":
            self.planned.add(_addr(event.get("change", {})))
            return False
        if kind == "change_summary":
            ch = event.get("changes", {})
            planned = int(ch.get("add", 0)) + int(ch.get("change", 0)) + int(ch.get("remove", 0))
            if ch.get("operation") == "plan" or p.total is None:
                p.total = planned  # the plan phase of apply/destroy announces the total first
            return True
        hook = event.get("hook", {})
        if kind == "apply_start":
            p.in_flight[_addr(hook)] = self.clock() - float(hook.get("elapsed_seconds", 0) or 0)
        elif kind == "apply_progress":
            addr = _addr(hook)
            # apply_progress carries the elapsed time; trust it over our own clock
            p.in_flight[addr] = self.clock() - float(hook.get("elapsed_seconds", 0) or 0)
        elif kind == "apply_complete":
            p.in_flight.pop(_addr(hook), None)
            p.done += 1
        elif kind == "apply_errored":
            addr = _addr(hook)
            p.in_flight.pop(addr, None)
            p.errored.append(addr)
        elif kind == "diagnostic":
            d = event.get("diagnostic", {})
            self.diagnostics.append(
                Diagnostic(
                    str(d.get("severity", "")),
                    str(d.get("summary", "")),
                    str(d.get("detail", "")),
                    d.get("address", ""),
                )
            )
            return False
        elif kind == "log" and "Interrupt received" in message:
            self.interrupted = True
            return False
        else:
            return False
        return True


def _addr(obj: dict[str, Any]) -> str:
    return str(obj.get("resource", {}).get("addr", "?"))


# --- errors ----------------------------------------------------------------------------

_LOCK_FIELD = re.compile(r"^\s*(ID|Path|Operation|Who|Created):\s*(.*)$", re.MULTILINE)


def lock_info(text: str) -> dict[str, str]:
    """The `Lock Info:` block of Terraform's state-lock error, as a dict."""
    return {k.lower(): v.strip() for k, v in _LOCK_FIELD.findall(text)}


def translate_failure(
    verb: str, diagnostics: list[Diagnostic], stderr: str, log_path: Path | None, workdir: Path, interrupted: bool
) -> ToolError:
    """The one place a failed Terraform run becomes an obsctl error (ordered, most specific first)."""
    errors = [d for d in diagnostics if d.severity == "error"]
    where = f"; full log: {log_path}" if log_path else ""
    text = "\n".join(f"{d.summary}\n{d.detail}" for d in errors) + "\n" + stderr
    # 1. another run holds the state lock: name it, and how to release it if it is stale
    if "Error acquiring the state lock" in text:
        info = lock_info(text)
        lock_id = info.get("id", "?")
        return ToolError(
            f"terraform {verb}: the state is locked by another run (lock {lock_id}, {info.get('operation', '?')}"
            f" by {info.get('who', '?')} since {info.get('created', '?')}, path {info.get('path', '?')})",
            f"wait for that run to finish (or raise aws.terraform_lock_timeout); if it died, release the lock:"
            f" terraform -chdir={workdir} force-unlock {lock_id}",
        )
    # 2. interrupted (Ctrl-C or SIGTERM): Terraform stopped gracefully and saved the state
    if interrupted or any(d.summary == "execution halted" for d in errors):
        return ToolError(
            f"terraform {verb} was interrupted; Terraform stopped gracefully and saved its state",
            f"re-run the same obsctl command: it continues from the saved state{where}",
        )
    # 3. anything else: the failing resource and the tail of Terraform's own words
    first = next((d for d in errors if d.address), errors[0] if errors else None)
    if first is None:
        tail = [ln for ln in stderr.strip().splitlines() if ln.strip()][-TAIL_LINES:]
        return ToolError(
            f"terraform {verb} failed: {' / '.join(tail) or 'no message (see the log)'}",
            f"fix the cause and re-run; a re-run continues from the saved state{where}",
        )
    detail = [ln.strip() for ln in first.detail.strip().splitlines() if ln.strip()][-TAIL_LINES:]
    at = f" at {first.address}" if first.address else ""
    more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
    return ToolError(
        f"terraform {verb} failed{at}: {first.summary}" + (f": {' / '.join(detail)}" if detail else "") + more,
        f"fix the cause and re-run; a re-run continues from the saved state{where}",
    )


# --- the adapter -------------------------------------------------------------------------


# How long each captured verb may run before it is stopped: python-terraform's own `cmd()`
# waits forever (`communicate()` without a timeout), so a hung provider download, an S3
# backend that does not answer or a stuck refresh would hang obsctl with it. Generous bounds,
# each for the slowest honest case: init downloads the AWS provider (~600 MB) and registry
# modules; plan refreshes every resource of an EKS stack; the rest only read the state. The
# state-lock wait (-lock-timeout) comes on top for the verbs that take the lock.
TIMEOUTS: dict[str, float] = {"version": 60, "init": 900, "plan": 900, "output": 180, "state-list": 180}
TAKES_LOCK = ("init", "plan")
INTERRUPT_GRACE = 30.0  # after SIGINT, Terraform releases the state lock and exits; then SIGKILL


class Hung(Exception):
    """A Terraform process ran past its bound and was stopped; carries what it had printed."""

    def __init__(self, argv: list[str], seconds: float, out: str, err: str) -> None:
        super().__init__(f"{' '.join(argv[:2])} ran past {seconds:.0f}s")
        self.argv, self.seconds, self.out, self.err = argv, seconds, out, err


class _Terraform(Terraform):
    """python-terraform without its state-file reading, and with a bounded `cmd()` (see above).

    Every library verb (`init()`, `plan()`, `output_cmd()`, ...) builds its argument list and
    calls `cmd()`; this `cmd()` runs that list itself, with `timeout` seconds at most."""

    timeout: float | None = None
    grace: float = INTERRUPT_GRACE

    def read_state_file(self, file_path: str | None = None) -> None:
        self.tfstate = None

    def cmd(self, cmd: str, *args: Any, **kwargs: Any) -> tuple[int, str, str]:
        kwargs.pop("capture_output", None)
        kwargs.pop("raise_on_error", None)
        argv = self.generate_cmd_string(cmd, *args, **kwargs)
        return _capture(argv, self.working_dir, self.timeout, self.grace)


def _capture(argv: list[str], cwd: str | None, timeout: float | None, grace: float) -> tuple[int, str, str]:
    """Run `argv` to completion or to `timeout`; on timeout SIGINT (Terraform stops gracefully
    and releases the state lock), SIGKILL after `grace`, and raise `Hung`."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(os.environ),  # the runner's variables are overlaid on os.environ by _library()
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                out, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # a grandchild (a provider plugin) still holds the pipes
                for pipe in (proc.stdout, proc.stderr):
                    if pipe is not None:
                        pipe.close()
                proc.wait()
                out, err = "", ""
        raise Hung(argv, timeout or 0, out or "", err or "") from None
    except KeyboardInterrupt:
        _wait_gracefully(proc)  # Terraform got the same SIGINT: let it save its state
        raise
    return proc.returncode, out, err


@dataclass
class PlanResult:
    changes: bool
    add: int = 0
    change: int = 0
    remove: int = 0

    @property
    def summary(self) -> str:
        if not self.changes:
            return "no changes"
        return f"{self.add} to add, {self.change} to change, {self.remove} to destroy"


class TerraformRunner:
    """Terraform in one working directory: the obsctl-facing verbs, failures translated.

    `lock_timeout` is passed as `-lock-timeout` to every command that takes the state lock.
    `env` is added to the environment of every Terraform process.
    """

    def __init__(
        self,
        workdir: Path,
        log_dir: Path,
        binary: str = "terraform",
        lock_timeout: str = "60s",
        env: dict[str, str] | None = None,
        timeouts: dict[str, float] | None = None,
    ) -> None:
        self.workdir = workdir
        self.timeouts = {**TIMEOUTS, **(timeouts or {})}  # seconds per verb; tests shorten them
        self.interrupt_grace = INTERRUPT_GRACE
        self.log_dir = log_dir
        self.binary = binary
        self.lock_timeout = lock_timeout
        self.env = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", **(env or {})}
        self.process: subprocess.Popen[str] | None = None  # the running apply/destroy (tests signal it)

    def _tf(self, timeout: float | None = None) -> Terraform:
        # terraform runs in the working directory; a missing one would read as a missing binary
        # (FileNotFoundError from the exec) on a fresh project, before anything rendered into it
        self.workdir.mkdir(parents=True, exist_ok=True)
        tf = _Terraform(working_dir=str(self.workdir), terraform_bin_path=self.binary)
        tf.timeout, tf.grace = timeout, self.interrupt_grace
        return tf

    def bound(self, verb: str) -> float:
        """Seconds `verb` may run: its own bound, plus the state-lock wait for verbs that lock."""
        from obsctl.config import duration_seconds

        extra = duration_seconds(self.lock_timeout) if verb in TAKES_LOCK and self.lock_timeout != "0s" else 0
        return self.timeouts[verb] + extra

    @contextmanager
    def _library(self) -> Iterator[None]:
        """Around every python-terraform call: our env overlaid, its Logger.warn tolerated."""
        with _library_lock:
            saved = {k: os.environ.get(k) for k in self.env}
            os.environ.update(self.env)
            try:
                with warnings.catch_warnings():
                    # python_terraform.cmd() calls Logger.warn on a failed command (deprecated alias)
                    warnings.filterwarnings(
                        "ignore", message="The 'warn' method is deprecated", category=DeprecationWarning
                    )
                    yield
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v

    def _run(
        self, verb: str, call: Callable[[Terraform], tuple[int, str, str]], ok: tuple[int, ...] = (0,)
    ) -> tuple[int, str]:
        """A captured python-terraform call: (exit code, stdout); a failure becomes one ToolError."""
        try:
            with self._library():
                rc, out, err = call(self._tf(self.bound(verb)))
        except FileNotFoundError:
            raise PreflightError(f"terraform not found ({self.binary})", "install Terraform >= 1.5.7") from None
        except Hung as hung:
            self._write_log(
                verb, f"$ {' '.join(hung.argv)} (stopped after {hung.seconds:.0f}s)\n{hung.out}\n{hung.err}"
            )
            said = [ln.strip() for ln in (hung.err + "\n" + hung.out).splitlines() if ln.strip()][-1:]
            raise ToolError(
                f"terraform {verb} hung: no result after {hung.seconds:.0f}s in {self.workdir}, so obsctl stopped it"
                + (f" (its last words: {said[0][:200]})" if said else ""),
                f"it is usually waiting on the network (provider or module downloads, the state backend) or on"
                f" AWS; check connectivity and credentials, then re-run; log: {self.log_path(verb)}",
            ) from None
        out, err = out or "", err or ""
        self._write_log(verb, f"$ terraform {verb} (exit {rc})\n{out}\n{err}")
        if rc not in ok:
            raise translate_failure(verb, _diagnostics_from(out), err, self.log_path(verb), self.workdir, False)
        return rc, out

    def log_path(self, verb: str) -> Path:
        return self.log_dir / f"terraform-{verb}.log"

    def _write_log(self, verb: str, text: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path(verb).write_text(text, encoding="utf-8")

    # -- verbs through python-terraform -------------------------------------------------

    def version(self) -> tuple[int, int, int]:
        """Terraform's version; PreflightError below MIN_VERSION."""
        _, out = self._run("version", lambda tf: tf.cmd("version", json=IsFlagged))
        try:
            text = json.loads(out)["terraform_version"]
        except (ValueError, KeyError):
            text = out
        m = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
        if not m:
            raise PreflightError(f"cannot read the terraform version from {text[:60]!r}", "install Terraform >= 1.5.7")
        found = (int(m[1]), int(m[2]), int(m[3]))
        if found < MIN_VERSION:
            raise PreflightError(
                f"terraform {'.'.join(map(str, found))} is too old: obsctl needs >= {'.'.join(map(str, MIN_VERSION))}",
                "install a current Terraform (developer.hashicorp.com/terraform/install)",
            )
        return found

    def init(self, reconfigure: bool = False) -> str:
        """`terraform init` without -reconfigure: a changed backend must be migrated on purpose,
        never silently restarted with empty state. `reconfigure` only where the directory holds
        no state of its own (the eks target's read-only view of its state)."""
        flag = IsFlagged if reconfigure else IsNotFlagged
        self._run(
            "init",
            lambda tf: tf.init(reconfigure=flag, input=False, lock_timeout=self.lock_timeout),
        )
        return "initialized"

    def plan(self) -> PlanResult:
        """`terraform plan -detailed-exitcode`: 0 no changes, 2 changes (both fine), 1 error."""
        rc, out = self._run(
            "plan",
            lambda tf: tf.plan(
                detailed_exitcode=IsFlagged, input=False, json=IsFlagged, lock_timeout=self.lock_timeout
            ),
            ok=(0, 2),
        )
        summary = PlanResult(changes=rc == 2)
        for event in _events(out):
            if event.get("type") == "change_summary":
                ch = event.get("changes", {})
                summary.add, summary.change, summary.remove = (int(ch.get(k, 0)) for k in ("add", "change", "remove"))
        return summary

    def outputs(self) -> dict[str, Any]:
        """Every output's value (`{}` before the first apply). Not `tf.output(name)`: see above."""
        _, out = self._run("output", lambda tf: tf.output_cmd(json=IsFlagged))
        try:
            raw = json.loads(out or "{}")
        except ValueError as exc:
            raise ToolError(f"terraform output -json printed something that is not JSON: {exc}") from None
        return {name: spec.get("value") for name, spec in raw.items()}

    def state_list(self) -> list[str]:
        """Addresses of every resource in the state (empty before the first apply)."""
        _, out = self._run("state-list", lambda tf: tf.cmd("state list"))
        return [ln.strip() for ln in out.splitlines() if ln.strip()]

    # -- streaming verbs ----------------------------------------------------------------

    def apply_argv(self) -> list[str]:
        return self._tf().generate_cmd_string(
            "apply",
            input=False,
            no_color=IsFlagged,
            auto_approve=IsFlagged,  # not apply(): it would send -auto-approve=false
            json=IsFlagged,
            lock_timeout=self.lock_timeout,
        )

    def destroy_argv(self) -> list[str]:
        return self._tf().generate_cmd_string(
            "destroy",
            input=False,
            no_color=IsFlagged,
            auto_approve=IsFlagged,  # not destroy(): it would send the removed -force
            json=IsFlagged,
            lock_timeout=self.lock_timeout,
        )

    def apply(self, on_progress: ProgressCallback | None = None, interval: float = 1.0) -> Progress:
        """`terraform apply` with live progress; returns the final progress."""
        return self._stream("apply", self.apply_argv(), on_progress, interval)

    def destroy(self, on_progress: ProgressCallback | None = None, interval: float = 1.0) -> Progress:
        """`terraform destroy` with live progress; returns the final progress."""
        return self._stream("destroy", self.destroy_argv(), on_progress, interval)

    def _stream(self, verb: str, argv: list[str], on_progress: ProgressCallback | None, interval: float) -> Progress:
        tracker = ProgressTracker(verb)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(verb)
        env = {**os.environ, **self.env}
        stderr_lines: list[str] = []
        with log_path.open("w", encoding="utf-8") as log:
            log.write(f"$ {' '.join(argv)}\n")
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=self.workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    bufsize=1,
                )
            except FileNotFoundError:
                raise PreflightError(f"terraform not found ({self.binary})", "install Terraform >= 1.5.7") from None
            self.process = proc
            log_lock = threading.Lock()
            err_thread = threading.Thread(
                target=_pump_stderr, args=(proc.stderr, stderr_lines, log, log_lock), daemon=True
            )
            err_thread.start()
            ticker_stop = threading.Event()
            report_lock = threading.Lock()

            def report() -> None:
                if on_progress:
                    with report_lock:
                        on_progress(tracker.progress)

            def tick() -> None:  # elapsed times move even when Terraform says nothing
                while not ticker_stop.wait(interval):
                    if tracker.progress.in_flight:
                        report()

            ticker = threading.Thread(target=tick, daemon=True)
            ticker.start()
            try:
                assert proc.stdout is not None
                for raw in proc.stdout:
                    with log_lock:
                        log.write(raw)
                    try:
                        event = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(event, dict) and tracker.feed(event):
                        report()
                rc = proc.wait()
            except KeyboardInterrupt:
                # Terraform got the same SIGINT (same process group): let it stop gracefully,
                # so the state is saved and a re-run converges; then let the interrupt go on.
                _wait_gracefully(proc)
                raise
            finally:
                ticker_stop.set()
                err_thread.join(timeout=5)
                for pipe in (proc.stdout, proc.stderr):
                    if pipe is not None:
                        pipe.close()
                self.process = None
        if rc != 0:
            raise translate_failure(
                verb, tracker.diagnostics, "".join(stderr_lines), log_path, self.workdir, tracker.interrupted
            )
        tracker.progress.finished = True
        tracker.progress.in_flight.clear()
        report()
        return tracker.progress


def _pump_stderr(stream: IO[str] | None, sink: list[str], log: IO[str], lock: threading.Lock) -> None:
    if stream is None:
        return
    for line in stream:
        sink.append(line)
        with lock:
            log.write("stderr: " + line)


def _wait_gracefully(proc: subprocess.Popen[str], grace: float = 300.0) -> None:
    try:
        proc.wait(timeout=grace)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        # a second Ctrl-C, or Terraform hung: a second SIGINT makes Terraform stop hard
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _events(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event


def _diagnostics_from(text: str) -> list[Diagnostic]:
    out = []
    for event in _events(text):
        if event.get("type") == "diagnostic":
            d = event["diagnostic"]
            out.append(
                Diagnostic(d.get("severity", ""), d.get("summary", ""), d.get("detail", ""), d.get("address", ""))
            )
    return out
