"""Config validation: every mistake is one line naming the field, and nothing else happens."""

from __future__ import annotations

from pathlib import Path

import pytest

from obsctl import bundled
from obsctl import config as c
from obsctl import render as r
from obsctl.errors import ConfigError, PreflightError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "environments: {local: {target: local, app: {replicas: 0}}}",
            "environments.local.app.replicas: Input should be greater",
        ),
        ("environments: {local: {target: local, apps: {}}}", "environments.local.apps: unknown key"),
        ("environments: {local: {target: cloud}}", "environments.local: unknown target"),
        ("environments: {local: {app: {}}}", "environments.local: missing 'target'"),
        ("environments: {local: {target: local, local: {ports: {app: 80}}}}", "environments.local.local.ports.app:"),
        (
            "environments: {local: {target: local, local: {ports: {app: 19090}}}}",
            "prometheus and app both use port 19090",
        ),
        ("environments: {local: {target: local, scrape: {interval: 10x}}}", "'10x' is not a duration"),
        ("environments: {local: {target: local, scrape: {interval: 0s}}}", "must be longer than zero"),
        (
            "environments: {local: {target: local, app: {replicas: two}}}",
            "environments.local.app.replicas: Input should be a valid integer",
        ),
        ("environments: {k: {target: kubernetes, kubernetes: {}}}", "environments.k.kubernetes: context is required"),
        ("environments: {e: {target: eks, aws: {region: moon, cluster_name: c}}}", "environments.e.aws.region"),
        ("environments: {local: {target: local}}\ndefault_environment: prod", "default_environment 'prod'"),
        ("environments: {}", "environments: Dictionary should have at least 1 item"),
        (
            "environments: {local: {target: local, alerting: {routes: [{receiver: pager}]}}}",
            "routes[0].receiver 'pager' is not declared",
        ),
        ("environments: [\n", "obsctl.yaml:2:1: malformed YAML"),
        ("- a list", "expected a mapping"),
    ],
)
def test_bad_config_is_one_line_naming_the_field(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        c.parse_config(text, "obsctl.yaml")
    assert expected in err.value.message
    assert "\n" not in err.value.message
    assert err.value.hint
    assert err.value.exit_code == 2


def test_durations() -> None:
    assert c.duration_seconds("1m30s") == 90
    assert c.duration_seconds("500ms") == 0.5
    assert c.duration_seconds("2h") == 7200
    with pytest.raises(ValueError):
        c.duration_seconds("5 minutes")


def test_repository_config_and_examples_are_valid(repo_root: Path) -> None:
    cfg = c.parse_config((repo_root / "obsctl.yaml").read_text(), "obsctl.yaml")
    assert cfg.default_environment == "local"
    assert cfg.environments["local"].target == "local"
    for example in sorted((repo_root / "examples").glob("*.yaml")):
        parsed = c.parse_config(example.read_text(), example.name)
        assert {"kubernetes", "eks"} <= {e.target for e in parsed.environments.values()}


def test_env_selection_and_unknown_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "obsctl.yaml").write_text("environments: {local: {target: local}, other: {target: local}}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OBSCTL_ENV", raising=False)
    monkeypatch.delenv("OBSCTL_CONFIG", raising=False)
    assert c.load().name == "local"
    assert c.load(env="other").name == "other"
    monkeypatch.setenv("OBSCTL_ENV", "other")
    assert c.load().name == "other"
    assert c.load(env="local").name == "local"  # the flag beats the variable
    with pytest.raises(ConfigError, match="unknown environment 'nope' \\(known: local, other\\)"):
        c.load(env="nope")
    env = c.load(env="local")
    assert env.state_dir == tmp_path / ".obsctl" / "local"


def test_config_found_in_parent_and_explicit_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "obsctl.yaml").write_text("environments: {local: {target: local}}\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.delenv("OBSCTL_CONFIG", raising=False)
    assert c.find_config(None, sub) == tmp_path / "obsctl.yaml"
    with pytest.raises(ConfigError, match="does not exist"):
        c.find_config(str(tmp_path / "missing.yaml"))
    empty = tmp_path.parent / f"{tmp_path.name}-empty"
    empty.mkdir()
    assert c.find_config(None, empty) is None


def test_without_a_config_the_shipped_default_is_used_with_state_outside_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo_root: Path
) -> None:
    monkeypatch.delenv("OBSCTL_CONFIG", raising=False)
    monkeypatch.delenv("OBSCTL_ENV", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    env = c.load(cwd=tmp_path)
    assert env.name == "local" and env.config_path == bundled.default_config()
    assert env.root == bundled.content_root() == repo_root  # the source tree (an editable install)
    assert env.state_dir == tmp_path / "xdg" / "obsctl" / "local"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert c.load(cwd=tmp_path).state_root == Path.home() / ".local" / "state" / "obsctl"


def test_project_root_is_relative_to_the_config_file(tmp_path: Path, repo_root: Path) -> None:
    example = repo_root / "examples" / "obsctl.example.yaml"
    env = c.load(str(example), env="kind")
    assert env.root == repo_root and env.state_root == repo_root / ".obsctl"
    (tmp_path / "obsctl.yaml").write_text("project_root: content\nenvironments: {local: {target: local}}\n")
    with pytest.raises(ConfigError, match="project_root: .*content is not a folder"):
        c.load(str(tmp_path / "obsctl.yaml"))
    (tmp_path / "content").mkdir()
    with pytest.raises(PreflightError, match="no rule files"):
        r.load_rule_groups(c.load(str(tmp_path / "obsctl.yaml")).root)


def test_a_config_without_content_next_to_it_uses_the_shipped_content(tmp_path: Path, repo_root: Path) -> None:
    (tmp_path / "obsctl.yaml").write_text("environments: {local: {target: local}}\n")
    env = c.load(str(tmp_path / "obsctl.yaml"))
    assert env.root == bundled.content_root() and r.load_rule_groups(env.root)
    assert env.state_root == tmp_path / ".obsctl"  # state stays with the config, not the content
    (tmp_path / "rules").mkdir()  # a project of its own (a checkout): its content wins
    assert c.load(str(tmp_path / "obsctl.yaml")).root == tmp_path
