"""up / down / verify / rebuild-test as ordered, named, timed stages, journaled per environment.

Every stage's outcome is appended to .obsctl/<env>/journal.jsonl (what ran, how long, what
it said), so a failed `up` can be read after the fact. Progress goes to an `Observer`
the CLI backs with rich; this module never prints.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from obsctl import statedir
from obsctl.config import Environment
from obsctl.errors import ObsctlError, StageFailed
from obsctl.targets import get_target
from obsctl.targets.base import Stage, Target
from obsctl.tools import envlock
from obsctl.verify import Check, Result, run_checks
from obsctl.verify.drill import Drill, Interrupted


class Observer(Protocol):
    def stage_started(self, verb: str, stage: str) -> None: ...

    def stage_done(self, verb: str, stage: str, seconds: float, detail: str, ok: bool) -> None: ...


@dataclass
class StageResult:
    name: str
    seconds: float
    detail: str
    ok: bool


@dataclass
class Journal:
    """Append-only, and bounded: past `max_bytes` the file becomes `journal.jsonl.1` (replacing
    the previous one) and a new one starts, so a long-lived environment keeps about the last
    two megabytes of history instead of growing forever."""

    path: Path
    max_bytes: int = 1_000_000

    def write(self, **entry: object) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.is_file() and self.path.stat().st_size >= self.max_bytes:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"ts": round(time.time(), 3), **entry}) + "\n")
        except OSError as exc:
            raise statedir.problem(self.path.parent, exc) from None


class ResultsNotRecorded(statedir.StateDirError):
    """verify ran, but its results could not be journaled: the caller still shows them."""

    def __init__(self, cause: statedir.StateDirError, results: list[Result]) -> None:
        super().__init__(cause.message, cause.hint)
        self.results = results


def run_stages(env: Environment, verb: str, stages: list[Stage], observer: Observer) -> list[StageResult]:
    """Run stages in order; the first failure stops the run and is re-raised after journaling.

    Before any stage that changes things has started, a failure is re-raised as it is (a
    refusal exits 2: nothing was changed). From then on it becomes `StageFailed` (exit 1),
    whose hint says where the run stopped, what ran before, and how to converge."""
    statedir.ensure_writable(env.state_dir)  # a broken one is refused before any stage runs
    journal = Journal(env.state_dir / "journal.jsonl")
    results = []
    changing: list[str] = []  # stages that ran (or started) and may have changed something
    for stage in stages:
        observer.stage_started(verb, stage.name)
        started = time.monotonic()
        if stage.changes:
            changing.append(stage.name)
        try:
            detail = stage.run()
        except ObsctlError as exc:
            seconds = time.monotonic() - started
            journal.write(verb=verb, stage=stage.name, ok=False, seconds=round(seconds, 3), detail=exc.message)
            observer.stage_done(verb, stage.name, seconds, exc.message, False)
            if not changing:
                raise
            raise StageFailed(
                exc, _converge_hint(env, verb, stage.name, changing[:-1] if stage.changes else changing, exc)
            ) from exc
        seconds = time.monotonic() - started
        journal.write(verb=verb, stage=stage.name, ok=True, seconds=round(seconds, 3), detail=detail)
        observer.stage_done(verb, stage.name, seconds, detail, True)
        results.append(StageResult(stage.name, seconds, detail, True))
    return results


def _converge_hint(env: Environment, verb: str, failed: str, done: list[str], exc: ObsctlError) -> str:
    """What state a failed `up` / `down` left, and the command that converges from it."""
    ran = f"after {', '.join(done)}" if done else "in its first changing stage"
    cmd = f"obsctl {verb} --env {env.name}"
    if verb == "up":
        state = (
            f"up stopped at '{failed}' {ran}, so the platform is partly up; fix the cause, then `{cmd}` again"
            f" converges (every stage is safe to repeat), or `obsctl down --env {env.name}` removes it"
        )
    else:
        state = f"down stopped at '{failed}' {ran}, so the platform is partly torn down; `{cmd}` again finishes it"
    return f"{exc.hint}; {state}" if exc.hint else state


def _connect_progress(target: Target, observer: Observer, verb: str) -> None:
    """Targets with long stages (eks: terraform apply) report progress lines to a `reporter`;
    observers that can show them offer `stage_progress`."""
    show = getattr(observer, "stage_progress", None)
    if show is not None and hasattr(target, "reporter"):
        target.reporter = lambda line: show(verb, line)


def up(env: Environment, observer: Observer, target: Target | None = None) -> list[StageResult]:
    target = target or get_target(env)
    _connect_progress(target, observer, "up")
    with envlock.hold(env.state_dir, env.name):
        return run_stages(env, "up", target.up_stages(), observer)


def down(env: Environment, observer: Observer, purge: bool = False, target: Target | None = None) -> list[StageResult]:
    target = target or get_target(env)
    _connect_progress(target, observer, "down")
    with envlock.hold(env.state_dir, env.name):
        return run_stages(env, "down", target.down_stages(purge), observer)


def checklist(env: Environment, target: Target, fire_drill: bool) -> tuple[list[Check], list[list[Check]]]:
    """The independent checks, and the drills (each a sequence whose steps share state)."""
    if env.target == "local":
        from obsctl.targets.local import LocalTarget
        from obsctl.verify import local, receivers

        assert isinstance(target, LocalTarget), target  # get_target made it from env.target
        since = time.time()
        pod_down = local.drill_pod_down(target)
        pod_down.extend(receivers.local_delivery(target, receivers.POD_DOWN, since))  # stays a Drill: undo on ^C
        drills = [pod_down, local.drill_error_rate(target), local.drill_slo_burn(target)] if fire_drill else []
        return local.checks(target) + receivers.local_checks(target), drills
    from obsctl.verify import receivers

    routing = receivers.routing_checks(env.spec.alerting, None)  # every receiver reachable (amtool)
    if env.target == "eks":  # the AWS layer's checks, then the Kubernetes layer's on the new cluster
        from obsctl.targets.eks import EksTarget
        from obsctl.verify import eks

        assert isinstance(target, EksTarget), target
        return eks.checks(target) + routing, (eks.drills(target) if fire_drill else [])
    from obsctl.targets.kubernetes import KubernetesTarget
    from obsctl.verify import cluster

    assert isinstance(target, KubernetesTarget), target
    return cluster.checks(target) + routing, ([cluster.drill_pod_down(target)] if fire_drill else [])


def verify(
    env: Environment,
    fire_drill: bool = False,
    on_result: Callable[[Result], None] | None = None,
    target: Target | None = None,
) -> list[Result]:
    """Run the checklist concurrently; then, if asked and everything passed, the drills in order.
    A fire drill breaks the platform on purpose, so it holds the environment's lock."""
    if fire_drill:
        with envlock.hold(env.state_dir, env.name):
            return _verify(env, True, on_result, target)
    return _verify(env, False, on_result, target)


def _verify(
    env: Environment, fire_drill: bool, on_result: Callable[[Result], None] | None, target: Target | None
) -> list[Result]:
    target = target or get_target(env)
    checks, drills = checklist(env, target, fire_drill)
    results = run_checks(checks, concurrent=True, on_result=on_result)
    for drill in drills:
        if any(r.status == "fail" for r in results):
            for check in drill:
                skipped = Result(check.name, check.group, "skip", "not run: the checklist has failures", 0.0)
                results.append(skipped)
                if on_result:
                    on_result(skipped)
            continue
        results.extend(_run_drill(env, drill, on_result))
    try:
        Journal(env.state_dir / "journal.jsonl").write(
            verb="verify",
            fire_drill=fire_drill,
            ok=all(r.status != "fail" for r in results),
            failed=[r.name for r in results if r.status == "fail"],
        )
    except statedir.StateDirError as exc:
        raise ResultsNotRecorded(exc, results) from None
    return results


def _run_drill(env: Environment, drill: list[Check], on_result: Callable[[Result], None] | None) -> list[Result]:
    """Run one drill's steps in order. Ctrl-C or SIGTERM in the middle undoes what the drill
    broke (an interrupted pod-down drill used to leave every app replica stopped) and raises
    `Interrupted` saying what was undone."""
    with _sigterm_as_interrupt():
        try:
            return run_checks(drill, concurrent=False, on_result=on_result)
        except KeyboardInterrupt as exc:
            why = "terminated (SIGTERM)" if isinstance(exc, _Terminated) else "interrupted (Ctrl-C)"
            error = drill.interrupted(why) if isinstance(drill, Drill) else Interrupted(f"{why} during a drill")
            journal = Journal(env.state_dir / "journal.jsonl")
            journal.write(verb="verify", fire_drill=True, ok=False, detail=error.message)
            raise error from None


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so the same undo runs."""


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # signals go to the main thread only
        yield
        return

    def raise_terminated(signum: int, frame: object) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class RebuildReport:
    phases: list[tuple[str, float, bool, str]] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    survivors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(ok for _, _, ok, _ in self.phases) and all(r.status != "fail" for r in self.results)


def rebuild_test(
    env: Environment, observer: Observer, fire_drill: bool, on_result: Callable[[Result], None] | None = None
) -> RebuildReport:
    """down (purging data), up, verify: each phase timed; then prove nothing of the old run survived.
    One lock for the whole rebuild, so no other command slips in between its phases."""
    with envlock.hold(env.state_dir, env.name):
        return _rebuild_test(env, observer, fire_drill, on_result)


def _rebuild_test(
    env: Environment, observer: Observer, fire_drill: bool, on_result: Callable[[Result], None] | None
) -> RebuildReport:
    target = get_target(env)
    report = RebuildReport()
    t0 = time.time()

    def phase(name: str, fn: Callable[[], str]) -> None:
        started = time.monotonic()
        try:
            detail = fn()
        except ObsctlError as exc:
            report.phases.append((name, time.monotonic() - started, False, exc.message))
            raise
        report.phases.append((name, time.monotonic() - started, True, detail))

    def survivors(phase_name: str) -> str:
        found = target.survivors(t0, phase_name)
        report.survivors.extend(found)
        return "; ".join(found) if found else "nothing of the previous run left"

    phase("down", lambda: f"{len(down(env, observer, purge=True, target=target))} stages")
    phase("survivors after down", lambda: survivors("down"))
    phase("up", lambda: f"{len(up(env, observer, target=target))} stages")

    def run_verify() -> str:
        report.results = verify(env, fire_drill, on_result, target=target)
        failed = [r.name for r in report.results if r.status == "fail"]
        if failed:
            return f"{len(failed)} check(s) failed"
        return f"{len(report.results)} checks, none failed"

    phase("verify", run_verify)
    phase("fresh state after up", lambda: survivors("up"))
    if report.survivors:
        report.phases.append(("nothing survived", 0.0, False, "; ".join(report.survivors)))
    return report
