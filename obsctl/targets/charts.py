"""A third-party chart obsctl installs at a pinned version, fetched once per environment.

One set of rules for kube-prometheus-stack, prometheus-adapter and cluster-autoscaler: the
configured reference is `repo/name` (with its repository URL), an oci:// URL or a local path; a
local copy must be the pinned version (the pin is never dropped silently); otherwise `up` pulls
it once into .obsctl/<env>/charts/<name>-<version>/<name>, and later runs need no repository.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from obsctl.errors import PreflightError, ToolError
from obsctl.tools import helm as h


@dataclass(frozen=True)
class PinnedChart:
    name: str  # the chart's name (the folder `helm pull --untar` leaves)
    chart: str  # as configured: repo/name, oci://..., or a local path
    repo_url: str
    version: str  # the pin
    setting: str  # the config key of `chart`, for messages, e.g. "kubernetes.adapter_chart"
    state_dir: Path  # .obsctl/<env>
    relative: Callable[[Path], str]  # how a path is shown

    def ref(self) -> h.ChartRef:
        return h.chart_ref(self.chart, self.repo_url, self.version)

    @property
    def cache(self) -> Path:
        return self.state_dir / "charts" / f"{self.name}-{self.version}" / self.name

    def on_disk(self) -> Path | None:
        """The pinned chart on disk (a local path of the pinned version, else the cached copy);
        None while it has not been fetched. A local copy of another version is refused."""
        ref = self.ref()
        if ref.is_path:
            path = Path(ref.ref)
            found = h.chart_version(path)
            if found != self.version:
                what = "is not a chart (no readable Chart.yaml)" if found is None else f"is version {found}"
                raise PreflightError(
                    f"{self.setting} {path} {what}, {self.setting}_version pins {self.version}",
                    f"point it at an unpacked copy of the pinned version (helm pull {self.name}"
                    f" --version {self.version} --untar), or change the pin",
                )
            return path
        return self.cache if h.chart_version(self.cache) == self.version else None

    def fetch(self, helm: h.Helm) -> str:
        """Make the pinned chart available on disk; only the first `up` needs the repository."""
        found = self.on_disk()
        if found is not None:
            where = "local chart" if self.ref().is_path else "cached"
            return f"{self.name} {self.version}: {where} at {self.relative(found)}"
        ref = self.ref()
        helm.pull(ref, self.cache.parent)
        if h.chart_version(self.cache) != self.version:
            raise ToolError(
                f"helm pull {ref.describe()} did not leave {self.version} at {self.cache}",
                f"check {self.setting}, {self.setting}_version and the chart repository URL",
            )
        return f"fetched {ref.describe()} into {self.relative(self.cache)} (later runs need no repository)"

    def require(self, env_name: str) -> Path:
        chart = self.on_disk()
        if chart is None:
            raise PreflightError(f"{self.name} {self.version} is not on disk", f"run `obsctl up --env {env_name}`")
        return chart
