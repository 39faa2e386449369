"""Hostile or odd config input: each is refused as one line naming what is wrong (exit 2)."""

from __future__ import annotations

from pathlib import Path

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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "environments:\n  local: {target: local}\n  local: {target: local}\n",
            "obsctl.yaml:3:3: malformed YAML: duplicate key 'local' (first given at line 2)",
        ),
        ("environments: {local: {target: local, target: local}}\n", "duplicate key 'target'"),
        ("environments: {local: {target: local, app: {replicas: true}}}", "app.replicas: Input should be a valid int"),
        ("environments: {local: {target: local, app: {workers: 2.0}}}", "app.workers: Input should be a valid int"),
        (
            "environments: {local: {target: local, alerting: {receivers: [{name: t, webhooks:"
            " [{url: 'http://x', send_resolved: 'no'}]}]}}}",
            "send_resolved: Input should be a valid boolean",
        ),
    ],
)
def test_duplicate_keys_and_coercions_are_refused(text: str, expected: str) -> None:
    assert expected in _refused(text).message


def test_merge_keys_may_be_overridden() -> None:
    text = "base: &b {target: local}\nenvironments:\n  local:\n    <<: *b\n    target: local\n"
    assert "base" in _refused(text).message  # refused for the unknown top-level key, not as a duplicate


def test_libyaml_is_used_when_present() -> None:
    import yaml

    from obsctl import inputs

    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml here")
    assert issubclass(inputs._loader(), yaml.CSafeLoader)


def _load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        c.load(str(path))
    assert "\n" not in err.value.message and err.value.exit_code == 2
    return err.value.message


def test_a_directory_a_loop_and_a_missing_file_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    assert "dir.yaml is a directory, not a file" in _load_error(tmp_path / "dir.yaml")
    assert "loop.yaml is a symlink loop" in _load_error(tmp_path / "loop.yaml")
    assert "missing.yaml does not exist" in _load_error(tmp_path / "missing.yaml")


def test_a_directory_named_obsctl_yaml_is_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "obsctl.yaml").mkdir()
    with pytest.raises(ConfigError, match="obsctl.yaml is a directory"):
        c.find_config(None, tmp_path)


def test_a_file_over_the_cap_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    from obsctl import inputs

    path = tmp_path / "obsctl.yaml"
    path.write_text("environments: {local: {target: local}}\n" + "#" * inputs.CONFIG_MAX_BYTES)
    assert "is larger than 1 MiB" in _load_error(path)
    path.write_text("environments: {local: {target: local}}\n" + "#" * (inputs.CONFIG_MAX_BYTES - 100))
    assert c.load(str(path)).name == "local"
