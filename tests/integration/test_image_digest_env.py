"""The image CI pushes is the image `up` deploys: OBSCTL_APP_IMAGE_DIGEST sets app.image.digest,
so the rendered values and the Deployment the real helm templates pin repository@digest.
A value that is not a digest is refused before anything starts (exit 2, one line, no traceback).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from obsctl import config
from obsctl.errors import ConfigError
from obsctl.targets.kubernetes import KubernetesTarget

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "0123456789abcdef" * 4
REPOSITORY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/obsctl-app"  # the example's prod-eks


def example_config(tmp_path: Path) -> Path:
    text = (REPO / "examples" / "obsctl.example.yaml").read_text()
    text = text.replace("project_root: ..", f"project_root: {REPO}").replace(
        "state_dir: .obsctl", f"state_dir: {tmp_path / 'state'}"
    )
    path = tmp_path / "obsctl.yaml"
    path.write_text(text)
    return path


def test_the_variable_sets_the_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = example_config(tmp_path)
    monkeypatch.delenv(config.IMAGE_DIGEST_ENV, raising=False)
    assert config.load(str(path), env="prod-eks").spec.app.image.digest is None
    monkeypatch.setenv(config.IMAGE_DIGEST_ENV, "")
    assert config.load(str(path), env="prod-eks").spec.app.image.digest is None, "empty means unset"
    monkeypatch.setenv(config.IMAGE_DIGEST_ENV, DIGEST)
    image = config.load(str(path), env="prod-eks").spec.app.image
    assert image.digest == DIGEST
    assert (image.repository, image.tag) == (REPOSITORY, "0.1.0"), "only the digest changes"


@pytest.mark.parametrize(
    "bad", ["latest", "sha256:abc", "sha256:" + "A" * 64, "sha512:" + "a" * 64, DIGEST + "\n", f"{REPOSITORY}@{DIGEST}"]
)
def test_a_value_that_is_not_a_digest_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv(config.IMAGE_DIGEST_ENV, bad)
    with pytest.raises(ConfigError) as err:
        config.load(str(example_config(tmp_path)), env="prod-eks")
    assert err.value.exit_code == 2
    assert config.IMAGE_DIGEST_ENV in err.value.message and "64 lowercase hex" in err.value.message


def test_render_pins_repository_at_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `up` would install: the app values carry the digest, and the real helm template of
    app/chart makes the Deployment run repository@digest, pulled only if absent."""
    monkeypatch.setenv(config.IMAGE_DIGEST_ENV, DIGEST)
    env = config.load(str(example_config(tmp_path)), env="prod-eks")
    KubernetesTarget(env).render()
    values = yaml.safe_load((env.rendered_dir / "helm" / "app.values.yaml").read_text())
    assert values["image"]["repository"] == REPOSITORY and values["image"]["digest"] == DIGEST
    docs = [d for d in yaml.safe_load_all((env.rendered_dir / "manifests" / "app.yaml").read_text()) if d]
    container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{REPOSITORY}@{DIGEST}"
    assert container["imagePullPolicy"] == "IfNotPresent"


def test_the_cli_refuses_a_bad_digest_before_anything_starts(tmp_path: Path) -> None:
    path = example_config(tmp_path)
    full = {k: v for k, v in os.environ.items() if k not in ("OBSCTL_ENV", "OBSCTL_CONFIG")}
    full.update(COLUMNS="200", **{config.IMAGE_DIGEST_ENV: "sha256:nothex"})
    res = subprocess.run(
        [sys.executable, "-m", "obsctl", "render", "--config", str(path), "--env", "prod-eks"],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith(f"error: {config.IMAGE_DIGEST_ENV}='sha256:nothex' is not an image digest"), lines
    assert len(lines) == 2 and lines[1].startswith("hint: "), lines
    assert not (tmp_path / "state").exists(), "nothing may be rendered"
