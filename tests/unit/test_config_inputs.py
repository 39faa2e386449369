"""Hostile or odd config input: each is refused as one line naming what is wrong (exit 2)."""

from __future__ import annotations

import pytest

from obsctl import config as c
from obsctl.errors import ConfigError


def _refused(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        c.parse_config(text, "obsctl.yaml")
    assert "\n" not in err.value.message
    assert err.value.exit_code == 2
    return err.value


def test_a_replica_port_colliding_with_another_component_is_refused() -> None:
    """Replica 2 of 3 listens on app + 2 = 29091, which Prometheus also uses."""
    err = _refused(
        "environments: {local: {target: local, app: {replicas: 3}, local: {ports: {app: 29089, prometheus: 29091}}}}"
    )
    assert "environments.local: the app replicas use ports 29089-29091" in err.message
    assert "prometheus 29091" in err.message


def test_replica_ports_past_65535_are_refused() -> None:
    err = _refused("environments: {local: {target: local, app: {replicas: 2}, local: {ports: {app: 65535}}}}")
    assert "needs ports up to 65536, past 65535" in err.message
    assert "at most 65534" in err.message


def test_replica_ports_just_below_another_component_pass() -> None:
    cfg = c.parse_config(
        "environments: {local: {target: local, app: {replicas: 3}, local: {ports: {app: 29088, prometheus: 29091}}}}",
        "obsctl.yaml",
    )
    assert cfg.environments["local"].local.ports.app == 29088  # type: ignore[union-attr]
