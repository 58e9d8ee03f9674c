"""maxSurge/maxUnavailable arithmetic, on the cases of the deployment controller's own util tests
(kubernetes/kubernetes pkg/controller/deployment/util/deployment_util_test.go)."""

from __future__ import annotations

from typing import Any

import pytest

from rollguard.simulate.fenceposts import (
    FencepostError,
    deployment_max_unavailable,
    new_rs_replicas,
    resolve_fenceposts,
    scaled_value,
)


# TestResolveFenceposts: (maxSurge, maxUnavailable, desired) -> (surge, unavailable); None is an unset field.
@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("0%", "0%", 0, (0, 1)),
        ("39%", "39%", 10, (4, 3)),
        (None, "39%", 10, (0, 3)),
        ("39%", None, 10, (4, 0)),
        (None, None, 10, (0, 1)),
    ],
)
def test_resolve_fenceposts_as_the_controller(
    surge: Any, unavailable: Any, desired: int, expected: tuple[int, int]
) -> None:
    assert resolve_fenceposts(surge, unavailable, desired) == expected


@pytest.mark.parametrize(("surge", "unavailable"), [("oops", "39%"), ("55%", "urg")])
def test_resolve_fenceposts_refuses_what_is_no_int_or_percent(surge: str, unavailable: str) -> None:
    with pytest.raises(FencepostError, match="a string must be a whole percentage"):
        resolve_fenceposts(surge, unavailable, 10)


# TestMaxUnavailable: maxSurge 1 and the given maxUnavailable of the given replicas.
@pytest.mark.parametrize(
    ("replicas", "unavailable", "expected"),
    [
        (10, 5, 5),
        (10, 10, 10),
        (5, 10, 5),  # never more than the replicas
        (0, 10, 0),
        (10, "50%", 5),
        (10, "100%", 10),
        (5, "100%", 5),
    ],
)
def test_max_unavailable_as_the_controller(replicas: int, unavailable: Any, expected: int) -> None:
    assert deployment_max_unavailable(1, unavailable, replicas) == expected


# TestMinAvailable: replicas − MaxUnavailable.
@pytest.mark.parametrize(
    ("replicas", "unavailable", "expected"),
    [(10, 5, 5), (10, 10, 0), (5, 10, 0), (0, 10, 0), (10, "60%", 4), (10, "100%", 0)],
)
def test_min_available_as_the_controller(replicas: int, unavailable: Any, expected: int) -> None:
    assert replicas - deployment_max_unavailable(1, unavailable, replicas) == expected


# TestNewRSNewReplicas for rolling updates: an old ReplicaSet of 5 beside the new one.
@pytest.mark.parametrize(
    ("replicas", "new", "surge", "expected"),
    [
        (1, 5, 1, 5),  # cannot scale up: already 10 pods against 1 + 1
        (6, 2, 10, 6),  # scale up to the replicas, not to the surge
    ],
)
def test_new_replica_set_size_as_the_controller(replicas: int, new: int, surge: int, expected: int) -> None:
    assert new_rs_replicas(replicas=replicas, max_surge=surge, current=5 + new, new=new) == expected


def test_the_documentation_example_rounds_surge_up_and_unavailable_down() -> None:
    # 25% of 10 is 2.5: 3 pods above the replicas at most, 2 below at most.
    assert resolve_fenceposts("25%", "25%", 10) == (3, 2)


@pytest.mark.parametrize("value", [True, -1, "-5%", "5", "12.5%", 1.5, [1]])
def test_scaled_value_refuses_what_the_api_server_refuses(value: Any) -> None:
    with pytest.raises(FencepostError):
        scaled_value(value, 10, round_up=True)
