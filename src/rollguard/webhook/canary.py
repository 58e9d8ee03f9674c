"""`/canary/judge` (Argo Rollouts' web metric) and `/canary/flagger` (Flagger's webhook) over `rollguard serve`.

Both judge the canary with the serve config's `canary:` section against its `canary.prometheus`;
a request only picks the sides, the window length and the workload. Bodies are small JSON
objects, read up to MAX_BODY_BYTES; every error is a JSON object with `error`, never a traceback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollguard.canary import Judgement, PrometheusSource, Side, SourceUnavailable, Window, judge, read_canary_config
from rollguard.canary.config import parse_duration
from rollguard.canary.record import DEFAULT_TARGET, RecordContext, record_body, workload_resource
from rollguard.errors import ConfigError, InputError, RollguardError
from rollguard.model import Resource
from rollguard.webhook.recorder import utc_now
from rollguard.webhook.service import AdmissionService, log_event

MAX_BODY_BYTES = 64 * 1024
MAX_CONCURRENT = 4  # judgements at once per worker; more are answered 503
PROMETHEUS_TIMEOUT = 15.0  # seconds for each query_range
FLAGGER_API = "flagger.app/v1beta1"
_STRING = 1024  # longest string accepted in a request


class BadRequest(Exception):
    """The body is not a request this endpoint understands (HTTP 400)."""


@dataclass(frozen=True)
class CanaryRequest:
    """What one call asks for: the sides (over the config's), the window length and the workload judged."""

    baseline: Side
    canary: Side
    label: str | None = None
    lookback: str | None = None
    step: str | None = None
    fail_on_marginal: bool = False
    target: Resource = DEFAULT_TARGET
    caller: str = "argo-rollouts"


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _STRING:
        raise BadRequest(f"{where} must be a non-empty string of at most {_STRING} characters")
    return value


def _object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(document, dict):
        raise BadRequest("the body must be a JSON object")
    return document


def _unknown(document: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = sorted(str(k) for k in document if k not in known)
    if extra:
        raise BadRequest(f"{where}: unknown key {extra[0][:80]!r}; known keys: {', '.join(sorted(known))}")


_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _label(value: Any, where: str) -> str:
    text = _string(value, where)
    if not _LABEL.fullmatch(text):
        raise BadRequest(f"{where} {text[:80]!r} is not a Prometheus label name")
    return text


def _selector(value: Any, where: str) -> str:
    """Label matchers as written, refused when a brace or newline outside a quoted value could end the
    matcher list and add PromQL of the caller's own to the config's queries."""
    text = _string(value, where)
    quote = ""  # the quote of the PromQL string being read: ", ' or ` (raw, without escapes)
    escaped = False
    for char in text:
        if char == "\n":
            raise BadRequest(f"{where} must be one line of label matchers")
        if escaped:
            escaped = False
        elif quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote != "`":
                escaped = True
        elif char in "\"'`":
            quote = char
        elif char in "{}()":
            raise BadRequest(f'{where} must be label matchers such as app="web",track="canary" (no {char!r})')
    if quote:
        raise BadRequest(f"{where} has an unterminated quoted value")
    return text


def _side(value: Any, where: str) -> Side:
    if value is None:
        return Side()
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be an object with version or selector")
    _unknown(value, {"version", "selector"}, where)
    version = _string(value["version"], f"{where}.version") if value.get("version") is not None else None
    selector = _selector(value["selector"], f"{where}.selector") if value.get("selector") is not None else None
    return Side(version, selector)


def _duration(value: Any, where: str) -> str | None:
    if value is None:
        return None
    text = _string(value, where)
    try:
        parse_duration(text, what=where)
    except ConfigError as exc:
        raise BadRequest(exc.message) from None
    return text


def parse_judge_request(body: bytes) -> CanaryRequest:
    """`/canary/judge`: `{"baseline": {...}, "canary": {...}, "label", "lookback", "step", "fail_on_marginal", "workload"}`, all optional."""
    document = _object(body)
    _unknown(document, {"baseline", "canary", "label", "lookback", "step", "fail_on_marginal", "workload"}, "body")
    fail_on_marginal = document.get("fail_on_marginal", False)
    if not isinstance(fail_on_marginal, bool):
        raise BadRequest("fail_on_marginal must be true or false")
    target = DEFAULT_TARGET
    if document.get("workload") is not None:
        try:
            target = workload_resource(_string(document["workload"], "workload"), what="workload")
        except ConfigError as exc:
            raise BadRequest(exc.message) from None
    return CanaryRequest(
        baseline=_side(document.get("baseline"), "baseline"),
        canary=_side(document.get("canary"), "canary"),
        label=_label(document["label"], "label") if document.get("label") is not None else None,
        lookback=_duration(document.get("lookback"), "lookback"),
        step=_duration(document.get("step"), "step"),
        fail_on_marginal=fail_on_marginal,
        target=target,
    )


# Flagger's metadata is a map of strings; these are the keys rollguard reads from it.
FLAGGER_METADATA = {
    "baseline_version",
    "canary_version",
    "baseline_selector",
    "canary_selector",
    "label",
    "lookback",
    "step",
    "fail_on_marginal",
}


def parse_flagger_request(body: bytes) -> tuple[CanaryRequest, str]:
    """Flagger's webhook payload `{"name", "namespace", "phase", "metadata": {string: string}}` and its phase."""
    document = _object(body)
    name = _string(document.get("name"), "name")
    namespace = _string(document.get("namespace"), "namespace")
    phase = document.get("phase")
    phase = _string(phase, "phase") if phase is not None else ""
    metadata = document.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise BadRequest("metadata must be an object of strings")
    _unknown(metadata, FLAGGER_METADATA, "metadata")
    marginal = metadata.get("fail_on_marginal", "false")
    if marginal not in ("true", "false"):
        raise BadRequest("metadata.fail_on_marginal must be 'true' or 'false'")

    def side(prefix: str) -> Side:
        version, selector = metadata.get(f"{prefix}_version"), metadata.get(f"{prefix}_selector")
        return Side(
            _string(version, f"metadata.{prefix}_version") if version is not None else None,
            _selector(selector, f"metadata.{prefix}_selector") if selector is not None else None,
        )

    request = CanaryRequest(
        baseline=side("baseline"),
        canary=side("canary"),
        label=_label(metadata["label"], "metadata.label") if "label" in metadata else None,
        lookback=_duration(metadata.get("lookback"), "metadata.lookback"),
        step=_duration(metadata.get("step"), "metadata.step"),
        fail_on_marginal=marginal == "true",
        target=Resource(FLAGGER_API, "Canary", namespace, name),
        caller="flagger",
    )
    return request, phase


class NotConfigured(RollguardError):
    """The server has no usable `canary:` section or no Prometheus to ask (HTTP 503)."""


def judge_request(service: AdmissionService, request: CanaryRequest) -> Judgement:
    """Judge with the current config's `canary:` section and its Prometheus (blocking: run it in a thread)."""
    runtime = service.runtime
    if runtime is None:
        raise NotConfigured("the server is still loading its config")
    config = runtime.config
    source_file = str(config.path) if config.path else None
    if not config.canary:
        raise NotConfigured("the serve config has no canary: section; add one (docs/canary.md)")
    try:
        canary_config = read_canary_config(config.canary, source=source_file, key_lines=config.key_lines)
    except ConfigError as exc:
        raise NotConfigured(str(exc)) from None
    prometheus = canary_config.prometheus
    if prometheus is None:
        raise NotConfigured("canary.prometheus is not set in the serve config; set it to the Prometheus URL")
    canary_config = canary_config.with_sides(label=request.label, baseline=request.baseline, canary=request.canary)
    end = utc_now()
    lookback = parse_duration(request.lookback or canary_config.lookback, what="lookback")
    step = parse_duration(request.step or canary_config.step, what="step")
    window = Window(end - dt.timedelta(seconds=lookback), end, step)
    source = PrometheusSource(prometheus, window, timeout_seconds=PROMETHEUS_TIMEOUT)
    return judge(canary_config, source)


def record(service: AdmissionService, judgement: Judgement, request: CanaryRequest) -> None:
    """Queue the judgement for the decision store (source canary) when the server records decisions."""
    recorder = service.recorder
    if recorder is None:
        return
    from rollguard.audit.recording import rollguard_version

    context = RecordContext(
        when=utc_now(),
        actor=request.caller,
        environment=service.source.environment,
        target=request.target,
        rollguard_version=rollguard_version(),
    )
    recorder.submit(lambda: record_body(judgement, context, fail_on_marginal=request.fail_on_marginal))


@dataclass(frozen=True)
class Outcome:
    """An HTTP status and JSON body."""

    status: int
    body: dict[str, Any]


class CanaryEndpoints:
    """The two endpoints' work, bounded to MAX_CONCURRENT judgements at once."""

    def __init__(self, service: AdmissionService, *, limit: int = MAX_CONCURRENT) -> None:
        self.service = service
        self._slots = asyncio.Semaphore(limit)

    async def _judge(self, request: CanaryRequest, endpoint: str) -> Judgement | Outcome:
        if self._slots.locked():
            return Outcome(503, {"error": "too many canary judgements at once; try again"})
        async with self._slots:
            try:
                judgement = await asyncio.to_thread(judge_request, self.service, request)
            except NotConfigured as exc:
                return Outcome(503, {"error": str(exc)})
            except SourceUnavailable as exc:
                return Outcome(502, {"error": str(exc)})
            except (ConfigError, InputError) as exc:
                return Outcome(422, {"error": str(exc)})
            except Exception:
                logging.getLogger("rollguard.webhook").exception("could not judge the canary")
                return Outcome(500, {"error": "internal error while judging; see the server log"})
        record(self.service, judgement, request)
        log_event(
            "canary",
            endpoint=endpoint,
            workload=request.target.to_json(),
            verdict=judgement.verdict,
            score=judgement.score,
        )
        return judgement

    async def argo(self, body: bytes) -> Outcome:
        """`/canary/judge`: 200 with the judgement JSON whatever the verdict (the AnalysisTemplate decides on it)."""
        try:
            request = parse_judge_request(body)
        except BadRequest as exc:
            return Outcome(400, {"error": str(exc)})
        found = await self._judge(request, "canary_judge")
        if isinstance(found, Outcome):
            return found
        return Outcome(200, found.to_json(fail_on_marginal=request.fail_on_marginal))

    async def flagger(self, body: bytes) -> Outcome:
        """`/canary/flagger`: 200 lets Flagger continue; 412 (the canary fails, or has no data) halts it."""
        try:
            request, phase = parse_flagger_request(body)
        except BadRequest as exc:
            return Outcome(400, {"error": str(exc)})
        found = await self._judge(request, "canary_flagger")
        if isinstance(found, Outcome):
            return found
        code = found.exit_code(fail_on_marginal=request.fail_on_marginal)
        summary = {
            "verdict": found.verdict,
            "score": found.score,
            "exit_code": code,
            "reasons": list(found.reasons),
            "phase": phase,
        }
        return Outcome(200 if code == 0 else 412, summary)
