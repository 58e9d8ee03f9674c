"""No body gets an HTTP 500: generated JSON and mutated AdmissionReviews, through the real app in-process.

A 500 is what a `failurePolicy: Ignore` cluster reads as "admit", so the app answers every body
with 200 (judged, or the failure mode), 400 (malformed, with a reason) or 413 (too large).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollguard.webhook.service import AdmissionService

from .test_app import NO_PROBE, admission_review, call, make_service, the_deployment

ALLOWED_STATUSES = {200, 400, 413}
BASE = admission_review(the_deployment(NO_PROBE), uid="fuzz")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)
EXAMPLES = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdmissionService]:
    # Every mutation on, so that /mutate's code meets the odd shapes too.
    svc = make_service(
        tmp_path_factory.mktemp("untrusted"),
        config=(
            "admission:\n  mutations:\n    version_label: true\n    prestop_sleep: {enabled: true, seconds: 5}\n"
            "    revision_history_limit: 5\n    progress_deadline_seconds: 600\n"
        ),
        evaluators=2,
    )
    yield svc
    svc.close()


def assert_answered(service: AdmissionService, body: bytes) -> None:
    for endpoint in ("/validate", "/mutate"):
        response = call(service, endpoint, body)
        assert response.status_code in ALLOWED_STATUSES, (endpoint, response.status_code, response.text[:500])
        answer = response.json()
        if response.status_code == 200:
            assert isinstance(answer["response"]["allowed"], bool)
            assert answer["response"]["uid"] == json.loads(body)["request"]["uid"]
        else:
            assert answer["error"]


@EXAMPLES
@given(body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bodies_are_answered_without_a_server_error(service: AdmissionService, body: bytes) -> None:
    assert_answered(service, body)


@st.composite
def mutated_reviews(draw: st.DrawFn) -> bytes:
    """A valid AdmissionReview with one value somewhere in it replaced or removed."""
    review: Any = copy.deepcopy(BASE)
    parent: Any = None
    key: Any = None
    node = review
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
        elif isinstance(node, list) and node:
            key = draw(st.integers(min_value=0, max_value=len(node) - 1))
        else:
            break
        parent, node = node, node[key]
    if parent is not None:
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[key]
        else:
            parent[key] = draw(json_values)
    return json.dumps(review).encode()


@EXAMPLES
@given(body=mutated_reviews())
def test_mutated_admission_reviews_are_answered_without_a_server_error(service: AdmissionService, body: bytes) -> None:
    assert_answered(service, body)


def test_the_unmutated_review_is_judged(service: AdmissionService) -> None:
    """The examples start from a review the webhook judges (a deny), not from one it refuses."""
    response = call(service, "/validate", json.dumps(BASE).encode())
    assert response.status_code == 200 and response.json()["response"]["allowed"] is False
