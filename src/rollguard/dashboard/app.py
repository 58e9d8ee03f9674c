"""The dashboard's ASGI app: read-only pages over the decision log, each also as JSON.

Every page is rendered on the server (Jinja2, autoescaped) and works without JavaScript; a
small inline script, allowed by a per-response nonce, only filters table rows as one types.
The Content-Security-Policy forbids every other script and any asset from elsewhere.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from rollguard.audit.record import format_time
from rollguard.audit.report import WAIVER_STATES, ChainResult
from rollguard.audit.store import NoDecisionLog, open_store, redact_url
from rollguard.dashboard.decisions import Fleet, chart, read_fleet, to_json
from rollguard.dashboard.rollouts import LiveRollout, read_rollouts
from rollguard.errors import ClusterError, StoreError
from rollguard.policy.config import Waiver

# Nothing but this page's own inline style and nonce'd script: no CDN, no frames, no forms elsewhere.
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SOURCES = ("ci", "admission", "audit", "canary")


@dataclass(frozen=True)
class ClusterSettings:
    """The cluster whose rollouts `/rollouts` shows: a kubeconfig context, or the pod's service account."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None  # only this namespace's rollouts; None: every namespace


@dataclass(frozen=True)
class DashboardSettings:
    """What the app reads and how it lets requests in."""

    store: str
    rollguard_version: str
    config_waivers: tuple[Waiver, ...] = ()
    promotion: tuple[str, ...] = ()
    token: str | None = None  # a request must carry `Authorization: Bearer <token>` when set
    cluster: ClusterSettings | None = None  # live rollouts from this cluster; None: the page is off
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.timezone.utc))


class FleetSource:
    """The fleet view of the store, read again only when the chain head or the day (waiver states) changes."""

    def __init__(self, settings: DashboardSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._fleet: Fleet | None = None

    def current(self) -> Fleet:
        """The fleet as the store holds it now."""
        now = self.settings.clock()
        try:
            with open_store(self.settings.store, create=False) as store:
                try:
                    head = store.head()
                except StoreError:
                    head = None  # read anyway: the chain check says what is wrong
                key = (head, now.date()) if head is not None else None
                with self._lock:
                    if key is not None and key == self._key and self._fleet is not None:
                        return self._fleet
                fleet = read_fleet(
                    store,
                    now=now,
                    rollguard_version=self.settings.rollguard_version,
                    config_waivers=self.settings.config_waivers,
                    promotion=self.settings.promotion,
                )
        except NoDecisionLog as exc:
            if not exc.absent:
                raise
            return _empty_fleet(self.settings, now)
        with self._lock:
            self._key, self._fleet = key, fleet
        return fleet


def _empty_fleet(settings: DashboardSettings, now: dt.datetime) -> Fleet:
    """The view of a store nothing was recorded in yet."""
    return Fleet(
        store=redact_url(settings.store),
        generated_at=format_time(now),
        environments=tuple(settings.promotion),
        decisions=(),
        entries={},
        waivers=(),
        chain=ChainResult(ok=True, records=0, head_seq=None, head_hash=None, broken_at=None, problem=None),
    )


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rollguard.dashboard", "templates"),
        autoescape=True,  # every value comes from records or config: always escape
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda t: f"{t[:10]} {t[11:16]}Z" if isinstance(t, str) and len(t) >= 16 else (t or "")
    env.filters["short_digest"] = lambda d: d.split(":", 1)[-1][:12] if isinstance(d, str) else ""
    env.filters["duration"] = duration
    return env


def duration(seconds: float) -> str:
    """`45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`: a span as an on-call engineer reads it."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if whole < 3600:
        return f"{minutes} min"
    if whole < 86400:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{days} d {hours % 24} h" if hours % 24 else f"{days} d"


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


# `?refresh=N` reloads the page every N seconds (a wall screen on release day), without JavaScript.
REFRESH_SECONDS = (10, 3600)


def _refresh(request: Request) -> int | None:
    raw = request.query_params.get("refresh", "")
    if not raw.isdigit():
        return None
    low, high = REFRESH_SECONDS
    return min(max(int(raw), low), high)


def _listed(request: Request, name: str) -> list[str]:
    """A filter that may repeat (`?env=a&env=b`) or list values with commas."""
    return [v for raw in request.query_params.getlist(name) for v in raw.split(",") if v]


class BearerToken:
    """ASGI middleware: every request but /healthz carries `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, credential = given.partition(b" ")
        if scheme.lower() != b"bearer" or not credential:
            answer = PlainTextResponse(
                "authentication required: send Authorization: Bearer <token>",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="rollguard dashboard"'},
            )
        elif not hmac.compare_digest(credential.strip(), self.token):
            answer = PlainTextResponse(
                "the bearer token is not the dashboard's",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="rollguard dashboard", error="invalid_token"'},
            )
        else:
            await self.app(scope, receive, send)
            return
        await answer(scope, receive, send)


class _Pages:
    """The dashboard's request handlers over one store (and, optionally, one cluster)."""

    def __init__(self, settings: DashboardSettings) -> None:
        self.settings = settings
        self.source = FleetSource(settings)
        self.templates = _templates()

    def page(
        self, request: Request, template: str, document: dict[str, Any], status: int = 200, **context: Any
    ) -> Response:
        """`document` as JSON to `Accept: application/json`, else `template` rendered with `context`."""
        if _wants_json(request):
            return JSONResponse(document, status_code=status, headers={"Vary": "Accept", "Cache-Control": "no-store"})
        nonce = secrets.token_urlsafe(16)
        html = self.templates.get_template(template).render(
            nonce=nonce,
            request_path=request.url.path,
            refresh=_refresh(request),
            live=self.settings.cluster is not None,
            **context,
        )
        return HTMLResponse(
            html,
            status_code=status,
            headers={
                "Content-Security-Policy": _CSP.format(nonce=nonce),
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
                "Vary": "Accept",
            },
        )

    def problem(self, request: Request, fleet: Fleet, message: str, status: int, *, title: str) -> Response:
        """A page (or `{"error": ...}`) saying what is missing or wrong."""
        return self.page(
            request, "missing.html.j2", {"error": message}, status, fleet=fleet, message=message, title=title
        )

    async def fleet(self) -> Fleet:
        """The fleet view, read in a worker thread (the store's drivers block)."""
        return await run_in_threadpool(self.source.current)

    async def matrix(self, request: Request) -> Response:
        """`/`: the last decision per service and environment, filtered by `q`, `env` and `verdict`."""
        current = await self.fleet()
        environments = _listed(request, "env")
        verdict = request.query_params.get("verdict") or None
        query = request.query_params.get("q", "").strip()
        view = current.matrix(environments=environments, verdict=verdict, query=query)
        filters = {"env": environments, "verdict": verdict, "q": query}
        document = {
            "store": current.store,
            "generated_at": current.generated_at,
            "chain": to_json(current.chain),
            "filters": filters,
            "environments": list(view.environments),
            "services": [to_json(row) for row in view.rows],
            "rollouts": [dict(r) for r in current.rollouts if not environments or r["environment"] in environments],
        }
        return self.page(
            request,
            "matrix.html.j2",
            document,
            fleet=current,
            view=view,
            filters=filters,
            all_environments=current.environments,
            open_rollouts=document["rollouts"],
            title="Fleet",
        )

    async def service(self, request: Request) -> Response:
        """`/service/{name}`: one service's history, last findings, promotion path and canaries."""
        current = await self.fleet()
        name = request.path_params["name"]
        environments = _listed(request, "env")
        source_filter = request.query_params.get("source") or None
        view = current.service(name, environments=environments, source=source_filter)
        if view is None:
            message = f"no decision in the log names a service {name!r}"
            return self.problem(request, current, message, 404, title=name)
        filters = {"env": environments, "source": source_filter}
        document = {
            "store": current.store,
            "generated_at": current.generated_at,
            "filters": filters,
            **to_json(view),
        }
        return self.page(
            request,
            "service.html.j2",
            document,
            fleet=current,
            view=view,
            chart=chart(list(reversed(view.decisions)), view.environments),
            filters=filters,
            sources=SOURCES,
            title=name,
        )

    async def waivers(self, request: Request) -> Response:
        """`/waivers`: the waivers by state, filtered by `state`."""
        current = await self.fleet()
        states = [s for s in _listed(request, "state") if s in WAIVER_STATES]
        shown = current.waivers_in(states)
        document = {
            "store": current.store,
            "generated_at": current.generated_at,
            "filters": {"state": states},
            "waivers": [to_json(w) for w in shown],
        }
        return self.page(
            request,
            "waivers.html.j2",
            document,
            fleet=current,
            waivers=shown,
            states=WAIVER_STATES,
            filters={"state": states},
            title="Waivers",
        )

    def live(self, namespace: str | None) -> tuple[str, tuple[LiveRollout, ...]]:
        """The cluster's name and its rollouts (blocking: run in a worker thread)."""
        from rollguard.audit.cluster import connect

        assert self.settings.cluster is not None
        with connect(kubeconfig=self.settings.cluster.kubeconfig, context=self.settings.cluster.context) as cluster:
            found = read_rollouts(cluster, namespace=namespace, now=self.settings.clock())
            return cluster.name, found

    async def rollouts(self, request: Request) -> Response:
        """`/rollouts`: the cluster's Deployments and Rollouts, filtered by `namespace` and `state`."""
        current = await self.fleet()
        if self.settings.cluster is None:
            message = "live rollouts are off: start the dashboard with --kubeconfig, --context or --live"
            return self.problem(request, current, message, 404, title="Rollouts")
        namespace = request.query_params.get("namespace") or self.settings.cluster.namespace
        if self.settings.cluster.namespace and namespace != self.settings.cluster.namespace:
            namespace = self.settings.cluster.namespace  # the dashboard was limited to one namespace
        states = _listed(request, "state")
        try:
            cluster_name, found = await run_in_threadpool(self.live, namespace)
        except ClusterError as exc:
            message = f"cannot read the cluster's rollouts: {exc}"
            return self.problem(request, current, message, 503, title="Rollouts")
        shown = tuple(r for r in found if not states or r.state in states)
        filters = {"namespace": namespace, "state": states}
        document = {
            "cluster": cluster_name,
            "generated_at": format_time(self.settings.clock()),
            "filters": filters,
            "rollouts": [{**to_json(r), "progress": r.progress, "overdue": r.overdue} for r in shown],
        }
        return self.page(
            request,
            "rollouts.html.j2",
            document,
            fleet=current,
            cluster=cluster_name,
            rollouts=shown,
            services=frozenset(current.services),
            filters=filters,
            title="Rollouts",
        )

    async def healthz(self, request: Request) -> Response:
        """`/healthz`: `ok` while the server runs (no credentials needed)."""
        return PlainTextResponse("ok")

    async def unreadable(self, request: Request, exc: Exception) -> Response:
        """The answer when the store cannot be read as a decision log: why, instead of a bare 500."""
        message = f"cannot read the decision log: {exc}"
        current = _empty_fleet(self.settings, self.settings.clock())
        return self.problem(request, current, message, 503, title="Unreadable")


def create_app(settings: DashboardSettings) -> Starlette:
    """The dashboard app over `settings.store` (read only: it never opens the store to write)."""
    pages = _Pages(settings)
    app = Starlette(
        exception_handlers={StoreError: pages.unreadable},
        routes=[
            Route("/", pages.matrix),
            Route("/service/{name:str}", pages.service),
            Route("/waivers", pages.waivers),
            Route("/rollouts", pages.rollouts),
            Route("/healthz", pages.healthz),
        ],
    )
    if settings.token is not None:
        app.add_middleware(BearerToken, token=settings.token)
    return app


__all__: Sequence[str] = ("BearerToken", "DashboardSettings", "FleetSource", "create_app")
