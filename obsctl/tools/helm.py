"""Helm adapter: the only module that imports `pyhelm3`.

pyhelm3 is async only; every public method here runs one coroutine with `asyncio.run` under a
deadline. `ensure_release` follows pyhelm3's `Client.ensure_release` (recover a release stuck
in pending-install / pending-upgrade by uninstalling or rolling back, then install or upgrade
only when the chart version or the values changed) but runs its steps one by one so that it
can say which of them happened. Values go to helm as JSON on stdin, never on the command line.

pyhelm3 0.5.8 runs helm through a shell (`shlex.join` + `create_subprocess_shell`); obsctl
runs subprocesses from argument lists only, so `_ExecCommand` replaces that one method with an
exec and keeps pyhelm3's stderr → exception mapping (copied from `Command.run`, same order),
widened to the messages helm 4 (the pinned 4.1.4) and `upgrade --install` really print.
Every pyhelm3 or subprocess failure is translated into an obsctl error in ONE function,
`_translate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
from collections.abc import Awaitable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from obsctl.errors import ObsctlError, PreflightError, ToolError, Unreachable, WaitTimeout

T = TypeVar("T")
PENDING_STATES = ("pending-install", "pending-upgrade", "pending-rollback", "uninstalling")
# What helm's stderr says, lowercased, as Helm 3 and Helm 4 word it (tests/unit/kube/test_helm_adapter.py
# holds real helm 4.1.4 output for each; tests/integration/test_helm_binary.py provokes them for real).
# pyhelm3 command.py: a chart/version the repository does not have
_CHART_NOT_FOUND = re.compile(r"chart \"[^\"]+\" (version \"[^\"]+\" )?not found")
# The chart's repository or OCI registry did not answer. Before _CONNECTION: these messages also
# say "connection refused" / "no such host", but it is not the cluster that is unreachable.
_SOURCE_UNREACHABLE = re.compile(
    r"(is not a valid chart repository or cannot be reached|failed to perform \"fetchreference\"|failed to do request)"
)
# helm 3: "Kubernetes cluster unreachable: ...", helm 4: "kubernetes cluster unreachable: ..."; a
# connection that fails later in an operation names only the dial error.
_CONNECTION = re.compile(
    r"(kubernetes cluster unreachable|read: operation timed out|connect: network is unreachable"
    r"|connection refused|no such host|i/o timeout)"
)
# pyhelm3 knows `helm install`'s "rendered manifests contain a resource that already exists";
# `upgrade --install` (what obsctl runs) says only "... exists and cannot be imported into the
# current release" (helm 3.17 and 4.1 alike).
_ALREADY_EXISTS = re.compile(
    r"(rendered manifests contain a resource that already exists"
    r"|exists and cannot be imported into the current release)"
)
# pyhelm3 knows "failed to render chart" and `fail`'s "execution error"; helm 3 and 4 also fail a
# render with 'executing "<template>" at <...>' (nil pointer, bad function call) and YAML errors.
_RENDER_FAILED = re.compile(r"(failed to render chart|execution error|executing \"[^\"]+\" at <|yaml parse error on)")


@dataclass(frozen=True)
class ChartRef:
    """Where a chart comes from: a local path, an oci:// URL, or a name in a repository."""

    ref: str
    repo: str | None = None
    version: str | None = None

    @property
    def is_path(self) -> bool:
        return not self.ref.startswith("oci://") and self.repo is None

    def describe(self) -> str:
        where = f" from {self.repo}" if self.repo else ""
        return f"{self.ref}{' ' + self.version if self.version else ''}{where}"


def chart_ref(chart: str, repo_url: str | None, version: str | None) -> ChartRef:
    """`kps_chart` as configured: `repo/name` (with `kps_repo_url`), `oci://...`, or a local path."""
    if chart.startswith("oci://"):
        return ChartRef(chart, None, version)
    path = Path(chart).expanduser()
    if chart.startswith((".", "/", "~")) or path.exists():
        return ChartRef(str(path.resolve()), None, None)
    if not repo_url:
        raise PreflightError(f"chart {chart} needs a repository URL", "set kubernetes.kps_repo_url")
    return ChartRef(chart.split("/", 1)[-1], repo_url, version)


def chart_version(chart_dir: Path) -> str | None:
    """The `version` in a chart folder's Chart.yaml; None when there is no readable one."""
    import yaml

    try:
        meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    version = meta.get("version") if isinstance(meta, dict) else None
    return str(version) if version is not None else None


class _NotInstalled:
    def __repr__(self) -> str:
        return "NOT_INSTALLED"


NOT_INSTALLED = _NotInstalled()
# obsctl writes this key into the values of every release it installs: who installed it
OBSCTL_VALUES_KEY = "obsctl"


def _stderr_tail(stderr: bytes | str, lines: int = 3) -> str:
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    tail = " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
    return tail[:400] or "no output"


def _translate(exc: BaseException, doing: str) -> ObsctlError:
    """The obsctl error for a failure of helm (through pyhelm3) while `doing` something."""
    import pydantic
    import yaml
    from pyhelm3 import errors as e

    if isinstance(exc, ObsctlError):
        return exc
    if isinstance(exc, e.ReleaseNotFoundError):
        return ToolError(f"{doing}: release not found")
    if isinstance(exc, e.ChartNotFoundError):
        said = _stderr_tail(exc.stderr, 1)
        if _SOURCE_UNREACHABLE.search(said.lower()):
            return ToolError(
                f"{doing}: the chart repository cannot be reached ({said})",
                "check kubernetes.kps_repo_url (or the oci:// kps_chart) and this machine's network access to it",
            )
        return ToolError(
            f"{doing}: chart not found ({said})",
            "check kubernetes.kps_chart, kps_chart_version and kps_repo_url (helm search repo -l)",
        )
    if isinstance(exc, e.ConnectionError):  # not bad input: exit 1 (a preflight probe refuses earlier)
        return Unreachable(
            f"{doing}: helm cannot reach the cluster ({_stderr_tail(exc.stderr, 1)})",
            "check that the cluster is running and the kube context points at it",
        )
    if isinstance(exc, e.FailedToRenderChartError):
        return ToolError(f"{doing}: the chart failed to render: {_stderr_tail(exc.stderr)}", "run `obsctl render`")
    if isinstance(exc, e.ResourceAlreadyExistsError):
        return ToolError(
            f"{doing}: a resource already exists outside this release: {_stderr_tail(exc.stderr, 1)}",
            "delete it, or remove the release that owns it",
        )
    if isinstance(exc, e.InvalidResourceError):
        return ToolError(f"{doing}: the API server rejected a resource: {_stderr_tail(exc.stderr)}")
    if isinstance(exc, e.CommandCancelledError):
        return ToolError(f"{doing}: helm was cancelled")
    if isinstance(exc, e.Error):
        return ToolError(f"{doing}: helm failed: {_stderr_tail(exc.stderr)}")
    if isinstance(exc, TimeoutError):
        return WaitTimeout(f"{doing}: helm did not finish in time", "see `helm status` and the cluster's events")
    if isinstance(exc, FileNotFoundError | PermissionError | AssertionError):
        return PreflightError(f"{doing}: cannot run helm ({exc})", "python3 scripts/install-helm.py (or make up)")
    if isinstance(exc, subprocess.CalledProcessError):
        return ToolError(f"{doing}: helm failed: {_stderr_tail(exc.stderr or b'')}")
    if isinstance(exc, pydantic.ValidationError | ValueError | yaml.YAMLError | KeyError):
        return ToolError(f"{doing}: unexpected output from helm: {str(exc).splitlines()[0][:200]}")
    return ToolError(f"{doing}: {exc.__class__.__name__}: {exc}")


@contextlib.contextmanager
def _guarded(doing: str) -> Iterator[None]:
    import pydantic
    import yaml
    from pyhelm3 import errors as e

    try:
        yield
    except ObsctlError:
        raise
    except (
        e.Error,
        TimeoutError,
        OSError,
        AssertionError,
        subprocess.SubprocessError,
        pydantic.ValidationError,
        ValueError,
        yaml.YAMLError,
        KeyError,
    ) as exc:
        raise _translate(exc, doing) from None


def _exec_command_class() -> type:
    from pyhelm3 import errors as e
    from pyhelm3.command import Command

    class _ExecCommand(Command):
        """pyhelm3's Command, with helm run from an argument list instead of a shell."""

        def _argv(self, command: list[Any]) -> list[str]:
            argv = [self._executable, *command]
            if self._kubeconfig:
                argv += ["--kubeconfig", self._kubeconfig]
            if self._kubecontext:
                argv += ["--kube-context", self._kubecontext]
            return [a.decode() if isinstance(a, bytes) else str(a) for a in argv]

        async def run(self, command: list[Any], input: bytes | None = None) -> bytes:  # noqa: A002
            proc = await asyncio.create_subprocess_exec(
                *self._argv(command),
                stdin=asyncio.subprocess.PIPE if input is not None else None,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                stdout, stderr = await proc.communicate(input)
            except asyncio.CancelledError:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                    await proc.communicate()
                raise
            if proc.returncode == 0:
                return stdout
            text = stderr.decode(errors="replace").lower()
            # the order of pyhelm3's Command.run: etcd errors before not-found ones; an unreachable
            # chart source before connection errors (its message has "connection refused" too)
            if "context canceled" in text:
                cls: type[e.Error] = e.CommandCancelledError
            elif _SOURCE_UNREACHABLE.search(text):
                cls = e.ChartNotFoundError
            elif "etcdserver" in text or _CONNECTION.search(text):
                cls = e.ConnectionError
            elif "release: not found" in text:
                cls = e.ReleaseNotFoundError
            elif _RENDER_FAILED.search(text):
                cls = e.FailedToRenderChartError
            elif _ALREADY_EXISTS.search(text):
                cls = e.ResourceAlreadyExistsError
            elif "is invalid" in text:
                cls = e.InvalidResourceError
            elif _CHART_NOT_FOUND.search(text):
                cls = e.ChartNotFoundError
            else:
                cls = e.Error
            raise cls(proc.returncode, stdout, stderr)

        def client_version(self) -> Any:
            import semver

            out = subprocess.run(
                [self._executable, "version", "--template", "{{ .Version }}"],
                capture_output=True,
                check=True,
                timeout=30,
            )
            return semver.Version.parse(out.stdout.decode().strip().removeprefix("v"))

    return _ExecCommand


@dataclass(frozen=True)
class ReleaseState:
    revision: int
    status: str
    chart: str
    version: str


class Helm:
    """helm for one kubeconfig and context."""

    def __init__(
        self,
        executable: str,
        kubeconfig: Path | None = None,
        context: str | None = None,
        timeout: float = 600.0,
    ) -> None:
        self.executable = executable
        self.timeout = timeout
        self._kubeconfig = kubeconfig
        self._context = context
        self._client: Any = None
        self._command: Any = None

    def _run(self, doing: str, coro: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
        async def bounded() -> T:
            return await asyncio.wait_for(coro, self.timeout + 30)

        with _guarded(doing):
            return asyncio.run(bounded())

    @property
    def client(self) -> Any:
        if self._client is None:
            from pyhelm3 import Client

            with _guarded("start helm"):
                command = _exec_command_class()(
                    executable=self.executable,
                    kubeconfig=self._kubeconfig,
                    kubecontext=self._context,
                    default_timeout=f"{int(self.timeout)}s",
                )
                self._client = Client(command, executable=self.executable)
                self._command = command
        return self._client

    async def _chart(self, chart: ChartRef) -> Any:
        ref: Any = Path(chart.ref) if chart.is_path else chart.ref
        return await self.client.get_chart(ref, repo=chart.repo, version=chart.version)

    def status(self, release: str, namespace: str) -> ReleaseState | None:
        """The release's current revision, or None when it is not installed."""
        from pyhelm3 import errors as e

        async def go() -> ReleaseState | None:
            try:
                rev = await self.client.get_current_revision(release, namespace=namespace)
            except e.ReleaseNotFoundError:
                return None
            meta = await rev.chart_metadata()
            return ReleaseState(rev.revision, rev.status.value, meta.name, meta.version)

        return self._run(f"helm status {release}", go())

    def ensure_release(
        self, release: str, chart: ChartRef, namespace: str, values: dict[str, Any], skip_crds: bool = False
    ) -> str:
        """Make the release run `chart` with `values`; act only on a difference. Returns what was done.
        `skip_crds` when the caller manages the chart's CRDs itself (Helm never upgrades them)."""
        from pyhelm3 import errors as e

        async def go() -> str:
            client = self.client
            notes = []
            try:
                before = await client.get_current_revision(release, namespace=namespace)
            except e.ReleaseNotFoundError:
                before = None
            if before is not None and before.status.value in PENDING_STATES:
                how = "uninstalled" if before.status.value in ("pending-install", "uninstalling") else "rolled back"
                notes.append(f"recovered from {before.status.value} (revision {before.revision}, {how})")
            current = await client.get_proceedable_revision(
                release, namespace=namespace, timeout=f"{int(self.timeout)}s"
            )
            ch = await self._chart(chart)
            if not await client.should_install_or_upgrade_release(current, ch, values):
                notes.append(f"unchanged at revision {current.revision} ({ch.metadata.name} {ch.metadata.version})")
                return "; ".join(notes)
            rev = await client.install_or_upgrade_release(
                release,
                ch,
                values,
                namespace=namespace,
                create_namespace=False,
                skip_crds=skip_crds,
                timeout=f"{int(self.timeout)}s",
            )
            verb = "installed" if current is None else "upgraded"
            notes.append(f"{verb} {ch.metadata.name} {ch.metadata.version}, revision {rev.revision} {rev.status.value}")
            return "; ".join(notes)

        return self._run(f"helm install/upgrade {release}", go())

    def release_marker(self, release: str, namespace: str) -> dict[str, Any] | _NotInstalled | None:
        """The `obsctl` key of the release's user-supplied values (who installed it), None when
        the release carries none (someone else's), NOT_INSTALLED when there is no release."""
        from pyhelm3 import errors as e

        async def go() -> dict[str, Any] | _NotInstalled | None:
            try:
                rev = await self.client.get_current_revision(release, namespace=namespace)
            except e.ReleaseNotFoundError:
                return NOT_INSTALLED
            values = await rev.values()
            marker = values.get(OBSCTL_VALUES_KEY) if isinstance(values, dict) else None
            return marker if isinstance(marker, dict) else None

        return self._run(f"helm get values {release}", go())

    def pull(self, chart: ChartRef, destination: Path) -> Path:
        """`helm pull --untar` of a pinned chart into `destination` (the one time a chart
        repository is needed); the unpacked chart ends up at destination/<chart name>."""
        import shutil
        import tempfile

        if chart.is_path:
            raise ToolError(f"{chart.ref} is a local chart; nothing to pull")
        destination.parent.mkdir(parents=True, exist_ok=True)

        # pyhelm3's pull unpacks into a temporary folder it deletes again; run helm directly so the
        # chart lands next to its destination and is moved into place by one rename
        argv = [self.executable, "pull", chart.ref, "--untar"]
        if chart.repo:
            argv += ["--repo", chart.repo]
        if chart.version:
            argv += ["--version", chart.version]
        with tempfile.TemporaryDirectory(dir=destination.parent) as tmp:
            with _guarded(f"helm pull {chart.describe()}"):
                result = subprocess.run(
                    [*argv, "--destination", tmp], capture_output=True, text=True, timeout=self.timeout, check=False
                )
            if result.returncode != 0:
                raise _pull_error(result, chart)
            unpacked = [p for p in Path(tmp).iterdir() if p.is_dir()]
            if len(unpacked) != 1:
                raise ToolError(f"helm pull {chart.describe()} left {len(unpacked)} folders, expected one chart")
            if destination.exists():
                shutil.rmtree(destination)
            destination.mkdir(parents=True)
            unpacked[0].rename(destination / unpacked[0].name)
        return destination / unpacked[0].name

    def uninstall(self, release: str, namespace: str) -> bool:
        """Uninstall and wait; False when there was nothing to uninstall."""
        from pyhelm3 import errors as e

        async def go() -> bool:
            try:
                await self.client.get_current_revision(release, namespace=namespace)
            except e.ReleaseNotFoundError:
                return False
            await self.client.uninstall_release(
                release, namespace=namespace, wait=True, timeout=f"{int(self.timeout)}s"
            )
            return True

        return self._run(f"helm uninstall {release}", go())

    def template(
        self,
        release: str,
        chart: ChartRef,
        namespace: str,
        values: dict[str, Any],
        include_crds: bool = False,
        api_versions: tuple[str, ...] = (),
    ) -> str:
        """`helm template`: every manifest the release would apply, as helm printed it.

        pyhelm3's `template_resources` parses the output with PyYAML's pure-Python loader, which
        takes seconds on kube-prometheus-stack (80,000 lines) for text obsctl only writes out and
        validates; the same argv (pyhelm3 `Command.template`) is run here and the text kept."""
        import json

        async def go() -> str:
            self.client  # noqa: B018  # builds the command (and checks helm) on first use
            argv: list[Any] = ["template", release, chart.ref, "--include-crds" if include_crds else "--skip-crds"]
            argv += ["--values", "-", "--namespace", namespace]
            for api_version in api_versions:  # what .Capabilities.APIVersions.Has sees (a cluster's, at install)
                argv += ["--api-versions", api_version]
            if chart.repo:
                argv += ["--repo", chart.repo]
            if chart.version and not chart.is_path:
                argv += ["--version", chart.version]
            out: bytes = await self._command.run(argv, json.dumps(values).encode())
            return out.decode()

        return self._run(f"helm template {release}", go())


def _pull_error(result: subprocess.CompletedProcess[str], chart: ChartRef) -> ObsctlError:
    """One error for a failed `helm pull`: a chart or version the repository does not have, a
    repository that cannot be reached (offline: point kps_chart at an unpacked copy), or helm's
    own words."""
    text = result.stderr.lower()
    doing = f"helm pull {chart.describe()}"
    if _CHART_NOT_FOUND.search(text) or "not found in" in text:
        return ToolError(
            f"{doing}: the repository has no such chart or version ({_stderr_tail(result.stderr, 1)})",
            "check kubernetes.kps_chart, kps_chart_version and kps_repo_url (helm search repo -l)",
        )
    if _CONNECTION.search(text) or "dial tcp" in text or "no such host" in text or "connection" in text:
        return Unreachable(
            f"{doing}: the chart repository cannot be reached ({_stderr_tail(result.stderr, 1)})",
            "offline: `helm pull` the pinned chart with --untar elsewhere and set kubernetes.kps_chart to that folder",
        )
    return ToolError(f"{doing}: helm failed: {_stderr_tail(result.stderr)}")
