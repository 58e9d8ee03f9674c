"""Judging in worker processes, so that an evaluation past its deadline is abandoned instead of waited for.

No engine can interrupt an evaluation: a thread that starts one runs it to the end, however long
it takes and however much memory it needs. So the webhook never evaluates in its own process.
Each loaded bundle runs in a small pool of worker processes, fresh interpreters that build their
own gate (spawn, never fork: the OPA bridge does not survive a fork, and regorus engines stay on
the thread that made them). A request that misses its deadline, or a worker that grows past its
memory limit, gets its worker killed and replaced; the other workers go on answering.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import itertools
import logging
import math
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollguard.errors import EngineError, RollguardError
from rollguard.webhook.metrics import Metrics

if TYPE_CHECKING:
    from rollguard.gate import Gate
    from rollguard.model import Decision
    from rollguard.policy.bundle import PolicyBundle, PolicyInfo
    from rollguard.policy.config import Config, Settings

log = logging.getLogger("rollguard.webhook")

MIB = 1024 * 1024
# Controller steps a request may simulate per rollout (`admission.simulation_steps`): about 30 ms of
# a worker, and as much for the rollback; some 300 pods replaced one at a time (docs/simulation.md).
ADMISSION_SIMULATION_STEPS = 1_000
# A worker reads its setup and requests on stdin and answers on its original stdout.
WORKER_COMMAND = (sys.executable, "-c", "from rollguard.webhook.evaluation import main; main()")
_HEADER = struct.Struct("!Q")  # every message is its pickled length, then the pickle
_CHUNK = 1 << 20
_WATCH_SECONDS = 0.02  # how often a waiting parent looks at the worker's memory
_GRACE_SECONDS = 1.0  # past the deadline, the waiting coroutine gives up even if its thread has not
_RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)  # between attempts when a replacement fails to start, then 30 s


@dataclass(frozen=True)
class PoolOptions:
    """How many evaluation workers a bundle gets and how much memory each may use."""

    size: int = 2
    memory_limit_mib: int = 160  # resident memory a worker may reach; 0 for no limit
    start_timeout: float = 120.0  # compiling a large bundle on a slow node


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker needs to build its gate, sent to it once when it starts."""

    bundle: PolicyBundle
    config: Config
    settings: Settings
    engine: str
    engine_options: Mapping[str, Any]
    inventory: Mapping[str, Any]
    synced: frozenset[str] | None
    domains: frozenset[str]
    now: dt.datetime


@dataclass(frozen=True)
class Catalogue:
    """What a ready worker reports about its gate; the webhook itself never builds one."""

    digest: str
    engine: str
    policies: tuple[PolicyInfo, ...]
    parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class EvaluationAbandoned(Exception):
    """An evaluation ended, or never started, without an answer. `reason`: limit, deadline, memory or exit."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# -- the webhook's side ---------------------------------------------------------------------


def worker_environment(options: PoolOptions) -> dict[str, str]:
    """The environment of a worker: the webhook's, with the Go runtime sized for one evaluation."""
    env = dict(os.environ)
    # One evaluation at a time: a runaway one keeps one core busy, not every core of the node.
    env.setdefault("GOMAXPROCS", "1")
    if options.memory_limit_mib:
        # Go collects harder as it nears this soft limit, so garbage alone does not reach the hard one.
        env.setdefault("GOMEMLIMIT", f"{max(options.memory_limit_mib - 64, 32)}MiB")
    # The worker imports rollguard from where this process did, installed or not.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


class _Worker:
    """One evaluation process, as the webhook sees it."""

    def __init__(self, setup: bytes, env: Mapping[str, str]) -> None:
        self.proc = subprocess.Popen(
            WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(env), close_fds=True
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._to = self.proc.stdin.fileno()
        self._from = self.proc.stdout.fileno()
        os.set_blocking(self._to, False)
        os.set_blocking(self._from, False)
        self._buffer = bytearray()
        self._setup = setup

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self, timeout: float, memory_limit: int) -> Catalogue:
        """Send the setup and wait until the gate is built and warmed; raise what the worker raised."""
        deadline = time.monotonic() + timeout
        self._send(self._setup, deadline)
        kind, value = self._receive(deadline, memory_limit)
        if kind == "ready":
            return value  # type: ignore[no-any-return]
        raise value

    def judge(self, message: bytes, deadline: float, memory_limit: int) -> Decision:
        """Judge one pickled (request, now) by `deadline` (time.monotonic); EvaluationAbandoned otherwise."""
        self._send(message, deadline)
        kind, value = self._receive(deadline, memory_limit)
        if kind == "decision":
            return value  # type: ignore[no-any-return]
        raise value

    def rss(self) -> int | None:
        """Resident memory in bytes (Linux), or None when it cannot be read."""
        try:
            with open(f"/proc/{self.proc.pid}/statm", "rb") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> None:
        """Stop it now, whatever it is doing."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close_pipes()

    def stop(self) -> None:
        """Let it finish: closing its input ends its loop; kill it if it does not go."""
        self._close_pipes()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def _exit_status(self) -> str:
        try:
            code = self.proc.wait(timeout=5)  # its output closes a moment before it has exited
        except subprocess.TimeoutExpired:
            return "closed its output"
        if code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def _send(self, data: bytes, deadline: float) -> None:
        view = memoryview(_HEADER.pack(len(data)) + data)
        poller = select.poll()
        poller.register(self._to, select.POLLOUT)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EvaluationAbandoned("deadline", "deadline passed while sending the request")
            if not poller.poll(math.ceil(remaining * 1000)):
                continue
            try:
                written = os.write(self._to, view[:_CHUNK])
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError, ValueError):
                raise EvaluationAbandoned("exit", f"the evaluation worker {self._exit_status()}") from None
            view = view[written:]

    def _receive(self, deadline: float, memory_limit: int) -> tuple[str, Any]:
        poller = select.poll()
        poller.register(self._from, select.POLLIN)
        while True:
            message = self._take_message()
            if message is not None:
                return pickle.loads(message)  # type: ignore[no-any-return]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EvaluationAbandoned("deadline", "deadline passed during evaluation")
            if memory_limit:
                rss = self.rss()
                if rss is not None and rss > memory_limit:
                    raise EvaluationAbandoned(
                        "memory",
                        f"evaluation needed more than {memory_limit // MIB} MiB (--evaluator-memory)",
                    )
            if not poller.poll(math.ceil(min(remaining, _WATCH_SECONDS) * 1000)):
                continue
            try:
                chunk = os.read(self._from, _CHUNK)
            except BlockingIOError:
                continue
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                raise EvaluationAbandoned("exit", f"the evaluation worker {self._exit_status()}")
            self._buffer += chunk

    def _take_message(self) -> bytes | None:
        if len(self._buffer) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack_from(self._buffer)
        end = _HEADER.size + size
        if len(self._buffer) < end:
            return None
        message = bytes(self._buffer[_HEADER.size : end])
        del self._buffer[:end]
        return message


class EvaluationPool:
    """The worker processes of one bundle: judge on a free one, kill and replace one that overruns."""

    def __init__(self, setup: WorkerSetup, options: PoolOptions, *, metrics: Metrics | None = None) -> None:
        self.options = options
        self.memory_limit = options.memory_limit_mib * MIB
        self._setup = pickle.dumps(setup, protocol=pickle.HIGHEST_PROTOCOL)
        self._env = worker_environment(options)
        self._metrics = metrics
        self._lock = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting: set[_Worker] = set()
        self._closed = False
        self._held = False  # killed workers are not replaced while a reload starts the next pool
        # One thread per worker: a request waits here, not in a thread of its own, for a free worker.
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=options.size, thread_name_prefix="rollguard-judge"
        )

    # -- starting and stopping ---------------------------------------------------------------

    def start(self, count: int | None = None) -> Catalogue:
        """Start `count` workers (all by default) and wait until they are ready; raise the first failure."""
        count = self.options.size if count is None else count
        with concurrent.futures.ThreadPoolExecutor(max_workers=count) as starter:
            futures = [starter.submit(self._start_one) for _ in range(count)]
            results: list[tuple[_Worker, Catalogue]] = []
            failure: BaseException | None = None
            for future in futures:
                try:
                    results.append(future.result())
                except BaseException as exc:
                    failure = failure or exc
        if failure is not None:
            for worker, _ in results:
                worker.kill()
            raise failure
        for worker, _ in results:
            self._add(worker)
        return results[0][1]

    def hold_replacements(self, held: bool) -> None:
        """Stop (or go back to) replacing killed workers: while a reload starts the pool that will
        replace this one, memory goes to the new workers; when it fails, the missing ones start."""
        with self._lock:
            self._held = held
        if not held:
            self.fill()

    def fill(self) -> None:
        """Start, in the background, the workers `start` left out."""
        with self._lock:
            missing = self.options.size - len(self._idle) - len(self._busy) - len(self._starting)
        for _ in range(max(missing, 0)):
            self._replace()

    def close(self, *, wait: bool = False) -> None:
        """Stop now every worker that is not judging, and each of the others once its judgement is done.

        Requests not yet given a worker get RuntimeError, for the caller to ask the pool that
        replaced this one; so a reload holds the old bundle's memory no longer than it must.
        With `wait`, return once every worker has stopped.
        """
        with self._lock:
            if not self._closed:
                self._closed = True
                idle, self._idle = self._idle, []
                starting = list(self._starting)
                self._lock.notify_all()  # waiting for a free worker: there will be none
            else:
                idle, starting = [], []
        self._threads.shutdown(wait=False, cancel_futures=True)
        for worker in starting:
            worker.kill()  # its start fails, and a closed pool does not try again
        for worker in idle:
            worker.stop()
        if wait:
            self._threads.shutdown(wait=True)

    def _start_one(self) -> tuple[_Worker, Catalogue]:
        try:
            worker = _Worker(self._setup, self._env)
        except OSError as exc:
            raise EngineError(f"could not start an evaluation worker: {exc}") from exc
        with self._lock:
            self._starting.add(worker)
            self._publish()
        try:
            catalogue = worker.start(self.options.start_timeout, self.memory_limit)
        except EvaluationAbandoned as exc:
            worker.kill()
            if exc.reason == "memory":
                raise EngineError(
                    f"an evaluation worker needs more than {self.options.memory_limit_mib} MiB to load the policies; "
                    "raise --evaluator-memory"
                ) from None
            raise EngineError(f"evaluation worker did not start: {exc.message}") from None
        except BaseException:
            worker.kill()
            raise
        finally:
            with self._lock:
                self._starting.discard(worker)
                self._publish()
        return worker, catalogue

    def _add(self, worker: _Worker) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(worker)
                self._lock.notify()
                self._publish()
                return
        worker.stop()

    def _replace(self) -> None:
        def run() -> None:
            for delay in itertools.chain(_RESTART_DELAYS, itertools.repeat(30.0)):
                if self._closed:
                    return
                try:
                    worker, _ = self._start_one()
                except Exception as exc:  # e.g. out of memory or processes: try again later
                    if self._closed:
                        return
                    log.error("evaluation worker did not start: %s; retrying in %g s", exc, delay)
                    time.sleep(delay)
                    continue
                self._add(worker)
                return

        threading.Thread(target=run, name="rollguard-evaluator-start", daemon=True).start()

    # -- judging ----------------------------------------------------------------------------

    async def judge(
        self,
        request: Mapping[str, Any],
        *,
        now: dt.datetime,
        timeout: float,
        check: Callable[[Mapping[str, Any]], str | None] | None = None,
    ) -> Decision:
        """The decision on `request`, or EvaluationAbandoned once `timeout` seconds have passed.

        `check` says why `request` must not be evaluated at all (EvaluationAbandoned "limit"); it
        runs on the judging thread, not on the event loop. RuntimeError when the pool is closed
        (a reload replaced it): ask the new one.
        """
        deadline = time.monotonic() + timeout
        submitted = self._threads.submit(self._judge, request, now, deadline, check)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(submitted), timeout + _GRACE_SECONDS)
        except asyncio.TimeoutError:
            raise EvaluationAbandoned("deadline", "no evaluation worker answered in time") from None
        except asyncio.CancelledError:
            if submitted.cancelled() and self._closed:  # still queued when a reload closed this pool
                raise RuntimeError("evaluation pool closed") from None
            raise

    def _judge(
        self,
        request: Mapping[str, Any],
        now: dt.datetime,
        deadline: float,
        check: Callable[[Mapping[str, Any]], str | None] | None,
    ) -> Decision:
        refusal = check(request) if check is not None else None
        if refusal is not None:
            raise EvaluationAbandoned("limit", refusal)
        message = pickle.dumps((request, now), protocol=pickle.HIGHEST_PROTOCOL)
        worker = self._acquire(deadline)
        while worker.proc.poll() is not None:  # it died while idle (the kernel's OOM killer, say): next one
            self._discard(worker, "exit")
            worker = self._acquire(deadline)
        if time.monotonic() >= deadline:
            self._release(worker)
            raise EvaluationAbandoned("deadline", "deadline passed before evaluation")
        try:
            decision = worker.judge(message, deadline, self.memory_limit)
        except RollguardError:
            self._release(worker)  # the engine failed, the worker is fine
            raise
        except EvaluationAbandoned as exc:
            self._discard(worker, exc.reason)
            raise
        except BaseException:
            self._discard(worker, "exit")
            raise
        self._release(worker)
        return decision

    def _acquire(self, deadline: float) -> _Worker:
        with self._lock:
            while not self._idle:
                if self._closed:
                    raise RuntimeError("evaluation pool closed")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise EvaluationAbandoned("deadline", "no evaluation worker was free")
                self._lock.wait(remaining)
            worker = self._idle.pop()
            self._busy.add(worker)
            self._publish()
            return worker

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            self._publish()
        self._add(worker)

    def _discard(self, worker: _Worker, reason: str) -> None:
        worker.kill()
        log.warning("killed evaluation worker %d: %s", worker.pid, reason)
        with self._lock:
            self._busy.discard(worker)
            self._publish()
        if self._metrics is not None:
            self._metrics.evaluator_restarts.labels(reason=reason).inc()
        if not self._closed and not self._held:
            self._replace()

    # -- observing --------------------------------------------------------------------------

    @property
    def serving(self) -> bool:
        """Whether any worker is alive or on its way: else no request can be judged."""
        with self._lock:
            return bool(self._idle or self._busy or self._starting)

    def pids(self) -> dict[str, tuple[int, ...]]:
        """The workers' process ids by state: idle, busy, starting."""
        with self._lock:
            groups = {"idle": self._idle, "busy": self._busy, "starting": self._starting}
            return {state: tuple(sorted(w.pid for w in workers)) for state, workers in groups.items()}

    def _publish(self) -> None:
        # Called with the lock held; a closed pool no longer speaks for the webhook.
        if self._metrics is not None and not self._closed:
            for state, workers in (("idle", self._idle), ("busy", self._busy), ("starting", self._starting)):
                self._metrics.evaluators.labels(state=state).set(len(workers))


# -- the worker's side ----------------------------------------------------------------------


def main() -> None:
    """A worker process: read the setup, build the gate, then judge each request until stdin closes."""
    # Ctrl-C reaches the whole process group; the webhook decides when its workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prefer_to_be_killed_when_memory_runs_out()
    channel = os.dup(1)
    os.dup2(2, 1)  # anything printed by the engine or a library goes to the log, not into the channel
    sys.stdout = sys.stderr
    with contextlib.suppress(BrokenPipeError):  # the webhook stopped this worker while it was answering
        _serve(channel)


def _serve(channel: int) -> None:
    message = _read_message(0)
    if message is None:
        return
    setup: WorkerSetup = pickle.loads(message)
    try:
        gate = build_gate(setup)
    except Exception as exc:  # reported to the webhook, which keeps its old bundle
        _write_message(channel, ("failed", _portable(exc)))
        return
    catalogue = Catalogue(
        digest=f"sha256:{gate.bundle.digest}",
        engine=gate.engine.name,
        policies=gate.policies,
        parameters=gate.parameters,
    )
    _write_message(channel, ("ready", catalogue))
    from rollguard.webhook.review import request_artifact

    while (message := _read_message(0)) is not None:
        request, now = pickle.loads(message)
        reply: tuple[str, Any]
        try:
            # Waivers expire at the time of the request.
            reply = ("decision", gate.judge_review(request_artifact(request), request, isolate=False, now=now))
        except Exception as exc:
            if not isinstance(exc, RollguardError):
                traceback.print_exc()
            reply = ("error", _portable(exc))
        try:
            _write_message(channel, reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            _write_message(channel, ("error", EngineError(f"the decision could not be sent back: {exc}")))


def build_gate(setup: WorkerSetup) -> Gate:
    """The gate of a worker: its own engine, the bundle compiled and the admission query prepared."""
    from rollguard.engine import create_engine
    from rollguard.gate import Gate

    options = dict(setup.engine_options)
    engine = create_engine(setup.engine, **options) if options else create_engine(setup.engine)
    gate = Gate(
        bundle=setup.bundle,
        engine=engine,
        settings=setup.settings,
        now=setup.now,
        inventory=setup.inventory,
        synced_kinds=setup.synced,
        domains=setup.domains,
        simulation_steps=int(setup.config.admission.get("simulation_steps", ADMISSION_SIMULATION_STEPS)),
    )
    gate.warm_review()
    return gate


def _portable(exc: BaseException) -> RollguardError:
    """`exc` as an error that survives pickling, for the webhook to raise."""
    if isinstance(exc, RollguardError):
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            return EngineError(str(exc))
        return exc
    return EngineError(f"evaluation failed: {type(exc).__name__}: {exc}")


def _prefer_to_be_killed_when_memory_runs_out() -> None:
    # Past the container's memory limit the kernel kills one process: let it be an evaluator,
    # which the webhook replaces, not the webhook itself. Raising one's own score needs no privilege.
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = os.read(fd, min(size - len(data), _CHUNK))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _read_message(fd: int) -> bytes | None:
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    return _read_exactly(fd, size)


def _write_message(fd: int, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]
