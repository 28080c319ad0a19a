"""The composition root of the HTTP app: every capability is plugged in here, in one list.

`create_app(settings)` declares routes, middleware, error rendering and migrations from the
`CAPABILITIES` list; the lifespan starts the core (migrations, keys, pools) and stops it.
`app_from_env` is the factory uvicorn workers call (`neo start --workers N`).
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from neo import __version__, auth, data, identity, sandbox, storage
from neo.core.errors import BadRequest, Dialects, NeoError, Renderer
from neo.core.logging import configure_logging
from neo.core.metrics import Metrics
from neo.core.middleware import Edge
from neo.core.migrations import MigrationSource
from neo.core.router import router as core_router
from neo.core.runtime import CORE_MIGRATIONS, Core, start_core
from neo.settings import Settings, load_settings

log = structlog.get_logger("neo.app")

# Headers the official clients send and read (spec §6).
CORS_ALLOW_HEADERS = [
    "apikey", "authorization", "x-client-info", "content-type", "x-supabase-api-version",
    "accept-profile", "content-profile", "prefer", "range", "range-unit", "x-upsert",
    "x-retry-count", "x-request-id", "cache-control", "x-metadata", "if-none-match",
    "if-modified-since", "accept", "x-region", "content-transfer-encoding",
    "tus-resumable", "upload-length", "upload-metadata", "upload-offset", "x-signature",
]  # fmt: skip
CORS_EXPOSE_HEADERS = [
    "content-range", "x-total-count", "link", "x-supabase-api-version", "proxy-status",
    "x-request-id", "location", "preference-applied", "etag", "x-sb-error-code",
    "content-disposition", "last-modified", "accept-ranges", "content-length",
    "tus-resumable", "tus-version", "tus-extension", "tus-max-size", "tus-complete",
    "upload-offset", "upload-length", "upload-metadata", "upload-expires",
]  # fmt: skip


# A capability's start hook: given the core and its settings section, an async context
# manager yielding the capability's state (kept on `app.state.<name>`) for the app's lifetime.
StartHook = Callable[[Core, Any], AbstractAsyncContextManager[Any]]


@dataclass(frozen=True)
class Capability:
    """How one capability plugs into the app (its router carries its own URL prefix)."""

    name: str
    router: APIRouter
    prefix: str = ""
    renderer: Renderer | None = None
    migrations: MigrationSource | None = None
    start: StartHook | None = None
    section: str | None = None  # the root settings field handed to `start`
    key_auth: bool = True  # behind Kong's apikey check in Supabase (not storage, functions)
    fast: bool = False  # its plain Starlette routes are served by the app's `Edge` layer


CAPABILITIES: list[Capability] = [
    Capability("core", core_router, migrations=CORE_MIGRATIONS),
    Capability(
        "data",
        data.router,
        prefix=data.PREFIX,
        renderer=data.render_postgrest_error,
        migrations=data.MIGRATIONS,
        start=data.start,
        section="data",
        fast=True,
    ),
    Capability(
        "auth",
        auth.router,
        prefix=auth.PREFIX,
        renderer=auth.render_gotrue_error,
        migrations=auth.MIGRATIONS,
        start=auth.start,
        section="auth",
        fast=True,  # POST /auth/v1/token (every client's refresh timer)
    ),
    Capability(
        "identity",
        identity.router,
        prefix=identity.PREFIX,
        migrations=identity.MIGRATIONS,
        start=identity.start,  # registers the `neo_sk_` API-key resolver with the gateway
    ),
    Capability(
        "storage",
        storage.router,
        prefix=storage.PREFIX,
        renderer=storage.render_storage_error,
        migrations=storage.MIGRATIONS,
        start=storage.start,
        section="storage",
        key_auth=False,
        fast=True,  # object downloads and uploads
    ),
    Capability(
        "sandbox",
        sandbox.router,
        prefix=sandbox.PREFIX,
        migrations=sandbox.MIGRATIONS,
        start=sandbox.start,
        section="sandbox",
    ),
]


def create_app(settings: Settings) -> FastAPI:
    """The whole NEO API for one settings tree."""
    core_settings = settings.core()
    dialects = Dialects()
    for cap in CAPABILITIES:
        if cap.renderer is not None:
            dialects.register(cap.prefix, cap.renderer, key_auth=cap.key_auth)
    sources = [cap.migrations for cap in CAPABILITIES if cap.migrations is not None]
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(core_settings.log)
        core = await start_core(core_settings, sources, dialects, metrics=metrics)
        app.state.core = core
        try:
            async with AsyncExitStack() as stack:
                for cap in CAPABILITIES:
                    if cap.start is not None:
                        section = getattr(settings, cap.section) if cap.section else None
                        state = await stack.enter_async_context(cap.start(core, section))
                        setattr(app.state, cap.name, state)
                log.info("app.started", url=core.public_url, keyset=core_settings.keys.keyset)
                yield
        finally:
            await core.close()

    render = _error_renderer(dialects)
    app = NeoApp(
        title="NEO",
        version=__version__,
        lifespan=lifespan,
        exception_handlers=_exception_handlers(render),
    )
    cors = CORSMiddleware(
        app.framework,  # only its policy is used: `Edge` applies it
        allow_origins=core_settings.api.cors_origins,
        allow_methods=["*"],
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=CORS_EXPOSE_HEADERS,
        max_age=86400,
    )
    # Plain Starlette routes of hot capabilities are served before FastAPI's own layers.
    fast_routes = [
        r for cap in CAPABILITIES if cap.fast for r in cap.router.routes if type(r) is Route
    ]
    app.edge = Edge(
        app.framework,
        metrics=metrics,
        cors=cors,
        routes=fast_routes,
        render=render,
        access_log=core_settings.log.access_log,
    )
    for cap in CAPABILITIES:
        app.include_router(cap.router)
    app.openapi = _quiet_openapi(app)  # type: ignore[method-assign]
    return app


class NeoApp(FastAPI):
    """FastAPI with one layer in front for HTTP requests and WebSocket sessions: `Edge`
    (request id, CORS, key resolution, metrics, access log, fast routes), then FastAPI's own
    stack (`framework`).

    `Edge` sits in front of FastAPI's outer layers rather than inside them, so a hot route
    crosses one ASGI wrapper, and responses FastAPI renders itself (a 500) carry the request
    id and CORS headers too.
    """

    edge: Edge | None = None  # set by `create_app`

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.edge is not None:
            scope["app"] = self
            await self.edge(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's own handling of a request (its middleware stack and router)."""
        await super().__call__(scope, receive, send)


def _quiet_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI builder, minus FastAPI's duplicate-id warning for routes serving several
    methods (GET and HEAD of one handler), which the wire contracts need."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Duplicate Operation ID")
            return build()

    return openapi


Handler = Callable[[Request, Any], Coroutine[Any, Any, Response]]


def _error_renderer(dialects: Dialects) -> Callable[[Exception, Request], Response]:
    """Any exception as a response in the shape of the contract owning the URL."""

    def render(exc: Exception, request: Request) -> Response:
        if isinstance(exc, NeoError):
            if exc.status >= 500:
                log.error("app.request_failed", code=exc.code, error=exc.message)
            return dialects.render(exc, request)
        if isinstance(exc, RequestValidationError):
            details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()]
            error = BadRequest("Invalid request", code="validation_failed", details=details)
            return dialects.render(error, request)
        if isinstance(exc, asyncpg.DataError):  # a value PostgreSQL (or asyncpg) refused
            return dialects.render(_invalid_input(exc), request)
        if isinstance(exc, HTTPException):
            codes = {404: "not_found", 405: "method_not_allowed"}
            code = codes.get(exc.status_code, "http_error")
            return dialects.render(
                NeoError(str(exc.detail), status=exc.status_code, code=code), request
            )
        log.exception("app.unexpected_error", path=request.url.path)
        return dialects.render(NeoError(), request)

    return render


def _invalid_input(exc: asyncpg.DataError) -> BadRequest:
    """A 400 for input that only the database could judge (a NUL in a string, a number out
    of range): SQLSTATE class 22, or asyncpg refusing to encode an argument. The server's
    message names the problem; asyncpg's own may quote the value, so it is left out."""
    message = getattr(exc, "message", None)  # None when asyncpg raised it client-side
    if getattr(exc, "severity", None) is not None and isinstance(message, str):
        return BadRequest(f"Invalid input: {message}", code="invalid_input")
    return BadRequest(
        "Invalid input: a value is out of range or not encodable", code="invalid_input"
    )


def _exception_handlers(
    render: Callable[[Exception, Request], Response],
) -> dict[int | type[Exception], Handler]:
    async def handle(request: Request, exc: Exception) -> Response:
        return render(exc, request)

    return {
        NeoError: handle,
        asyncpg.DataError: handle,  # not left to the catch-all: that one logs a traceback
        RequestValidationError: handle,
        HTTPException: handle,
        Exception: handle,
    }


def app_from_env() -> FastAPI:
    """Factory for ASGI servers: settings from the environment (`NEO_*`, DATABASE_URL)."""
    return create_app(load_settings())


__all__ = ["CAPABILITIES", "Capability", "Core", "create_app"]
