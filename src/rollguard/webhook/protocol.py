"""HTTP/1.1 with deadlines: uvicorn's h11 protocol, changed so that a slow client cannot hold a connection.

uvicorn closes a connection left idle after a response (`timeout_keep_alive`), but a client may
take as long as it likes to send a request: a connection that completes TLS and sends nothing,
stops half-way through its headers or sends its body a byte at a time is held until the client
leaves. Here a request's headers must arrive within `header_timeout` of the connection (or of
the first byte of a later request on a kept-alive one) and its body within `body_timeout` of the
headers; a client that misses either is disconnected. The deadlines are absolute, so trickling
a byte now and then does not extend them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from rollguard.webhook.service import log_event

Phase = Literal["headers", "body"]


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a client may take to send a request, and how many connections one worker serves."""

    header_timeout: float = 10.0  # TLS handshake, then the request line and headers
    body_timeout: float = 10.0  # the body, once the headers are in
    keep_alive_timeout: int = 5  # idle between requests on one connection
    max_connections: int = 256  # more get HTTP 503


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers and body."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: ConnectionLimits = getattr(config, "connection_limits", None) or ConnectionLimits()
        self._phase: Phase | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._expect("headers")

    def data_received(self, data: bytes) -> None:
        """Feed h11, then set the deadline for what the client still has to send."""
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        """After an answer the connection idles under uvicorn's keep-alive timeout, unless more came in."""
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._expect(None)
        super().connection_lost(exc)

    def _follow(self) -> None:
        if self.transport.is_closing():
            self._expect(None)
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._expect("body")
        elif state is h11.IDLE:
            if self.conn.trailing_data[0]:
                self._expect("headers")  # part of a request's headers is in
            elif self._phase != "headers":
                self._expect(None)  # between requests: the keep-alive timeout applies
        else:
            self._expect(None)  # the whole request is in: the answer is the server's to give

    def _expect(self, phase: Phase | None) -> None:
        if phase is not None and phase == self._phase:
            return  # an absolute deadline: more bytes of the same part do not extend it
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._phase = phase
        if phase is not None:
            seconds = self.limits.header_timeout if phase == "headers" else self.limits.body_timeout
            self._timer = self.loop.call_later(seconds, self._expired, phase, seconds)

    def _expired(self, phase: Phase, seconds: float) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else None
        log_event("slow_client", phase=phase, seconds=seconds, client=client)
        # abort, not close: a graceful TLS close would wait for the slow client once more.
        self.transport.abort()


def limit_tls_handshakes(loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    """Make the TLS servers later created on `loop` drop a client whose handshake takes longer than `seconds`.

    uvicorn creates its servers with asyncio's default of 60 s and has no option for it; the
    app's startup runs on the same loop just before, which is where this is called.
    """
    create_server: Callable[..., Any] = loop.create_server

    async def create_server_with_handshake_deadline(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("ssl") is not None:
            kwargs.setdefault("ssl_handshake_timeout", seconds)
        return await create_server(*args, **kwargs)

    setattr(loop, "create_server", create_server_with_handshake_deadline)  # noqa: B010
