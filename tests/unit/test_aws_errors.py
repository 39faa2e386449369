"""obsctl.tools.aws._translate: which botocore failures are refusals (exit 2) and which are
failed operations (exit 1). Only the preflight checks, made before anything changes, may
refuse; the same credential failure in the middle of `down` is a ToolError."""

from __future__ import annotations

import botocore.exceptions as bx
import pytest

from obsctl.errors import InputError, ObsctlError, PreflightError, ToolError
from obsctl.tools.aws import _translate


def client_error(code: str, message: str = "m") -> bx.ClientError:
    return bx.ClientError({"Error": {"Code": code, "Message": message}}, "DescribeVolumes")


def _id(exc: Exception) -> str:
    code = exc.response["Error"]["Code"] if isinstance(exc, bx.ClientError) else ""
    return f"{exc.__class__.__name__}{'-' + code if code else ''}"


CREDENTIAL_FAILURES = [
    client_error("ExpiredToken", "The security token included in the request is expired"),
    client_error("InvalidClientTokenId"),
    client_error("AuthFailure"),
    bx.NoCredentialsError(),
    bx.ProfileNotFound(profile="nope"),
    bx.TokenRetrievalError(provider="sso", error_msg="expired"),
]


@pytest.mark.parametrize("exc", CREDENTIAL_FAILURES, ids=_id)
def test_credential_failures_refuse_only_in_preflight(exc: Exception) -> None:
    refused = _translate(exc, "checking the AWS identity", preflight=True)
    assert isinstance(refused, PreflightError) and refused.exit_code == 2
    failed = _translate(exc, "scanning ebs volumes")
    assert type(failed) is ToolError and failed.exit_code == 1
    assert failed.message == refused.message.replace("checking the AWS identity", "scanning ebs volumes")
    assert failed.hint == refused.hint and failed.hint


@pytest.mark.parametrize(
    "exc",
    [
        client_error("AccessDenied"),
        client_error("UnauthorizedOperation"),
        client_error("Throttling"),
        client_error("InternalError"),
        bx.EndpointConnectionError(endpoint_url="https://ec2.eu-west-1.amazonaws.com"),
        bx.ReadTimeoutError(endpoint_url="https://ec2.eu-west-1.amazonaws.com"),
        bx.ConnectTimeoutError(endpoint_url="https://sts.eu-west-1.amazonaws.com"),
    ],
    ids=_id,
)
def test_api_and_network_failures_are_tool_errors_even_in_preflight(exc: Exception) -> None:
    for preflight in (True, False):
        err = _translate(exc, "describing instance types", preflight=preflight)
        assert isinstance(err, ToolError) and not isinstance(err, InputError), err
        assert err.exit_code == 1 and "\n" not in err.message


def test_every_translation_is_one_line_naming_the_operation() -> None:
    for exc in [*CREDENTIAL_FAILURES[:-2], client_error("Boom"), bx.ParamValidationError(report="bad")]:
        err = _translate(exc, "scanning kms keys")
        assert isinstance(err, ObsctlError) and "scanning kms keys" in err.message, err.message
        assert "\n" not in err.message
