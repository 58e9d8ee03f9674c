"""Admission decisions: exemptions, deadlines, failure mode, hot reload and recording.

The gate and its engine live on one dedicated thread per loaded bundle (regorus engines are
bound to the thread that made them; OPA's is thread-safe but gains nothing from more threads
under the GIL). A reload or an inventory change builds a new runtime beside the old one and
swaps it in only once it has compiled and warmed, so a broken policy never stops admission.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import fnmatch
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rollguard.audit.record import ChangeIdentity, build_record
from rollguard.engine import create_engine
from rollguard.errors import RollguardError
from rollguard.gate import Gate
from rollguard.inputs.k8s import images_of
from rollguard.model import Artifact, Decision, Finding
from rollguard.policy.bundle import PolicyBundle
from rollguard.policy.config import Config, Settings
from rollguard.webhook.metrics import Metrics
from rollguard.webhook.recorder import DecisionRecorder, utc_now
from rollguard.webhook.review import AdmissionRequest, request_artifact, review_response

log = logging.getLogger("rollguard.webhook")

FailureMode = Literal["closed", "open"]
DEFAULT_EXEMPT_NAMESPACES = ("kube-system", "kube-public")
CLUSTER_DOMAINS = frozenset({"k8s"})  # an admission request is one object, not a whole change
DEFAULT_DEADLINE_SECONDS = 2.0  # below the API server's default webhook timeout (10 s) and our manifest's 5 s


@dataclass(frozen=True)
class AdmissionSettings:
    """How requests are answered: exemptions, failure mode, deadline and mutations."""

    exempt_namespaces: tuple[str, ...] = DEFAULT_EXEMPT_NAMESPACES
    exempt_users: tuple[str, ...] = ()
    exempt_groups: tuple[str, ...] = ()
    failure_mode: FailureMode = "closed"
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    mutations: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls, raw: Mapping[str, Any], *, own_namespace: str | None, failure_mode: FailureMode | None = None
    ) -> AdmissionSettings:
        """Settings from rollguard.yaml's `admission:`; rollguard's own namespace is always exempt."""
        namespaces = tuple(raw.get("exempt_namespaces") or DEFAULT_EXEMPT_NAMESPACES)
        if own_namespace and own_namespace not in namespaces:
            namespaces += (own_namespace,)
        return cls(
            exempt_namespaces=namespaces,
            exempt_users=tuple(raw.get("exempt_users") or ()),
            exempt_groups=tuple(raw.get("exempt_groups") or ()),
            failure_mode=failure_mode or raw.get("failure_mode", "closed"),
            deadline_seconds=float(raw.get("deadline_seconds", DEFAULT_DEADLINE_SECONDS)),
            mutations=raw.get("mutations") or {},
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

    policy_dir: Any  # pathlib.Path; Any keeps this module free of file-system imports
    config_path: Any | None
    environment: str | None
    engine: str
    engine_options: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> tuple[PolicyBundle, Config, Settings]:
        """Read the bundle and config as they are on disk now."""
        from rollguard.policy.bundle import load_bundle
        from rollguard.policy.config import load_config

        bundle = load_bundle(self.policy_dir)
        config = load_config(self.config_path)
        return bundle, config, config.resolve(self.environment)


class Runtime:
    """One loaded, warmed bundle on its own evaluation thread."""

    def __init__(self, source: PolicySource, *, inventory: Mapping[str, Any], synced: frozenset[str] | None) -> None:
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollguard-eval")
        from rollguard.webhook.mutation import MutationSettings

        try:
            self.gate, self.config = self.executor.submit(self._build, source, inventory, synced).result()
            # Built here so a mutation config that contradicts a policy fails the (re)load, not a request.
            self.mutations = MutationSettings.from_config(
                self.config.admission.get("mutations"), policy_parameters=self.gate.parameters
            )
        except BaseException:
            self.executor.shutdown(wait=False)
            raise
        self.digest = f"sha256:{self.gate.bundle.digest}"
        self.targets_delete = any("DELETE" in _operations(p.custom) for p in self.gate.policies)
        self.targets_connect = any("CONNECT" in _operations(p.custom) for p in self.gate.policies)

    @staticmethod
    def _build(
        source: PolicySource, inventory: Mapping[str, Any], synced: frozenset[str] | None
    ) -> tuple[Gate, Config]:
        bundle, config, settings = source.load()
        engine = (
            create_engine(source.engine, **source.engine_options)
            if source.engine_options
            else create_engine(source.engine)
        )
        gate = Gate(
            bundle=bundle,
            engine=engine,
            settings=settings,
            now=utc_now(),
            inventory=inventory,
            synced_kinds=synced,
            domains=CLUSTER_DOMAINS,
        )
        gate.warm_review()
        return gate, config

    def judge(self, artifact: Artifact, request: AdmissionRequest) -> Decision:
        """Judge on the evaluation thread (called through the executor)."""
        self.gate.now = utc_now()  # waiver expiry at the time of the request
        return self.gate.judge_review(artifact, request, isolate=False)

    def policy_in(self, message: str) -> str:
        """The id of the policy whose file an engine error names, or `unknown`."""
        return next((p.id for p in self.gate.policies if p.file in message), "unknown")

    def close(self) -> None:
        """Let queued evaluations finish, release the engine on its own thread, then end the thread."""

        def release() -> None:
            # regorus engines must be dropped on the thread that made them.
            self.__dict__.pop("gate", None)

        try:
            self.executor.submit(release)
        except RuntimeError:
            return  # closed already
        self.executor.shutdown(wait=False)


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
    ) -> None:
        self.source = source
        self.metrics = metrics
        self.recorder = recorder
        self.own_namespace = own_namespace
        self.failure_mode_override = failure_mode
        self.inventory = inventory
        self._lock = threading.Lock()
        self.runtime: Runtime | None = None
        self.settings = AdmissionSettings()
        self.inventory_ready: Callable[[], bool] = lambda: True

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Load, compile and warm the policies; raise on failure (the first load must succeed)."""
        inventory, synced = self.inventory()
        runtime = Runtime(self.source, inventory=inventory, synced=synced)
        self._swap(runtime)

    def reload(self, reason: str) -> bool:
        """Build a new runtime beside the current one; keep the old one if the new one fails."""
        started = time.perf_counter()
        try:
            inventory, synced = self.inventory()
            runtime = Runtime(self.source, inventory=inventory, synced=synced)
        except RollguardError as exc:
            self.metrics.reloads.labels(result="failed").inc()
            log_event("reload_failed", reason=reason, error=str(exc), level=logging.ERROR)
            return False
        self._swap(runtime)
        self.metrics.reloads.labels(result="ok").inc()
        log_event("reloaded", reason=reason, bundle=runtime.digest, seconds=round(time.perf_counter() - started, 3))
        return True

    def _swap(self, runtime: Runtime) -> None:
        with self._lock:
            old, self.runtime = self.runtime, runtime
            self.settings = AdmissionSettings.from_config(
                runtime.config.admission, own_namespace=self.own_namespace, failure_mode=self.failure_mode_override
            )
        self.metrics.bundle.info({"digest": runtime.digest, "policies": str(len(runtime.gate.policies))})
        if old is not None:
            old.close()

    @property
    def ready(self) -> bool:
        """Policies loaded and warmed, and the first inventory sync complete."""
        return self.runtime is not None and self.inventory_ready()

    def close(self) -> None:
        """Stop the evaluation thread and flush the recorder."""
        if self.runtime is not None:
            self.runtime.close()
        if self.recorder is not None:
            self.recorder.close()

    # -- answering -------------------------------------------------------------------------

    async def validate(self, api_version: str, request: AdmissionRequest) -> Answer:
        """Judge one request and answer it."""
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
        loop = asyncio.get_running_loop()
        try:
            try:
                future = loop.run_in_executor(runtime.executor, runtime.judge, artifact, request)
            except RuntimeError:  # a reload closed this runtime just now: use the new one
                current = self.runtime
                assert current is not None
                runtime = current
                future = loop.run_in_executor(runtime.executor, runtime.judge, artifact, request)
            decision = await asyncio.wait_for(future, timeout=settings.deadline_seconds)
        except asyncio.TimeoutError:
            return self._failed(
                api_version,
                request,
                artifact,
                runtime,
                f"not judged within the {settings.deadline_seconds:g} s deadline",
                "deadline",
            )
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
            decision or _unjudged(runtime.gate, artifact),
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
        policies = runtime.gate.policies  # not the gate: it must stay on its evaluation thread
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
                rollguard_version=_version(),
                change=ChangeIdentity(images=images_of([artifact.document])),
                actor=user.get("username"),
                admission=admission,
            )

        self.recorder.submit(build)

    async def mutate(self, api_version: str, request: AdmissionRequest) -> Answer:
        """Answer with the JSON Patch of the mutations enabled in config (never denies)."""
        from rollguard.webhook.mutation import mutate

        uid = request["uid"]
        runtime, settings = self.runtime, self.settings
        assert runtime is not None, "mutate() before load()"
        obj = request.get("object")
        operation = request.get("operation", "")
        if settings.exemption(request) is not None:
            return Answer(review_response(api_version, uid, allowed=True), "exempt")
        if operation not in ("CREATE", "UPDATE") or not obj:
            return Answer(review_response(api_version, uid, allowed=True), "allowed")
        patch = mutate(obj, runtime.mutations, operation=operation)
        return Answer(review_response(api_version, uid, allowed=True, patch=patch), "mutated" if patch else "allowed")


def _warns(f: Finding, decision: Decision) -> bool:
    """Findings shown as warnings: `warn` enforcement, and deny findings below the threshold."""
    if f.waived or f.enforcement == "dryrun" or f.error:
        return False
    return f.enforcement == "warn" or not f.blocks(decision.fail_on)


def _unjudged(gate: Gate, artifact: Artifact) -> Decision:
    from rollguard.model import ChangeSet

    return gate.decide(ChangeSet(artifacts=(artifact,)), [])


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
        log.log(level, json.dumps(entry, default=str, sort_keys=False))
