"""amtool (ships with Alertmanager): the routing tree of a configuration, as Alertmanager itself
reads it. obsctl asks it which receivers a label set reaches, rather than walking routes itself."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from obsctl.errors import ToolError
from obsctl.tools import binaries


class Amtool:
    def __init__(self, path: str | None = None) -> None:
        self.path = path or binaries.require("amtool")

    def _run(self, *args: str) -> str:
        try:
            done = subprocess.run([self.path, *args], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolError(f"amtool failed to run: {exc}") from None
        if done.returncode != 0:
            # amtool's errors quote the config's path and the failing field, never a value
            raise ToolError(f"amtool {args[0]} failed: {(done.stderr or done.stdout).strip()[-300:]}")
        return done.stdout

    def check_config(self, config_file: Path) -> None:
        self._run("check-config", str(config_file))

    def routes(self, config_file: Path, labels: dict[str, str]) -> list[str]:
        """The receivers an alert with `labels` reaches (`amtool config routes test`)."""
        out = self._run(
            "config", "routes", "test", f"--config.file={config_file}", *(f"{k}={v}" for k, v in labels.items())
        )
        return sorted(name for name in out.strip().split(",") if name)

    def routes_of(self, config: dict[str, Any], label_sets: list[dict[str, str]]) -> list[list[str]]:
        """routes() for each label set, on a config given as data (written to a 0600 temporary
        file: it may hold secrets, and is removed at once)."""
        fd, name = tempfile.mkstemp(prefix="obsctl-am-", suffix=".yml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                yaml.safe_dump(config, fh)
            self.check_config(Path(name))
            return [self.routes(Path(name), labels) for labels in label_sets]
        finally:
            os.unlink(name)
