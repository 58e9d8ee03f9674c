"""`canary watch`: judge every interval until the duration is over or a judgement fails, then roll back if asked."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from rollguard.canary.result import Judgement
from rollguard.errors import ConfigError, InputError, one_line

WorkloadKind = Literal["Deployment", "Rollout"]
WORKLOAD_KINDS: tuple[WorkloadKind, ...] = ("Deployment", "Rollout")
ROLLBACK_TIMEOUT = 60.0  # seconds kubectl has to answer
MAX_OUTPUT_CHARS = 4000  # of kubectl's output kept in the record


@dataclass(frozen=True)
class Rollback:
    """What rolls the workload back: `kubectl rollout undo` for a Deployment, `kubectl argo rollouts abort` for a Rollout."""

    kind: WorkloadKind
    name: str
    namespace: str
    kubectl: str = "kubectl"

    def __post_init__(self) -> None:
        for what, value in (("--name", self.name), ("--namespace", self.namespace)):
            # A leading dash would be read as an option of kubectl's.
            if not value or value.startswith("-") or len(value) > 253:
                raise ConfigError(f"{what} {value!r} is not a Kubernetes object name")

    @property
    def argv(self) -> tuple[str, ...]:
        """The command, as an argument list (no shell)."""
        match self.kind:
            case "Deployment":
                return (self.kubectl, "rollout", "undo", f"deployment/{self.name}", "-n", self.namespace)
            case "Rollout":
                return (self.kubectl, "argo", "rollouts", "abort", self.name, "-n", self.namespace)


@dataclass(frozen=True)
class RollbackResult:
    """What kubectl did: its argv, exit code and (bounded) output."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    def to_json(self) -> dict[str, object]:
        """The rollback as the watch report and the record show it."""
        return {"argv": list(self.argv), "exit_code": self.exit_code, "stdout": self.stdout, "stderr": self.stderr}


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + " …(cut)"


def run_rollback(rollback: Rollback, *, timeout: float = ROLLBACK_TIMEOUT) -> RollbackResult:
    """Run the rollback command; kubectl missing or too slow is an InputError, a non-zero exit is in the result."""
    argv = rollback.argv
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"{' '.join(argv[1:4])} did not finish within {timeout:g} s; roll back by hand") from exc
    except OSError as exc:
        raise InputError(f"cannot run {argv[0]}: {one_line(exc.strerror or exc)}; roll back by hand") from exc
    return RollbackResult(argv, proc.returncode, _bounded(proc.stdout), _bounded(proc.stderr))


@dataclass(frozen=True)
class Clock:
    """Time as `watch` sees it: monotonic seconds and a sleep (tests give their own)."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class WatchResult:
    """Every judgement made, in order; `failed` when the last one failed and the watch stopped there."""

    judgements: tuple[Judgement, ...] = field(default_factory=tuple)
    fail_on_marginal: bool = False

    @property
    def failed(self) -> bool:
        """Whether the watch stopped on a failing judgement."""
        return bool(self.judgements) and self.judgements[-1].exit_code(fail_on_marginal=self.fail_on_marginal) == 1


def watch(
    judge_once: Callable[[], Judgement],
    *,
    interval: float,
    duration: float,
    clock: Clock | None = None,
    fail_on_marginal: bool = False,
    on_judgement: Callable[[int, Judgement], None] | None = None,
) -> WatchResult:
    """Judge now and then every `interval` seconds while less than `duration` has passed; stop at the first fail.

    A judgement without data (exit 2) does not stop the watch: the canary may not have served yet.
    """
    if interval <= 0 or duration <= 0:
        raise ConfigError("--interval and --duration must be positive")
    tick = clock or Clock()
    started = tick.now()
    made: list[Judgement] = []
    while True:
        judgement = judge_once()
        made.append(judgement)
        if on_judgement is not None:
            on_judgement(len(made), judgement)
        if judgement.exit_code(fail_on_marginal=fail_on_marginal) == 1:
            break
        elapsed = tick.now() - started
        if elapsed + interval > duration:
            break
        tick.sleep(interval)
    return WatchResult(tuple(made), fail_on_marginal)
