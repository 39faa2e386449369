"""The journal keeps a bounded history: it rotates once instead of growing forever."""

from __future__ import annotations

import json
from pathlib import Path

from obsctl.lifecycle import Journal


def test_journal_rotates_and_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    detail = "x" * 10_000
    for i in range(300):  # ~3 MB written in all
        journal.write(verb="up", stage=f"s{i}", ok=True, detail=detail)
    rotated = path.with_name("journal.jsonl.1")
    assert rotated.is_file() and not path.with_name("journal.jsonl.2").exists()
    assert path.stat().st_size < 1_100_000 and rotated.stat().st_size < 1_100_000
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["stage"] == "s299"  # the newest entries are kept
    first_kept = json.loads(rotated.read_text().splitlines()[0])["stage"]
    assert int(first_kept[1:]) > 0  # the oldest were dropped
