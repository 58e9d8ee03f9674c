"""The ASGI app: `/validate`, `/mutate`, `/healthz`, `/readyz` and `/metrics` over one AdmissionService."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from rollguard.webhook.review import MAX_BODY_BYTES, AdmissionRequest, BadReview, parse_review
from rollguard.webhook.service import AdmissionService, Answer, log_event

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class _TooLarge(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    """The body, refusing more than MAX_BODY_BYTES without reading it all into memory first."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    service: AdmissionService,
    *,
    on_startup: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> Starlette:
    """The webhook app for `service` (loaded and warmed already); the hooks run at start and stop."""
    metrics = service.metrics

    def admission(
        endpoint: str,
        answer: Callable[[AdmissionService, str, AdmissionRequest], Awaitable[Answer]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            started = time.perf_counter()
            try:
                body = await _read_body(request)
                api_version, review = parse_review(body)
            except _TooLarge:
                metrics.invalid.labels(code="413").inc()
                return JSONResponse({"error": f"request body is larger than {MAX_BODY_BYTES} bytes"}, status_code=413)
            except BadReview as exc:
                metrics.invalid.labels(code="400").inc()
                log_event("bad_request", endpoint=endpoint, reason=str(exc))
                return JSONResponse({"error": str(exc)}, status_code=400)
            result = await answer(service, api_version, review)
            elapsed = time.perf_counter() - started
            kind = review["kind"]["kind"]
            operation = review.get("operation", "")
            metrics.requests.labels(endpoint=endpoint, operation=operation, kind=kind, decision=result.decision).inc()
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
            return JSONResponse(result.review)

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
        ],
        lifespan=lifespan,
    )
