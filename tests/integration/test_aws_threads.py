"""One boto3 Session per thread: `verify` runs the AWS checks in a thread pool, and a boto3
Session is not thread safe (boto3's own guide: create a session per thread; clients are safe
once made). Against a moto server on loopback, with the real eks checks run concurrently."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from obsctl.verify import Check, run_checks
from obsctl.verify import eks as checks
from tests.integration import test_aws_moto as moto
from tests.integration.test_aws_moto import CLUSTER, REGION, client, eks_target, make_cluster

moto_url, fake_aws = moto.moto_url, moto.fake_aws  # the moto server and fake-credential fixtures

pytestmark = pytest.mark.integration

THREADS = 6


def test_each_thread_gets_its_own_session_and_keeps_it(fake_aws: str) -> None:
    from obsctl.tools.aws import Aws

    aws = Aws(REGION, endpoint_url=fake_aws)
    make_cluster(fake_aws)
    start = threading.Barrier(THREADS)
    seen: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait(5)
            first = aws.session
            assert aws.describe_cluster(CLUSTER)["status"] == "ACTIVE"
            seen[n] = [id(first), id(aws.session)]
        except BaseException as exc:  # collected: an assertion in a thread is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert all(a == b for a, b in seen.values()), "a thread's session changed between calls"
    assert len({a for a, _ in seen.values()}) == THREADS, "threads share a boto3 Session"


def test_the_aws_checks_run_concurrently_on_one_target(fake_aws: str, tmp_path: Path) -> None:
    """The verify runner's thread pool, each check several times over, all on one EksTarget."""
    t = eks_target(tmp_path, fake_aws)
    make_cluster(fake_aws)
    client(fake_aws, "ecr").create_repository(repositoryName="obsctl-app", imageTagMutability="IMMUTABLE")
    batch = [
        Check(f"{name} #{i}", fn, "aws")
        for i in range(4)
        for name, fn in (
            ("cluster", lambda: checks._cluster(t)),
            ("node groups", lambda: checks._nodegroups(t)),
            ("ecr", lambda: checks._ecr(t)),
        )
    ]
    results = run_checks(batch, concurrent=True)
    assert [r.status for r in results] == ["pass"] * len(batch), [r.detail for r in results if r.status != "pass"]
