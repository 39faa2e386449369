"""The platform content that ships with obsctl: rules/, dashboards/, app/ (source and chart),
helm-values/, terraform/ and the default obsctl.yaml.

It lives once in git, at the top of the checkout. A built wheel maps it under
`obsctl/platform/` (pyproject.toml, [tool.hatch.build.targets.wheel.sources]), so an obsctl
installed anywhere finds it through importlib.resources; an editable install or a run from
the source tree has no `obsctl/platform/` and uses the checkout around the package instead.
A project's own content (`project_root` in obsctl.yaml) takes precedence over both (config.py).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

PACKAGED = "platform"  # the folder under the obsctl package that a wheel carries
CONFIG_FILE = "obsctl.yaml"


@cache
def content_root() -> Path | None:
    """Where the shipped content is: the wheel's obsctl/platform/, else the checkout obsctl
    runs from; None when neither holds it (a broken install)."""
    package = resources.files("obsctl")
    packaged = package / PACKAGED
    # pip always installs unpacked, so the Traversable is a real folder (never a zip member):
    # supervisord, helm and terraform need file-system paths.
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(str(package)).resolve().parent
    return checkout if (checkout / "rules").is_dir() else None


def content(rel: str) -> Path | None:
    """One piece of the shipped content (`terraform`, `app/chart`, `helm-values` ...), if present."""
    root = content_root()
    path = root / rel if root else None
    return path if path is not None and path.exists() else None


def default_config() -> Path | None:
    """The obsctl.yaml used when none is found: the default local environment."""
    return content(CONFIG_FILE)
