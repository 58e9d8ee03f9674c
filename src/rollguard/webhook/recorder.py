"""Record admission decisions off the request path: a bounded queue and one writer thread.

Admission never waits for the store. When the queue is full the decision is dropped and
counted (`rollguard_decision_records_dropped`), so an overloaded or unreachable database
shows up in /metrics instead of in the API server's latency.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rollguard.audit.store import open_store
from rollguard.errors import RollguardError
from rollguard.webhook.metrics import Metrics

log = logging.getLogger("rollguard.webhook")

BodyBuilder = Callable[[], Mapping[str, Any]]


@dataclass(frozen=True)
class _Stop:
    """Sentinel that ends the writer after what was queued before it."""


class DecisionRecorder:
    """Append decision records from a background thread, in batches of what has queued up."""

    def __init__(self, store_url: str, metrics: Metrics, *, capacity: int = 10_000, batch: int = 500) -> None:
        self.store_url = store_url
        self.metrics = metrics
        self.batch = batch
        self._queue: queue.Queue[BodyBuilder | _Stop] = queue.Queue(maxsize=capacity)
        with open_store(store_url):  # fail at start-up, not on the first request
            pass
        self._thread = threading.Thread(target=self._run, name="rollguard-recorder", daemon=True)
        self._thread.start()

    def submit(self, build: BodyBuilder) -> bool:
        """Queue a record (built later, in the writer thread); False when it had to be dropped."""
        try:
            self._queue.put_nowait(build)
        except queue.Full:
            self.metrics.records_dropped.inc()
            return False
        self.metrics.record_queue.set(self._queue.qsize())
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer."""
        self._queue.put(_Stop())
        self._thread.join(timeout)

    def _run(self) -> None:
        # The store is opened in this thread: SQLite connections belong to their thread.
        with open_store(self.store_url) as store:
            while True:
                items = [self._queue.get()]
                while len(items) < self.batch:
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                builders = [i for i in items if not isinstance(i, _Stop)]
                bodies = []
                for build in builders:
                    try:
                        bodies.append(build())
                    except Exception:  # a broken record must not stop the writer
                        log.exception("could not build a decision record")
                        self.metrics.record_errors.inc()
                if bodies:
                    try:
                        store.append_many(bodies)
                        self.metrics.records_written.inc(len(bodies))
                    except (RollguardError, ValueError) as exc:
                        log.error("decision store %s refused %d records: %s", self.store_url, len(bodies), exc)
                        self.metrics.record_errors.inc(len(bodies))
                self.metrics.record_queue.set(self._queue.qsize())
                if len(builders) < len(items):
                    return


def utc_now() -> dt.datetime:
    """The current time in UTC (one place, so tests can see what records carry)."""
    return dt.datetime.now(dt.timezone.utc)
