"""Admission decisions: exemptions, structural limits, deadlines, failure mode, hot reload and recording.

The gates and their engines live in evaluation worker processes (evaluation.py), so that a
request past its deadline is abandoned, not waited for; this process keeps only what it needs
to answer and record: the bundle's catalogue and settings. A reload or an inventory change
builds a new runtime beside the old one and swaps it in only once its first worker has
compiled and warmed the bundle, so a broken policy never stops admission.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fnmatch
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from rollguard.audit.record import ChangeIdentity, build_record
from rollguard.errors import RollguardError
from rollguard.kube.workloads import images_of
from rollguard.links import artifact_links
from rollguard.model import Artifact, Decision, Finding
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.config import Config, Settings
from rollguard.webhook.cache import DEFAULT_SIZE, MISS, CacheKey, DecisionCache, Lookup, request_key, volatile_fields
from rollguard.webhook.evaluation import EvaluationAbandoned, EvaluationPool, PoolOptions, WorkerSetup
from rollguard.webhook.limits import StructuralLimits
from rollguard.webhook.manifest import CLUSTER_DOMAINS
from rollguard.webhook.metrics import Metrics
from rollguard.webhook.recorder import DecisionRecorder, utc_now
from rollguard.webhook.review import AdmissionRequest, request_artifact, review_response

log = logging.getLogger("rollguard.webhook")

FailureMode = Literal["closed", "open"]
DEFAULT_EXEMPT_NAMESPACES = ("kube-system", "kube-public")
DEFAULT_DEADLINE_SECONDS = 2.0  # below the API server's default webhook timeout (10 s) and our manifest's 5 s
KEY_OFF_LOOP_BYTES = 64 * 1024  # larger requests are checked and keyed in a thread, not on the event loop


@dataclass(frozen=True)
class AdmissionSettings:
    """How requests are answered: exemptions, failure mode, deadline, structural limits and mutations."""

    exempt_namespaces: tuple[str, ...] = DEFAULT_EXEMPT_NAMESPACES
    exempt_users: tuple[str, ...] = ()
    exempt_groups: tuple[str, ...] = ()
    failure_mode: FailureMode = "closed"
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    mutations: Mapping[str, Any] = field(default_factory=dict)
    limits: StructuralLimits = field(default_factory=StructuralLimits)

    @classmethod
    def from_config(
        cls, raw: Mapping[str, Any], *, own_namespace: str | None, failure_mode: FailureMode | None = None
    ) -> AdmissionSettings:
        """Settings from rollguard.yaml's `admission:`; rollguard's own namespace is always exempt."""
        # `is None`, not `or`: an explicit `exempt_namespaces: []` means "exempt none", not the defaults.
        listed = raw.get("exempt_namespaces")
        namespaces = tuple(listed) if listed is not None else DEFAULT_EXEMPT_NAMESPACES
        if own_namespace and own_namespace not in namespaces:
            namespaces += (own_namespace,)
        return cls(
            exempt_namespaces=namespaces,
            exempt_users=tuple(raw.get("exempt_users") or ()),
            exempt_groups=tuple(raw.get("exempt_groups") or ()),
            failure_mode=failure_mode or raw.get("failure_mode", "closed"),
            deadline_seconds=float(raw.get("deadline_seconds", DEFAULT_DEADLINE_SECONDS)),
            mutations=raw.get("mutations") or {},
            limits=StructuralLimits.from_config(raw.get("limits")),
        )

    def exemption(self, request: AdmissionRequest) -> str | None:
        """Why `request` is exempt from judging, or None."""
        namespace = request.get("namespace") or ""
        if namespace and any(fnmatch.fnmatchcase(namespace, p) for p in self.exempt_namespaces):
            return f"namespace {namespace} is exempt"
        user = request.get("userInfo") or {}
        username = user.get("username") or ""
        if username and any(fnmatch.fnmatchcase(username, p) for p in self.exempt_users):
            return f"user {username} is exempt"
        groups = set(user.get("groups") or ())
        if groups & set(self.exempt_groups):
            return f"group {sorted(groups & set(self.exempt_groups))[0]} is exempt"
        return None


@dataclass(frozen=True)
class PolicySource:
    """Where a runtime's policies and settings come from, re-read on every reload."""

    policies: Any  # rollguard.policy.bundle.PolicySources
    config_path: Any | None
    environment: str | None
    engine: str
    engine_options: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> tuple[PolicyBundle, Config, Settings]:
        """Read the bundle and config as they are on disk now."""
        from rollguard.policy.config import load_config

        bundle = self.policies.load()
        config = load_config(self.config_path)
        return bundle, config, config.resolve(self.environment)


class Runtime:
    """One loaded bundle: its catalogue and settings here, its gates in a pool of evaluation workers."""

    def __init__(
        self,
        source: PolicySource,
        *,
        inventory: Mapping[str, Any],
        synced: frozenset[str] | None,
        pool: PoolOptions,
        metrics: Metrics | None = None,
        start: int | None = None,
        generation: int = 0,
    ) -> None:
        """Load the bundle and start `start` workers (all by default); raise if it does not compile.

        `generation` tells this runtime's inventory snapshot from the others' (decision cache keys).
        """
        from rollguard.webhook.mutation import MutationSettings

        bundle, self.config, self.settings = source.load()
        self.generation = generation
        self.volatile = volatile_fields({**bundle.runtime_modules(), **bundle.conftest_modules})
        setup = WorkerSetup(
            bundle=bundle,
            config=self.config,
            settings=self.settings,
            engine=source.engine,
            engine_options=dict(source.engine_options),
            inventory=inventory,
            synced=synced,
            domains=CLUSTER_DOMAINS,
            now=utc_now(),
        )
        self.pool = EvaluationPool(setup, pool, metrics=metrics)
        try:
            catalogue = self.pool.start(start)
            # Built here so a mutation config that contradicts a policy fails the (re)load, not a request.
            self.mutations = MutationSettings.from_config(
                self.config.admission.get("mutations"), policy_parameters=catalogue.parameters
            )
        except BaseException:
            self.pool.close()
            raise
        self.digest = catalogue.digest
        self.engine = catalogue.engine
        self.policies = catalogue.policies
        self.targets_delete = any("DELETE" in _operations(p.custom) for p in self.policies)
        self.targets_connect = any("CONNECT" in _operations(p.custom) for p in self.policies)
        from rollguard.audit.recording import config_digest

        # Recorded with every decision: which configuration was in force (docs/audit-evidence.md).
        self.config_digest = config_digest(self.settings, self.policies)

    async def judge(
        self, request: AdmissionRequest, *, now: dt.datetime, timeout: float, limits: StructuralLimits | None
    ) -> Decision:
        """Judge in a worker at `now`, unless `request` is over `limits` (None: checked already);
        EvaluationAbandoned when it is, or after `timeout` seconds; RuntimeError once this runtime is closed."""
        check = limits.exceeded if limits is not None else None
        return await self.pool.judge(request, now=now, timeout=timeout, check=check)

    def key(self, request: AdmissionRequest, *, now: dt.datetime) -> CacheKey | None:
        """The decision cache key of `request` at `now` under this runtime."""
        identity = (self.digest, self.config_digest, self.generation)
        return request_key(request, runtime=identity, settings=self.settings, now=now, volatile=self.volatile)

    def unjudged(self, artifact: Artifact) -> Decision:
        """What is recorded for a request that was not judged: no findings, this bundle's settings."""
        return Decision(
            findings=(),
            problems=(),
            fail_on=self.settings.fail_on,
            engine=self.engine,
            resources=1,
            policies=len(self.policies),
            environment=self.settings.environment,
            links=artifact_links([artifact]),
        )

    def policy_in(self, message: str) -> str:
        """The id of the policy whose file an engine error names, or `unknown`."""
        return next((p.id for p in self.policies if p.file in message), "unknown")

    def close(self, *, wait: bool = False) -> None:
        """Stop the workers: the idle ones now, the busy ones once their requests are answered."""
        self.pool.close(wait=wait)


def _operations(custom: Mapping[str, Any]) -> tuple[str, ...]:
    ops = custom.get("operations")
    return tuple(o for o in ops if isinstance(o, str)) if isinstance(ops, list) else ("CREATE", "UPDATE")


InventorySource = Callable[[], tuple[Mapping[str, Any], frozenset[str] | None]]


def _empty_inventory() -> tuple[Mapping[str, Any], frozenset[str] | None]:
    return {"namespace": {}, "cluster": {}}, frozenset()


@dataclass(frozen=True)
class Answer:
    """An admission answer plus what the logs and metrics need to know about it."""

    review: dict[str, Any]
    decision: str  # allowed | denied | exempt | failed-open | failed-closed
    findings: int = 0


class AdmissionService:
    """Answers AdmissionReviews with the current runtime; swaps runtimes on reload."""

    def __init__(
        self,
        source: PolicySource,
        *,
        metrics: Metrics,
        recorder: DecisionRecorder | None = None,
        own_namespace: str | None = None,
        failure_mode: FailureMode | None = None,
        inventory: InventorySource = _empty_inventory,
        evaluation: PoolOptions | None = None,
        decision_cache: int = DEFAULT_SIZE,
    ) -> None:
        self.source = source
        self.evaluation = evaluation or PoolOptions()
        self.metrics = metrics
        self.recorder = recorder
        self.own_namespace = own_namespace
        self.failure_mode_override = failure_mode
        self.inventory = inventory
        self._lock = threading.Lock()
        self.runtime: Runtime | None = None
        self.settings = AdmissionSettings()
        self.inventory_ready: Callable[[], bool] = lambda: True
        # Decisions on identical requests (cache.py): emptied whenever a runtime is swapped in.
        self.cache = DecisionCache(decision_cache, metrics)
        self._generation = 0

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Load, compile and warm the policies in every worker; raise on failure (the first load must succeed)."""
        old = self._swap(self._runtime(start=None))
        if old is not None:
            old.close(wait=True)

    def reload(self, reason: str) -> bool:
        """Build a new runtime beside the current one; keep the old one if the new one fails.

        Only the new runtime's first worker starts before the swap: it proves the bundle
        compiles. The others start once the old workers have stopped (the idle ones at the
        swap, the busy ones when their requests are answered), so a reload holds one worker
        more than usual, not twice as many.
        """
        started = time.perf_counter()
        current = self.runtime
        if current is not None:
            current.pool.hold_replacements(True)
        try:
            runtime = self._runtime(start=1)
        except BaseException as exc:
            if current is not None:
                current.pool.hold_replacements(False)
            if not isinstance(exc, RollguardError):
                raise
            self.metrics.reloads.labels(result="failed").inc()
            log_event("reload_failed", reason=reason, error=str(exc), level=logging.ERROR)
            return False
        old = self._swap(runtime)
        if old is not None:
            old.close(wait=True)
        runtime.pool.fill()
        self.metrics.reloads.labels(result="ok").inc()
        log_event("reloaded", reason=reason, bundle=runtime.digest, seconds=round(time.perf_counter() - started, 3))
        return True

    def _runtime(self, *, start: int | None) -> Runtime:
        inventory, synced = self.inventory()
        with self._lock:
            self._generation += 1
            generation = self._generation
        return Runtime(
            self.source,
            inventory=inventory,
            synced=synced,
            pool=self.evaluation,
            metrics=self.metrics,
            start=start,
            generation=generation,
        )

    def _swap(self, runtime: Runtime) -> Runtime | None:
        """Serve with `runtime` from now on; the one it replaces, closed but perhaps still judging."""
        with self._lock:
            old, self.runtime = self.runtime, runtime
            self.settings = AdmissionSettings.from_config(
                runtime.config.admission, own_namespace=self.own_namespace, failure_mode=self.failure_mode_override
            )
        self.metrics.bundle.info({"digest": runtime.digest, "policies": str(len(runtime.policies))})
        # Keys name their runtime, so no entry could answer for the new one: let them go now.
        self.cache.clear()
        if old is not None:
            old.close()
        return old

    @property
    def ready(self) -> bool:
        """Policies loaded and warmed, an evaluation worker alive, and the first inventory sync complete."""
        runtime = self.runtime
        return runtime is not None and runtime.pool.serving and self.inventory_ready()

    def close(self) -> None:
        """Stop the evaluation workers and flush the recorder."""
        if self.runtime is not None:
            self.runtime.close(wait=True)
        if self.recorder is not None:
            self.recorder.close()

    # -- answering -------------------------------------------------------------------------

    def kind_label(self, kind: str) -> str:
        """`kind` as a metric label: a kind the policies judge, else `other` (labels must stay few)."""
        runtime = self.runtime
        known = runtime is not None and any(kind in p.applies_to for p in runtime.policies)
        return kind if known else "other"

    def internal_error(self, api_version: str, request: AdmissionRequest, exc: Exception) -> Answer:
        """The answer when answering `request` failed unexpectedly: the failure mode, never an HTTP 500."""
        reason = f"internal error ({type(exc).__name__}); see the webhook's log"
        runtime = self.runtime
        if runtime is not None:
            try:
                return self._failed(api_version, request, request_artifact(request), runtime, reason, "internal_error")
            except Exception:  # the request is too odd even to be recorded: answer it all the same
                log.exception("could not record the failure of request %s", request["uid"])
        mode = self.settings.failure_mode
        allowed = mode == "open"
        message = f"rollguard could not judge this request: {reason}; failure mode {mode} " + (
            "allows it" if allowed else "denies it"
        )
        return Answer(
            review_response(
                api_version,
                request["uid"],
                allowed=allowed,
                message=None if allowed else message,
                warnings=[message] if allowed else [],
            ),
            f"failed-{mode}",
        )

    async def validate(self, api_version: str, request: AdmissionRequest, size: int = 0) -> Answer:
        """Judge one request (`size`: its body's bytes) and answer it, from the decision cache when it holds the answer."""
        uid = request["uid"]
        runtime, settings = self.runtime, self.settings
        assert runtime is not None, "validate() before load()"
        exempt = settings.exemption(request)
        if exempt is not None:
            return Answer(review_response(api_version, uid, allowed=True), "exempt")
        operation = request.get("operation", "")
        if (operation == "DELETE" and not runtime.targets_delete) or (
            operation == "CONNECT" and not runtime.targets_connect
        ):
            return Answer(review_response(api_version, uid, allowed=True), "allowed")
        artifact = request_artifact(request)
        now = utc_now()
        key, lookup = await self._look_up(runtime, request, now=now, size=size, limits=settings.limits)
        try:
            if lookup.decision is not None:
                decision = lookup.decision
            else:
                try:
                    # A keyed request is within the limits: the walk that says so has been done.
                    limits = None if key is not None else settings.limits
                    decision = await runtime.judge(request, now=now, timeout=settings.deadline_seconds, limits=limits)
                except RuntimeError:  # a reload closed this runtime just now: use the new one
                    current = self.runtime
                    assert current is not None
                    runtime, key = current, None
                    decision = await runtime.judge(
                        request, now=now, timeout=settings.deadline_seconds, limits=settings.limits
                    )
                if key is not None and not decision.errors:
                    if lookup.verify:
                        self.cache.proven(key, same=decision == lookup.expected)
                    else:
                        self.cache.put(key, decision)
        except EvaluationAbandoned as exc:
            reason = (
                f"not judged within the {settings.deadline_seconds:g} s deadline"
                if exc.reason == "deadline"
                else exc.message
            )
            return self._failed(api_version, request, artifact, runtime, reason, exc.reason)
        except RollguardError as exc:
            policy = runtime.policy_in(str(exc))
            self.metrics.policy_errors.labels(policy=policy).inc()
            return self._failed(
                api_version, request, artifact, runtime, f"policy {policy} failed: {exc}", "engine_error"
            )
        for f in decision.errors:
            self.metrics.policy_errors.labels(policy=f.policy).inc()
        if decision.errors:
            first = decision.errors[0]
            return self._failed(
                api_version,
                request,
                artifact,
                runtime,
                f"policy {first.policy} failed: {first.message}",
                "engine_error",
                decision,
            )
        allowed = decision.exit_code() == 0
        blocking = [f for f in decision.findings if f.blocks(decision.fail_on)] or (
            [] if allowed else [f for f in decision.findings if f.enforcement == "deny" and not f.waived]
        )
        message = None
        if not allowed:
            lines = [f"rollguard denied {artifact.resource.display()}:"]
            lines += [f"[{f.policy}] {f.message}" for f in blocking]
            lines += [f"input: {p.message}" for p in decision.problems]
            message = "\n".join(lines)
        warnings = [f"[{f.policy}] {f.message}" for f in decision.findings if _warns(f, decision)]
        self._record(request, artifact, runtime, decision)
        return Answer(
            review_response(api_version, uid, allowed=allowed, message=message, warnings=warnings),
            "allowed" if allowed else "denied",
            len([f for f in decision.findings if not f.waived]),
        )

    async def _look_up(
        self, runtime: Runtime, request: AdmissionRequest, *, now: dt.datetime, size: int, limits: StructuralLimits
    ) -> tuple[CacheKey | None, Lookup]:
        """The request's cache key and what the cache holds for it; no key for a request over `limits`."""
        if not self.cache.enabled:
            return None, MISS

        def key() -> CacheKey | None:
            return runtime.key(request, now=now) if limits.exceeded(request) is None else None

        # A large request costs milliseconds to walk and hash: not on the event loop.
        found = await asyncio.to_thread(key) if size > KEY_OFF_LOOP_BYTES else key()
        return found, (self.cache.get(found) if found is not None else MISS)

    def _failed(
        self,
        api_version: str,
        request: AdmissionRequest,
        artifact: Artifact,
        runtime: Runtime,
        reason: str,
        kind: str,
        decision: Decision | None = None,
    ) -> Answer:
        mode = self.settings.failure_mode
        allowed = mode == "open"
        self.metrics.failures.labels(reason=kind, failure_mode=mode).inc()
        message = f"rollguard could not judge {artifact.resource.display()}: {reason}; failure mode {mode} " + (
            "allows it" if allowed else "denies it"
        )
        self._record(
            request,
            artifact,
            runtime,
            decision or runtime.unjudged(artifact),
            failure={"reason": reason, "failure_mode": mode, "allowed": allowed},
        )
        warnings = [message] if allowed else []
        return Answer(
            review_response(
                api_version, request["uid"], allowed=allowed, message=None if allowed else message, warnings=warnings
            ),
            f"failed-{mode}",
        )

    def _record(
        self,
        request: AdmissionRequest,
        artifact: Artifact,
        runtime: Runtime,
        decision: Decision,
        *,
        failure: Mapping[str, Any] | None = None,
    ) -> None:
        # dryRun requests are judged (the user sees the answer) but change nothing: not deployments.
        if self.recorder is None or request.get("dryRun"):
            return
        when = utc_now()
        policies = runtime.policies
        user = request.get("userInfo") or {}

        def build() -> Mapping[str, Any]:
            admission: dict[str, Any] = {
                "uid": request["uid"],
                "operation": request.get("operation"),
                "groups": list(user.get("groups") or ()),
            }
            if failure is not None:
                admission["failure"] = dict(failure)
            return build_record(
                decision,
                source="admission",
                when=when,
                policies=policies,
                artifacts=[artifact],
                bundle_digest=runtime.digest,
                config_digest=runtime.config_digest,
                rollguard_version=_version(),
                change=ChangeIdentity(images=tuple(sorted(images_of([artifact.document])))),
                actor=user.get("username"),
                admission=admission,
            )

        self.recorder.submit(build)

    async def mutate(self, api_version: str, request: AdmissionRequest, size: int = 0) -> Answer:
        """Answer with the JSON Patch of the mutations enabled in config (never denies; `size` is not needed:
        the mutation always runs off the event loop).

        An object over a structural limit is left as it is, with a warning: `/validate`
        answers it by the failure mode.
        """
        from rollguard.webhook.mutation import mutate

        uid = request["uid"]
        runtime, settings = self.runtime, self.settings
        assert runtime is not None, "mutate() before load()"
        obj = request.get("object")
        operation = request.get("operation", "")
        if settings.exemption(request) is not None:
            return Answer(review_response(api_version, uid, allowed=True), "exempt")
        if operation not in ("CREATE", "UPDATE") or not obj or not runtime.mutations.enabled:
            return Answer(review_response(api_version, uid, allowed=True), "allowed")

        def patch_or_refusal() -> tuple[list[dict[str, Any]], str | None]:
            excess = settings.limits.exceeded(request)
            return ([], excess) if excess is not None else (mutate(obj, runtime.mutations, operation=operation), None)

        # Off the event loop: the mutation copies and compares the whole object.
        patch, excess = await asyncio.to_thread(patch_or_refusal)
        if excess is not None:
            warning = f"rollguard did not mutate {request_artifact(request).resource.display()}: {excess}"
            return Answer(review_response(api_version, uid, allowed=True, warnings=[warning]), "allowed")
        return Answer(review_response(api_version, uid, allowed=True, patch=patch), "mutated" if patch else "allowed")


def _warns(f: Finding, decision: Decision) -> bool:
    """Findings shown as warnings: `warn` enforcement, and deny findings below the threshold."""
    if f.waived or f.enforcement == "dryrun" or f.error:
        return False
    return f.enforcement == "warn" or not f.blocks(decision.fail_on)


_VERSION: list[str] = []


def _version() -> str:
    if not _VERSION:
        from rollguard.audit.recording import rollguard_version

        _VERSION.append(rollguard_version())
    return _VERSION[0]


def log_event(event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """One structured JSON log line."""
    if log.isEnabledFor(level):
        entry = {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"), "event": event, **fields}
        try:
            line = orjson.dumps(entry, default=str).decode("utf-8")
        except (orjson.JSONEncodeError, TypeError):  # an integer beyond 64 bits, a string that is not text
            line = json.dumps(entry, default=str)
        log.log(level, line)
