"""Argo Rollouts, played on a Fleet: canary steps (setWeight, pause, analysis, experiment,
setCanaryScale) and blue-green (preview, promotion, scaleDownDelay)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollguard.simulate.controllers import roll_replica_sets
from rollguard.simulate.fleet import Fleet, PodTiming
from rollguard.simulate.result import Unbounded

DEFAULT_SCALE_DOWN_DELAY = 30.0
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# A step longer than a year is a mistake in the file; refusing it keeps every figure finite.
MAX_STEP_SECONDS = 365 * 24 * 3600.0


class RolloutInputError(ValueError):
    """A Rollout field the simulation cannot use; the message names it."""


def parse_duration(value: Any, what: str) -> float:
    """An Argo duration: seconds as a number, or `30s`, `10m`, `1h30m`."""
    if isinstance(value, bool):
        raise RolloutInputError(f"{what}: {value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isdigit():
            seconds = float(text)
        else:
            parts = _DURATION_PART.findall(text)
            if "".join(n + u for n, u in parts) != text:
                raise RolloutInputError(f"{what}: {value!r} is not a duration (write e.g. 30s, 10m, 1h)")
            seconds = sum(float(n) * _UNIT[u] for n, u in parts)
    else:
        raise RolloutInputError(f"{what}: {value!r} is not a duration")
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_STEP_SECONDS:
        raise RolloutInputError(f"{what}: {value!r} is not between 0 s and a year")
    return seconds


@dataclass(frozen=True)
class Step:
    """One canary step as the simulation plays it."""

    kind: str  # setWeight | pause | analysis | experiment | setCanaryScale | other
    weight: int | None = None  # setWeight
    seconds: float | None = None  # pause, analysis, experiment: None = no end the files tell
    extra_pods: int = 0  # experiment: pods its templates run
    canary_replicas: int | None = None  # setCanaryScale


class CanaryRollout:
    """A Rollout's canary: steps in order, the replica split of each setWeight reached with the
    deployment controller's surge/unavailable rules (without traffic routing), then full promotion."""

    def __init__(
        self,
        *,
        replicas: int,
        max_surge: int,
        max_unavailable: int,
        steps: Sequence[Step],
        traffic_routing: bool,
        scale_down_delay: float,
        timing: tuple[PodTiming, PodTiming],
    ) -> None:
        self.replicas, self.max_surge, self.max_unavailable = replicas, max_surge, max_unavailable
        self.steps, self.traffic_routing, self.scale_down_delay = list(steps), traffic_routing, scale_down_delay
        self.timing = timing
        self.index = 0
        self.step_started: float | None = None
        self.weight = 0
        self.canary_scale: int | None = None
        self.experiment_pods: list[Any] = []
        self.promoted_at: float | None = None
        self.complete_at: float | None = None
        self.unbounded: Unbounded | None = None

    def start(self, fleet: Fleet) -> None:
        fleet.seed("stable", self.replicas)
        fleet.note(f"rollout starts: {self.replicas} stable pods available")

    def _targets(self) -> tuple[int, int]:
        if self.index >= len(self.steps):
            return self.replicas, 0
        canary = self.canary_scale if self.canary_scale is not None else math.ceil(self.weight * self.replicas / 100)
        canary = min(canary, self.replicas)
        return canary, self.replicas if self.traffic_routing else self.replicas - canary

    def reconcile(self, fleet: Fleet) -> bool:
        canary, stable = self._targets()
        changed = self._scale(fleet, canary, stable)
        if self.index < len(self.steps):
            return self._step(fleet, canary, stable) or changed
        return self._finish(fleet) or changed

    def _scale(self, fleet: Fleet, canary: int, stable: int) -> bool:
        if self.traffic_routing:
            # With traffic routing the stable pods stay; canary pods are added beside them.
            have = fleet.count("canary")
            if have < canary:
                fleet.create("canary", canary - have, self.timing[0])
                fleet.note(f"scale canary ReplicaSet up to {canary}")
                return True
            return False
        return roll_replica_sets(
            fleet,
            replicas=self.replicas,
            max_surge=self.max_surge,
            max_unavailable=self.max_unavailable,
            new_target=canary,
            old_floor=stable,
            timing=self.timing,
            names=("canary", "stable"),
        )

    def _step(self, fleet: Fleet, canary: int, stable: int) -> bool:
        step = self.steps[self.index]
        number = self.index + 1
        if self.step_started is None:
            self.step_started = fleet.now
            if step.kind == "setWeight" and step.weight is not None:
                self.weight = step.weight
                fleet.note(f"step {number}: setWeight {step.weight}")
                return True
            if step.kind == "setCanaryScale":
                self.canary_scale = step.canary_replicas
                fleet.note(f"step {number}: setCanaryScale to {step.canary_replicas} pods")
                return True
            if step.seconds is None and step.kind in ("pause", "analysis", "experiment"):
                what = {
                    "pause": "a pause without duration",
                    "analysis": "an analysis that runs until stopped",
                    "experiment": "an experiment without duration",
                }[step.kind]
                if self.unbounded is None:
                    self.unbounded = Unbounded(f"step {number} is {what}: it waits for someone to promote", number)
                fleet.note(f"step {number}: {step.kind} without end (played as promoted at once)")
            elif step.seconds is not None and step.kind in ("pause", "analysis", "experiment"):
                fleet.note(f"step {number}: {step.kind} for {step.seconds:g} s")
                fleet.wake_at(fleet.now + step.seconds)
            if step.kind == "experiment" and step.extra_pods:
                self.experiment_pods = fleet.create("experiment", step.extra_pods, self.timing[0])
                fleet.note(f"step {number}: experiment starts {step.extra_pods} pods")
        if step.kind in ("setWeight", "setCanaryScale"):
            done = (
                fleet.count("canary") == canary
                and fleet.available("canary") == canary
                and fleet.count("stable") == stable
            )
        elif step.kind in ("pause", "analysis", "experiment") and step.seconds is not None:
            done = fleet.now >= self.step_started + step.seconds
        else:
            done = True
        if not done:
            return False
        if self.experiment_pods:
            fleet.delete_pods([p for p in self.experiment_pods if p.state != "gone"], self.timing[0])
            fleet.note(f"step {number}: experiment ends")
            self.experiment_pods = []
        self.index += 1
        self.step_started = None
        if self.index == len(self.steps):
            fleet.note("all steps done: promote the canary to every pod")
        return True

    def _finish(self, fleet: Fleet) -> bool:
        if fleet.available("canary") < self.replicas or self.complete_at is not None:
            return False
        if fleet.count("stable") == 0 or not self.traffic_routing:
            if fleet.count("stable"):
                return False  # the rolling scale-down is still on its way
            self.complete_at = fleet.now
            fleet.note("rollout complete: every pod is new and available")
            return True
        if self.promoted_at is None:
            self.promoted_at = fleet.now
            fleet.note(f"stable pods stay {self.scale_down_delay:g} s (scaleDownDelaySeconds)")
            fleet.wake_at(fleet.now + self.scale_down_delay)
            return True
        if fleet.now >= self.promoted_at + self.scale_down_delay:
            fleet.delete("stable", fleet.count("stable"), self.timing[1])
            fleet.note("scale stable ReplicaSet down to 0")
            return True
        return False


class BlueGreenRollout:
    """A Rollout's blue-green: the preview pods start all at once beside the active ones, promotion
    (automatic, after autoPromotionSeconds, or by hand) switches traffic, and the old pods go
    scaleDownDelaySeconds later."""

    def __init__(
        self,
        *,
        replicas: int,
        preview_replicas: int,
        auto_promotion: bool,
        auto_promotion_seconds: float | None,
        pre_promotion_seconds: float | None,
        post_promotion_seconds: float | None,
        scale_down_delay: float,
        timing: tuple[PodTiming, PodTiming],
    ) -> None:
        self.replicas, self.preview = replicas, min(preview_replicas, replicas)
        self.auto_promotion, self.auto_seconds = auto_promotion, auto_promotion_seconds
        self.pre, self.post = pre_promotion_seconds, post_promotion_seconds
        self.scale_down_delay, self.timing = scale_down_delay, timing
        self.phase = "preview"
        self.wait_until = 0.0
        self.complete_at: float | None = None
        self.unbounded: Unbounded | None = None

    def start(self, fleet: Fleet) -> None:
        fleet.seed("active", self.replicas)
        fleet.note(f"rollout starts: {self.replicas} active pods available")
        fleet.create("preview", self.preview, self.timing[0])
        fleet.note(f"scale preview ReplicaSet up to {self.preview}")

    def _wait(self, fleet: Fleet, seconds: float, text: str) -> None:
        self.wait_until = fleet.now + seconds
        fleet.wake_at(self.wait_until)
        fleet.note(text)

    def reconcile(self, fleet: Fleet) -> bool:
        if fleet.now < self.wait_until:
            return False
        match self.phase:
            case "preview":
                if fleet.available("preview") < self.preview:
                    return False
                self.phase = "pre-promotion"
                if self.pre is None:
                    self._unbounded(fleet, "the pre-promotion analysis runs until stopped")
                elif self.pre:
                    self._wait(fleet, self.pre, f"pre-promotion analysis for {self.pre:g} s")
                return True
            case "pre-promotion":
                self.phase = "promotion"
                if not self.auto_promotion:
                    self._unbounded(fleet, "autoPromotionEnabled is false: it waits for someone to promote")
                elif self.auto_seconds:
                    self._wait(
                        fleet, self.auto_seconds, f"promote after {self.auto_seconds:g} s (autoPromotionSeconds)"
                    )
                return True
            case "promotion":
                if fleet.count("preview") < self.replicas:
                    fleet.create("preview", self.replicas - fleet.count("preview"), self.timing[0])
                    fleet.note(f"scale preview ReplicaSet up to {self.replicas} before the switch")
                    return True
                if fleet.available("preview") < self.replicas:
                    return False
                fleet.note("switch the active service to the new pods")
                self.phase = "post-promotion"
                if self.post is None:
                    self._unbounded(fleet, "the post-promotion analysis runs until stopped")
                elif self.post:
                    self._wait(fleet, self.post, f"post-promotion analysis for {self.post:g} s")
                return True
            case "post-promotion":
                self.phase = "scale-down"
                self._wait(
                    fleet, self.scale_down_delay, f"old pods stay {self.scale_down_delay:g} s (scaleDownDelaySeconds)"
                )
                return True
            case "scale-down":
                fleet.delete("active", fleet.count("active"), self.timing[1])
                fleet.note("scale the old ReplicaSet down to 0")
                self.phase = "done"
                self.complete_at = fleet.now
                return True
        return False

    def _unbounded(self, fleet: Fleet, reason: str) -> None:
        if self.unbounded is None:
            self.unbounded = Unbounded(reason)
        fleet.note(f"{reason} (played as promoted at once)")


def canary_steps(raw: Any, *, replicas: int, templates: Mapping[str, float | None]) -> tuple[list[Step], list[str]]:
    """The steps of `spec.strategy.canary.steps`, and what about them is estimated.

    `templates` gives the seconds of the AnalysisTemplates the change holds (None: runs until stopped).
    """
    steps: list[Step] = []
    notes: list[str] = []
    for i, entry in enumerate(raw if isinstance(raw, list) else []):
        where = f"spec.strategy.canary.steps[{i}]"
        if not isinstance(entry, Mapping):
            raise RolloutInputError(f"{where}: not a step")
        if "setWeight" in entry:
            weight = entry["setWeight"]
            if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
                raise RolloutInputError(f"{where}.setWeight: {weight!r} is not a whole percentage from 0 to 100")
            steps.append(Step("setWeight", weight=weight))
        elif "pause" in entry:
            pause = entry["pause"] if isinstance(entry["pause"], Mapping) else {}
            seconds = parse_duration(pause["duration"], f"{where}.pause.duration") if "duration" in pause else None
            steps.append(Step("pause", seconds=seconds))
        elif "analysis" in entry:
            steps.append(Step("analysis", seconds=_analysis_seconds(entry["analysis"], where, templates, notes)))
        elif "experiment" in entry:
            experiment = entry["experiment"] if isinstance(entry["experiment"], Mapping) else {}
            seconds = (
                parse_duration(experiment["duration"], f"{where}.experiment.duration")
                if "duration" in experiment
                else None
            )
            pods = 0
            for t in experiment.get("templates") or []:
                count = t.get("replicas", 1) if isinstance(t, Mapping) else 1
                pods += count if isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= 1000 else 1
            steps.append(Step("experiment", seconds=seconds, extra_pods=pods))
        elif "setCanaryScale" in entry:
            scale = entry["setCanaryScale"] if isinstance(entry["setCanaryScale"], Mapping) else {}
            if isinstance(scale.get("replicas"), int) and not isinstance(scale.get("replicas"), bool):
                count = max(0, min(scale["replicas"], replicas))
            elif isinstance(scale.get("weight"), int) and not isinstance(scale.get("weight"), bool):
                count = math.ceil(max(0, min(scale["weight"], 100)) * replicas / 100)
            else:
                count = None  # matchTrafficWeight: back to the weight's split
            steps.append(Step("setCanaryScale", canary_replicas=count))
        else:
            steps.append(Step("other"))
    return steps, notes


def _analysis_seconds(raw: Any, where: str, templates: Mapping[str, float | None], notes: list[str]) -> float | None:
    """The longest of the step's analysis templates, when the change holds them; else 0, said as an estimate."""
    names = (
        [t.get("templateName") for t in (raw.get("templates") or []) if isinstance(t, Mapping)]
        if isinstance(raw, Mapping)
        else []
    )
    known = [templates[n] for n in names if isinstance(n, str) and n in templates]
    if len(known) < len(names) or not names:
        notes.append(f"{where}: analysis templates not in the change; the analysis is counted as 0 s")
    if any(k is None for k in known):
        return None
    return max((k for k in known if k is not None), default=0.0)


def analysis_template_seconds(doc: Mapping[str, Any]) -> float | None:
    """How long an AnalysisTemplate's measurements run: the longest metric's initial delay plus
    interval × (count − 1); None when a metric with an interval has no count (it runs until stopped)."""
    longest = 0.0
    spec = doc.get("spec")
    metrics = spec.get("metrics") if isinstance(spec, Mapping) else None
    for i, metric in enumerate(metrics if isinstance(metrics, list) else []):
        if not isinstance(metric, Mapping):
            continue
        where = f"spec.metrics[{i}]"
        delay = parse_duration(metric["initialDelay"], f"{where}.initialDelay") if "initialDelay" in metric else 0.0
        count = metric.get("count")
        if "interval" in metric:
            interval = parse_duration(metric["interval"], f"{where}.interval")
            if count is None:
                return None
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise RolloutInputError(f"{where}.count: {count!r} is not a whole number")
            longest = max(longest, delay + interval * max(count - 1, 0))
        else:
            longest = max(longest, delay)
    return min(longest, MAX_STEP_SECONDS)
