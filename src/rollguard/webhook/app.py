"""The ASGI app: `/validate`, `/mutate`, the probes, `/metrics` and `/canary/*` over one AdmissionService."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from rollguard.webhook.canary import MAX_BODY_BYTES as CANARY_BODY_BYTES
from rollguard.webhook.canary import CanaryEndpoints, Outcome
from rollguard.webhook.review import MAX_BODY_BYTES, AdmissionRequest, BadReview, parse_review
from rollguard.webhook.service import AdmissionService, Answer, log_event

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
# Request bodies held at once; parsed, a body takes up to about 25 times its size in memory.
BODY_BUDGET_BYTES = 2 * MAX_BODY_BYTES
PARSE_OFF_LOOP_BYTES = 64 * 1024  # larger bodies are parsed in a thread, not on the event loop


class _TooLarge(Exception):
    pass


class _AsciiJSONResponse(JSONResponse):
    """JSON that always encodes, whatever a request held: orjson's UTF-8, or escaped to ASCII when
    orjson refuses (a string that is not text, an integer beyond 64 bits)."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except (orjson.JSONEncodeError, TypeError):
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class BodyBudget:
    """The bytes of request bodies this process holds at once, so many large requests cannot exhaust memory."""

    def __init__(self, limit: int = BODY_BUDGET_BYTES) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    async def take(self, size: int, *, wait: float) -> bool:
        """Reserve `size` bytes, waiting up to `wait` seconds for other requests to give theirs back."""
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                if self._used == 0 or self._used + size <= self.limit:
                    self._used += size
                    return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.005)

    def give(self, size: int) -> None:
        """Return bytes taken with `take`."""
        with self._lock:
            self._used -= size


def _declared_size(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


async def _read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refusing more than `limit` bytes without reading it all into memory first."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    service: AdmissionService,
    *,
    on_startup: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> Starlette:
    """The webhook app for `service` (loaded and warmed already); the hooks run at start and stop.

    No body, however malformed or hostile, gets an HTTP 500: a malformed review is a 400, one
    too large a 413, and anything that goes wrong while answering a well-formed one is
    answered by the failure mode.
    """
    metrics = service.metrics
    budget = BodyBudget()

    def admission(
        endpoint: str,
        answer: Callable[[AdmissionService, str, AdmissionRequest, int], Awaitable[Answer]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            started = time.perf_counter()
            declared = _declared_size(request)
            if declared is not None and declared > MAX_BODY_BYTES:
                return too_large()
            reserved = declared if declared is not None else MAX_BODY_BYTES
            if not await budget.take(reserved, wait=service.settings.deadline_seconds):
                metrics.invalid.labels(code="503").inc()
                log_event("busy", endpoint=endpoint, reason="request bodies in memory at their limit")
                return _AsciiJSONResponse({"error": "too many large requests at once; try again"}, status_code=503)
            try:
                return await judge(request, started)
            finally:
                budget.give(reserved)

        async def judge(request: Request, started: float) -> Response:
            try:
                body = await _read_body(request)
                if len(body) > PARSE_OFF_LOOP_BYTES:
                    api_version, review = await asyncio.to_thread(parse_review, body)
                else:
                    api_version, review = parse_review(body)
            except _TooLarge:
                return too_large()
            except BadReview as exc:
                metrics.invalid.labels(code="400").inc()
                log_event("bad_request", endpoint=endpoint, reason=str(exc))
                return _AsciiJSONResponse({"error": str(exc)}, status_code=400)
            except ClientDisconnect:  # the client went away (or was cut off as too slow): nobody to answer
                return _AsciiJSONResponse({"error": "client disconnected"}, status_code=400)
            try:
                result = await answer(service, api_version, review, len(body))
            except Exception as exc:
                logging.getLogger("rollguard.webhook").exception("could not answer request %s", review["uid"])
                result = service.internal_error(api_version, review, exc)
            elapsed = time.perf_counter() - started
            kind = review["kind"]["kind"]
            operation = review.get("operation", "")
            metrics.requests.labels(
                endpoint=endpoint, operation=operation, kind=service.kind_label(kind), decision=result.decision
            ).inc()
            metrics.latency.labels(endpoint=endpoint).observe(elapsed)
            runtime = service.runtime
            log_event(
                "admission",
                endpoint=endpoint,
                uid=review["uid"],
                operation=operation,
                kind=kind,
                namespace=review.get("namespace"),
                name=review.get("name"),
                user=(review.get("userInfo") or {}).get("username"),
                decision=result.decision,
                findings=result.findings,
                latency_ms=round(elapsed * 1000, 3),
                bundle=runtime.digest if runtime else None,
            )
            return _AsciiJSONResponse(result.review)

        return handle

    def too_large() -> Response:
        metrics.invalid.labels(code="413").inc()
        return _AsciiJSONResponse({"error": f"request body is larger than {MAX_BODY_BYTES} bytes"}, status_code=413)

    canary = CanaryEndpoints(service)

    def canary_endpoint(work: Callable[[bytes], Awaitable[Outcome]]) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            declared = _declared_size(request)
            try:
                if declared is not None and declared > CANARY_BODY_BYTES:
                    raise _TooLarge
                body = await _read_body(request, CANARY_BODY_BYTES)
            except _TooLarge:
                return _AsciiJSONResponse(
                    {"error": f"request body is larger than {CANARY_BODY_BYTES} bytes"}, status_code=413
                )
            except ClientDisconnect:
                return _AsciiJSONResponse({"error": "client disconnected"}, status_code=400)
            try:
                outcome = await work(body)
            except Exception:
                logging.getLogger("rollguard.webhook").exception("could not answer %s", request.url.path)
                return _AsciiJSONResponse({"error": "internal error; see the server log"}, status_code=500)
            return _AsciiJSONResponse(outcome.body, status_code=outcome.status)

        return handle

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        if service.ready:
            return PlainTextResponse("ready")
        return PlainTextResponse("not ready: policies or inventory still loading", status_code=503)

    async def metrics_endpoint(_: Request) -> Response:
        return Response(metrics.render(), media_type=PROMETHEUS_TEXT)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if on_startup is not None:
            on_startup()
        try:
            yield
        finally:
            if on_shutdown is not None:
                on_shutdown()

    return Starlette(
        routes=[
            Route("/validate", admission("validate", AdmissionService.validate), methods=["POST"]),
            Route("/mutate", admission("mutate", AdmissionService.mutate), methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/canary/judge", canary_endpoint(canary.argo), methods=["POST"]),
            Route("/canary/flagger", canary_endpoint(canary.flagger), methods=["POST"]),
        ],
        lifespan=lifespan,
    )
