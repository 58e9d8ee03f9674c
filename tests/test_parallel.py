"""Parallel judging in spawned workers gives exactly the single-process decision."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rollguard.cli import main
from rollguard.parallel import MIN_BYTES_PER_JOB, Job, auto_jobs, judge
from rollguard.policy.bundle import PolicySources
from rollguard.policy.config import Config

from .conftest import FIXTURES, NOW, POLICIES


@pytest.mark.parametrize("engine", ["opa", "regorus"])
def test_two_jobs_match_one(engine: str) -> None:
    job = Job(
        policies=PolicySources(base=POLICIES),
        settings=Config().resolve(None),
        engine=engine,
        now=NOW,
        paths=(str(FIXTURES / "k8s"), str(FIXTURES / "demo")),
    )
    one = judge(job, jobs=1).decision
    two = judge(job, jobs=2).decision
    assert one.findings and one.findings == two.findings
    assert one.resources == two.resources and one.problems == two.problems


def test_auto_jobs_stays_single_for_small_inputs() -> None:
    job = Job(
        policies=PolicySources(base=POLICIES),
        settings=Config().resolve(None),
        engine="opa",
        now=NOW,
        paths=(str(FIXTURES),),
    )
    assert auto_jobs(job) == 1
    big = Job(**{**job.__dict__, "extra": (("big.yaml", "x" * 8_000_000),)})
    assert auto_jobs(big) == min(os.cpu_count() or 1, 8_000_000 // MIN_BYTES_PER_JOB)


def test_cli_jobs_option_and_stdin_reach_the_workers(tmp_path: Path) -> None:
    source = FIXTURES / "k8s" / "readiness_probe" / "disallowed_no_probe.yaml"
    folder = tmp_path / "k8s"
    folder.mkdir()
    shutil.copy(source, folder / source.name)
    # In its own namespace: the same objects from stdin and from the folder would be duplicates.
    text = source.read_text().replace("namespace: shop", "namespace: shop-stdin")
    args = ["check", "--format", "json", "--jobs", "2", "-", str(folder)]
    result = CliRunner().invoke(main, args, input=text, catch_exceptions=False)
    report = json.loads(result.output)
    files = sorted({f["file"] for f in report["findings"]})
    assert files == sorted(["<stdin>", (folder / source.name).as_posix()])
    assert result.exit_code == 1
    bad = CliRunner().invoke(main, ["check", "--jobs", "0", "-"])
    assert bad.exit_code == 2 and "positive number" in bad.output


def test_opa_judges_on_threads_of_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # OPA's evaluation releases the GIL, so two jobs are two threads with an engine each and no
    # worker process; the decision is the single-process one (test above).
    import rollguard.parallel as parallel

    def no_processes(*args: object, **kwargs: object) -> None:
        raise AssertionError("OPA jobs started a process")

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", no_processes)
    engines: list[str] = []
    real = parallel.create_engine
    monkeypatch.setattr(parallel, "create_engine", lambda name, **kw: engines.append(name) or real(name, **kw))
    job = Job(
        policies=PolicySources(base=POLICIES),
        settings=Config().resolve(None),
        engine="opa",
        now=NOW,
        paths=(str(FIXTURES / "demo"),),
    )
    decision = judge(job, jobs=2).decision
    assert engines == ["opa", "opa"]
    assert decision.findings and decision.resources == judge(job, jobs=1).decision.resources
