"""The ASGI layer in front of every route: request id, CORS, key resolution, metrics, access
log, and the fast lane of hot routes.

`Edge` is one plain ASGI layer (no BaseHTTPMiddleware, one `send` wrapper) doing what used to
be four stacked middlewares, so a request to a hot route (the data API, the token grant)
crosses one wrapper instead of a dozen; its per-request work is a single scan of the request
headers, a remembered route match and a cached metric series.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neo.core.gateway import gateway_of
from neo.core.metrics import Metrics

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SERIES_MAX = 4096  # cached metric series (method, route, status); more are looked up each time
_MATCHES_MAX = 4096  # remembered fast-route matches; more paths are matched each time
_UNSEEN: Any = object()
log = structlog.get_logger("neo.http")
_stdlib_log = logging.getLogger("neo.http")

Render = Callable[[Exception, Request], Response]


class FastRoutes:
    """Plain Starlette routes matched before the framework's own layers."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self.routes = tuple(routes)
        self.prefixes = tuple({_static_prefix(r) for r in routes})
        self.endpoints = {id(r): e for r in routes if (e := _plain_endpoint(r)) is not None}
        # (path, root_path, method) -> the route fully matching it, its child scope; None
        self._matches: dict[tuple[str, str, str], tuple[BaseRoute, Scope] | None] = {}

    async def handle(self, route: BaseRoute, scope: Scope, receive: Receive, send: Send) -> None:
        """Run a matched route: a plain async endpoint is called directly (what Starlette's
        `request_response` does, minus its exception-handler lookup, which has no handlers
        here: errors propagate to the caller either way)."""
        endpoint = self.endpoints.get(id(route))
        if endpoint is None:
            await route.handle(scope, receive, send)
            return
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)

    def match(self, scope: Scope) -> BaseRoute | None:
        """The route fully matching an HTTP request (its path params set in `scope`).

        Routes match on the path, root path and method alone, so the answer is remembered
        per (path, root path, method), up to `_MATCHES_MAX` of them."""
        path: str = scope["path"]
        if not path.startswith(self.prefixes):
            return None
        key = (path, scope.get("root_path", ""), scope["method"])
        found: tuple[BaseRoute, Scope] | None = self._matches.get(key, _UNSEEN)
        if found is _UNSEEN:
            found = self._find({**scope, "path_params": {}})
            if len(self._matches) < _MATCHES_MAX:
                self._matches[key] = found
        if found is None:
            return None
        route, child = found
        params = {**scope.get("path_params", {}), **child["path_params"]}
        scope.update(child)
        scope["path_params"] = params  # a dict of this request's own
        scope["route"] = route  # the metrics' route template, as FastAPI sets it
        return route

    def _find(self, scope: Scope) -> tuple[BaseRoute, Scope] | None:
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return route, child
        return None


class RequestIds:
    """Request ids: 32 hex digits, a random per-process prefix and a counter (unique within
    the process, distinct across workers, without a random draw per request)."""

    def __init__(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFFFFFF:016x}"


class Edge:
    """The app's front layer, for every HTTP request (WebSocket sessions get 1, 3 and 5:
    `_websocket`):

    1. `x-request-id`: a well-formed incoming one is kept, otherwise one is assigned; it is
       put in `scope["state"]` and on the response.
    2. CORS as `cors` (Starlette's policy) answers it: preflights answered here, allowed
       origins and exposed headers on other responses, `Vary: Origin` on every response.
    3. Keys a capability registered a resolver for (`neo_sk_`) are resolved before routing
       (the gateway's `registered_keys`, `preresolve`, `resolved`).
    4. Fast routes are served here (errors rendered by `render`); anything else goes to `app`.
    5. Metrics by (method, route template, status), and the access log line when enabled.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        cors: CORSMiddleware,
        routes: Sequence[BaseRoute] = (),
        render: Render | None = None,
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.cors = cors
        self.fast = FastRoutes(routes)
        self.render = render
        self.access_log = access_log
        self.ids = RequestIds()
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = origin = None
        preflight = False
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value if incoming is None else incoming
            elif name == b"origin":
                origin = value if origin is None else origin
            elif name == b"access-control-request-method":
                preflight = True
        request_id, id_header = self._request_id(scope, incoming)
        preflight = preflight and origin is not None and scope["method"] == "OPTIONS"
        cors_headers = None if origin is None or preflight else Headers(scope=scope)
        started = time.perf_counter()
        status = 500
        sent = False

        async def send_with_id(message: Message) -> None:
            message["headers"].append(id_header)
            await send(message)

        async def edge_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] != "http.response.start":
                await send(message)
                return
            status, sent = message["status"], True
            headers = list(message.get("headers", ()))
            if cors_headers is not None:  # the browser's origin: Starlette's CORS headers
                message = {**message, "headers": headers}
                await self.cors.send(message, send_with_id, request_headers=cors_headers)
                return
            if not preflight:
                _vary_origin(headers)
            headers.append(id_header)
            await send({**message, "headers": headers})

        try:
            if preflight:
                response = self.cors.preflight_response(request_headers=Headers(scope=scope))
                await response(scope, receive, edge_send)
                return
            gateway = gateway_of(scope)
            keys = gateway.registered_keys(scope) if gateway is not None else []
            if gateway is None or not keys:
                await self._route(scope, receive, edge_send, lambda: sent)
                return
            with gateway.resolved(await gateway.preresolve(keys)):
                await self._route(scope, receive, edge_send, lambda: sent)
        finally:
            self._record(scope, status, time.perf_counter() - started, request_id)

    def _request_id(self, scope: Scope, incoming: bytes | None) -> tuple[str, tuple[bytes, bytes]]:
        """A well-formed incoming id kept, else one assigned; put in `scope["state"]`. The id
        and its response header."""
        request_id = _valid_id(incoming) or self.ids.next()
        scope.setdefault("state", {})["request_id"] = request_id
        return request_id, (b"x-request-id", request_id.encode("latin-1"))

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket session: the request id as for HTTP (on the handshake's answer, accept
        or denial), registered keys resolved before routing, and at its end the counter
        `neo_http_requests` under method `WEBSOCKET` with the handshake's status (101 when
        accepted, 403 when closed before accepting, a denial response's own) and the access
        log line with the session's length. Sessions stay out of the latency histogram."""
        incoming = next((v for n, v in scope["headers"] if n == b"x-request-id"), None)
        request_id, id_header = self._request_id(scope, incoming)
        status = 500
        started = time.perf_counter()

        async def edge_send(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("websocket.accept", "websocket.http.response.start"):
                status = 101 if kind == "websocket.accept" else message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            elif kind == "websocket.close" and status == 500:
                status = 403  # closed before accepting: the server answers the handshake 403
            await send(message)

        try:
            gateway = gateway_of(scope)
            keys = gateway.registered_keys(scope) if gateway is not None else []
            if gateway is None or not keys:
                await self.app(scope, receive, edge_send)
                return
            with gateway.resolved(await gateway.preresolve(keys)):
                await self.app(scope, receive, edge_send)
        finally:
            self._record(scope, status, time.perf_counter() - started, request_id)

    async def _route(
        self, scope: Scope, receive: Receive, send: Send, sent: Callable[[], bool]
    ) -> None:
        route = self.fast.match(scope)
        if route is None or self.render is None:
            await self.app(scope, receive, send)
            return
        try:
            await self.fast.handle(route, scope, receive, send)
        except Exception as exc:
            if sent():
                raise
            await self.render(exc, Request(scope))(scope, receive, send)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        websocket = scope["type"] == "websocket"
        method: str = "WEBSOCKET" if websocket else scope["method"]
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        key = (method, template, status)
        series = self._series.get(key)
        if series is None:
            metrics = self.metrics
            series = (
                metrics.requests.labels(method, template, str(status)),
                None if websocket else metrics.latency.labels(method, template),
            )
            if len(self._series) < _SERIES_MAX:
                self._series[key] = series
        series[0].inc()
        if series[1] is not None:
            series[1].observe(seconds)
        if self.access_log and _stdlib_log.isEnabledFor(logging.INFO):
            log.info(
                "http.request_served",
                method=method,
                path=scope["path"],
                status=status,
                ms=round(seconds * 1000, 2),
                request_id=request_id,
            )


def _valid_id(value: bytes | None) -> str | None:
    if value is None:
        return None
    candidate = value.decode("latin-1")
    return candidate if _VALID_ID.match(candidate) else None


def _vary_origin(headers: list[tuple[bytes, bytes]]) -> None:
    """`Vary: Origin` added to a response's headers, joined with any `Vary` it has (as
    Starlette's CORS middleware does for requests without an `Origin`)."""
    found = [i for i, (name, _) in enumerate(headers) if name == b"vary"]
    if not found:
        headers.append((b"vary", b"Origin"))
        return
    joined = b", ".join([*(headers[i][1] for i in found), b"Origin"])
    headers[found[0]] = (b"vary", joined)
    for i in reversed(found[1:]):
        del headers[i]


def _plain_endpoint(route: BaseRoute) -> Callable[[Request], Awaitable[Response]] | None:
    """The endpoint of a `Route` whose ASGI app is Starlette's plain wrapper of an async
    function (no route middleware, no body limit); None for anything else."""
    app = getattr(route, "app", None)
    endpoint = getattr(route, "endpoint", None)
    wrapper = getattr(app, "__qualname__", "") == request_response(_probe).__qualname__
    return endpoint if wrapper and inspect.iscoroutinefunction(endpoint) else None


async def _probe(request: Request) -> Response:
    return Response()


def _static_prefix(route: BaseRoute) -> str:
    path: str = getattr(route, "path", "")
    return path.split("{", 1)[0]
