"""supervisord.conf is read back by supervisor's own parser exactly as obsctl meant it: a project
path with spaces, `%`, quotes or `#` survives; config text cannot break the file or inject a
section; what the format cannot hold is refused before anything is written."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from supervisor.datatypes import dict_of_key_value_pairs
from supervisor.options import ServerOptions

from obsctl import config as cfg
from obsctl.errors import ConfigError
from obsctl.targets import supervisord_conf as sv
from obsctl.targets.local import LocalTarget
from tests.conftest import local_config, make_project

HOSTILE = 'pro ject %(here)s 100% $HOME "q" a#b;c `x` \\back'


def parse(conf: Path) -> dict[str, object]:
    """supervisord's own reading of the file: program name -> its process config."""
    opts = ServerOptions()
    opts.realize(args=["-c", str(conf)], doc="")
    return {p.name: p for group in opts.process_group_configs for p in group.process_configs}


def test_hostile_project_path_round_trips(tmp_path: Path) -> None:
    project = tmp_path / HOSTILE
    project.mkdir()
    config = make_project(project, local_config(23000))
    env = cfg.load(str(config), None)
    target = LocalTarget(env)
    target.render()
    for d in (target.log_dir, target.run_dir):
        d.mkdir(parents=True)
    programs = parse(target.rendered / "supervisord.conf")

    prom = shlex.split(programs["prometheus"].command)
    assert prom[1] == f"--config.file={target.rendered}/prometheus.yml", prom
    assert prom[2] == f"--storage.tsdb.path={target.data_dir}/prometheus", prom
    sink = shlex.split(programs["sink"].command)
    assert sink[sink.index("--record") + 1] == str(target.sink_file), sink
    assert sink[-2:] == ["--tls-key", str(target.smtp_key)], sink
    app = programs["app-0"]
    assert app.directory == str(project)
    assert app.environment["PYTHONPATH"] == str(project / "app")
    assert app.environment["OBSCTL_STATE_DIR"] == str(target.state)
    assert app.stdout_logfile == f"{target.log_dir}/app-0.log"
    # the YAML files name the same paths, and read back as them
    import yaml

    prom_yml = yaml.safe_load((target.rendered / "prometheus.yml").read_text())
    assert prom_yml["rule_files"][0] == str(target.rendered / "rules/fastapi.rules.yaml")


def test_environment_values_round_trip_through_supervisors_parser() -> None:
    env = {"A": 'say "hi", x=1 %d', "B": "it's, 50%", "C": "a#b;c"}
    line = sv.environment(env, "test")
    assert dict_of_key_value_pairs(line % {}) == env  # supervisord %-expands, then splits


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({"V": '1.0"\n[program:evil]\ncommand=touch /tmp/owned'}, "newline"),
        ({"V": "a'b\"c"}, "both kinds of quote"),
        ({"V": "x ;comment"}, "starts a comment"),
        ({"V": '"quoted"'}, "starts or ends with a quote"),
    ],
)
def test_unrepresentable_environment_is_refused(env: dict[str, str], why: str) -> None:
    with pytest.raises(sv.Unrepresentable, match=why):
        sv.environment(env, "program app-0")


def test_newline_in_a_command_argument_is_refused() -> None:
    with pytest.raises(sv.Unrepresentable, match="newline"):
        sv.quote("/tmp/x\n[program:evil]")
    assert shlex.split(sv.quote("a b;#'\"$`\\%")) == ["a b;#'\"$`\\%"]
    assert shlex.split(sv.quote("")) == [""]


@pytest.mark.parametrize("version", ['1.0"', "1.0\n[program:evil]", "1.0 beta", "", "-x"])
def test_app_version_is_validated(tmp_path: Path, version: str) -> None:
    import json

    config = make_project(
        tmp_path, local_config(23000).replace("replicas: 2}", f"replicas: 2, version: {json.dumps(version)}}}")
    )
    with pytest.raises(ConfigError, match="version"):
        cfg.load(str(config), None)


def test_app_version_accepts_release_names(tmp_path: Path) -> None:
    config = make_project(
        tmp_path, local_config(23000).replace("replicas: 2}", "replicas: 2, version: 1.2.3-rc.1+build.7}")
    )
    assert cfg.load(str(config), None).spec.app.version == "1.2.3-rc.1+build.7"


def test_an_unrepresentable_project_path_is_refused_before_any_file_is_written(tmp_path: Path) -> None:
    project = tmp_path / "proj ;x"
    project.mkdir()
    config = make_project(project, local_config(23000))
    target = LocalTarget(cfg.load(str(config), None))
    with pytest.raises(sv.Unrepresentable, match="starts a comment"):
        target.render()
    assert not target.rendered.exists()
