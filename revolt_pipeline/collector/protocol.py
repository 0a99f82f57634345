"""The collector's HTTP layer: connection limits no client can outwait, and every answer counted.

uvicorn's HTTP protocol bounds nothing a slow or hostile client controls: a connection that sends
nothing is held forever, headers and bodies may trickle in a byte at a time, httptools buffers a
header of any size whole, and `limit_concurrency` answers a bare text 503 that no metric sees.
`CollectorHttpProtocol` adds the deadlines, the header size limit and the connection limit of
`HttpLimits` below the app, where they must live: an ASGI middleware runs only once the headers
are complete and already in memory. `CountResponses` counts the app's own answers.
"""

import asyncio
import functools
import math
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from revolt_pipeline.collector.metrics import CollectorMetrics
from revolt_pipeline.collector.responses import json_response
from revolt_pipeline.collector.service import HttpLimits

# Route label of answers given before a request reaches the router, and of paths no route matches.
NOT_ROUTED = "none"
UNMATCHED = "unmatched"
# After an error answer, how long input is still read (and dropped) before the connection closes.
LINGER_SECONDS = 2.0


def route_of(scope: Scope) -> str:
    """The path template of the route a request went to: a label of bounded cardinality."""
    router = getattr(scope.get("app"), "router", None)
    method_mismatch = None
    for route in getattr(router, "routes", ()):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return getattr(route, "path", UNMATCHED)
        if match is Match.PARTIAL and method_mismatch is None:
            method_mismatch = getattr(route, "path", UNMATCHED)
    return method_mismatch or UNMATCHED


class CountResponses:
    """ASGI middleware: counts each answer of the app by status and route, an escaping error as 500.

    It sits inside Starlette's error middleware, so it sees an unhandled exception before that
    middleware turns it into the 500 response.
    """

    def __init__(self, app: ASGIApp, metrics: CollectorMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def counting_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                self.metrics.requests.labels(str(message["status"]), route_of(scope)).inc()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except ClientDisconnect:
            if started:
                raise
            # The client left, or the protocol answered 408 and counted it: nobody is left to answer.
        except Exception:
            if not started:
                self.metrics.requests.labels("500", route_of(scope)).inc()
            raise


async def http_error(request: Request, exc: Exception) -> Response:
    """A path no route serves (404) or a method it does not take (405), in the collector's error shape.

    Starlette's own answers are plain text; a client reading `code` from every error would stumble on them.
    """
    assert isinstance(exc, HTTPException)
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    response = json_response({"success": False, "code": code, "message": exc.detail}, exc.status_code)
    response.headers.update(exc.headers or {})
    return response


async def internal_error(request: Request, exc: Exception) -> Response:
    """The 500 answer, in the collector's error shape; the traceback goes to the log, not the client."""
    return json_response({"success": False, "code": "internal_error", "message": "internal server error"}, 500)


class CollectorHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines, a header size limit and a connection limit.

    - Headers: from the connection's start (or, on a kept-alive connection, from the first byte of
      the next request) until the headers are complete; else 408 (a connection that sent nothing is
      closed without an answer, and counted as 408). At most `max_header_bytes` of
      request line and headers are ever handed to the parser; beyond them 431.
    - Body: from the headers until the whole body has arrived; else 408. The same time bounds a
      response the client does not read.
    - Idle keep-alive: closed after `keepalive_timeout_seconds` (uvicorn's own timer, which only
      runs after a response).
    - Connections beyond `max_connections`: an idle keep-alive connection is closed to make room,
      as nginx does; if none is idle, the new connection's request gets 503 with Retry-After.

    Error answers are JSON in the collector's shape, counted in `revolt_collector_requests`, and
    followed by a lingering close: the connection is half-closed and input dropped for a moment, so
    the client reads the answer instead of a connection reset.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HttpLimits,
        metrics: CollectorMetrics,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.metrics = metrics
        self.timeout_keep_alive = limits.keepalive_timeout_seconds  # type: ignore[assignment]
        self._reading_head = True  # the next request's line and headers are not complete yet
        self._head_bytes = 0
        self._head_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None
        self._write_deadline: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._over_capacity = False
        self._answered = False  # an error answer went out: read nothing more
        self._in_hand: RequestResponseCycle | None = None  # the request being answered now

    # -- connection ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.metrics.open_connections.inc()
        if len(self.connections) > self.limits.max_connections and not self._close_an_idle_connection():
            self._over_capacity = True
        self._head_deadline = self.loop.call_later(self.limits.header_timeout_seconds, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._head_deadline, self._body_deadline, self._write_deadline, self._linger):
            if timer is not None:
                timer.cancel()
        self.metrics.open_connections.dec()
        in_hand = self._in_hand
        if in_hand is not None and in_hand is not self.cycle and not in_hand.response_complete:
            # uvicorn tells only the newest pipelined request; the one being answered would write to a dead socket.
            in_hand.disconnected = True
            in_hand.message_event.set()
        super().connection_lost(exc)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        self._in_hand = cycle
        super()._start_asgi_task(cycle, app)

    def _close_an_idle_connection(self) -> bool:
        for connection in self.connections:
            if connection is not self and isinstance(connection, CollectorHttpProtocol) and connection._idle():
                connection.transport.close()
                self.metrics.idle_connections_closed.inc()
                return True
        return False

    def _idle(self) -> bool:
        return self.timeout_keep_alive_task is not None and not self.transport.is_closing()

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing():
            self.metrics.idle_connections_closed.inc()
        super().timeout_keep_alive_handler()

    # -- reading ------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._answered:
            return  # lingering after an error answer: drop, keep nothing
        self._unset_keepalive_if_required()
        rest = memoryview(data)
        while rest:
            if self._reading_head:
                if self._head_deadline is None:
                    self._head_deadline = self.loop.call_later(self.limits.header_timeout_seconds, self._head_timed_out)
                room = self.limits.max_header_bytes - self._head_bytes
                if room <= 0:
                    limit = self.limits.max_header_bytes
                    self._answer(431, "headers_too_large", f"request line and headers exceed {limit} bytes")
                    return
                chunk, rest = rest[:room], rest[room:]
                self._head_bytes += len(chunk)
            else:
                chunk, rest = rest, rest[:0]
            super().data_received(chunk)  # type: ignore[arg-type]  # httptools parses any buffer
            if self._answered or self.transport.is_closing():
                return

    def on_headers_complete(self) -> None:
        self._reading_head = False
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        if self._over_capacity:
            self._answer(
                503,
                "over_capacity",
                f"the collector serves {self.limits.max_connections} connections at most; retry later",
                # By then every connection that was still sending its headers has been answered or closed.
                headers=[(b"retry-after", str(math.ceil(self.limits.header_timeout_seconds)).encode())],
            )
            return
        super().on_headers_complete()
        self._body_deadline = self.loop.call_later(self.limits.body_timeout_seconds, self._body_timed_out)

    def on_body(self, body: bytes) -> None:
        if not self._answered:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._answered:
            return
        super().on_message_complete()
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None
        self._reading_head = True
        self._head_bytes = 0

    # -- deadlines ----------------------------------------------------------------------------
    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined request is late: finish the one in hand, then close
            return
        if self._head_bytes == 0:
            # Nothing sent at all: close without an answer, as nginx does. A browser's unused preconnection
            # would otherwise read this 408 as the answer to the request it sends on it next.
            self.metrics.requests.labels("408", NOT_ROUTED).inc()
            self.transport.close()
            return
        self._answer(
            408, "request_timeout", f"request headers not received within {self.limits.header_timeout_seconds:g} s"
        )

    def _body_timed_out(self) -> None:
        self._body_deadline = None
        cycle = self.cycle
        if self.transport.is_closing():
            return
        if cycle.response_started:
            self.transport.close()  # answered without reading it all (413): nothing more to wait for
            return
        self._answer(
            408,
            "request_timeout",
            f"request body not received within {self.limits.body_timeout_seconds:g} s",
            route=route_of(cycle.scope),
            cycle=cycle,
        )

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_deadline is None:
            self._write_deadline = self.loop.call_later(self.limits.body_timeout_seconds, self._write_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def _write_timed_out(self) -> None:
        """The client stopped reading its answers: drop the connection and what it left unread."""
        self._write_deadline = None
        self.transport.abort()

    # -- answers ------------------------------------------------------------------------------
    def send_400_response(self, msg: str) -> None:
        if not self._answered:
            self._answer(400, "bad_request", msg)

    def _answer(
        self,
        status: int,
        code: str,
        message: str,
        *,
        route: str = NOT_ROUTED,
        headers: list[tuple[bytes, bytes]] | None = None,
        cycle: RequestResponseCycle | None = None,
    ) -> None:
        """Answer an error and close: the client may still be sending, so read and drop until it stops."""
        self._answered = True
        self._unset_keepalive_if_required()
        for timer in (self._head_deadline, self._body_deadline):
            if timer is not None:
                timer.cancel()
        busy = bool(self.pipeline) or (
            self.cycle is not None and not self.cycle.response_complete and self.cycle is not cycle
        )
        if busy:
            self.transport.abort()  # mid-way through another answer: no room for ours
            return
        if cycle is not None:
            cycle.disconnected = True  # the app's pending read ends, its late answer goes nowhere
            cycle.message_event.set()
        body = orjson.dumps({"success": False, "code": code, "message": message})
        fields = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *(headers or []),
        ]
        self.transport.write(
            b"".join([STATUS_LINE[status], *(b"%s: %s\r\n" % field for field in fields), b"\r\n", body])
        )
        self.metrics.requests.labels(str(status), route).inc()
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.abort)


def collector_protocol(limits: HttpLimits, metrics: CollectorMetrics) -> Callable[..., CollectorHttpProtocol]:
    """The protocol factory to hand uvicorn as `http=`: one per server, bound to its limits and metrics."""
    return functools.partial(CollectorHttpProtocol, limits=limits, metrics=metrics)
