"""The webhook's Prometheus metrics, on a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)

# `*_created` series double the exposition and no dashboard reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Admission latency is judged against a 10 ms target; the buckets resolve well below it.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Counters, gauges and histograms that `/metrics` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "rollguard_admission_requests",
            "Admission requests answered, by operation, kind and decision.",
            ["endpoint", "operation", "kind", "decision"],
            registry=r,
        )
        self.latency = Histogram(
            "rollguard_admission_duration_seconds",
            "Time from request to answer.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.invalid = Counter(
            "rollguard_admission_invalid_requests",
            "Requests refused as malformed (400), too large (413) or while too many bodies are held (503).",
            ["code"],
            registry=r,
        )
        self.failures = Counter(
            "rollguard_admission_failures",
            "Requests not judged (deadline, limit, memory, engine error), answered by the failure mode.",
            ["reason", "failure_mode"],
            registry=r,
        )
        self.evaluators = Gauge(
            "rollguard_evaluators",
            "Evaluation worker processes, by state (idle, busy, starting).",
            ["state"],
            registry=r,
        )
        self.evaluator_restarts = Counter(
            "rollguard_evaluator_restarts",
            "Evaluation workers killed and replaced, by reason (deadline, memory, exit).",
            ["reason"],
            registry=r,
        )
        self.policy_errors = Counter(
            "rollguard_policy_errors", "Policies that could not be evaluated on a request.", ["policy"], registry=r
        )
        self.bundle = Info("rollguard_policy_bundle", "The policy bundle being served.", registry=r)
        self.reloads = Counter("rollguard_policy_reloads", "Policy reloads, by result.", ["result"], registry=r)
        self.records_written = Counter(
            "rollguard_decision_records_written", "Decisions appended to the store.", registry=r
        )
        self.records_dropped = Counter(
            "rollguard_decision_records_dropped",
            "Decisions not recorded because the record queue was full (admission is never blocked).",
            registry=r,
        )
        self.record_errors = Counter(
            "rollguard_decision_record_errors", "Decisions lost because the store refused a write.", registry=r
        )
        self.record_queue = Gauge("rollguard_decision_record_queue", "Decisions waiting to be recorded.", registry=r)
        self.cache_lookups = Counter(
            "rollguard_decision_cache_lookups",
            "Decision cache lookups, by result (hit, miss); a miss is judged by the policies.",
            ["result"],
            registry=r,
        )
        self.cache_entries = Gauge("rollguard_decision_cache_entries", "Decisions held in the cache.", registry=r)
        self.cache_proofs = Counter(
            "rollguard_decision_cache_proofs",
            "Cached decisions checked against another variant judged for real (generated name, volatile metadata),"
            " by result (same, different).",
            ["result"],
            registry=r,
        )
        self.inventory_objects = Gauge(
            "rollguard_inventory_objects", "Objects held in the synced inventory, by kind.", ["kind"], registry=r
        )
        self.inventory_synced = Gauge(
            "rollguard_inventory_synced", "1 once the first list of a synced kind has completed.", ["kind"], registry=r
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return bytes(generate_latest(self.registry))
