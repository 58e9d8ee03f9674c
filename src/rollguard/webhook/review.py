"""AdmissionReview in and out: parse and check a request, build the response in the version asked."""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import orjson

from rollguard.model import Artifact, Resource

API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
MAX_BODY_BYTES = 3 * 1024 * 1024  # the API server's own limit for a request object
MAX_INTEGER_DIGITS = 20  # 2**64 has 20 digits
MAX_WARNING_CHARS = 120  # longer warnings are truncated by kubectl; keep them readable whole
# orjson reads a body only when it cannot disagree with the json module's checks: nesting (orjson
# refuses past 1024 levels, json near 1000 when Python's stack runs out) is below the count of
# brackets, and a run of 19 digits may be an integer orjson would turn into a float.
FAST_MAX_BRACKETS = 900
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


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
    """The AdmissionReview's apiVersion and its request; BadReview says what is wrong.

    Everything rollguard itself reads is checked to have the type the API server sends, so a
    malformed review is refused here (HTTP 400) and never reaches the code that answers it.
    """
    try:
        review = _decode(body)
    except RecursionError:
        raise BadReview("body is nested too deeply to be an AdmissionReview") from None
    except UnicodeDecodeError as exc:
        raise BadReview(f"body is not JSON: {exc}") from None
    except ValueError as exc:  # JSONDecodeError, NaN, a number out of range
        raise BadReview(f"body is not JSON: {exc}") from None
    if not isinstance(review, dict):
        raise BadReview("body is not a JSON object")
    api_version = review.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise BadReview(f"apiVersion {_shown(api_version)} is not one of {', '.join(API_VERSIONS)}")
    if review.get("kind") != "AdmissionReview":
        raise BadReview(f"kind {_shown(review.get('kind'))} is not AdmissionReview")
    request = review.get("request")
    if not isinstance(request, dict):
        raise BadReview("AdmissionReview has no request")
    if not isinstance(request.get("uid"), str) or not request["uid"]:
        raise BadReview("request.uid is missing")
    kind = request.get("kind")
    if not isinstance(kind, dict) or not isinstance(kind.get("kind"), str):
        raise BadReview("request.kind.kind is missing")
    if request.get("operation") not in OPERATIONS:
        raise BadReview(f"request.operation {_shown(request.get('operation'))} is not one of {', '.join(OPERATIONS)}")
    _check_types(request)
    if _SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(review):
        raise BadReview("body holds a string with an unpaired UTF-16 surrogate, which is not text")
    return str(api_version), request  # type: ignore[return-value]


def _decode(body: bytes) -> Any:
    """The JSON value of `body`: by orjson when it is plainly within the checks, else by the json module,
    whose refusals (and their messages) are the checks: NaN, infinite floats, integers of more than
    MAX_INTEGER_DIGITS digits, nesting deeper than Python's stack."""
    if body.count(b"{") + body.count(b"[") < FAST_MAX_BRACKETS and not _LONG_DIGITS.search(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # not JSON, or a NaN, 1e999, a lone surrogate...: json.loads below says which, as it always has
    return json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_integer)


# What `request` holds, as the API server sends it: field → the type it must have when present.
_REQUEST_FIELDS: dict[str, tuple[type, ...]] = {
    "namespace": (str,),
    "name": (str,),
    "subResource": (str,),
    "requestSubResource": (str,),
    "resource": (dict,),
    "requestKind": (dict,),
    "requestResource": (dict,),
    "options": (dict,),
    "dryRun": (bool,),
}
_KIND_FIELDS = ("group", "version", "kind")
_USER_FIELDS: dict[str, tuple[type, ...]] = {"username": (str,), "uid": (str,), "groups": (list,), "extra": (dict,)}
_META_STRINGS = ("name", "namespace", "generateName")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _check_types(request: dict[str, Any]) -> None:
    """Raise BadReview for the first field whose type is not the one the API server sends."""
    for key, types in _REQUEST_FIELDS.items():
        if request.get(key) is not None and not isinstance(request[key], types):
            raise BadReview(f"request.{key} is {_json_type(request[key])}, not {_json_type(types[0]())}")
    for key in _KIND_FIELDS:
        if not isinstance(request["kind"].get(key), str):
            raise BadReview(f"request.kind.{key} is missing or not a string")
    user = request.get("userInfo")
    if user is not None:
        if not isinstance(user, dict):
            raise BadReview(f"request.userInfo is {_json_type(user)}, not an object")
        for key, types in _USER_FIELDS.items():
            if user.get(key) is not None and not isinstance(user[key], types):
                raise BadReview(f"request.userInfo.{key} is {_json_type(user[key])}, not {_json_type(types[0]())}")
        if not all(isinstance(g, str) for g in user.get("groups") or ()):
            raise BadReview("request.userInfo.groups holds something other than strings")
    for key in ("object", "oldObject"):
        obj = request.get(key)
        if obj is None:
            continue
        if not isinstance(obj, dict):
            raise BadReview(f"request.{key} is {_json_type(obj)}, not an object")
        for field in ("apiVersion", "kind"):
            if obj.get(field) is not None and not isinstance(obj[field], str):
                raise BadReview(f"request.{key}.{field} is {_json_type(obj[field])}, not a string")
        meta = obj.get("metadata")
        if meta is None:
            continue
        if not isinstance(meta, dict):
            raise BadReview(f"request.{key}.metadata is {_json_type(meta)}, not an object")
        for field in _META_STRINGS:
            if meta.get(field) is not None and not isinstance(meta[field], str):
                raise BadReview(f"request.{key}.metadata.{field} is {_json_type(meta[field])}, not a string")
        for field in ("labels", "annotations"):
            value = meta.get(field)
            if value is not None and (
                not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
            ):
                raise BadReview(f"request.{key}.metadata.{field} is not an object of strings")


def _json_type(value: Any) -> str:
    match value:
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "an object"
        case _:
            return "null"


def _shown(value: Any) -> str:
    """A value from the body for a message: short, whatever it is."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _integer(text: str) -> int:
    # Kubernetes integers are 64-bit; a longer one cannot come from an API server.
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"integer {text[:24]}... has more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """Whether any string or key in `value` holds half of a surrogate pair (only escapes can make one)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


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
