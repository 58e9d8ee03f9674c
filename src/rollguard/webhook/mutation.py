"""Admission mutations: fill in the rollout settings the validation policies ask for, as a JSON Patch."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import jsonpatch

from rollguard.errors import ConfigError
from rollguard.kube.images import ImageRef
from rollguard.kube.workloads import pod_template

CONFIG_KEY = "admission.mutations"
VERSION_LABEL = "app.kubernetes.io/version"
# What Kubernetes assumes for an unset terminationGracePeriodSeconds.
DEFAULT_GRACE_PERIOD_SECONDS = 30
# k8s.graceful_shutdown's default drain_seconds, used when its parameters are not given.
DEFAULT_DRAIN_SECONDS = 15

# Kinds whose pods come from spec.template; CronJob (spec.jobTemplate) and Pod are handled apart.
TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
REVISION_HISTORY_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})

# A label value the API server accepts: at most 63 characters, alphanumeric at both ends.
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class MutationSettings:
    """Which mutations `/mutate` applies, and the values they fill in; everything is off by default."""

    version_label: bool = False
    prestop_sleep: bool = False
    prestop_seconds: int = 5
    revision_history: bool = False
    revision_history_limit: int = 5
    progress_deadline: bool = False
    progress_deadline_seconds: int = 600
    # Read from the validation policies' parameters, so that a mutated object passes them.
    drain_seconds: int = DEFAULT_DRAIN_SECONDS
    version_labels: tuple[str, ...] = (VERSION_LABEL,)  # k8s.version_label's `labels`: any one satisfies it

    @property
    def enabled(self) -> bool:
        """Whether any mutation is switched on (else `/mutate` has nothing to compute)."""
        return self.version_label or self.prestop_sleep or self.revision_history or self.progress_deadline

    @classmethod
    def from_config(
        cls,
        raw: Mapping[str, Any] | None,
        *,
        policy_parameters: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> MutationSettings:
        """Settings from rollguard.yaml's `admission.mutations` (null or absent turns a mutation off).

        `policy_parameters` (policy id → parameters, as the gate resolved them) supplies
        k8s.graceful_shutdown's drain_seconds and k8s.version_label's labels, and bounds the
        filled-in values by k8s.revision_history's min_revisions and k8s.progress_deadline's
        max_seconds: a mutation must not write a value its own policy then reports.
        """
        raw = raw or {}
        params = policy_parameters or {}
        drain = _parameter(params, "k8s.graceful_shutdown", "drain_seconds")
        listed = (params.get("k8s.version_label") or {}).get("labels")
        labels = tuple(x for x in listed if isinstance(x, str) and x) if isinstance(listed, list) else ()
        prestop = raw.get("prestop_sleep") or {}
        if not isinstance(prestop, Mapping):
            raise ConfigError(f"{CONFIG_KEY}.prestop_sleep: expected an object with `enabled` and `seconds`")
        min_revisions = _parameter(params, "k8s.revision_history", "min_revisions")
        history = _integer(raw.get("revision_history_limit"), "revision_history_limit", minimum=0)
        if history is not None and min_revisions is not None and history < min_revisions:
            raise ConfigError(
                f"{CONFIG_KEY}.revision_history_limit: {history} is below k8s.revision_history's min_revisions "
                f"({min_revisions}), so every mutated workload would fail that policy; raise it"
            )
        max_seconds = _parameter(params, "k8s.progress_deadline", "max_seconds")
        deadline = _integer(raw.get("progress_deadline_seconds"), "progress_deadline_seconds", minimum=1)
        if deadline is not None and max_seconds is not None and deadline > max_seconds:
            raise ConfigError(
                f"{CONFIG_KEY}.progress_deadline_seconds: {deadline} is above k8s.progress_deadline's max_seconds "
                f"({max_seconds}), so every mutated Deployment would fail that policy; lower it"
            )
        seconds = _integer(prestop.get("seconds"), "prestop_sleep.seconds", minimum=1)
        return cls(
            version_label=_flag(raw.get("version_label"), "version_label"),
            prestop_sleep=_flag(prestop.get("enabled"), "prestop_sleep.enabled"),
            prestop_seconds=seconds if seconds is not None else cls.prestop_seconds,
            revision_history=history is not None,
            revision_history_limit=history if history is not None else cls.revision_history_limit,
            progress_deadline=deadline is not None,
            progress_deadline_seconds=deadline if deadline is not None else cls.progress_deadline_seconds,
            drain_seconds=drain if drain is not None else DEFAULT_DRAIN_SECONDS,
            version_labels=labels or (VERSION_LABEL,),
        )


def _parameter(params: Mapping[str, Mapping[str, Any]], policy: str, name: str) -> int | None:
    """An integer parameter of a policy; None when the policy is not selected or the value is no integer."""
    value = (params.get(policy) or {}).get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _flag(value: Any, key: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ConfigError(f"{CONFIG_KEY}.{key}: expected true or false, got {value!r}")
    return value


def _integer(value: Any, key: str, *, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{CONFIG_KEY}.{key}: expected an integer of at least {minimum} or null, got {value!r}")
    return value


def mutate(obj: Mapping[str, Any], settings: MutationSettings, *, operation: str = "CREATE") -> list[dict[str, Any]]:
    """The RFC 6902 patch (add and replace only) applying the enabled mutations to `obj`.

    A field the object already sets is never changed; null counts as unset, as in
    Kubernetes. On UPDATE, fields the API server keeps immutable (a Pod's spec, a Job's
    pod template) are left alone so the patched request is not rejected.
    """
    original = _plain(obj)
    mutated = _plain(obj)
    kind = mutated.get("kind")
    spec = mutated.get("spec")
    template = _pod_template(mutated)
    template_frozen = operation == "UPDATE" and kind == "Job"
    pod_spec_frozen = operation == "UPDATE" and kind in ("Pod", "Job")
    if template is not None:
        pod_spec = template.get("spec")
        if settings.version_label and not template_frozen:
            _add_version_label(template, settings)
        if settings.prestop_sleep and not pod_spec_frozen and isinstance(pod_spec, dict):
            _add_prestop_sleep(pod_spec, settings)
    if isinstance(spec, dict):
        if settings.revision_history and kind in REVISION_HISTORY_KINDS and spec.get("revisionHistoryLimit") is None:
            spec["revisionHistoryLimit"] = settings.revision_history_limit
        if settings.progress_deadline and kind == "Deployment":
            _add_progress_deadline(spec, settings.progress_deadline_seconds)
    return [dict(op) for op in jsonpatch.make_patch(original, mutated).patch]


def _plain(value: Any) -> Any:
    """A deep copy made of dicts and lists, whatever Mapping or Sequence types came in."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _pod_template(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The object holding the pods' `metadata` and `spec`, for the kinds mutations apply to."""
    kind = obj.get("kind")
    if kind not in TEMPLATE_KINDS and kind not in ("Pod", "CronJob"):
        return None
    template = pod_template(obj)
    return template if isinstance(template, dict) and template else None


def _add_version_label(template: dict[str, Any], settings: MutationSettings) -> None:
    pod_spec = template.get("spec")
    containers = pod_spec.get("containers") if isinstance(pod_spec, dict) else None
    if not isinstance(containers, list) or not containers or not isinstance(containers[0], dict):
        return
    image = containers[0].get("image")
    tag = ImageRef.parse(image).tag if isinstance(image, str) else None
    # A tag that is no valid label value would make the API server reject the object.
    if tag is None or not _LABEL_VALUE.match(tag):
        return
    if template.get("metadata") is None:
        template["metadata"] = {}
    metadata = template["metadata"]
    if not isinstance(metadata, dict):
        return
    if metadata.get("labels") is None:
        metadata["labels"] = {}
    labels = metadata["labels"]
    # Any of the policy's labels satisfies it: add the first only when none is set.
    if isinstance(labels, dict) and all(labels.get(name) is None for name in settings.version_labels):
        labels[settings.version_labels[0]] = tag


def _add_prestop_sleep(pod_spec: dict[str, Any], settings: MutationSettings) -> None:
    containers = pod_spec.get("containers")
    if not isinstance(containers, list):
        return
    targets = [c for c in containers if isinstance(c, dict) and _serves_traffic(c) and not _has_prestop(c)]
    targets = [c for c in targets if c.get("lifecycle") is None or isinstance(c.get("lifecycle"), dict)]
    if not targets:
        return
    # k8s.graceful_shutdown wants the grace period to cover the sleep plus the drain time.
    required = settings.prestop_seconds + settings.drain_seconds
    grace = pod_spec.get("terminationGracePeriodSeconds")
    if grace is not None and (not _is_number(grace) or grace < required):
        # Raising a grace period the user chose would rewrite their value, and a hook
        # without it trades the missing-hook finding for a grace-period one.
        return
    for c in targets:
        if c.get("lifecycle") is None:
            c["lifecycle"] = {}
        c["lifecycle"]["preStop"] = {"exec": {"command": ["sleep", str(settings.prestop_seconds)]}}
    if grace is None and required > DEFAULT_GRACE_PERIOD_SECONDS:
        pod_spec["terminationGracePeriodSeconds"] = required


def _serves_traffic(container: Mapping[str, Any]) -> bool:
    ports = container.get("ports")
    return isinstance(ports, list) and len(ports) > 0


def _has_prestop(container: Mapping[str, Any]) -> bool:
    lifecycle = container.get("lifecycle")
    return isinstance(lifecycle, dict) and lifecycle.get("preStop") is not None


def _add_progress_deadline(spec: dict[str, Any], seconds: int) -> None:
    if spec.get("progressDeadlineSeconds") is not None:
        return
    # The API server rejects a deadline that is not above minReadySeconds.
    min_ready = spec.get("minReadySeconds")
    if _is_number(min_ready) and min_ready >= seconds:
        return
    spec["progressDeadlineSeconds"] = seconds


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
