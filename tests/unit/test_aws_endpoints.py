"""Where obsctl's AWS clients point: OBSCTL_AWS_ENDPOINT_URL (or endpoint_url) for every
service, except where botocore's own per-service variable names another endpoint for one
service, which wins as it wins over AWS_ENDPOINT_URL. No network: only client construction."""

from __future__ import annotations

import pytest

from obsctl.tools.aws import ENDPOINT_ENV, Aws, _service_endpoint_env


@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("ssm", "AWS_ENDPOINT_URL_SSM"),
        ("ec2", "AWS_ENDPOINT_URL_EC2"),
        ("elbv2", "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"),
        ("logs", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"),
        ("kms", "AWS_ENDPOINT_URL_KMS"),
    ],
)
def test_per_service_variable_is_named_as_botocore_names_it(service: str, variable: str) -> None:
    assert _service_endpoint_env(service) == variable


def test_one_service_can_point_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENDPOINT_ENV, "http://127.0.0.1:5000")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:5001")
    aws = Aws("eu-west-1")
    assert aws.client("ec2").meta.endpoint_url == "http://127.0.0.1:5000"
    assert aws.client("ssm").meta.endpoint_url == "http://127.0.0.1:5001"
    monkeypatch.delenv("AWS_ENDPOINT_URL_SSM")
    assert aws.client("ssm").meta.endpoint_url == "http://127.0.0.1:5000"
