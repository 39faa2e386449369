"""The `local` target: the whole platform as processes under supervisord.

Same content as the clusters (rules/, dashboards/, alert routing from config), rendered for
processes: prometheus.yml with a static `fastapi` job, alertmanager.yml with obsctl's
webhook sink as the first receiver, Grafana file provisioning when Grafana is installed.

Layout under .obsctl/<env>/: rendered/ (everything generated), data/ (TSDBs, Grafana),
run/ (socket, pidfile, multiprocess dirs), logs/, sink/ (recorded notifications).
`down --purge` removes data/ and sink/ too.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obsctl import render as r
from obsctl.config import Environment, LocalEnv, duration_seconds
from obsctl.errors import PreflightError, ToolError, WaitTimeout
from obsctl.targets.base import Rendered, Stage, StatusRow
from obsctl.tools import binaries, procs
from obsctl.tools.alertmanager import Alertmanager, Sink
from obsctl.tools.http import HttpApi
from obsctl.tools.prometheus import Prometheus
from obsctl.tools.supervisor import Supervisor

TEMPLATES = r.PACKAGE_TEMPLATES / "local"
GRAFANA_HOMES = (Path("/usr/share/grafana"), Path("/usr/local/share/grafana"), Path("/opt/grafana"))


@dataclass
class Program:
    name: str
    command: str
    environment: dict[str, str] = field(default_factory=dict)
    startsecs: int = 1
    autorestart: bool = True

    @property
    def env_line(self) -> str:
        """supervisord's `environment =` value: quoted, and % escaped (it interpolates)."""
        return ",".join(f'{k}="{v.replace("%", "%%")}"' for k, v in self.environment.items())


class LocalTarget:
    def __init__(self, env: Environment) -> None:
        assert isinstance(env.spec, LocalEnv)
        self.env = env
        self.spec: LocalEnv = env.spec
        self.ports = self.spec.local.ports
        self.state = env.state_dir
        self.rendered = env.rendered_dir
        self.run_dir = self.state / "run"
        self.log_dir = self.state / "logs"
        self.data_dir = self.state / "data"
        self.sink_file = self.state / "sink" / "notifications.jsonl"
        self.supervisor = Supervisor(
            self.rendered / "supervisord.conf", self.run_dir / "supervisor.sock", self.run_dir / "supervisord.pid"
        )
        self.prometheus = Prometheus(self.url("prometheus"))
        self.alertmanager = Alertmanager(self.url("alertmanager"))
        self.sink = Sink(self.url("sink"))

    # -- facts ---------------------------------------------------------------------------

    @property
    def app_ports(self) -> list[int]:
        return [self.ports.app + i for i in range(self.spec.app.replicas)]

    def app_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.app_ports]

    def app_programs(self) -> list[str]:
        return [f"app:app-{i}" for i in range(self.spec.app.replicas)]

    def url(self, component: str) -> str:
        return f"http://127.0.0.1:{getattr(self.ports, component)}"

    def grafana_binary(self) -> str | None:
        return binaries.find("grafana", self.spec.local.grafana_binary)

    def endpoints(self) -> dict[str, str]:
        out = {"prometheus": self.url("prometheus"), "alertmanager": self.url("alertmanager")}
        if self.grafana_binary():
            out["grafana"] = self.url("grafana")
        out["sink"] = self.url("sink")
        for i, u in enumerate(self.app_urls()):
            out[f"app-{i}"] = u
        return out

    def rate_window(self) -> str:
        """What Grafana's $__rate_interval becomes here: 4 scrape intervals."""
        return f"{max(1, round(4 * duration_seconds(self.spec.scrape.interval)))}s"

    # -- render ----------------------------------------------------------------------------

    def _grafana_password(self) -> str:
        path = self.state / "secrets" / "grafana-admin-password"
        if not path.is_file():
            r.write_if_changed(path, secrets.token_urlsafe(18).replace("-", "x").replace("_", "y"), secret=True)
        return path.read_text().strip()

    def _programs(
        self, prometheus: str, alertmanager: str, grafana: str | None, inputs: dict[str, str]
    ) -> list[Program]:
        py = sys.executable
        marker = {procs.MARKER: str(self.state)}
        spec = self.spec
        progs = []
        for i, port in enumerate(self.app_ports):
            progs.append(
                Program(
                    f"app-{i}",
                    f"{py} -m obsctl.runtime.launch obsapp.main:app --host 127.0.0.1 --port {port}"
                    f" --workers {spec.app.workers} --no-access-log",
                    {
                        **marker,
                        "PYTHONPATH": str(self.env.root / "app"),
                        "PROMETHEUS_MULTIPROC_DIR": str(self.run_dir / f"app-{i}-multiproc"),
                        "OBSAPP_VERSION": spec.app.version,
                        "OBSAPP_FAULT_ERROR_RATE": str(spec.app.fault.error_rate),
                        "OBSAPP_FAULT_LATENCY_MS": str(spec.app.fault.latency_ms),
                    },
                )
            )
        progs.append(
            Program(
                "prometheus",
                f"{prometheus} --config.file={self.rendered}/prometheus.yml"
                f" --storage.tsdb.path={self.data_dir}/prometheus"
                f" --storage.tsdb.retention.time={spec.local.retention}"
                f" --web.listen-address=127.0.0.1:{self.ports.prometheus} --web.enable-lifecycle",
                {**marker, "OBSCTL_INPUTS": inputs["prometheus"]},
            )
        )
        progs.append(
            Program(
                "alertmanager",
                f"{alertmanager} --config.file={self.rendered}/alertmanager.yml"
                f" --storage.path={self.data_dir}/alertmanager"
                f" --web.listen-address=127.0.0.1:{self.ports.alertmanager} --cluster.listen-address=",
                {**marker, "OBSCTL_INPUTS": inputs["alertmanager"]},
            )
        )
        progs.append(
            Program(
                "sink",
                f"{py} -m obsctl.runtime.sink --port {self.ports.sink} --record {self.sink_file}",
                {**marker, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            )
        )
        if grafana:
            home = next(
                (h for h in GRAFANA_HOMES if h.is_dir()), Path(grafana).resolve().parent.parent / "share/grafana"
            )
            sub = " server" if Path(grafana).name == "grafana" else ""
            progs.append(
                Program(
                    "grafana",
                    f"{grafana}{sub} --homepath {home} --config {self.rendered}/grafana/grafana.ini",
                    {
                        **marker,
                        "GF_SECURITY_ADMIN_PASSWORD": self._grafana_password(),
                        "OBSCTL_INPUTS": inputs["grafana"],
                    },
                    startsecs=2,
                )
            )
        if spec.local.traffic.enabled:
            progs.append(
                Program(
                    "traffic",
                    f"{py} -m obsctl.runtime.traffic --targets {','.join(self.app_urls())}"
                    f" --rps {spec.local.traffic.rps}",
                    {**marker, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
                )
            )
        return progs

    def render(self, resolve_binaries: bool = False) -> Rendered:
        """Write everything `up` uses into .obsctl/<env>/rendered/; start nothing.

        A review render (`obsctl render`) needs no secret: receiver secrets are shown as
        placeholders and a note says where each comes from; `up` renders with the values
        (`resolve_binaries`), after its preflight proved every variable is set."""
        out = Rendered()
        spec, root = self.spec, self.env.root

        def put(rel: str, text: str, secret: bool = False) -> None:
            path = self.rendered / rel
            out.files.append(path)
            if r.write_if_changed(path, text, secret):
                out.changed.append(path)

        groups = r.rule_groups(root, spec)
        rules_text = r.rules_yaml(groups)
        put("rules/fastapi.rules.yaml", rules_text)
        ctx: dict[str, Any] = {
            "env_name": self.env.name,
            "root": str(root),
            "ports": self.ports,
            "scrape": spec.scrape,
            "app_ports": self.app_ports,
            "rule_files": [str(self.rendered / "rules/fastapi.rules.yaml")],
            "rendered_dir": str(self.rendered),
            "data_dir": str(self.data_dir),
            "log_dir": str(self.log_dir),
            "run_dir": str(self.run_dir),
        }
        prom_text = r.render_template(TEMPLATES, "prometheus.yml.j2", ctx)
        put("prometheus.yml", prom_text)
        am = r.alertmanager_config(spec.alerting, f"{self.url('sink')}/", resolve=resolve_binaries)
        am_text = r.alertmanager_yaml(am)
        put("alertmanager.yml", am_text, secret=r.has_secrets(spec.alerting))
        if not resolve_binaries:
            out.notes.extend(ref.note("placeholder in alertmanager.yml") for ref in r.receiver_secrets(spec.alerting))
        dashboards = r.load_dashboards(root)
        grafana_inputs = []
        for name, tmpl in (
            ("grafana.ini", "grafana.ini.j2"),
            ("provisioning/datasources/obsctl.yaml", "datasources.yaml.j2"),
            ("provisioning/dashboards/obsctl.yaml", "dashboards.yaml.j2"),
        ):
            text = r.render_template(TEMPLATES / "grafana", tmpl, ctx)
            put(f"grafana/{name}", text)
            grafana_inputs.append(text)
        for stem, text in dashboards.items():
            put(f"grafana/dashboards/{stem}.json", text)
            grafana_inputs.append(text)

        if resolve_binaries:
            prometheus = binaries.require("prometheus", spec.local.prometheus_binary)
            alertmanager = binaries.require("alertmanager", spec.local.alertmanager_binary)
        else:  # render without a working install: name them as configured
            prometheus = binaries.find("prometheus", spec.local.prometheus_binary) or spec.local.prometheus_binary
            alertmanager = (
                binaries.find("alertmanager", spec.local.alertmanager_binary) or spec.local.alertmanager_binary
            )
        grafana = self.grafana_binary()
        if not grafana:
            out.notes.append("Grafana is not installed: its provisioning is rendered but it will not be started")
        inputs = {
            "prometheus": r.digest(prom_text, rules_text),
            "alertmanager": r.digest(am_text),
            "grafana": r.digest(*grafana_inputs),
        }
        programs = self._programs(prometheus, alertmanager, grafana, inputs)
        apps = [p.name for p in programs if p.name.startswith("app-")]
        conf = r.render_template(TEMPLATES, "supervisord.conf.j2", {**ctx, "programs": programs, "app_group": apps})
        put("supervisord.conf", conf, secret=bool(grafana))
        return out

    # -- preflight -------------------------------------------------------------------------

    def preflight(self) -> None:
        """Binaries present and ports free (or held by this environment's own processes)."""
        binaries.require("prometheus", self.spec.local.prometheus_binary)
        binaries.require("alertmanager", self.spec.local.alertmanager_binary)
        r.secret_values(r.receiver_secrets(self.spec.alerting))  # every receiver secret is set
        if not (self.env.root / "app" / "obsapp").is_dir():
            raise PreflightError(
                f"the app is missing: {self.env.root / 'app' / 'obsapp'}", "run obsctl from a full checkout"
            )
        ours = {pid for pid, _ in procs.marked(self.state)}
        wanted = {f"app-{i}": p for i, p in enumerate(self.app_ports)}
        wanted.update(prometheus=self.ports.prometheus, alertmanager=self.ports.alertmanager, sink=self.ports.sink)
        if self.grafana_binary():
            wanted["grafana"] = self.ports.grafana
        for component, port in wanted.items():
            if procs.port_bindable(port):
                continue
            owner = procs.port_owner(port)
            if owner is not None and owner in ours:
                continue
            who = f" by pid {owner} ({procs.cmdline(owner)[:60]})" if owner else ""
            key = "app" if component.startswith("app-") else component
            raise PreflightError(
                f"port {port} ({component}) is already in use{who}",
                f"stop that process, or set environments.{self.env.name}.local.ports.{key}"
                f" in {self.env.config_path.name}",
            )

    # -- up ------------------------------------------------------------------------------

    def up_stages(self) -> list[Stage]:
        timeout = duration_seconds(self.spec.local.ready_timeout)
        stages = [
            Stage("preflight", self._preflight_stage, changes=False),
            Stage("render", self._render_stage, changes=False),
            Stage("supervisord", self._supervise),
            Stage("app replicas ready", lambda: self._wait_http([(u, "/readyz") for u in self.app_urls()], timeout)),
            Stage("prometheus ready", lambda: self._wait_http([(self.url("prometheus"), "/-/ready")], timeout)),
            Stage("alertmanager ready", lambda: self._wait_http([(self.url("alertmanager"), "/-/ready")], timeout)),
            Stage("webhook sink ready", lambda: self._wait_http([(self.url("sink"), "/healthz")], timeout)),
        ]
        if self.grafana_binary():
            stages.append(
                Stage("grafana ready", lambda: self._wait_http([(self.url("grafana"), "/api/health")], timeout))
            )
        else:
            stages.append(
                Stage("grafana", lambda: "skipped: no grafana binary installed (dashboards are still verified)")
            )
        stages.append(Stage("metrics flowing", lambda: self._wait_metrics(timeout)))
        return stages

    def _preflight_stage(self) -> str:
        self.preflight()
        return "binaries found, ports free"

    def _render_stage(self) -> str:
        out = self.render(resolve_binaries=True)
        return f"{len(out.files)} files, {len(out.changed)} changed" + "".join(f"; {n}" for n in out.notes)

    def _supervise(self) -> str:
        for d in (self.run_dir, self.log_dir, self.data_dir, self.sink_file.parent):
            d.mkdir(parents=True, exist_ok=True)
        if not self.supervisor.running():
            self._sweep()  # processes of a crashed previous run would hold ports
            self.supervisor.start()
            return "started supervisord and every program"
        changed = self.supervisor.update()
        # programs that exited or were stopped (e.g. an interrupted drill) are started again
        started = []
        for p in self.supervisor.processes():
            if p.state not in ("RUNNING", "STARTING"):
                self.supervisor.start_process(p.name)
                started.append(p.name)
        parts = []
        if changed:
            parts.append(f"restarted changed: {', '.join(changed)}")
        if started:
            parts.append(f"started: {', '.join(started)}")
        return "; ".join(parts) or "already running, nothing changed"

    def _wait_http(self, urls: list[tuple[str, str]], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        pending = list(urls)
        while pending:
            pending = [(b, p) for b, p in pending if not HttpApi(b, b, timeout=1.0).ok(p)]
            if not pending:
                break
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"not ready after {timeout:.0f}s: {', '.join(b + p for b, p in pending)}",
                    f"see the logs in {self.log_dir}/ ({self._failed_programs()})",
                )
            self._fail_fast()
            time.sleep(0.05)
        return f"{len(urls)} answering"

    def _failed_programs(self) -> str:
        try:
            bad = [p for p in self.supervisor.processes() if p.state in ("FATAL", "BACKOFF", "EXITED")]
        except ToolError:
            return "supervisord not answering"
        return (
            ", ".join(f"{p.name} {p.state}: {self.supervisor.log_tail(p.name, 2)}" for p in bad) or "no program failed"
        )

    def _fail_fast(self) -> None:
        """A program that supervisord gave up on will not become ready: say so now."""
        for p in self.supervisor.processes():
            if p.state == "FATAL":
                raise ToolError(
                    f"{p.name} failed to start: {self.supervisor.log_tail(p.name, 3) or p.description}",
                    f"see {self.log_dir}/{p.name.split(':')[-1]}.log",
                )

    def _wait_metrics(self, timeout: float) -> str:
        """Every replica scraped (up == 1) and traffic visible: the loop is complete."""
        deadline = time.monotonic() + timeout
        n = self.spec.app.replicas
        window = self.rate_window()
        want = (
            f'count(up{{job="fastapi"}} == 1) == {n}'
            f' and on() sum(rate(http_requests_total{{job="fastapi"}}[{window}])) > 0'
        )
        while True:
            try:
                if self.prometheus.query(want):
                    return f"{n} replicas scraped, traffic visible"
            except ToolError:
                pass
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"Prometheus does not see {n} healthy fastapi targets with traffic after {timeout:.0f}s",
                    f"check {self.url('prometheus')}/targets and {self.log_dir}/",
                )
            time.sleep(0.1)

    # -- down ------------------------------------------------------------------------------

    def down_stages(self, purge: bool) -> list[Stage]:
        stages = [
            Stage("stop supervisord and programs", self._stop),
            Stage("no process left behind", self._sweep_stage),
        ]
        if purge:
            stages.append(Stage("purge data", self._purge))
        return stages

    def _stop(self) -> str:
        pid = self.supervisor.shutdown()
        return f"supervisord {pid} stopped" if pid else "was not running"

    def _sweep(self) -> list[int]:
        left = [pid for pid, _ in procs.marked(self.state)]
        if left and procs.kill_all(left):
            raise ToolError(f"processes survive SIGKILL: {left}", "check them with ps; they may be in D state")
        return left

    def _sweep_stage(self) -> str:
        left = self._sweep()
        busy = [
            p
            for p in [*self.app_ports, self.ports.prometheus, self.ports.alertmanager, self.ports.sink]
            if procs.port_owner(p) in {pid for pid, _ in procs.marked(self.state)}
        ]
        if busy:
            raise ToolError(f"ports still held by this environment: {busy}")
        return f"killed {len(left)} stray process(es)" if left else "none left"

    def _purge(self) -> str:
        removed = []
        for d in (self.data_dir, self.sink_file.parent, self.run_dir, self.log_dir):
            if d.exists():
                shutil.rmtree(d)
                removed.append(d.name)
        return f"removed {', '.join(removed)}" if removed else "nothing to remove"

    # -- status and drills ----------------------------------------------------------------

    def status(self) -> list[StatusRow]:
        if not self.supervisor.running():
            return [StatusRow("supervisord", "stopped", f"run `obsctl up --env {self.env.name}`")]
        rows = [StatusRow("supervisord", "RUNNING", f"pid {self.supervisor.pid()}")]
        for p in self.supervisor.processes():
            rows.append(StatusRow(p.name, p.state, p.description))
        if not self.grafana_binary():
            rows.append(StatusRow("grafana", "skipped", "no grafana binary installed"))
        return rows

    def port_forward(self, component: str, port: int | None, show_password: bool, say: Any) -> None:
        """Locally nothing needs forwarding: every UI already listens on 127.0.0.1. Say where."""
        if component == "grafana" and not self.grafana_binary():
            raise PreflightError(
                "Grafana is not installed, so the local target does not run it",
                f"install it ({binaries.hint(next(b for b in binaries.BINARIES if b.name == 'grafana'))}) and run "
                f"`obsctl up`; meanwhile Prometheus is at {self.url('prometheus')}",
            )
        if not self.supervisor.running():
            raise PreflightError(
                f"the {self.env.name} platform is not running", f"run `obsctl up --env {self.env.name}`"
            )
        say(f"{component}: {self.url(component)}  (already on 127.0.0.1; nothing to forward locally)")
        if component == "grafana":
            secret = self.state / "secrets" / "grafana-admin-password"
            say("user: admin")
            say(
                f"password: {secret.read_text().strip()}"
                if show_password
                else f"password: in {secret} (--show-password prints it)"
            )

    def stop_app(self) -> None:
        for name in self.app_programs():
            self.supervisor.stop_process(name)

    def start_app(self) -> None:
        for name in self.app_programs():
            self.supervisor.start_process(name)

    def running_pids(self) -> set[int]:
        return {pid for pid, _ in procs.marked(self.state)}

    # -- rebuild-test: what must not survive ------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        return {"pids": self.running_pids()}

    def survivors(self, before: dict[str, Any], since: float, phase: str) -> list[str]:
        """After down (with purge): no process, no data. After up: every process is new and
        Prometheus holds no sample older than the rebuild (its TSDB was really purged)."""
        out = []
        if phase == "down":
            if self.running_pids():
                out.append(f"processes alive after down: {sorted(self.running_pids())}")
            if self.data_dir.exists():
                out.append(f"data left after purge: {self.data_dir}")
            return out
        reused = set(before.get("pids", set())) & self.running_pids()
        if reused:
            out.append(f"processes from the previous run still serve: {sorted(reused)}")
        if self.prometheus.query("count(up)", at=since - 1):
            out.append("Prometheus still holds samples from before the rebuild (TSDB not purged)")
        return out
