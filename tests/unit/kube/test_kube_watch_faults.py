"""A wait retries transport failures only. A bug in a verdict (obsctl's own code judging what
the watch delivered) used to be caught by the library-error guard as a "malformed answer",
made a retryable ToolError, and retried to the deadline: a KeyError looked like a 10-minute
wait. Against the fake API, so the real client's list and watch run."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from obsctl.errors import ObsctlError
from obsctl.tools import kube as k
from obsctl.tools.kube.errors import retryable
from tests.fakekube import FakeKube, crd
from tests.unit.kube.test_kube_waits import later

SM = "servicemonitors.monitoring.coreos.com"


def test_a_bug_in_a_verdict_fails_at_once_with_its_own_exception(fake: FakeKube, kubeconfig: Path) -> None:
    kube = k.Kube(kubeconfig, "fake-a")
    fake.put("customresourcedefinitions", crd("servicemonitors", established=False))
    later(0.2, lambda: fake.put("customresourcedefinitions", crd("servicemonitors")))
    calls: list[int] = []

    def verdict(objs: dict[str, Any]) -> str | None:
        calls.append(len(objs))
        if len(calls) == 1:
            return "not yet"  # the listing: fine
        return objs["no-such-name"].status  # a bug, on the first watch event

    started = time.monotonic()
    with pytest.raises(KeyError, match="no-such-name") as info:
        kube._await("CRDs Established", kube.ext.list_custom_resource_definition, (), verdict, timeout=8)
    assert time.monotonic() - started < 3, "a bug was retried like a dropped connection"
    assert not isinstance(info.value, ObsctlError)
    assert any(f.name == "verdict" for f in info.traceback), "the bug's own traceback was lost"


def _translated(exc: BaseException) -> ObsctlError:
    try:
        with k._guarded("watch CRDs", "http://x"):
            raise exc
    except ObsctlError as err:
        return err
    raise AssertionError("not translated")


def _api(status: int) -> ApiException:
    exc = ApiException(status=status, reason="Reason")
    exc.body = json.dumps({"kind": "Status", "message": "m"})
    return exc


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (urllib3.exceptions.ProtocolError("connection broken"), True),
        (urllib3.exceptions.ReadTimeoutError(None, "/api", "read timed out"), True),
        (ConnectionResetError(104, "reset"), True),
        (ApiException(status=0, reason="connection failed"), True),
        (_api(503), True),
        (_api(429), True),
        (_api(400), False),
        (_api(422), False),
        (_api(404), False),
        (_api(403), False),
        (ValueError("Invalid value for `spec`, must not be `None`"), False),
        (TypeError("'NoneType' object is not subscriptable"), False),
    ],
)
def test_only_transport_failures_are_retried(exc: BaseException, retry: bool) -> None:
    assert retryable(_translated(exc)) is retry
