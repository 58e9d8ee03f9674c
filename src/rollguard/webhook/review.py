"""AdmissionReview in and out: parse and check a request, build the response in the version asked."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from rollguard.model import Artifact, Resource

API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
MAX_BODY_BYTES = 3 * 1024 * 1024  # the API server's own limit for a request object
MAX_WARNING_CHARS = 120  # longer warnings are truncated by kubectl; keep them readable whole


class GroupVersionKind(TypedDict):
    """`request.kind`."""

    group: str
    version: str
    kind: str


class UserInfo(TypedDict, total=False):
    """`request.userInfo`."""

    username: str
    uid: str
    groups: list[str]


class AdmissionRequest(TypedDict, total=False):
    """The `request` of an AdmissionReview: what Gatekeeper hands policies as `input.review`."""

    uid: str
    kind: GroupVersionKind
    resource: dict[str, str]
    operation: str
    namespace: str
    name: str
    object: dict[str, Any] | None
    oldObject: dict[str, Any] | None
    userInfo: UserInfo
    dryRun: bool


class BadReview(ValueError):
    """The body is not an AdmissionReview rollguard can answer (HTTP 400)."""


def parse_review(body: bytes) -> tuple[str, AdmissionRequest]:
    """The AdmissionReview's apiVersion and its request; BadReview says what is wrong."""
    try:
        review = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadReview(f"body is not JSON: {exc}") from None
    if not isinstance(review, dict):
        raise BadReview("body is not a JSON object")
    api_version = review.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise BadReview(f"apiVersion {api_version!r} is not one of {', '.join(API_VERSIONS)}")
    if review.get("kind") != "AdmissionReview":
        raise BadReview(f"kind {review.get('kind')!r} is not AdmissionReview")
    request = review.get("request")
    if not isinstance(request, dict):
        raise BadReview("AdmissionReview has no request")
    if not isinstance(request.get("uid"), str) or not request["uid"]:
        raise BadReview("request.uid is missing")
    kind = request.get("kind")
    if not isinstance(kind, dict) or not isinstance(kind.get("kind"), str):
        raise BadReview("request.kind.kind is missing")
    if request.get("operation") not in OPERATIONS:
        raise BadReview(f"request.operation {request.get('operation')!r} is not one of {', '.join(OPERATIONS)}")
    for key in ("object", "oldObject"):
        if request.get(key) is not None and not isinstance(request[key], dict):
            raise BadReview(f"request.{key} is not an object")
    return str(api_version), request  # type: ignore[return-value]


def request_artifact(request: AdmissionRequest) -> Artifact:
    """The object under review as an Artifact (the old object for DELETE), named for findings."""
    doc: dict[str, Any] = request.get("object") or request.get("oldObject") or {}
    kind = request["kind"]
    raw_meta = doc.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    generated = f"{meta['generateName']}*" if isinstance(meta.get("generateName"), str) else ""
    name = request.get("name") or meta.get("name") or generated
    namespace = request.get("namespace") or meta.get("namespace") or None
    api = f"{kind['group']}/{kind['version']}" if kind.get("group") else kind.get("version", "v1")
    document = dict(doc)
    document.setdefault("apiVersion", api)
    document.setdefault("kind", kind["kind"])
    resource = Resource(api_version=api, kind=kind["kind"], namespace=namespace, name=str(name))
    return Artifact(kind="k8s", document=document, file="<admission>", line=0, resource=resource)


def review_response(
    api_version: str,
    uid: str,
    *,
    allowed: bool,
    message: str | None = None,
    warnings: Sequence[str] = (),
    patch: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The AdmissionReview answer, in the apiVersion the request used."""
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        response["status"] = {"code": 403, "reason": "Forbidden", "message": message or "denied by rollguard"}
    elif message:
        response["status"] = {"code": 200, "message": message}
    if warnings:
        response["warnings"] = [short_warning(w) for w in warnings]
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(list(patch)).encode("utf-8")).decode("ascii")
    return {"apiVersion": api_version, "kind": "AdmissionReview", "response": response}


def short_warning(text: str) -> str:
    """A warning of at most MAX_WARNING_CHARS characters, cut with an ellipsis."""
    return text if len(text) <= MAX_WARNING_CHARS else text[: MAX_WARNING_CHARS - 1] + "…"
