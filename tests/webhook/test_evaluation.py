"""Evaluation in worker processes: a request past its deadline or over its memory is abandoned, its worker
killed and replaced, and the other requests are judged meanwhile.

The worst cases are policies made slow on purpose (test.rollguard.io/slow: cpu never finishes in
practice, memory allocates without end), so no test depends on how fast this machine is: the
slow request can only end by being abandoned, and the assertions are about outcomes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rollguard.webhook.service import AdmissionService

from ..conftest import POLICIES
from .test_app import BASELINE, admission_review, make_service, the_deployment

SLOW = """# METADATA
# title: Slow on request
# description: A test policy that never finishes (cpu) or allocates without end (memory) for Deployments labelled test.rollguard.io/slow.
# scope: package
# custom:
#   id: k8s.slow
#   severity: low
#   controls: ["TEST:1"]
#   remediation: none
#   applies_to: [Deployment]
#   parameters: {type: object, properties: {}}
package rollguard.k8s.slow

# 8e9 iterations over small arrays: busy for hours, in constant memory.
violation contains {"msg": "never", "details": {}} if {
	input.review.object.metadata.labels["test.rollguard.io/slow"] == "cpu"
	some i in numbers.range(1, 2000)
	some j in numbers.range(1, 2000)
	some k in numbers.range(1, 2000)
	i * j * k < 0
}

# An array of 10^8 numbers: gigabytes.
violation contains {"msg": "never", "details": {}} if {
	input.review.object.metadata.labels["test.rollguard.io/slow"] == "memory"
	count([x | some x in numbers.range(1, 100000000)]) < 0
}
"""


def slow_policies(root: Path) -> Path:
    """The shipped policies plus k8s.slow."""
    target = root / "policies"
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("*_test.rego"))
    (target / "rollguard" / "k8s" / "slow").mkdir()
    (target / "rollguard" / "k8s" / "slow" / "slow.rego").write_text(SLOW)
    return target


def review_request(slow: str | None = None, uid: str = "u") -> dict[str, object]:
    deployment = the_deployment(BASELINE)
    if slow is not None:
        deployment["metadata"]["labels"]["test.rollguard.io/slow"] = slow
    return dict(admission_review(deployment, uid=uid)["request"])


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait for `condition` (a generous bound: only a broken pool takes that long)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def alive(pid: int) -> bool:
    """Running: neither gone nor a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def metric(service: AdmissionService, line: str) -> bool:
    return line in service.metrics.render().decode().splitlines()


@pytest.fixture(scope="module")
def slow_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdmissionService]:
    root = tmp_path_factory.mktemp("slow")
    svc = make_service(root, policies=slow_policies(root), evaluators=2, config="admission:\n  deadline_seconds: 5\n")
    yield svc
    svc.close()


def test_a_request_past_its_deadline_is_abandoned_while_the_others_are_judged(
    slow_service: AdmissionService,
) -> None:
    svc = slow_service
    pool = svc.runtime.pool  # type: ignore[union-attr]

    async def scenario() -> None:
        worst = asyncio.create_task(svc.validate("admission.k8s.io/v1", review_request("cpu", uid="worst")))
        await until(lambda: len(pool.pids()["busy"]) == 1)
        [busy] = pool.pids()["busy"]
        # Sent while the worst case is being judged: each is answered on the other worker.
        for n in range(10):
            answer = await svc.validate("admission.k8s.io/v1", review_request(uid=f"good-{n}"))
            assert answer.review["response"] == {"uid": f"good-{n}", "allowed": True}
        result = await worst
        assert result.decision == "failed-closed"
        assert result.review["response"]["status"]["message"] == (
            "rollguard could not judge Deployment shop/checkout: not judged within the 5 s deadline; "
            "failure mode closed denies it"
        )
        # It stops costing anything: its worker is gone, and a fresh one takes its place.
        assert not alive(busy)
        await until(lambda: len(pool.pids()["idle"]) == 2)
        assert busy not in pool.pids()["idle"]

    asyncio.run(scenario())
    assert metric(svc, 'rollguard_evaluator_restarts_total{reason="deadline"} 1.0')
    assert metric(svc, 'rollguard_admission_failures_total{failure_mode="closed",reason="deadline"} 1.0')
    assert metric(svc, 'rollguard_evaluators{state="idle"} 2.0')


def test_a_worker_killed_mid_evaluation_is_answered_by_the_failure_mode_and_replaced(
    slow_service: AdmissionService,
) -> None:
    svc = slow_service
    pool = svc.runtime.pool  # type: ignore[union-attr]

    async def scenario() -> None:
        await until(lambda: len(pool.pids()["idle"]) == 2)
        worst = asyncio.create_task(svc.validate("admission.k8s.io/v1", review_request("cpu", uid="crash")))
        await until(lambda: len(pool.pids()["busy"]) == 1)
        [busy] = pool.pids()["busy"]
        os.kill(busy, signal.SIGKILL)  # as the kernel's OOM killer would
        result = await worst
        assert result.decision == "failed-closed"
        assert result.review["response"]["status"]["message"] == (
            "rollguard could not judge Deployment shop/checkout: the evaluation worker was killed by SIGKILL; "
            "failure mode closed denies it"
        )
        await until(lambda: len(pool.pids()["idle"]) == 2)
        answer = await svc.validate("admission.k8s.io/v1", review_request(uid="after"))
        assert answer.review["response"]["allowed"] is True

    asyncio.run(scenario())
    assert metric(svc, 'rollguard_evaluator_restarts_total{reason="exit"} 1.0')


def test_a_worker_over_its_memory_limit_is_killed_and_named(tmp_path: Path) -> None:
    svc = make_service(
        tmp_path,
        policies=slow_policies(tmp_path),
        evaluators=1,
        memory_mib=160,
        config="admission:\n  deadline_seconds: 30\n  failure_mode: open\n",
    )
    try:
        pool = svc.runtime.pool  # type: ignore[union-attr]
        [pid] = pool.pids()["idle"]
        result = asyncio.run(svc.validate("admission.k8s.io/v1", review_request("memory")))
        assert result.decision == "failed-open" and result.review["response"]["allowed"] is True
        [warning] = result.review["response"]["warnings"]
        assert warning.startswith(
            "rollguard could not judge Deployment shop/checkout: evaluation needed more than 160 MiB"
        )
        assert not alive(pid)
        assert metric(svc, 'rollguard_evaluator_restarts_total{reason="memory"} 1.0')
    finally:
        svc.close()


def test_a_worker_that_died_while_idle_costs_no_request(tmp_path: Path) -> None:
    svc = make_service(tmp_path, evaluators=1, config="admission:\n  deadline_seconds: 30\n")
    try:
        [pid] = svc.runtime.pool.pids()["idle"]  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        while alive(pid):
            time.sleep(0.01)
        answer = asyncio.run(svc.validate("admission.k8s.io/v1", review_request(uid="next")))
        assert answer.review["response"] == {"uid": "next", "allowed": True}
        assert metric(svc, 'rollguard_evaluator_restarts_total{reason="exit"} 1.0')
    finally:
        svc.close()


def test_closing_the_service_stops_every_worker(tmp_path: Path) -> None:
    svc = make_service(tmp_path, evaluators=2)
    pids = svc.runtime.pool.pids()["idle"]  # type: ignore[union-attr]
    assert len(pids) == 2 and all(alive(p) for p in pids)
    svc.close()
    assert not any(alive(p) for p in pids)


def test_a_memory_limit_too_small_to_load_the_policies_is_an_error_that_says_so(tmp_path: Path) -> None:
    from rollguard.errors import EngineError

    with pytest.raises(EngineError, match=r"needs more than 20 MiB to load the policies; raise --evaluator-memory"):
        make_service(tmp_path, memory_mib=20)


def test_a_reload_retires_the_old_workers_and_judges_with_the_new_ones(tmp_path: Path) -> None:
    svc = make_service(
        tmp_path, policies=slow_policies(tmp_path), evaluators=2, config="admission:\n  deadline_seconds: 3\n"
    )
    old_pool = svc.runtime.pool  # type: ignore[union-attr]

    async def scenario() -> None:
        worst = asyncio.create_task(svc.validate("admission.k8s.io/v1", review_request("cpu", uid="worst")))
        await until(lambda: len(old_pool.pids()["busy"]) == 1)
        old = {pid for pids in old_pool.pids().values() for pid in pids}
        assert await asyncio.to_thread(svc.reload, "test")  # returns once the old workers are gone
        assert not any(alive(pid) for pid in old)
        assert (await worst).decision == "failed-closed"  # abandoned at its deadline on the old workers
        new_pool = svc.runtime.pool  # type: ignore[union-attr]
        assert new_pool is not old_pool
        await until(lambda: len(new_pool.pids()["idle"]) == 2)
        answer = await svc.validate("admission.k8s.io/v1", review_request(uid="after"))
        assert answer.review["response"]["allowed"] is True

    try:
        asyncio.run(scenario())
    finally:
        svc.close()
