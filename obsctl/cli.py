"""The command line: parse flags, call one function, show its result. The only module that
imports typer, and the one place that turns errors into messages and exit codes:

    ObsctlError       -> `error: ...` (+ `hint: ...`) on stderr, its exit code (1, or 2 for bad input)
    Ctrl-C            -> exit 130
    anything else     -> one line, the traceback in <state dir>/crash.log, exit 3 (--debug re-raises)

Heavy modules (pydantic, the clients) are imported inside the commands so `obsctl --help`
starts about as fast as typer itself (bench/startup.py measures it).
"""

from __future__ import annotations

import os
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from obsctl.config import Environment
    from obsctl.verify import Result

app = typer.Typer(
    name="obsctl",
    help="Stand up, prove and tear down an observability platform: locally, on any Kubernetes cluster, or on EKS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EnvOpt = Annotated[
    str | None, typer.Option("--env", "-e", help="Environment from obsctl.yaml [env: OBSCTL_ENV; default: local].")
]
ConfigOpt = Annotated[
    str | None, typer.Option("--config", "-c", help="Config file [env: OBSCTL_CONFIG; default: ./obsctl.yaml].")
]


class Output(StrEnum):
    table = "table"
    json = "json"


class Component(StrEnum):
    grafana = "grafana"
    prometheus = "prometheus"
    alertmanager = "alertmanager"


_loaded: Environment | None = None  # the command's environment: a crash log goes to its state dir


def _load(config: str | None, env: str | None) -> Environment:
    from obsctl import config as cfg

    global _loaded
    _loaded = cfg.load(config, env)
    return _loaded


def _out() -> Any:
    from obsctl.console import console

    return console()


class _RichObserver:
    """Stage progress: a spinner while a stage runs, one line when it ends."""

    def __init__(self) -> None:
        self.status: Any = None
        self.stage = ""

    def stage_started(self, verb: str, stage: str) -> None:
        self.stage = stage
        self.status = _out().status(f"{verb}: {stage} ...")
        self.status.start()

    def stage_progress(self, verb: str, line: str) -> None:
        """A long stage's progress (terraform: resources done / total, slowest in flight)."""
        if self.status:
            self.status.update(f"{verb}: {self.stage} — {_esc(line)}")

    def stage_done(self, verb: str, stage: str, seconds: float, detail: str, ok: bool) -> None:
        if self.status:
            self.status.stop()
        if ok:
            _out().print(f"[green]✓[/] {stage:<34} [dim]{seconds:6.2f}s[/]  {_esc(detail)}")
        else:  # the error itself is printed once, on stderr, by main()
            _out().print(f"[red]✗[/] {stage:<34} [dim]{seconds:6.2f}s[/]")


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False,
) -> None:
    """obsctl: up, verify, port-forward, rebuild-test, down."""
    if debug:
        os.environ["OBSCTL_DEBUG"] = "1"


SkipTerraformOpt = Annotated[
    bool,
    typer.Option(
        "--skip-terraform",
        help="eks: the Kubernetes layer only. No Terraform plan/apply; the AWS layer's outputs are read"
        " read-only from its state (what the CI deploy role may do). Needs one full `up` with admin credentials first.",
    ),
]


def _check_skip_terraform(e: Any, skip_terraform: bool) -> None:
    if skip_terraform and e.target != "eks":
        from obsctl.errors import InputError

        raise InputError(
            f"--skip-terraform is for eks environments; {e.name} is a {e.target} environment (no Terraform)",
            "drop --skip-terraform",
        )


@app.command()
def up(
    env: EnvOpt = None,
    config: ConfigOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask before creating billable resources (eks).")
    ] = False,
    skip_terraform: SkipTerraformOpt = False,
) -> None:
    """Bring the platform up (idempotent: a second run changes nothing)."""
    from obsctl import lifecycle
    from obsctl.targets import get_target

    e = _load(config, env)
    _check_skip_terraform(e, skip_terraform)
    if e.target == "eks" and not yes and not skip_terraform and not sys.stdin.isatty():
        from obsctl.errors import InputError

        raise InputError(
            "up on eks creates AWS resources that cost money and asks first, but there is no terminal to ask on",
            "pass --yes to create them without asking",
        )
    _out().print(f"[bold]obsctl up[/] — environment [cyan]{e.name}[/] (target {e.target})")
    started = time.monotonic()
    observer = _RichObserver()
    target: Any = get_target(e)
    if skip_terraform:  # eks only (checked above)
        target.skip_terraform = True
    if e.target == "eks" and not yes:
        target.confirm = lambda question: _ask(observer, question)
    lifecycle.up(e, observer, target=target)
    _out().print(f"[green]up[/] in {time.monotonic() - started:.1f}s — next: obsctl verify --env {e.name}")
    _print_endpoints(e)


def _ask(observer: _RichObserver, question: str) -> bool:
    """A yes/no question in the middle of a stage: the spinner stops while it waits."""
    import click

    if observer.status:
        observer.status.stop()
    try:
        return bool(typer.confirm(question, default=False))
    except click.exceptions.Abort:  # Ctrl-D / end of input: not a yes
        return False


@app.command()
def down(
    env: EnvOpt = None,
    config: ConfigOpt = None,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete data (TSDBs, notifications, logs).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (eks).")] = False,
    force_finalizers: Annotated[
        bool, typer.Option("--force-finalizers", help="Remove finalizers that hold a namespace (clusters).")
    ] = False,
) -> None:
    """Tear everything down and leave nothing behind."""
    from obsctl import lifecycle
    from obsctl.config import EksEnv

    e = _load(config, env)
    if isinstance(e.spec, EksEnv) and not yes:
        name = e.spec.aws.cluster_name
        typed = typer.prompt(f"This destroys EKS cluster {name} and everything in it. Type its name to confirm")
        if typed != name:
            from obsctl.errors import InputError

            raise InputError(
                "confirmation did not match; nothing was destroyed", "type the cluster name, or pass --yes"
            )
    os.environ["OBSCTL_FORCE_FINALIZERS"] = "1" if force_finalizers else ""
    started = time.monotonic()
    lifecycle.down(e, _RichObserver(), purge=purge)
    _out().print(f"[green]down[/] in {time.monotonic() - started:.1f}s")


def _status_style(status: str) -> str:
    return {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]", "skip": "[yellow]SKIP[/]"}[status]


def _results_table(results: list[Result]) -> Any:
    from rich.table import Table

    table = Table(show_lines=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("time", justify="right")
    table.add_column("detail", overflow="fold")
    for r in results:
        table.add_row(_esc(r.name), _status_style(r.status), f"{r.seconds:.2f}s", _esc(r.detail))
    return table


@app.command()
def verify(
    env: EnvOpt = None,
    config: ConfigOpt = None,
    fire_drill: Annotated[
        bool,
        typer.Option("--fire-drill", help="Also prove alerting end to end: break the app, watch the alert travel."),
    ] = False,
    output: Annotated[Output, typer.Option("--output", "-o", help="table or json.")] = Output.table,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit", help="Also write a JUnit XML report to this file (a folder: obsctl-verify-ENV.xml in it)."
        ),
    ] = None,
    skip_terraform: SkipTerraformOpt = False,
) -> None:
    """Run the verification checklist; exit 1 if any check fails."""
    from obsctl import lifecycle
    from obsctl.errors import ObsctlError
    from obsctl.targets import get_target
    from obsctl.verify import report

    e = _load(config, env)
    _check_skip_terraform(e, skip_terraform)
    target: Any = get_target(e)
    if skip_terraform:  # eks only (checked above)
        target.skip_terraform = True
    live = output == Output.table

    def show(r: Result) -> None:
        if live and r.group == "fire-drill":
            _out().print(f"{_status_style(r.status)} {_esc(r.name)} [dim]{r.seconds:.1f}s[/] {_esc(r.detail)}")

    unrecorded = None
    try:
        results = lifecycle.verify(e, fire_drill, on_result=show, target=target)
    except lifecycle.ResultsNotRecorded as exc:  # the state dir is broken: still show what was checked
        results, unrecorded = exc.results, exc
    if output == Output.json:
        sys.stdout.write(report.to_json(e.name, e.target, results) + "\n")
    else:
        _out().print(_results_table(results))
        counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "skip")}
        _out().print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    failed = any(r.status == "fail" for r in results)
    if junit:  # after the results are shown, so a bad path cannot hide them
        try:
            written = report.write_junit(junit, e.name, results)
        except ObsctlError as exc:
            exc.exit_code = 1 if failed else 2
            raise
        if output == Output.table:
            _out().print(f"JUnit report: {_rel(written)}")
    if unrecorded:
        unrecorded.exit_code = 1 if failed else 2
        raise unrecorded
    if any(r.status == "fail" for r in results):
        raise typer.Exit(1)


@app.command()
def slo(
    env: EnvOpt = None,
    config: ConfigOpt = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="table or json.")] = Output.table,
) -> None:
    """Each SLO's current SLI, error budget remaining and burn rates, read from Prometheus."""
    import json

    from obsctl.targets import get_target
    from obsctl.verify import slo_status

    e = _load(config, env)
    rows = slo_status.for_environment(e, get_target(e))
    if output == Output.json:
        sys.stdout.write(json.dumps({"environment": e.name, "slos": [r.to_dict() for r in rows]}, indent=2) + "\n")
        return
    from rich import box
    from rich.table import Table

    def pct(v: float | None, digits: int = 3) -> str:
        return "-" if v is None else f"{v * 100:.{digits}f}%"

    def burn(v: float | None) -> str:
        return "-" if v is None else f"{v:.3g}"

    console = _out()
    if console.width < 100:  # a table of 11 columns would squeeze the names away: a block per SLO
        for r in rows:
            console.print(
                f"[bold]{_esc(r.slo)}[/] {r.objective:g}%/{r.window}  SLI {pct(r.sli)}"
                f"  budget left {pct(r.budget_remaining, 1)}"
            )
            console.print("  burn " + "  ".join(f"{w} {burn(r.burn_rates[w])}" for w in slo_status.BURN_WINDOWS))
    else:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for col in ("slo", "objective", "SLI", "budget left", *slo_status.BURN_WINDOWS):
            table.add_column(col, justify="left" if col == "slo" else "right", no_wrap=True)
        for r in rows:
            table.add_row(
                _esc(r.slo),
                f"{r.objective:g}%/{r.window}",
                pct(r.sli),
                pct(r.budget_remaining, 1),
                *(burn(r.burn_rates[w]) for w in slo_status.BURN_WINDOWS),
            )
        console.print(table)
    console.print("burn: error ratio over the window / error budget (1 = on budget); the job is in --output json")
    for r in rows:
        if r.firing:
            console.print(f"[red]firing[/] {_esc(r.slo)}: {_esc(', '.join(r.firing))}")


@app.command("port-forward")
def port_forward(
    component: Annotated[Component, typer.Argument(help="grafana, prometheus or alertmanager.")],
    env: EnvOpt = None,
    config: ConfigOpt = None,
    port: Annotated[int | None, typer.Option("--port", help="Local port (clusters); default the usual one.")] = None,
    show_password: Annotated[bool, typer.Option("--show-password", help="Print the Grafana admin password.")] = False,
) -> None:
    """Print (and on clusters, open) the address of a UI."""
    from obsctl.targets import get_target

    e = _load(config, env)
    target: Any = get_target(e)

    def warn(message: str) -> None:  # a failed connection or a switch of Pod, as it happens
        from rich.text import Text

        from obsctl.console import err_console

        err_console().print(Text.assemble(("warning: ", "yellow"), message), soft_wrap=True)

    target.port_forward(component.value, port, show_password, _out().print, warn=warn)


@app.command()
def logs(
    component: Annotated[
        str,
        typer.Argument(
            help="app, prometheus, alertmanager, grafana, operator, sink, supervisord, ... (an unknown one lists them)."
        ),
    ],
    env: EnvOpt = None,
    config: ConfigOpt = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="Only lines of the last DURATION (30s, 10m, 2h).")
    ] = None,
    tail: Annotated[int | None, typer.Option("--tail", help="Only the last N lines (of each replica / Pod).")] = None,
) -> None:
    """Print a component's logs: every replica or Pod, each line prefixed with where it came from.
    Locally the supervisord log files (rotation followed); on clusters the Pods' logs."""
    from rich.text import Text

    from obsctl.config import duration_seconds
    from obsctl.errors import InputError
    from obsctl.targets import get_target
    from obsctl.targets.base import LogOutput

    seconds = None
    if since is not None:
        try:
            seconds = duration_seconds(since)
        except ValueError as exc:
            raise InputError(f"--since: {exc}", "e.g. --since 30s, --since 10m, --since 2h") from None
        if seconds <= 0:
            raise InputError(f"--since: '{since}' must be longer than zero", "e.g. --since 10m")
    if tail is not None and tail < 0:
        raise InputError(f"--tail: {tail} is negative", "give a number of lines, e.g. --tail 100")
    e = _load(config, env)
    target: Any = get_target(e)

    # plain writes, not rich: fast for big logs, the lines left as the program wrote them, and
    # a closed pipe (`| head`) is ours to handle (rich would exit 1)
    colour = _out().is_terminal and not _out().no_color

    def emit(source: str, line: str) -> None:
        sys.stdout.write(f"\x1b[36m[{source}]\x1b[0m {line}\n" if colour else f"[{source}] {line}\n")
        if follow:
            sys.stdout.flush()

    def error(message: str) -> None:
        from obsctl.console import err_console

        err_console().print(Text.assemble(("warning: ", "yellow"), message), soft_wrap=True)

    try:
        target.logs(component, follow, tail, seconds, LogOutput(emit, error))
        sys.stdout.flush()
    except BrokenPipeError:  # `obsctl logs app | head`: the reader is gone, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@app.command("rebuild-test")
def rebuild_test(
    env: EnvOpt = None,
    config: ConfigOpt = None,
    fire_drill: Annotated[bool, typer.Option("--fire-drill", help="Run the fire drill in the verify phase.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (eks).")] = False,
) -> None:
    """down, up, verify: time each phase and prove nothing from the previous run survived."""
    from rich.table import Table

    from obsctl import lifecycle

    e = _load(config, env)
    if e.target == "eks" and not yes:
        from obsctl.errors import InputError

        raise InputError("rebuild-test on eks destroys and recreates the cluster", "pass --yes to confirm")
    rep = lifecycle.rebuild_test(e, _RichObserver(), fire_drill)
    _out().print(_results_table(rep.results))
    table = Table(title=f"rebuild-test ({e.name})")
    table.add_column("phase")
    table.add_column("time", justify="right")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for name, seconds, ok, detail in rep.phases:
        table.add_row(name, f"{seconds:.1f}s", "[green]ok[/]" if ok else "[red]FAIL[/]", _esc(detail))
    table.add_row("total", f"{sum(p[1] for p in rep.phases):.1f}s", "", "")
    _out().print(table)
    if not rep.ok:
        raise typer.Exit(1)


@app.command()
def render(env: EnvOpt = None, config: ConfigOpt = None) -> None:
    """Write everything `up` would use into .obsctl/<env>/rendered/ and start nothing."""
    from obsctl import statedir
    from obsctl.targets import get_target

    e = _load(config, env)
    statedir.ensure_writable(e.state_dir)
    out = get_target(e).render()
    for path in out.files:
        mark = "[yellow]changed[/]" if path in out.changed else "[dim]same[/]   "
        _out().print(f"{mark} {_rel(path)}")
    for note in out.notes:
        _out().print(f"[yellow]note:[/] {note}")
    _out().print(f"{len(out.files)} files in {_rel(e.rendered_dir)}, {len(out.changed)} changed")


@app.command()
def status(env: EnvOpt = None, config: ConfigOpt = None) -> None:
    """Show what runs."""
    from rich.table import Table

    from obsctl.targets import get_target

    e = _load(config, env)
    table = Table(title=f"{e.name} ({e.target})")
    for col in ("component", "state", "detail"):
        table.add_column(col)
    for row in get_target(e).status():
        style = {"ok": "green", "failed": "red"}.get(row.health, "yellow")
        table.add_row(row.component, f"[{style}]{row.state}[/]", _esc(row.detail))
    _out().print(table)
    _print_endpoints(e)


@app.command()
def doctor(env: EnvOpt = None, config: ConfigOpt = None) -> None:
    """List each binary obsctl needs, found or missing, with the install hint for this OS.
    A helm that obsctl refuses (known-broken, too old, too new) is listed as broken."""
    from rich.table import Table

    from obsctl.errors import ConfigError
    from obsctl.tools import binaries

    try:
        e = _load(config, env)
        target, overrides = e.target, _binary_overrides(e)
    except ConfigError:
        target, overrides = None, {}
    table = Table(title=f"binaries for target {target or 'any'}")
    for col in ("binary", "needed", "status", "version / install hint"):
        table.add_column(col, overflow="fold")
    missing, broken = [], []
    for b in binaries.BINARIES:
        needed = target is None or target in b.targets
        path = binaries.find(b.name, overrides.get(b.name))
        need = ("optional" if b.optional else "required") if needed else "other targets"
        if path and b.name == "helm":
            check = binaries.check_helm(path)
            if check.problem:
                fix = binaries.helm_fix(check.version)
                table.add_row(b.name, need, "[red]broken[/]", _esc(f"{check.message()}; fix: {fix}"))
                if needed:
                    broken.append(f"{check.message()}\n  fix: {fix}")
            else:
                table.add_row(b.name, need, "[green]found[/]", _esc(f"{path}: {check.said}"))
        elif path:
            table.add_row(b.name, need, "[green]found[/]", f"{path}: {binaries.version(b.name, path)}")
        else:
            table.add_row(b.name, need, "[red]missing[/]" if needed and not b.optional else "missing", binaries.hint(b))
            if needed and not b.optional:
                missing.append(b.name)
    _out().print(table)
    for line in broken:
        _out().print(f"[red]broken:[/] {_esc(line)}")
    if missing:
        _out().print(f"[red]missing:[/] {', '.join(missing)} — `make up` installs everything on Debian/Ubuntu")
    if missing or broken:
        raise typer.Exit(1)


def _binary_overrides(e: Environment) -> dict[str, str]:
    from obsctl.config import LocalEnv

    if not isinstance(e.spec, LocalEnv):
        return {}
    local = e.spec.local
    return {
        k: v
        for k, v in {
            "prometheus": local.prometheus_binary,
            "alertmanager": local.alertmanager_binary,
            "grafana": local.grafana_binary,
        }.items()
        if v
    }


def _print_endpoints(e: Environment) -> None:
    from obsctl.targets import get_target

    if e.target != "local":
        return
    for name, url in get_target(e).endpoints().items():
        _out().print(f"  {name:<13} {url}")


def _esc(text: str) -> str:
    """Text from the platform may contain [brackets] (PromQL windows): never rich markup."""
    from rich.markup import escape

    return escape(text)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _crash_log(exc: BaseException) -> str:
    from obsctl import crashlog

    path = crashlog.write(exc, _loaded.state_dir if _loaded else None)
    return f"traceback in {path}" if path else "no folder could take the traceback"


def main() -> None:
    """Console-script entry point: the one place errors become messages and exit codes."""
    from obsctl.console import setup_streams
    from obsctl.errors import ObsctlError

    setup_streams()
    try:
        app()
    except ObsctlError as exc:
        if os.environ.get("OBSCTL_DEBUG"):
            raise
        from obsctl.console import err_console

        err = err_console()
        err.print(f"[red]error:[/] {_esc(exc.message)}", soft_wrap=True)
        if exc.hint:
            err.print(f"[dim]hint:[/] {_esc(exc.hint)}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:  # a bug: one line for the user, the traceback for us
        if os.environ.get("OBSCTL_DEBUG"):
            raise
        log = _crash_log(exc)
        said = " ".join(str(exc).split())  # one line, even for a multi-line message
        sys.stderr.write(f"error: unexpected {exc.__class__.__name__}: {said} ({log}; --debug shows it)\n")
        sys.exit(3)


if __name__ == "__main__":
    main()
