"""One pod of a workload as the simulation needs it: how long it takes to start and to go, what it requests."""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from rollguard.kube.workloads import pod_spec, pod_template
from rollguard.simulate.fleet import MAX_INSTANTS
from rollguard.simulate.result import PodTimes, Resources

STARTUP_ANNOTATION = "rollguard.io/startup-seconds"
DEFAULT_IMAGE_PULL_SECONDS = 10.0
DEFAULT_GRACE_SECONDS = 30
# The kubelet gives a preStop hook that outlasts the grace period this much more.
PRESTOP_EXTENSION_SECONDS = 2
# A week: longer start-ups are typing mistakes, and they would make every figure meaningless.
MAX_SECONDS = 7 * 24 * 3600.0

_PROBE_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "successThreshold": 1}
_SLEEP = re.compile(r"(?:^|[\s;&|])sleep\s+([0-9]+(?:\.[0-9]+)?)s?(?:$|[\s;&|])")


class PodInputError(ValueError):
    """A value of the pod template the simulation cannot use; the message says which and why."""


@dataclass(frozen=True)
class SimulationOptions:
    """What the files do not say: node count, per-workload start-up times (config), image pull allowance."""

    nodes: int | None = None
    startup_seconds: Mapping[str, float] = field(default_factory=dict)
    image_pull_seconds: float = DEFAULT_IMAGE_PULL_SECONDS
    # Controller steps one rollout may take to simulate (the webhook allows fewer than the model's
    # own bound), and whether to keep the timeline (the policies do not read it).
    max_instants: int = MAX_INSTANTS
    timeline: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, nodes: int | None = None) -> SimulationOptions:
        """The options of rollguard.yaml's `simulation:` section (validated with the config)."""
        return cls(
            nodes=nodes,
            startup_seconds=dict(config.get("startup_seconds") or {}),
            image_pull_seconds=float(config.get("image_pull_seconds", DEFAULT_IMAGE_PULL_SECONDS)),
        )

    def configured_startup(self, namespace: str, name: str, kind: str) -> float | None:
        """The config's start-up seconds for this workload: by `namespace/name`, `Kind/name` or `name` (globs allowed)."""
        for pattern, seconds in self.startup_seconds.items():
            if any(fnmatch.fnmatchcase(key, pattern) for key in (f"{namespace}/{name}", f"{kind}/{name}", name)):
                return seconds
        return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PodInputError(f"{what}: {value!r} is not a number of seconds")
    try:
        seconds = float(value)
    except ValueError:
        raise PodInputError(f"{what}: {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_SECONDS:
        raise PodInputError(f"{what}: {value!r} is not between 0 and {int(MAX_SECONDS)} seconds")
    return seconds


def _probe_seconds(probe: Mapping[str, Any], what: str) -> float:
    values = {k: probe.get(k, d) for k, d in _PROBE_DEFAULTS.items()}
    delay = _seconds(values["initialDelaySeconds"], f"{what}.initialDelaySeconds")
    period = _seconds(values["periodSeconds"], f"{what}.periodSeconds")
    success = _seconds(values["successThreshold"], f"{what}.successThreshold")
    return delay + period * success


def _serving_containers(doc: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    """The containers a pod's readiness waits for: its containers and its sidecars (restartable init containers)."""
    spec = pod_spec(doc)
    for field_name in ("initContainers", "containers"):
        listed = spec.get(field_name)
        for c in listed if isinstance(listed, list) else []:
            if not isinstance(c, Mapping):
                continue
            if field_name == "initContainers" and c.get("restartPolicy") != "Always":
                continue
            yield c


def pod_times(
    doc: Mapping[str, Any], *, kind: str, namespace: str, name: str, options: SimulationOptions
) -> tuple[PodTimes, list[str]]:
    """The seconds a pod of `doc` takes, and which of them are estimates (in words)."""
    estimates: list[str] = []
    meta = _mapping(doc.get("metadata"))
    annotations = {**_mapping(_mapping(pod_template(doc).get("metadata")).get("annotations"))}
    annotations.update(_mapping(meta.get("annotations")))
    spec = _mapping(doc.get("spec"))
    min_ready = _seconds(spec.get("minReadySeconds", 0), "spec.minReadySeconds")
    pull = options.image_pull_seconds
    if STARTUP_ANNOTATION in annotations:
        startup = _seconds(annotations[STARTUP_ANNOTATION], f"annotation {STARTUP_ANNOTATION}")
        pull = 0.0  # the annotation is the measured time to Ready, pull included
    elif (configured := options.configured_startup(namespace, name, kind)) is not None:
        startup = _seconds(configured, "simulation.startup_seconds")
        pull = 0.0
    else:
        startup, said = _probe_startup(doc)
        estimates.append(f"start-up {startup:g} s {said}, plus {pull:g} s to pull the image (an allowance)")
        if any(isinstance(c, Mapping) for c in _list(pod_spec(doc).get("initContainers"))):
            plain = [
                c for c in _list(pod_spec(doc).get("initContainers")) if _mapping(c).get("restartPolicy") != "Always"
            ]
            if plain:
                estimates.append(f"{len(plain)} init container(s) run before start-up; their run time is not counted")
        startup += pull
    termination, said = _termination(doc)
    estimates.append(said)
    return PodTimes(startup=startup, min_ready=min_ready, termination=termination, image_pull=pull), estimates


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _probe_startup(doc: Mapping[str, Any]) -> tuple[float, str]:
    """Seconds from container start to Ready by the probes (the slowest container), and how it was found."""
    slowest = 0.0
    how = "(no readiness probe: Ready as soon as the containers start)"
    for c in _serving_containers(doc):
        cname = c.get("name", "?")
        seconds = 0.0
        parts = []
        for probe_name in ("startupProbe", "readinessProbe"):
            probe = c.get(probe_name)
            if isinstance(probe, Mapping):
                seconds += _probe_seconds(probe, f"container {cname} {probe_name}")
                parts.append(probe_name)
        if seconds >= slowest and parts:
            slowest = seconds
            how = f"from container {cname}'s {' and '.join(parts)} (initialDelaySeconds + periodSeconds × successThreshold)"
    return slowest, how


def _termination(doc: Mapping[str, Any]) -> tuple[float, str]:
    """Seconds from deletion until the pod is gone, at most: the grace period, which includes the
    preStop hook (the kubelet gives a hook that outlasts it 2 s more)."""
    spec = pod_spec(doc)
    grace_value = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
    grace = _seconds(grace_value, "spec.template.spec.terminationGracePeriodSeconds")
    pre_stop = 0.0
    for c in _serving_containers(doc):
        hook = _mapping(_mapping(c.get("lifecycle")).get("preStop"))
        sleep = _mapping(hook.get("sleep")).get("seconds")
        if sleep is not None:
            pre_stop = max(pre_stop, _seconds(sleep, f"container {c.get('name', '?')} preStop.sleep.seconds"))
            continue
        command = " ".join(str(part) for part in _list(_mapping(hook.get("exec")).get("command")))
        if (found := _SLEEP.search(command)) is not None:
            pre_stop = max(pre_stop, min(float(found.group(1)), MAX_SECONDS))
    if pre_stop >= grace and pre_stop > 0:
        return grace + PRESTOP_EXTENSION_SECONDS, (
            f"termination {grace + PRESTOP_EXTENSION_SECONDS:g} s: the preStop hook ({pre_stop:g} s) outlasts the "
            f"grace period ({grace:g} s), which the kubelet extends by {PRESTOP_EXTENSION_SECONDS} s"
        )
    source = "" if "terminationGracePeriodSeconds" in spec else ", the default"
    after = f" after its {pre_stop:g} s preStop hook" if pre_stop else ""
    return grace, (
        f"termination {grace:g} s: the grace period{source} (an upper bound: a pod that exits on SIGTERM{after} "
        "goes sooner)"
    )


_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(
    r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]{1,3})|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)"
)


def parse_quantity(value: Any, what: str) -> Decimal:
    """A Kubernetes quantity (`500m`, `1.5`, `512Mi`, `1e3`) as a number; anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PodInputError(f"{what}: {value!r} is not a quantity")
    text = str(value).strip()
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise PodInputError(f"{what}: {value!r} is not a quantity (write e.g. 500m, 1, 512Mi)")
    try:
        number = Decimal(match.group(1))
        if match.group(2):
            number = number.scaleb(int(match.group(2)[1:]))
        else:
            number *= _SUFFIXES[match.group(3) or ""]
    except InvalidOperation:
        raise PodInputError(f"{what}: {value!r} is not a quantity") from None
    if number < 0:
        raise PodInputError(f"{what}: {value!r} is negative")
    return number


@dataclass(frozen=True)
class ContainerDefaults:
    """A LimitRange's `type: Container` defaults, which its admission plugin writes into containers
    that leave a resource out: `default` (limits) and `defaultRequest` (requests)."""

    limits: Mapping[str, Any] = field(default_factory=dict)
    requests: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def of(cls, limit_range: Mapping[str, Any]) -> ContainerDefaults:
        """The Container defaults of a LimitRange object (a later item overrides an earlier one)."""
        limits: dict[str, Any] = {}
        requests: dict[str, Any] = {}
        for item in _list(_mapping(limit_range.get("spec")).get("limits")):
            if isinstance(item, Mapping) and item.get("type") == "Container":
                limits.update(_mapping(item.get("default")))
                # Without defaultRequest, the LimitRange's default limit is the default request too.
                requests.update({**_mapping(item.get("default")), **_mapping(item.get("defaultRequest"))})
        name = _mapping(limit_range.get("metadata")).get("name")
        return cls(limits, requests, f"LimitRange {name}")

    def __bool__(self) -> bool:
        return bool(self.limits or self.requests)


def _with_defaults(
    resources: Mapping[str, Any], defaults: ContainerDefaults | None
) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(requests, limits) of a container as admitted: LimitRange defaults for the resources it leaves
    out (limits first, then requests), and a request defaulted to its limit by the API server."""
    limits = dict(_mapping(resources.get("limits")))
    requests = dict(_mapping(resources.get("requests")))
    if defaults:
        for name, value in defaults.limits.items():
            limits.setdefault(name, value)
        for name, value in defaults.requests.items():
            if name not in requests and name not in _mapping(resources.get("limits")):
                requests[name] = value
    return {**limits, **requests}, limits


def _container_resources(c: Mapping[str, Any], key: str, defaults: ContainerDefaults | None = None) -> Resources:
    requests, limits = _with_defaults(_mapping(c.get("resources")), defaults)
    values = requests if key == "requests" else limits
    where = f"container {c.get('name', '?')} resources.{key}"
    cpu = parse_quantity(values["cpu"], f"{where}.cpu") if "cpu" in values else Decimal(0)
    memory = parse_quantity(values["memory"], f"{where}.memory") if "memory" in values else Decimal(0)
    return Resources(float(cpu), int(memory.to_integral_value(rounding="ROUND_CEILING")))


def _add(a: Resources, b: Resources) -> Resources:
    return Resources(round(a.cpu + b.cpu, 6), a.memory + b.memory)


def _max(a: Resources, b: Resources) -> Resources:
    return Resources(max(a.cpu, b.cpu), max(a.memory, b.memory))


def pod_resources(
    doc: Mapping[str, Any], defaults: ContainerDefaults | None = None
) -> tuple[Resources, Resources, list[str]]:
    """(requests, limits) of one pod as the scheduler and the quota count them: its containers and
    sidecars summed, or an init container's when larger, with the namespace's LimitRange
    `defaults` filled in as its admission plugin does; and what was left out or filled in."""
    spec = pod_spec(doc)
    found: dict[str, Resources] = {}
    missing = 0
    for key in ("requests", "limits"):
        running = Resources()
        init_peak = Resources()
        for c in _list(spec.get("initContainers")):
            if not isinstance(c, Mapping):
                continue
            if c.get("restartPolicy") == "Always":
                running = _add(running, _container_resources(c, key, defaults))
            else:
                init_peak = _max(init_peak, _add(running, _container_resources(c, key, defaults)))
        for c in _list(spec.get("containers")):
            if isinstance(c, Mapping):
                running = _add(running, _container_resources(c, key, defaults))
                if (
                    key == "requests"
                    and not _mapping(_mapping(c.get("resources")).get("requests"))
                    and not _mapping(_mapping(c.get("resources")).get("limits"))
                ):
                    missing += 1
        found[key] = _max(running, init_peak)
    notes: list[str] = []
    if missing and defaults:
        filled = ", ".join(f"{k} {v}" for k, v in sorted(defaults.requests.items()))
        notes.append(f"{missing} container(s) set no requests: the defaults of {defaults.source} filled in ({filled})")
    elif missing:
        notes.append(f"{missing} container(s) set no requests: counted as 0 (a LimitRange default may apply)")
    return found["requests"], found["limits"], notes
