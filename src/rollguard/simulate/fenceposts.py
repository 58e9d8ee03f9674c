"""Kubernetes' int-or-percent arithmetic: maxSurge and maxUnavailable as the controllers resolve them."""

from __future__ import annotations

import re
from typing import Any

_PERCENT = re.compile(r"(-?[0-9]+)%")


class FencepostError(ValueError):
    """A maxSurge/maxUnavailable value the API server would refuse."""


def scaled_value(value: Any, total: int, *, round_up: bool) -> int:
    """An int-or-percent of `total` (intstr.GetScaledValueFromIntOrPercent): an integer as it is,
    `N%` of `total` rounded up or down; None counts as 0. Anything else is refused."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise FencepostError(f"invalid value {value!r}: write an integer or a percentage such as 25%")
    if isinstance(value, int):
        if value < 0:
            raise FencepostError(f"invalid value {value}: must not be negative")
        return value
    if isinstance(value, str):
        match = _PERCENT.fullmatch(value.strip())
        if match is None:
            raise FencepostError(f"invalid value {value!r}: a string must be a whole percentage such as 25%")
        percent = int(match.group(1))
        if percent < 0:
            raise FencepostError(f"invalid value {value!r}: must not be negative")
        product = percent * total
        return -(-product // 100) if round_up else product // 100
    raise FencepostError(f"invalid value {value!r}: write an integer or a percentage such as 25%")


def resolve_fenceposts(max_surge: Any, max_unavailable: Any, desired: int) -> tuple[int, int]:
    """(surge, unavailable) of a Deployment (deploymentutil.ResolveFenceposts): maxSurge rounds up,
    maxUnavailable rounds down, and 0/0 becomes unavailable 1 so a rollout can always move."""
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def deployment_max_unavailable(max_surge: Any, max_unavailable: Any, replicas: int) -> int:
    """deploymentutil.MaxUnavailable: the resolved maxUnavailable, never more than the replicas."""
    if replicas == 0:
        return 0
    return min(resolve_fenceposts(max_surge, max_unavailable, replicas)[1], replicas)


def new_rs_replicas(*, replicas: int, max_surge: int, current: int, new: int) -> int:
    """deploymentutil.NewRSNewReplicas for a rolling update: the new ReplicaSet grows while all
    pods counted stay within replicas + maxSurge, and never past the replicas."""
    if current >= replicas + max_surge:
        return new
    return new + min(replicas + max_surge - current, replicas - new)
