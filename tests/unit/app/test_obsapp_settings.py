"""obsapp.settings: the environment contract, and failing at start-up on a bad value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from obsapp import __version__
from obsapp.settings import Instrumentation, Settings, SettingsError


def test_defaults_when_nothing_is_set() -> None:
    settings = Settings.from_env({})

    assert settings.version == __version__
    assert settings.fault_error_rate == 0.0
    assert settings.fault_latency_ms == 0
    assert settings.instrumentation is Instrumentation.ON
    assert settings.multiproc_dir is None


def test_reads_every_variable(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "OBSAPP_VERSION": "1.2.3",
            "OBSAPP_FAULT_ERROR_RATE": "0.25",
            "OBSAPP_FAULT_LATENCY_MS": "150",
            "OBSAPP_INSTRUMENTATION": "off",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
            "UNRELATED": "ignored",
        }
    )

    assert settings == Settings(
        version="1.2.3",
        fault_error_rate=0.25,
        fault_latency_ms=150,
        instrumentation=Instrumentation.OFF,
        multiproc_dir=tmp_path,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OBSAPP_FAULT_ERROR_RATE", "1.5"),
        ("OBSAPP_FAULT_ERROR_RATE", "-0.1"),
        ("OBSAPP_FAULT_ERROR_RATE", "often"),
        ("OBSAPP_FAULT_LATENCY_MS", "-1"),
        ("OBSAPP_FAULT_LATENCY_MS", "0.5"),
        ("OBSAPP_FAULT_LATENCY_MS", "600000"),
        ("OBSAPP_INSTRUMENTATION", "prometheus"),
        ("OBSAPP_VERSION", ""),
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"{name}='{value}'"):
        Settings.from_env({name: value})


def test_multiproc_dir_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(SettingsError, match=f"PROMETHEUS_MULTIPROC_DIR.*{missing} is not an existing directory"):
        Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": str(missing)})


def test_multiproc_dir_must_be_a_directory(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(SettingsError, match="is not an existing directory"):
        Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": str(file)})


def test_multiproc_dir_set_but_empty_is_an_error() -> None:
    with pytest.raises(SettingsError, match="PROMETHEUS_MULTIPROC_DIR=''.*set but empty"):
        Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": ""})


def test_multiproc_dir_must_be_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root may write anywhere (and CI runs as root), so the kernel's answer is simulated:
    the check must trust os.access, which also reports read-only mounts."""
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
    with pytest.raises(SettingsError, match="is not writable"):
        Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
