"""The rollout controllers of Kubernetes, played on a Fleet: Deployment (rolling and Recreate),
StatefulSet and DaemonSet. Each reacts to the pods as the real controller's sync loop does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rollguard.simulate.fenceposts import new_rs_replicas
from rollguard.simulate.fleet import MAX_INSTANTS, Fleet, Pod, PodTiming, StuckError
from rollguard.simulate.result import Unbounded

# Passes of one controller over one instant; a real sync settles in a few (scale up, scale down, scale up).
MAX_PASSES = 64


class Controller(Protocol):
    """A controller driving one workload's rollout."""

    complete_at: float | None
    unbounded: Unbounded | None

    def start(self, fleet: Fleet) -> None:
        """Seed the running version and make the first moves."""

    def reconcile(self, fleet: Fleet) -> bool:
        """React to the pods as they are now; True when it changed something."""


@dataclass(frozen=True)
class Outcome:
    """A played rollout: its fleet (timeline, peaks) and when the controller was done."""

    fleet: Fleet
    complete_at: float | None
    settled_at: float
    unbounded: Unbounded | None
    rounds: int


def play(
    controller: Controller, *, new_version: str = "new", max_instants: int = MAX_INSTANTS, timeline: bool = True
) -> Outcome:
    """Run `controller` from its start until nothing is due any more (`max_instants` at most)."""
    fleet = Fleet(max_instants=max_instants, timeline=timeline)
    controller.start(fleet)
    _settle(controller, fleet)
    while fleet.advance():
        _settle(controller, fleet)
    if controller.complete_at is None:
        raise StuckError("the rollout cannot finish: the controller waits for pods that never change")
    done = controller.complete_at
    rounds = len({t for t, version, _ in fleet.became_available if version == new_version and t <= done})
    return Outcome(fleet, done, fleet.now, controller.unbounded, rounds)


def _settle(controller: Controller, fleet: Fleet) -> None:
    for _ in range(MAX_PASSES):
        if not controller.reconcile(fleet):
            return
    raise StuckError(f"the controller did not settle within {MAX_PASSES} passes at t={fleet.now:g} s")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def roll_replica_sets(
    fleet: Fleet,
    *,
    replicas: int,
    max_surge: int,
    max_unavailable: int,
    new_target: int,
    old_floor: int,
    timing: tuple[PodTiming, PodTiming],
    names: tuple[str, str] = ("new", "old"),
) -> bool:
    """One sync of the deployment controller's rolling update (rolling.go) between an old and a new
    ReplicaSet: scale the new one up within replicas + maxSurge (up to `new_target`), then scale
    the old one down (to `old_floor`) while available pods stay at replicas − maxUnavailable."""
    new_timing, old_timing = timing
    new_name, old_name = names
    changed = False
    new, old = fleet.count(new_name), fleet.count(old_name)
    if new < new_target:
        want = min(new_rs_replicas(replicas=replicas, max_surge=max_surge, current=old + new, new=new), new_target)
        if want > new:
            fleet.create(new_name, want - new, new_timing)
            fleet.note(f"scale {new_name} ReplicaSet up to {want}")
            changed = True
    old = fleet.count(old_name)
    if old <= old_floor:
        return changed
    new = fleet.count(new_name)
    min_available = replicas - max_unavailable
    new_unavailable = new - fleet.available(new_name)
    max_scaled_down = old + new - min_available - new_unavailable
    if max_scaled_down <= 0:
        return changed
    # cleanupUnhealthyReplicas: old pods that are not available go first, within maxScaledDown.
    unhealthy = min(old - fleet.available(old_name), max_scaled_down, old - old_floor)
    if unhealthy > 0:
        fleet.delete(old_name, unhealthy, old_timing)
        fleet.note(f"remove {_plural(unhealthy, 'unavailable ' + old_name + ' pod')}")
        changed = True
    available = fleet.available(old_name) + fleet.available(new_name)
    down = min(fleet.count(old_name) - old_floor, available - min_available)
    if down > 0:
        fleet.delete(old_name, down, old_timing)
        fleet.note(f"scale {old_name} ReplicaSet down to {fleet.count(old_name)}")
        changed = True
    return changed


class DeploymentRolling:
    """A Deployment's RollingUpdate from `replicas` old pods to as many new ones."""

    def __init__(
        self, *, replicas: int, max_surge: int, max_unavailable: int, timing: tuple[PodTiming, PodTiming]
    ) -> None:
        self.replicas, self.max_surge, self.max_unavailable = replicas, max_surge, max_unavailable
        self.timing = timing
        self.complete_at: float | None = None
        self.unbounded: Unbounded | None = None

    def start(self, fleet: Fleet) -> None:
        fleet.seed("old", self.replicas)
        fleet.note(f"rollout starts: {_plural(self.replicas, 'old pod')} available")

    def reconcile(self, fleet: Fleet) -> bool:
        changed = roll_replica_sets(
            fleet,
            replicas=self.replicas,
            max_surge=self.max_surge,
            max_unavailable=self.max_unavailable,
            new_target=self.replicas,
            old_floor=0,
            timing=self.timing,
        )
        if self.complete_at is None and fleet.count("old") == 0 and fleet.available("new") == self.replicas:
            self.complete_at = fleet.now
            fleet.note("rollout complete: every pod is new and available")
        return changed


class DeploymentRecreate:
    """A Deployment's Recreate: every old pod goes, and only once all are gone do the new ones start."""

    def __init__(self, *, replicas: int, timing: tuple[PodTiming, PodTiming]) -> None:
        self.replicas, self.timing = replicas, timing
        self.complete_at: float | None = None
        self.unbounded: Unbounded | None = None
        self._created = False

    def start(self, fleet: Fleet) -> None:
        fleet.seed("old", self.replicas)
        fleet.note(f"rollout starts: {_plural(self.replicas, 'old pod')} available")
        fleet.delete("old", self.replicas, self.timing[1])
        fleet.note("scale old ReplicaSet down to 0")

    def reconcile(self, fleet: Fleet) -> bool:
        if not self._created and fleet.count("old", "starting", "ready", "available", "terminating") == 0:
            self._created = True
            fleet.create("new", self.replicas, self.timing[0])
            fleet.note(f"scale new ReplicaSet up to {self.replicas}")
            return True
        if self.complete_at is None and self._created and fleet.available("new") == self.replicas:
            self.complete_at = fleet.now
            fleet.note("rollout complete: every pod is new and available")
        return False


class _SlotUpdate:
    """Replacement slot by slot (a StatefulSet's ordinals, a DaemonSet's nodes), some at a time.

    Each slot's old pod goes first and its new pod starts once the old one is gone; with `surge`,
    the new pod starts beside the old one, which goes once the new one is available.
    """

    def __init__(
        self, *, slots: list[int], width: int, surge: bool, timing: tuple[PodTiming, PodTiming], kept: int = 0
    ) -> None:
        self.queue = list(slots)
        self.width, self.surge, self.timing, self.kept = width, surge, timing, kept
        self.old: dict[int, Pod] = {}
        self.new: dict[int, Pod] = {}
        self.in_flight: list[int] = []
        self.complete_at: float | None = None
        self.unbounded: Unbounded | None = None
        self.noun = "pod"

    def start(self, fleet: Fleet) -> None:
        slots = sorted(set(self.queue) | set(range(self.kept)))
        for pod in fleet.seed("old", len(slots), node_of=slots):
            assert pod.node is not None
            self.old[pod.node] = pod
        fleet.note(f"rollout starts: {_plural(len(slots), 'old pod')} available")

    def reconcile(self, fleet: Fleet) -> bool:
        changed = False
        new_timing, old_timing = self.timing
        for slot in list(self.in_flight):
            old, new = self.old.get(slot), self.new.get(slot)
            if new is None and (self.surge or old is None or old.state == "gone"):
                self.new[slot] = fleet.create("new", 1, new_timing, node=slot)[0]
                fleet.note(f"create the new {self.noun} {self._label(slot)}")
                changed = True
            elif new is not None and new.state == "available":
                if old is not None and old.state in ("starting", "ready", "available"):
                    fleet.delete_pods([old], old_timing)
                    fleet.note(f"delete the old {self.noun} {self._label(slot)}")
                    changed = True
                self.in_flight.remove(slot)
        while self.queue and len(self.in_flight) < self.width:
            slot = self.queue.pop(0)
            self.in_flight.append(slot)
            old = self.old.get(slot)
            if not self.surge and old is not None:
                fleet.delete_pods([old], old_timing)
                fleet.note(f"delete the old {self.noun} {self._label(slot)}")
            elif self.surge:
                self.new[slot] = fleet.create("new", 1, new_timing, node=slot)[0]
                fleet.note(f"create the new {self.noun} {self._label(slot)} beside the old one")
            changed = True
        if self.complete_at is None and not self.queue and not self.in_flight:
            self.complete_at = fleet.now
            fleet.note("rollout complete: every pod to update is new and available")
        return changed

    def _label(self, slot: int) -> str:
        return str(slot)


class StatefulSetRolling(_SlotUpdate):
    """A StatefulSet's RollingUpdate: ordinals from the highest down to `partition`, `max_unavailable`
    at a time (1 unless rollingUpdate.maxUnavailable says more); a pod's successor starts once it is gone."""

    def __init__(
        self, *, replicas: int, partition: int, max_unavailable: int, timing: tuple[PodTiming, PodTiming]
    ) -> None:
        super().__init__(
            slots=list(range(replicas - 1, partition - 1, -1)),
            width=max_unavailable,
            surge=False,
            timing=timing,
            kept=replicas,
        )
        self.noun = "pod"

    def _label(self, slot: int) -> str:
        return f"of ordinal {slot}"


class DaemonSetRolling(_SlotUpdate):
    """A DaemonSet's RollingUpdate over `nodes` nodes: `max_unavailable` nodes at a time, or with
    maxSurge the new pod starts beside the old one on `max_surge` nodes at a time."""

    def __init__(
        self, *, nodes: int, max_surge: int, max_unavailable: int, timing: tuple[PodTiming, PodTiming]
    ) -> None:
        surge = max_surge > 0
        super().__init__(
            slots=list(range(nodes)), width=max_surge if surge else max_unavailable, surge=surge, timing=timing
        )

    def _label(self, slot: int) -> str:
        return f"on node {slot + 1}"
