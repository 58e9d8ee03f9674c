"""The pods of one workload over simulated time: an event heap, per-version counts and the timeline."""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from rollguard.simulate.result import TimelineEvent

PodState = Literal["starting", "ready", "available", "terminating", "gone"]
# Pods the controllers count: a terminating pod has left its ReplicaSet's count (the controller
# creates its replacement at once), but it still holds its node's and the quota's capacity.
COUNTED: tuple[PodState, ...] = ("starting", "ready", "available")

# No rollout of a bounded workload needs more instants than this; a model error must end, not spin.
MAX_INSTANTS = 1_000_000


class StuckError(Exception):
    """The simulation cannot go on: no pod will change state and the controller waits for one."""


class OverBudgetError(StuckError):
    """The rollout has more instants than the caller allows (the webhook bounds each request)."""


@dataclass(frozen=True)
class PodTiming:
    """How long a pod of one version takes: to Ready, then to available, and to be gone once deleted."""

    startup: float
    min_ready: float
    termination: float


@dataclass(eq=False)
class Pod:
    """One pod: its version (`old`, `new`) and where it is in its life."""

    version: str
    state: PodState = "starting"
    node: int | None = None


@dataclass(order=True)
class _Due:
    time: float
    seq: int
    action: str = field(compare=False)
    pods: tuple[Pod, ...] = field(compare=False, default=())


class Fleet:
    """The pods of one workload and the instants at which they change state, earliest first."""

    def __init__(self, *, max_instants: int = MAX_INSTANTS, timeline: bool = True) -> None:
        self.max_instants = min(max_instants, MAX_INSTANTS)
        # Without a timeline (the policies' input), `note` records nothing: a third of the cost.
        self.record = timeline
        self.now = 0.0
        self._due: list[_Due] = []
        self._seq = itertools.count()
        # Pods by version and state, each an insertion-ordered set: the oldest first.
        self._pods: dict[tuple[str, PodState], dict[Pod, None]] = {}
        self.versions: list[str] = []
        self.peak_counted = 0
        self.peak_present = 0
        self.min_available: int | None = None
        self.timeline: list[TimelineEvent] = []
        self.instants = 0
        self.became_available: list[tuple[float, str, int]] = []

    # -- counting -------------------------------------------------------------------------

    def count(self, version: str, *states: PodState) -> int:
        """Pods of `version` in any of `states` (default: those the controller counts)."""
        return sum(len(self._pods.get((version, s), ())) for s in states or COUNTED)

    def available(self, version: str) -> int:
        """Pods of `version` that are available (Ready for minReadySeconds)."""
        return len(self._pods.get((version, "available"), ()))

    def ready(self, version: str) -> int:
        """Pods of `version` that are Ready (available ones included)."""
        return self.count(version, "ready", "available")

    def total(self, *states: PodState) -> int:
        """Pods of every version in any of `states`."""
        wanted = states or COUNTED
        return sum(len(pods) for (_, s), pods in self._pods.items() if s in wanted)

    # -- changing pods ----------------------------------------------------------------------

    def seed(self, version: str, count: int, *, node_of: list[int] | None = None) -> list[Pod]:
        """`count` pods of `version` that are already available at the start (the running version)."""
        made = [Pod(version, "available", node_of[i] if node_of else None) for i in range(count)]
        for pod in made:
            self._enter(pod)
        self._measure()
        self.min_available = self.total("available")
        return made

    def create(self, version: str, count: int, timing: PodTiming, *, node: int | None = None) -> list[Pod]:
        """Create `count` pods of `version` now; they become Ready and available as `timing` says."""
        made = [Pod(version, "starting", node) for _ in range(count)]
        if not made:
            return made
        for pod in made:
            self._enter(pod)
        self._measure()
        self._at(self.now + timing.startup, "ready", made)
        self._at(self.now + timing.startup + timing.min_ready, "available", made)
        return made

    def delete(self, version: str, count: int, timing: PodTiming) -> list[Pod]:
        """Delete `count` pods of `version`, the least useful first (not Ready, then not yet available),
        as the ReplicaSet controller ranks them; each is gone after its termination."""
        victims: list[Pod] = []
        for state in COUNTED:
            for pod in self._pods.get((version, state), {}):
                if len(victims) == count:
                    break
                victims.append(pod)
        return self.delete_pods(victims, timing)

    def delete_pods(self, victims: list[Pod], timing: PodTiming) -> list[Pod]:
        """Delete these pods now; each is gone after its termination."""
        for pod in victims:
            self._move(pod, "terminating")
        self._measure()
        if victims:
            self._at(self.now + timing.termination, "gone", victims)
        return victims

    def wake_at(self, time: float) -> None:
        """Make sure the controller looks again at `time` (a pause that ends, a delay)."""
        self._at(time, "wake", ())

    def note(self, text: str) -> None:
        """Record what the controller did now, with the counts after it."""
        if not self.record:
            return
        versions = sorted(self.versions)
        self.timeline.append(
            TimelineEvent(
                t=self.now,
                event=text,
                ready=sum(self.ready(v) for v in versions),
                available=sum(self.available(v) for v in versions),
                total=self.total(),
                terminating=self.total("terminating"),
                by_version={v: self.count(v) for v in versions},
            )
        )

    # -- time -------------------------------------------------------------------------------

    def advance(self) -> bool:
        """Move to the next instant at which something is due and apply it; False when nothing is."""
        if not self._due:
            return False
        self.instants += 1
        if self.instants > self.max_instants:
            if self.max_instants < MAX_INSTANTS:
                raise OverBudgetError(
                    f"the rollout has more than {self.max_instants:,} steps to simulate "
                    "(raise admission.simulation_steps, or judge it with rollguard check)"
                )
            raise StuckError(f"more than {MAX_INSTANTS:,} instants; the model refuses to go on")
        self.now = self._due[0].time
        changed: Counter[tuple[str, str]] = Counter()
        while self._due and self._due[0].time == self.now:
            due = heapq.heappop(self._due)
            for pod in due.pods:
                if due.action == "ready" and pod.state == "starting":
                    self._move(pod, "ready")
                elif due.action == "available" and pod.state == "ready":
                    self._move(pod, "available")
                elif due.action == "gone" and pod.state == "terminating":
                    self._move(pod, "gone")
                else:
                    continue
                changed[(pod.version, due.action)] += 1
        self._measure()
        for (version, action), n in sorted(changed.items()):
            if action == "available":
                self.became_available.append((self.now, version, n))
            if not self.record:
                continue
            word = {"ready": "Ready", "available": "available", "gone": "gone"}[action]
            self.note(f"{n} {version} pod{'s' if n != 1 else ''} {word}")
        return True

    def pending(self) -> bool:
        """Whether anything is still due."""
        return bool(self._due)

    def _at(self, time: float, action: str, pods: list[Pod] | tuple[Pod, ...]) -> None:
        heapq.heappush(self._due, _Due(time, next(self._seq), action, tuple(pods)))

    def _enter(self, pod: Pod) -> None:
        if pod.version not in self.versions:
            self.versions.append(pod.version)
        self._pods.setdefault((pod.version, pod.state), {})[pod] = None

    def _move(self, pod: Pod, state: PodState) -> None:
        del self._pods[(pod.version, pod.state)][pod]
        pod.state = state
        self._pods.setdefault((pod.version, state), {})[pod] = None

    def _measure(self) -> None:
        counted = self.total()
        self.peak_counted = max(self.peak_counted, counted)
        self.peak_present = max(self.peak_present, counted + self.total("terminating"))
        available = self.total("available")
        self.min_available = available if self.min_available is None else min(self.min_available, available)
