"""ASGI middleware shared by every route: request id, access log and metrics.

Written as plain ASGI (no BaseHTTPMiddleware) so streamed bodies pass through untouched and
the overhead per request stays in microseconds.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neo.core.metrics import Metrics

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = structlog.get_logger("neo.http")


class RequestMiddleware:
    """Assigns `x-request-id` (or keeps a well-formed incoming one), logs, counts."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, access_log: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started, request_id)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self.metrics.observe(scope["method"], template, status, seconds)
        if self.access_log:
            log.info(
                "http.request_served",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round(seconds * 1000, 2),
                request_id=request_id,
            )


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _VALID_ID.match(candidate) else None
    return None


class FastLane:
    """Serves plain Starlette routes of hot capabilities (the data API) straight from this
    middleware, skipping the framework layers behind it (exception middleware, exit stack,
    matching every route of every capability). A request no fast route fully matches goes
    on unchanged; errors are rendered by `render`, as the app's own handlers would.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Sequence[BaseRoute],
        render: Callable[[Exception, Request], Response],
    ) -> None:
        self.app = app
        self.routes = routes
        self.prefixes = tuple({_static_prefix(r) for r in routes})
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefixes):
            for route in self.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    await self._handle(route, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _handle(self, route: BaseRoute, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await route.handle(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            await self.render(exc, Request(scope))(scope, receive, send)


def _static_prefix(route: BaseRoute) -> str:
    path: str = getattr(route, "path", "")
    return path.split("{", 1)[0]
