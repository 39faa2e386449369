"""AwsSettings (obsctl.yaml `aws:` of an eks environment): what is refused at config time,
as one `path.to.field: why` line with exit 2, before any AWS call or Terraform run."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from obsctl import config as c
from obsctl.errors import ConfigError


def parse(**aws: Any) -> c.AwsSettings:
    fields = "".join(f", {k}: {v}" for k, v in aws.items())
    text = textwrap.dedent(f"""
        default_environment: prod
        environments:
          prod:
            target: eks
            aws: {{region: eu-west-1, cluster_name: obsctl-prod{fields}}}
        """)
    spec = c.parse_config(text, "obsctl.yaml").environments["prod"]
    assert isinstance(spec, c.EksEnv)
    return spec.aws


def refused(**aws: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(**aws)
    assert info.value.exit_code == 2 and "\n" not in info.value.message and info.value.hint
    return info.value


def test_kubernetes_version_must_enforce_network_policy() -> None:
    assert parse(kubernetes_version='"1.25"').kubernetes_version == "1.25"
    err = refused(kubernetes_version='"1.24"')
    assert err.message.startswith("obsctl.yaml: environments.prod.aws.kubernetes_version: 1.24 is too old")
    assert "NetworkPolicy" in err.message


def test_a_private_only_endpoint_is_refused_at_config_time() -> None:
    """obsctl drives Helm and the Kubernetes API from this machine: `up` would build the whole
    AWS layer and then fail to reach the cluster."""
    assert parse().cluster_endpoint_public_access is True
    err = refused(cluster_endpoint_public_access="false")
    assert err.message.startswith(
        "obsctl.yaml: environments.prod.aws.cluster_endpoint_public_access: false is not supported:"
        " obsctl runs Helm and the Kubernetes API from this machine"
    )
    assert "cluster_endpoint_public_access_cidrs" in err.message  # what to do instead
