"""The `local` target: the whole platform as processes under supervisord.

Same content as the clusters (rules/, dashboards/, alert routing from config), rendered for
processes: prometheus.yml with a static `fastapi` job, alertmanager.yml with obsctl's
webhook sink as the first receiver, Grafana file provisioning when Grafana is installed.

Layout under .obsctl/<env>/: rendered/ (everything generated), data/ (TSDBs, Grafana),
run/ (socket, pidfile, multiprocess dirs), logs/, sink/ (recorded notifications).
`down --purge` removes data/ and sink/ too.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obsctl import render as r
from obsctl.config import AlertingSettings, Environment, LocalEnv, duration_seconds
from obsctl.errors import InputError, PreflightError, ToolError, WaitTimeout
from obsctl.targets import local_sinks
from obsctl.targets import supervisord_conf as sv
from obsctl.targets.base import Health, LogOutput, Rendered, Stage, StatusRow
from obsctl.tools import binaries, procs, tlscert
from obsctl.tools.alertmanager import Alertmanager, Sink
from obsctl.tools.http import HttpApi
from obsctl.tools.prometheus import Prometheus
from obsctl.tools.supervisor import Supervisor

TEMPLATES = r.PACKAGE_TEMPLATES / "local"
# supervisord's process states (supervisor.states.ProcessStates) in obsctl's status vocabulary
SUPERVISOR_HEALTH = {
    "RUNNING": Health.ok,
    "STARTING": Health.waiting,
    "BACKOFF": Health.waiting,
    "STOPPING": Health.waiting,
    "STOPPED": Health.off,
    "EXITED": Health.failed,
    "FATAL": Health.failed,
}
# obsctl's own local sinks accept these; they are no secrets (loopback test sinks), see own_secrets
LOCAL_PAGERDUTY_KEY = "obsctl0local0sink0routing0key000"  # 32 characters, like PagerDuty's
LOCAL_SMTP_USER = local_sinks.SMTP_USER
# The chart's Watchdog (kube-prometheus-stack defaultRules `general.rules`), for the local target only
LOCAL_WATCHDOG_RULES = """# Rendered by obsctl for the local target only (clusters: kube-prometheus-stack's own).
groups:
  - name: obsctl-local-watchdog
    rules:
      - alert: Watchdog
        expr: vector(1)
        labels:
          severity: none
        annotations:
          summary: An alert that always fires, to prove the whole alerting pipeline works.
          description: >-
            Always firing. Routed to the heartbeat receiver (alerting.heartbeat) when one is configured,
            so a heartbeat that stops means alerting is broken; else to the null receiver.
"""
q = sv.quote  # every interpolated argument of a program's command goes through it
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
        return sv.environment(self.environment, f"program {self.name}")

    @property
    def command_line(self) -> str:
        """`command =` as written: its arguments were `q()`-quoted when it was built."""
        return sv.command(self.command, f"program {self.name}")


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
        self.smtp_cert = self.state / "sink" / "smtp-cert.pem"  # the e-mail receiver's ca_file locally
        self.smtp_key = self.state / "secrets" / "smtp-key.pem"
        self.supervisor = Supervisor(
            self.rendered / "supervisord.conf",
            self.run_dir / "supervisor.sock",
            self.run_dir / "supervisord.pid",
            {procs.MARKER: str(self.state)},  # supervisord itself is marked too: no sweep misses it
        )
        self.prometheus = Prometheus(self.url("prometheus"))
        self.alertmanager = Alertmanager(self.url("alertmanager"))
        self.sink = Sink(self.url("sink"))
        self.fresh_since: float | None = None  # when this `up` (re)started something: older samples prove nothing

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

    def own_secrets(self) -> dict[str, str]:
        """Values for the variables `sink: obsctl` receivers read their credentials from (and the
        Slack URL, which is one), see local_sinks, so `up` needs no variable set. They guard
        nothing (loopback test sinks), so they are fixed and documented; a variable the user
        sets wins, and the sink then accepts that value."""
        sink = self.url("sink")
        own = {
            local_sinks.SLACK_URL_ENV: f"{sink}/slack/services/T0BSCTL/B0BSCTL/local",
            local_sinks.PAGERDUTY_KEY_ENV: LOCAL_PAGERDUTY_KEY,
            local_sinks.OPSGENIE_KEY_ENV: "obsctl-local-opsgenie-key",
            local_sinks.SMTP_PASSWORD_ENV: "obsctl-local-smtp",
        }
        return {k: os.environ.get(k) or v for k, v in own.items()}

    @property
    def alerting(self) -> AlertingSettings:
        """The environment's alerting, its `sink: obsctl` receivers pointed at this target's own sink
        (ports and certificate as configured now): what alertmanager.yml and the drill use."""
        own = local_sinks.OwnSink(self.url("sink"), self.ports.smtp, self.smtp_cert)
        return local_sinks.resolve(self.spec.alerting, own)

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
                    f"{q(py)} -m obsctl.runtime.launch obsapp.main:app --host 127.0.0.1 --port {port}"
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
                f"{q(prometheus)} --config.file={q(self.rendered / 'prometheus.yml')}"
                f" --storage.tsdb.path={q(self.data_dir / 'prometheus')}"
                f" --storage.tsdb.retention.time={q(spec.local.retention)}"
                f" --web.listen-address=127.0.0.1:{self.ports.prometheus} --web.enable-lifecycle"
                # an alert that fires before Alertmanager is discovered (Watchdog, at once) is re-sent
                # only after this delay (default 1m): short here, so the heartbeat starts at once
                " --rules.alert.resend-delay=5s",
                {**marker, "OBSCTL_INPUTS": inputs["prometheus"]},
            )
        )
        progs.append(
            Program(
                "alertmanager",
                f"{q(alertmanager)} --config.file={q(self.rendered / 'alertmanager.yml')}"
                f" --storage.path={q(self.data_dir / 'alertmanager')}"
                f" --web.listen-address=127.0.0.1:{self.ports.alertmanager} --cluster.listen-address=",
                {**marker, "OBSCTL_INPUTS": inputs["alertmanager"]},
            )
        )
        own = self.own_secrets()
        progs.append(
            Program(
                "sink",
                f"{q(py)} -m obsctl.runtime.wire --port {self.ports.sink} --record {q(self.sink_file)}"
                f" --smtp-port {self.ports.smtp} --tls-cert {q(self.smtp_cert)} --tls-key {q(self.smtp_key)}",
                {
                    **marker,
                    "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                    "OBSCTL_WIRE_PAGERDUTY_KEYS": own["OBSCTL_LOCAL_PAGERDUTY_KEY"],
                    "OBSCTL_WIRE_OPSGENIE_KEYS": own["OBSCTL_LOCAL_OPSGENIE_KEY"],
                    "OBSCTL_WIRE_SMTP_USERS": f"{LOCAL_SMTP_USER}:{own['OBSCTL_LOCAL_SMTP_PASSWORD']}",
                    # a new obsctl's sink (another wire format) is restarted by `up`
                    "OBSCTL_INPUTS": r.digest(
                        (Path(__file__).resolve().parents[1] / "runtime" / "wire.py").read_text()
                    ),
                },
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
                    f"{q(grafana)}{sub} --homepath {q(home)} --config {q(self.rendered / 'grafana/grafana.ini')}",
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
                    f"{q(py)} -m obsctl.runtime.traffic --targets {q(','.join(self.app_urls()))}"
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
        # refused before any file is written: a path supervisord.conf cannot hold
        paths = {"env_name": self.env.name, "root": root, "log_dir": self.log_dir, "run_dir": self.run_dir}
        ini = {k: sv.value(str(v), k) for k, v in paths.items()}
        ini["program_log_dir"] = sv.logfile(str(self.log_dir), "log_dir")

        def put(rel: str, text: str, secret: bool = False) -> None:
            path = self.rendered / rel
            out.files.append(path)
            if r.write_if_changed(path, text, secret):
                out.changed.append(path)

        groups = r.rule_groups(root, spec)
        rules_text = r.rules_yaml(groups)
        put("rules/fastapi.rules.yaml", rules_text)
        # kube-prometheus-stack brings Watchdog on clusters; locally there is no chart, so obsctl adds it
        # here (not in rules/, which the clusters load too) for the dead man's switch
        put("rules/local-watchdog.rules.yaml", LOCAL_WATCHDOG_RULES)
        ctx: dict[str, Any] = {
            "env_name": self.env.name,
            "root": str(root),
            "ports": self.ports,
            "scrape": spec.scrape,
            "app_ports": self.app_ports,
            "rule_files": [
                str(self.rendered / "rules/fastapi.rules.yaml"),
                str(self.rendered / "rules/local-watchdog.rules.yaml"),
            ],
            "rendered_dir": str(self.rendered),
            "data_dir": str(self.data_dir),
            "log_dir": str(self.log_dir),
            "run_dir": str(self.run_dir),
        }
        prom_text = r.render_template(TEMPLATES, "prometheus.yml.j2", ctx)
        put("prometheus.yml", prom_text)
        if resolve_binaries and tlscert.ensure_self_signed(self.smtp_cert, self.smtp_key):
            out.changed.append(self.smtp_cert)
        am = r.alertmanager_config(
            self.alerting,
            f"{self.url('sink')}/",
            resolve=resolve_binaries,
            provided=self.own_secrets(),
            base_dir=self.env.config_path.parent,
        )
        am_text = r.alertmanager_yaml(am)
        put("alertmanager.yml", am_text, secret=r.has_secrets(self.alerting))
        if not resolve_binaries:
            out.notes.extend(
                ref.note("placeholder in alertmanager.yml", self.own_secrets())
                for ref in r.receiver_secrets(self.alerting)
            )
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
            "prometheus": r.digest(prom_text, rules_text, LOCAL_WATCHDOG_RULES),
            "alertmanager": r.digest(am_text),
            "grafana": r.digest(*grafana_inputs),
        }
        programs = self._programs(prometheus, alertmanager, grafana, inputs)
        apps = [p.name for p in programs if p.name.startswith("app-")]
        conf = r.render_template(
            TEMPLATES, "supervisord.conf.j2", {**ctx, "ini": ini, "programs": programs, "app_group": apps}
        )
        # always 0600: it holds the keys obsctl's sink accepts (OBSCTL_WIRE_*), and Grafana's password when installed
        put("supervisord.conf", conf, secret=True)
        return out

    # -- preflight -------------------------------------------------------------------------

    def preflight(self) -> None:
        """Binaries present and ports free (or held by this environment's own processes)."""
        binaries.require("prometheus", self.spec.local.prometheus_binary)
        binaries.require("alertmanager", self.spec.local.alertmanager_binary)
        r.secret_values(r.receiver_secrets(self.alerting), self.own_secrets())  # every receiver secret is set
        if not (self.env.root / "app" / "obsapp").is_dir():
            raise PreflightError(
                f"the app is missing: {self.env.root / 'app' / 'obsapp'}", "run obsctl from a full checkout"
            )
        sock, size = self.supervisor.socket, len(os.fsencode(self.supervisor.socket))
        if size > 107:  # sun_path: 108 bytes with the closing NUL
            raise PreflightError(
                f"the supervisord socket path is {size} bytes, over the 107 a unix socket allows: {sock}",
                f"set state_dir in {self.env.config_path.name} to a shorter absolute path (e.g. /tmp/obsctl-state)",
            )
        ours = {pid for pid, _ in procs.marked(self.state)}
        wanted = {f"app-{i}": p for i, p in enumerate(self.app_ports)}
        wanted.update(prometheus=self.ports.prometheus, alertmanager=self.ports.alertmanager, sink=self.ports.sink)
        wanted["smtp"] = self.ports.smtp
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
        started = time.time()
        detail = self._supervise_programs()
        if detail != "already running, nothing changed":
            self.fresh_since = started
        return detail

    def _supervise_programs(self) -> str:
        for d in (self.run_dir, self.log_dir, self.data_dir, self.sink_file.parent):
            d.mkdir(parents=True, exist_ok=True)
        if not self.supervisor.running():
            # a supervisord of ours that lost its socket cannot be driven: stop it (it stops its
            # programs), so the fresh one does not fight it for the ports
            deaf = self.supervisor.shutdown()
            self._sweep()  # processes of a crashed previous run would hold ports
            self.supervisor.start()
            if deaf:
                return f"restarted supervisord (pid {deaf[0]} was not answering on its socket) and every program"
            return "started supervisord and every program"
        changed = self.supervisor.update()
        # programs that exited or were stopped (e.g. an interrupted drill) are started again
        # programs that crash-loop (BACKOFF) or that supervisord gave up on (FATAL) are restarted
        # from the freshly rendered config; one that still fails is reported with its log tail
        started, healed = [], []
        for p in self.supervisor.processes():
            if p.state in ("BACKOFF", "FATAL"):
                self.supervisor.restart_process(p.name, self._log_file(p.name))
                healed.append(f"{p.name} (was {p.state})")
            elif p.state not in ("RUNNING", "STARTING"):
                self.supervisor.restart_process(p.name, self._log_file(p.name))
                started.append(p.name)
        parts = []
        if changed:
            parts.append(f"restarted changed: {', '.join(changed)}")
        if healed:
            parts.append(f"restarted crash-looping: {', '.join(healed)}")
        if started:
            parts.append(f"started: {', '.join(started)}")
        return "; ".join(parts) or "already running, nothing changed"

    def _log_file(self, program: str) -> Path:
        return self.log_dir / f"{program.split(':')[-1]}.log"

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
        since = self.fresh_since
        while True:
            # after a (re)start, samples from before it (Prometheus replays its TSDB, and a series
            # no scrape renews stays visible for 5 minutes) prove nothing: count only newer ones
            window = self.rate_window() if since is None else f"{max(1, math.ceil(time.time() - since))}s"
            fresh = "" if since is None else f" > {since:.3f}"
            want = (
                f'count(timestamp(up{{job="fastapi"}} == 1){fresh}) == {n}'
                f' and on() sum(rate(http_requests_total{{job="fastapi"}}[{window}])) > 0'
            )
            try:
                if self.prometheus.query(want):
                    return f"{n} replicas scraped, traffic visible" + (" (samples since the restart)" if since else "")
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
        note = self.supervisor.pidfile_note()
        pids = self.supervisor.shutdown()
        said = f"supervisord {', '.join(map(str, pids))} stopped" if pids else "was not running"
        return f"{said}; {note}" if note else said

    def _sweep(self) -> list[int]:
        left = [pid for pid, _ in procs.marked(self.state)]
        if left and procs.kill_all(left):
            raise ToolError(f"processes survive SIGKILL: {left}", "check them with ps; they may be in D state")
        return left

    def _sweep_stage(self) -> str:
        left = self._sweep()
        busy = [
            p
            for p in [*self.app_ports, self.ports.prometheus, self.ports.alertmanager, self.ports.sink, self.ports.smtp]
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
        pid = self.supervisor.pid()
        if pid is None or not self.supervisor.answering():
            state = "stopped" if pid is None else "NOT ANSWERING"
            detail = f"run `obsctl up --env {self.env.name}`"
            if pid is not None:
                detail = f"pid {pid}, no answer on {self.supervisor.socket}; `obsctl up --env {self.env.name}`"
                detail += " restarts it"
            return [
                StatusRow("supervisord", state, detail, Health.off if pid is None else Health.failed),
                *self._serving_rows(),
            ]
        rows = [StatusRow("supervisord", "RUNNING", f"pid {pid}", Health.ok)]
        for p in self.supervisor.processes():
            rows.append(StatusRow(p.name, p.state, p.description, SUPERVISOR_HEALTH.get(p.state, Health.unknown)))
        if not self.grafana_binary():
            rows.append(StatusRow("grafana", "skipped", "no grafana binary installed", Health.off))
        return rows

    def _serving_rows(self) -> list[StatusRow]:
        """Without a supervisord to ask: which of this environment's ports still serve, and by
        which of its processes (orphans of a killed supervisord keep serving)."""
        ports = {f"app-{i}": p for i, p in enumerate(self.app_ports)}
        ports.update(prometheus=self.ports.prometheus, alertmanager=self.ports.alertmanager, sink=self.ports.sink)
        ports.update(grafana=self.ports.grafana, smtp=self.ports.smtp)
        owners = procs.port_owners(list(ports.values()))
        ours = self.running_pids()
        rows = []
        for component, port in ports.items():
            pid = owners.get(port)
            if pid is not None and pid in ours:
                rows.append(
                    StatusRow(
                        component,
                        "ORPHANED",
                        f"pid {pid} still serves 127.0.0.1:{port} without supervisord;"
                        f" `obsctl down --env {self.env.name}` stops it",
                        Health.failed,
                    )
                )
        return rows

    def port_forward(self, component: str, port: int | None, show_password: bool, say: Any, warn: Any = None) -> None:
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

    # -- logs ------------------------------------------------------------------------------------

    def log_components(self) -> list[str]:
        """What `obsctl logs` reads here: each program's supervisord log, and supervisord's own."""
        names = ["app", "prometheus", "alertmanager", "grafana", "sink"]
        if self.spec.local.traffic.enabled:
            names.append("traffic")
        return [*names, "supervisord"]

    def logs(self, component: str, follow: bool, tail: int | None, since: float | None, out: LogOutput) -> None:
        """Print a component's log lines (all replicas of the app, each line tagged with its
        program), then with `follow` every new line until `out.stop` is set."""
        from obsctl.tools import logfiles

        sources = self._log_sources(component)
        cutoff = logfiles.since_cutoff(since)
        if follow:
            logfiles.follow(sources, out.emit, out.stop, tail, cutoff)
            return
        for name, line in logfiles.read(sources, tail, cutoff):
            out.emit(name, line)

    def _log_sources(self, component: str) -> list[Any]:
        from obsctl.tools.logfiles import LogSource

        known = self.log_components()
        if component not in known:
            raise InputError(f"unknown component '{component}' for the local target", f"use one of: {', '.join(known)}")
        if component == "grafana" and not self.grafana_binary():
            raise PreflightError(
                "Grafana is not installed, so the local target does not run it and it has no log",
                f"install it ({binaries.hint(next(b for b in binaries.BINARIES if b.name == 'grafana'))})",
            )
        names = [p.split(":")[-1] for p in self.app_programs()] if component == "app" else [component]
        sources = [LogSource(n, self.log_dir / f"{n}.log") for n in names]
        if not any(src.path.exists() or src.rotated() for src in sources):
            raise PreflightError(
                f"no log for {component} in {self.log_dir}: the {self.env.name} platform has not run",
                f"run `obsctl up --env {self.env.name}`",
            )
        return sources

    def stop_app(self) -> None:
        for name in self.app_programs():
            self.supervisor.stop_process(name)

    def start_app(self) -> None:
        for name in self.app_programs():
            self.supervisor.start_process(name)

    def running_pids(self) -> set[int]:
        return {pid for pid, _ in procs.marked(self.state)}

    # -- rebuild-test: what must not survive ------------------------------------------------------

    def survivors(self, since: float, phase: str) -> list[str]:
        """After down (with purge): no process, no data. After up: every process started after
        the rebuild did (`since`), and Prometheus holds no sample older than the rebuild (its
        TSDB was really purged)."""
        out = []
        if phase == "down":
            if self.running_pids():
                out.append(f"processes alive after down: {sorted(self.running_pids())}")
            if self.data_dir.exists():
                out.append(f"data left after purge: {self.data_dir}")
            return out
        reused = [pid for pid in self.running_pids() if (started := procs.started(pid)) and started < since - 1]
        if reused:
            out.append(f"processes from the previous run still serve: {sorted(reused)}")
        if self.prometheus.query("count(up)", at=since - 1):
            out.append("Prometheus still holds samples from before the rebuild (TSDB not purged)")
        return out
