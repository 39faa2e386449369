"""Build hook: the wheel carries the default obsctl.yaml as obsctl/platform/obsctl.yaml.

A folder is mapped with `sources` in pyproject.toml; a single file needs force-include, which
hatchling would also put into an editable install (a stray obsctl/ folder in site-packages).
An editable install reads the checkout's obsctl.yaml, so only the standard wheel gets it.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class DefaultConfigHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "standard":
            build_data["force_include"]["obsctl.yaml"] = "obsctl/platform/obsctl.yaml"
