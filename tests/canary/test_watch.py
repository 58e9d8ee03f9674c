"""`rollguard canary watch`: judging on a schedule with an injected clock, stopping at the first fail, and the
rollback it runs, seen by a stand-in `kubectl` that writes down its arguments."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from rollguard.audit.store import open_store
from rollguard.canary import Judgement, RecordedSource, judge, read_canary_config
from rollguard.canary.watch import Clock, Rollback, run_rollback, watch
from rollguard.cli import main
from rollguard.errors import ConfigError

from .recorded import DATA, query_range

CONFIG = read_canary_config(yaml.safe_load((DATA / "rollguard.yaml").read_text())["canary"])


class FakeClock:
    """Time that moves only when the watch sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    @property
    def clock(self) -> Clock:
        return Clock(now=lambda: self.now, sleep=self.sleep)


def scenario_judge(scenarios: list[str], at: list[float], fake: FakeClock):  # type: ignore[no-untyped-def]
    """Judges the recorded scenarios in turn, noting the (fake) time of each judgement."""
    queue = iter(scenarios)

    def judge_once() -> Judgement:
        at.append(fake.now)
        return judge(CONFIG, RecordedSource(DATA / next(queue)))

    return judge_once


def test_watch_judges_every_interval_and_stops_at_the_first_fail() -> None:
    fake, at = FakeClock(), []
    result = watch(
        scenario_judge(["healthy", "leak", "errors", "healthy"], at, fake),
        interval=60,
        duration=600,
        clock=fake.clock,
    )
    assert [j.verdict for j in result.judgements] == ["pass", "marginal", "fail"]
    assert result.failed and at == [0.0, 60.0, 120.0] and fake.sleeps == [60, 60]


def test_watch_runs_until_the_duration_when_all_pass() -> None:
    fake, at = FakeClock(), []
    result = watch(scenario_judge(["healthy"] * 10, at, fake), interval=60, duration=180, clock=fake.clock)
    assert not result.failed and at == [0.0, 60.0, 120.0, 180.0]


def test_a_marginal_canary_fails_the_watch_with_fail_on_marginal() -> None:
    fake, at = FakeClock(), []
    result = watch(
        scenario_judge(["healthy", "leak", "healthy"], at, fake),
        interval=30,
        duration=600,
        clock=fake.clock,
        fail_on_marginal=True,
    )
    assert result.failed and [j.verdict for j in result.judgements] == ["pass", "marginal"]


def test_no_data_for_any_metric_does_not_stop_the_watch(tmp_path: Path) -> None:
    # Before the canary serves, no metric has data (exit 2): the watch goes on judging.
    for name in ("error_rate", "latency_p99", "cpu", "memory"):
        for side in ("baseline", "canary"):
            (tmp_path / f"{name}.{side}.json").write_text(json.dumps(query_range([])))
    fake, at = FakeClock(), []
    result = watch(scenario_judge([str(tmp_path), "errors"], at, fake), interval=10, duration=100, clock=fake.clock)
    assert [j.verdict for j in result.judgements] == ["nodata", "fail"] and result.failed and at == [0.0, 10.0]


@pytest.fixture
def kubectl(tmp_path: Path) -> tuple[Path, Path]:
    """A `kubectl` on PATH that writes its arguments to a file. There is no Kubernetes API in these tests."""
    folder, log = tmp_path / "bin", tmp_path / "kubectl-argv.json"
    folder.mkdir()
    script = folder / "kubectl"
    script.write_text(f'#!/bin/sh\nprintf \'%s\\n\' "$@" > "{log}"\necho "deployment.apps/checkout rolled back"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder, log


def run_watch(*args: str, path: Path) -> Result:
    here = Path.cwd()
    os.chdir(DATA)
    try:
        env = {"PATH": f"{path}{os.pathsep}{os.environ.get('PATH', '')}"}
        return CliRunner(env=env).invoke(main, ["canary", "watch", *args], catch_exceptions=False)
    finally:
        os.chdir(here)


@pytest.mark.parametrize(
    ("kind", "argv"),
    [
        ("Deployment", ["rollout", "undo", "deployment/checkout", "-n", "shop"]),
        ("Rollout", ["argo", "rollouts", "abort", "checkout", "-n", "shop"]),
    ],
)
def test_a_failing_canary_is_rolled_back_and_recorded(
    tmp_path: Path, kubectl: tuple[Path, Path], kind: str, argv: list[str]
) -> None:
    folder, log = kubectl
    store = f"sqlite:///{tmp_path / 'decisions.db'}"
    result = run_watch(
        "--recorded", "errors", "--interval", "60", "--duration", "600", "--rollback",
        "--kind", kind, "--name", "checkout", "--namespace", "shop", "--record", "--store", store,
        path=folder,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert log.read_text().splitlines() == argv
    assert "judgement 1: fail (score 80)" in result.stdout
    assert f"rolled back: kubectl {' '.join(argv)} (exit 0)" in result.stdout
    with open_store(store, create=False) as opened:
        (record,) = list(opened.records())
    body = record.body
    assert (body["source"], body["verdict"]) == ("canary", "fail")
    assert body["canary"]["watch"]["verdicts"] == ["fail"]
    assert body["canary"]["watch"]["rollback"]["argv"] == ["kubectl", *argv]
    assert body["canary"]["watch"]["rollback"]["stdout"] == "deployment.apps/checkout rolled back\n"


def test_a_passing_canary_is_left_alone(kubectl: tuple[Path, Path]) -> None:
    folder, log = kubectl
    # --duration no longer than --interval: one judgement, no sleep.
    result = run_watch(
        "--recorded", "healthy", "--interval", "60", "--duration", "60", "--rollback",
        "--kind", "Deployment", "--name", "checkout", "--namespace", "shop",
        path=folder,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "judgement 1: pass (score 100)\n"
    assert not log.exists()


def test_a_failing_rollback_is_exit_3(tmp_path: Path) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "kubectl"
    script.write_text(
        '#!/bin/sh\necho "Error from server (NotFound): deployments.apps \\"checkout\\" not found" >&2\nexit 1\n'
    )
    script.chmod(0o755)
    result = run_watch(
        "--recorded", "errors", "--interval", "60", "--duration", "60", "--rollback",
        "--kind", "Deployment", "--name", "checkout", "--namespace", "shop",
        path=folder,
    )  # fmt: skip
    assert result.exit_code == 3
    assert 'the rollback failed (exit 1): Error from server (NotFound): deployments.apps "checkout" not found' in (
        result.stderr
    )


def test_watch_options_are_checked(kubectl: tuple[Path, Path]) -> None:
    folder, _ = kubectl
    no_target = run_watch("--recorded", "errors", "--interval", "1", "--duration", "1", "--rollback", path=folder)
    assert no_target.exit_code == 2 and "--rollback needs --kind, --name and --namespace" in no_target.stderr
    partial = run_watch("--recorded", "errors", "--interval", "1", "--duration", "1", "--kind", "Rollout", path=folder)
    assert partial.exit_code == 2 and "give --kind, --name and --namespace together" in partial.stderr
    with pytest.raises(ConfigError, match="--name '-rf' is not a Kubernetes object name"):
        Rollback("Deployment", "-rf", "shop")


def test_a_missing_kubectl_is_an_input_error(tmp_path: Path) -> None:
    from rollguard.errors import InputError

    with pytest.raises(InputError, match="cannot run .*; roll back by hand"):
        run_rollback(Rollback("Deployment", "checkout", "shop", kubectl=str(tmp_path / "no-kubectl")))


def test_rollback_output_in_the_record_is_bounded(tmp_path: Path) -> None:
    script = tmp_path / "kubectl"
    script.write_text("#!/bin/sh\nhead -c 100000 /dev/zero | tr '\\0' x\n")
    script.chmod(0o755)
    done = run_rollback(Rollback("Deployment", "checkout", "shop", kubectl=str(script)))
    assert done.exit_code == 0 and len(done.stdout) < 4100 and done.stdout.endswith("…(cut)")
    assert json.loads(json.dumps(done.to_json()))["argv"][1:] == [
        "rollout",
        "undo",
        "deployment/checkout",
        "-n",
        "shop",
    ]
