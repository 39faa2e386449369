"""A throwaway local project for benchmarks: the repository's content on free ports in a temp dir."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port_block, local_config, make_project  # noqa: E402


def throwaway(tmp: Path) -> Path:
    return make_project(tmp, local_config(free_port_block(14, start=31000)))
