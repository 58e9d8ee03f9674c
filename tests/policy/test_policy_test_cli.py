"""`rollguard policy test`: the per-test lines and the `opa test` summary, and the exit codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rollguard.cli import main
from rollguard.policy.testing import RegoTestResult, RegoTestRun

from ..conftest import ENGINES

RULE = "-" * 80
TESTS = """package rollguard.k8s.x_test

test_holds if true

test_broken if 1 == 2
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def policy_dir(root: Path, source: str) -> Path:
    folder = root / "rollguard" / "k8s" / "x"
    folder.mkdir(parents=True)
    (folder / "x_test.rego").write_text(source)
    return root


@pytest.mark.parametrize("engine", ENGINES)
def test_a_failing_test_is_listed_before_the_summary(tmp_path: Path, engine: str) -> None:
    result = run("policy", "test", "--policies", str(policy_dir(tmp_path, TESTS)), "--engine", engine)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "FAIL  rollguard.k8s.x_test.test_broken  rollguard/k8s/x/x_test.rego:5: undefined",
        RULE,
        "PASS: 1/2",
        "FAIL: 1/2",
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_verbose_lists_every_test_with_its_result_and_time(tmp_path: Path, engine: str) -> None:
    result = run("policy", "test", "--policies", str(policy_dir(tmp_path, TESTS)), "--engine", engine, "-v")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"engine {engine}"
    assert re.fullmatch(
        r"PASS  rollguard\.k8s\.x_test\.test_holds  rollguard/k8s/x/x_test\.rego:3 \(~\d+\.\d ms\)", lines[1]
    ), lines[1]
    assert re.fullmatch(
        r"FAIL  rollguard\.k8s\.x_test\.test_broken  rollguard/k8s/x/x_test\.rego:5 \(~\d+\.\d ms\): undefined",
        lines[2],
    ), lines[2]
    assert lines[3:] == [RULE, "PASS: 1/2", "FAIL: 1/2"]


def test_all_passing_prints_only_the_summary(tmp_path: Path) -> None:
    passing = TESTS.replace("test_broken if 1 == 2", "test_also if 2 == 2")
    result = run("policy", "test", "--policies", str(policy_dir(tmp_path, passing)))
    assert result.exit_code == 0
    assert result.output == "PASS: 2/2\n"


@pytest.mark.parametrize("engine", ENGINES)
def test_an_erroring_test_is_an_error_line_and_exit_3(tmp_path: Path, engine: str) -> None:
    source = TESTS + '\ntest_boom if to_number("twelve") == 12\n'
    result = run("policy", "test", "--policies", str(policy_dir(tmp_path, source)), "--engine", engine)
    assert result.exit_code == 3
    lines = result.output.splitlines()
    assert lines[0] == "FAIL  rollguard.k8s.x_test.test_broken  rollguard/k8s/x/x_test.rego:5: undefined"
    assert lines[1].startswith("ERROR rollguard.k8s.x_test.test_boom  rollguard/k8s/x/x_test.rego:7: ")
    assert "to_number" in lines[1]
    assert lines[2:] == [RULE, "PASS: 1/3", "FAIL: 1/3", "ERROR: 1/3"]


def test_no_test_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["policy", "test", "--policies", str(policy_dir(tmp_path, TESTS)), "--run", "nothing_like_this"]
    )
    assert result.exit_code == 3
    assert "no tests found matching --run 'nothing_like_this'" in result.output


def result(outcome: str, name: str = "test_a") -> RegoTestResult:
    return RegoTestResult("p_test.rego", 3, "rollguard.k8s.p_test", name, outcome, "", 0.0)


def test_the_run_computes_the_exit_code() -> None:
    assert RegoTestRun((result("pass"),)).exit_code() == 0
    assert RegoTestRun((result("pass"), result("fail"))).exit_code() == 1
    assert RegoTestRun((result("fail"), result("error"))).exit_code() == 3
    assert RegoTestRun(()).exit_code() == 3
    assert RegoTestRun(()).report() == []
