"""Run the webhook: uvicorn over TLS 1.2+, policy hot reload (SIGHUP or a changed directory), inventory sync."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from rollguard.errors import ConfigError, RollguardError
from rollguard.policy.bundle import PolicySources
from rollguard.webhook.app import create_app
from rollguard.webhook.cache import DEFAULT_SIZE
from rollguard.webhook.evaluation import PoolOptions
from rollguard.webhook.metrics import Metrics
from rollguard.webhook.protocol import ConnectionLimits, DeadlineH11Protocol, limit_tls_handshakes
from rollguard.webhook.recorder import DecisionRecorder
from rollguard.webhook.service import AdmissionService, FailureMode, PolicySource, log_event

OPTIONS_ENV = "ROLLGUARD_SERVE_OPTIONS"  # how uvicorn's worker processes receive the options


@dataclass(frozen=True)
class ServeOptions:
    """Everything `rollguard serve` was asked to do; JSON-serialisable for worker processes."""

    policy_dir: str
    config_path: str | None
    environment: str | None
    engine: str
    cert: str
    key: str
    host: str = "0.0.0.0"
    port: int = 8443
    workers: int = 1
    store: str | None = None
    failure_mode: FailureMode | None = None
    namespace: str | None = None
    sync: tuple[str, ...] = ()
    kubeconfig: str | None = None
    context: str | None = None
    sync_interval: float = 5.0
    reload_interval: float = 2.0
    inventory: tuple[str, ...] = ()
    engine_options: Mapping[str, Any] = field(default_factory=dict)
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)
    evaluation: PoolOptions = field(default_factory=PoolOptions)
    extra_policy_dirs: tuple[str, ...] = ()  # --policy DIR and the config's policies.paths
    builtin_policies: bool = True
    decision_cache: int = DEFAULT_SIZE  # decisions kept for identical requests; 0 turns the cache off

    def policy_sources(self) -> PolicySources:
        """The policies this server judges with (the pack or --policies, and the user's)."""
        return PolicySources(
            base=Path(self.policy_dir),
            extra=tuple(Path(d) for d in self.extra_policy_dirs),
            builtin=self.builtin_policies,
        )

    def to_env(self) -> str:
        """The options as JSON, for the environment of worker processes."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeOptions:
        """Options handed down by the parent process."""
        raw = json.loads(os.environ[OPTIONS_ENV])
        raw["sync"] = tuple(raw.get("sync") or ())
        raw["extra_policy_dirs"] = tuple(raw.get("extra_policy_dirs") or ())
        raw["inventory"] = tuple(raw.get("inventory") or ())
        raw["connections"] = ConnectionLimits(**raw.get("connections", {}))
        raw["evaluation"] = PoolOptions(**raw.get("evaluation", {}))
        return cls(**raw)


class TlsConfig(uvicorn.Config):
    """uvicorn's config with TLS 1.2 as the lowest protocol version, whatever OpenSSL defaults to,
    and the connection limits: deadlines for slow clients (DeadlineH11Protocol), the keep-alive
    timeout and the number of connections served."""

    def __init__(self, app: Any, *, connections: ConnectionLimits | None = None, **kwargs: Any) -> None:
        limits = connections or ConnectionLimits()
        kwargs.setdefault("http", DeadlineH11Protocol)
        kwargs.setdefault("timeout_keep_alive", limits.keep_alive_timeout)
        # uvicorn answers 503 once the connections, this one included, reach the limit.
        kwargs.setdefault("limit_concurrency", limits.max_connections + 1)
        super().__init__(app, **kwargs)
        self.connection_limits = limits

    def load(self) -> None:
        """Load as uvicorn does, then raise the TLS floor."""
        super().load()
        if self.ssl is not None:
            self.ssl.minimum_version = ssl.TLSVersion.TLSv1_2

    def bind_socket(self) -> socket.socket:
        """uvicorn's listening socket for --workers N, marked as TCP so connections get TCP_NODELAY.

        uvicorn binds it with protocol 0; accepted sockets inherit that and asyncio then leaves
        Nagle's algorithm on, which costs every keep-alive answer a delayed ACK (about 40 ms
        on Linux, uvicorn issue 3149).
        """
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
            return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        return sock


def build_service(options: ServeOptions) -> tuple[AdmissionService, Any]:
    """The admission service (loaded and warmed) and its inventory sync, if any."""
    metrics = Metrics()
    recorder = DecisionRecorder(options.store, metrics) if options.store else None
    sync = None
    inventory = None
    if options.sync:
        from rollguard.webhook.inventory import InventorySync

        sync = InventorySync(options.sync, kubeconfig=options.kubeconfig, context=options.context, metrics=metrics)
        inventory = sync.snapshot
    if options.inventory:
        if options.sync:
            raise ConfigError("--inventory and --sync both fill the inventory; use one of them")
        inventory = static_inventory(options.inventory)
    source = PolicySource(
        policies=options.policy_sources(),
        config_path=Path(options.config_path) if options.config_path else None,
        environment=options.environment,
        engine=options.engine,
        engine_options=dict(options.engine_options),
    )
    kwargs: dict[str, Any] = {}
    if inventory is not None:
        kwargs["inventory"] = inventory
    service = AdmissionService(
        source,
        metrics=metrics,
        recorder=recorder,
        own_namespace=options.namespace,
        failure_mode=options.failure_mode,
        evaluation=options.evaluation,
        decision_cache=options.decision_cache,
        **kwargs,
    )
    if sync is not None:
        service.inventory_ready = lambda: sync.ready
    service.load()
    return service, sync


# Kinds a static inventory stands for in full, besides the kinds its files contain.
STATIC_KINDS = frozenset(
    {
        "Namespace",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
    }
)


def static_inventory(paths: tuple[str, ...]) -> Any:
    """An inventory read once from manifests (`--inventory`): what the cluster is known to hold.

    The usual synced kinds and every kind in the files count as complete, so policies judge
    with it instead of reporting an unsynced inventory.
    """
    from rollguard.contract import build_inventory
    from rollguard.inputs import load_change_set

    change = load_change_set(list(paths))
    if change.problems:
        first = change.problems[0]
        raise ConfigError(f"--inventory: {first.message}", file=first.file, line=first.line)
    docs = [a.document for a in change.artifacts if a.kind == "k8s"]
    inventory = build_inventory(docs)
    kinds = STATIC_KINDS | {str(d["kind"]) for d in docs}
    return lambda: (inventory, kinds)


def _fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when a policy file is added, removed or edited."""
    entries = []
    for path in sorted(root.rglob("*.rego")):
        try:
            st = path.stat()
        except OSError:
            continue
        entries.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(entries)


class Reloader:
    """Reload on SIGHUP, on a changed policy directory or config, and (debounced) on inventory changes."""

    def __init__(self, service: AdmissionService, options: ServeOptions, sync: Any) -> None:
        self.service = service
        self.options = options
        self.sync = sync
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reason = ""
        self._seen = self._state()
        self._inventory_seen = sync.version if sync is not None else 0

    def _state(self) -> tuple[Any, ...]:
        config = Path(self.options.config_path) if self.options.config_path else None
        config_stamp = config.stat().st_mtime_ns if config is not None and config.exists() else None
        return (tuple(_fingerprint(d) for d in self.options.policy_sources().dirs), config_stamp)

    def request(self, reason: str) -> None:
        """Ask for a reload soon (signal handlers call this; the work happens on the reload thread)."""
        self._reason = reason
        self._wake.set()

    def start(self) -> None:
        """Start watching in a daemon thread."""
        threading.Thread(target=self._run, name="rollguard-reload", daemon=True).start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        interval = min(self.options.reload_interval, self.options.sync_interval)
        while not self._stop.is_set():
            self._wake.wait(interval)
            if self._stop.is_set():
                return
            reason = self._reason if self._wake.is_set() else ""
            self._wake.clear()
            self._reason = ""
            state = self._state()
            if state != self._seen:
                reason = reason or "policy directory or config changed"
            if self.sync is not None and self.sync.version != self._inventory_seen:
                reason = reason or "inventory changed"
            if reason:
                self._seen = state
                if self.sync is not None:
                    self._inventory_seen = self.sync.version
                self.service.reload(reason)
                if reason == "inventory changed":
                    self._stop.wait(self.options.sync_interval)  # at most one inventory rebuild per interval


def create_from_environment() -> Starlette:
    """App factory for uvicorn worker processes (each builds its own engine: spawn, never fork)."""
    # A spawned worker does not inherit the parent's logging set-up (a no-op when it is the parent).
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    options = ServeOptions.from_env()
    service, sync = build_service(options)
    reloader = Reloader(service, options, sync)

    def startup() -> None:
        loop = asyncio.get_running_loop()
        limit_tls_handshakes(loop, options.connections.header_timeout)  # before uvicorn creates its servers
        loop.add_signal_handler(signal.SIGHUP, reloader.request, "SIGHUP")
        if sync is not None:
            sync.start()
        reloader.start()
        log_event("serving", bundle=service.runtime.digest if service.runtime else None, pid=os.getpid())

    def shutdown() -> None:
        reloader.stop()
        if sync is not None:
            sync.stop()
        service.close()  # writes the decisions still queued for the store
        log_event("stopped", pid=os.getpid())

    return create_app(service, on_startup=startup, on_shutdown=shutdown)


def serve(options: ServeOptions) -> None:
    """Run until interrupted: HTTPS only, one or more worker processes."""
    for path, what in ((options.cert, "--cert"), (options.key, "--key")):
        if not Path(path).is_file():
            raise ConfigError(f"{what} {path}: no such file; create one with `rollguard webhook certs`")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    os.environ[OPTIONS_ENV] = options.to_env()
    if options.workers == 1:
        # Fail before binding the port when the policies do not compile.
        app: Any = create_from_environment()
    else:
        app = "rollguard.webhook.server:create_from_environment"
    config = TlsConfig(
        app,
        host=options.host,
        port=options.port,
        workers=options.workers if options.workers > 1 else None,
        factory=options.workers > 1,
        ssl_certfile=options.cert,
        ssl_keyfile=options.key,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
        connections=options.connections,
    )
    server = uvicorn.Server(config)
    if options.workers > 1:
        from uvicorn.supervisors import Multiprocess

        sock = config.bind_socket()
        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run()


def check_startup(options: ServeOptions) -> None:
    """Raise a RollguardError now for anything that would stop the server from starting."""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(options.cert, options.key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"--cert/--key: cannot load the certificate and key: {exc}") from exc


__all__ = ["RollguardError", "ServeOptions", "build_service", "create_from_environment", "serve"]
