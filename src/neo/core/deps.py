"""FastAPI dependencies every capability uses: the core, the caller, and a transaction.

`Tx` is one transaction acting as the caller (role, claims, method, path, headers), opened
when the route is called and committed when it returns: one request = one transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated

from fastapi import Depends, Request

from neo.core.actor import Actor, RequestContext
from neo.core.db import Connection
from neo.core.runtime import Core


def get_core(request: Request) -> Core:
    """The core of this app."""
    core: Core = request.app.state.core
    return core


def get_actor(request: Request) -> Actor:
    """The caller, resolved once per request by the gateway."""
    state = request.scope.setdefault("state", {})  # what `request.state` reads and writes
    cached: Actor | None = state.get("actor")
    if cached is not None:
        return cached
    headers = _credential_headers(request)
    actor = get_core(request).gateway.resolve(headers, _apikey_query(request))
    state["actor"] = actor
    return actor


def _credential_headers(request: Request) -> Mapping[str, str]:
    """`authorization` and `apikey` (the first of each), all the gateway reads, taken from the
    raw headers without building the request's whole header mapping (hot path)."""
    found: dict[str, str] = {}
    for name, value in request.scope["headers"]:
        if name == b"authorization" or name == b"apikey":
            found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def _apikey_query(request: Request) -> Mapping[str, str]:
    """The query parameters, parsed only when they may carry an apikey (hot path)."""
    if b"apikey" in request.scope.get("query_string", b""):
        return request.query_params
    return {}


def request_context(request: Request) -> RequestContext:
    """Method, path and headers as PostgREST exposes them to SQL (header names lower-case)."""
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != "cookie"}
    # The scope's path (what `request.url.path` holds, without building the whole URL).
    return RequestContext(method=request.method, path=request.scope["path"], headers=headers)


# FastAPI runs plain `def` dependencies in a thread pool (a few ms under load); the aliases
# below use these async wrappers so resolution stays on the event loop. The plain functions
# above remain for code that holds a Request.
async def _core(request: Request) -> Core:
    return get_core(request)


async def _actor(request: Request) -> Actor:
    return get_actor(request)


async def require_apikey(request: Request) -> Actor:
    """Kong's key check: an unknown `apikey` is refused whatever the bearer says."""
    headers = _credential_headers(request)
    return get_core(request).gateway.resolve_apikey(headers, _apikey_query(request))


async def transaction_as_caller(
    request: Request, actor: Annotated[Actor, Depends(_actor)]
) -> AsyncIterator[Connection]:
    """A transaction on the API pool acting as the caller."""
    async with get_core(request).db.transaction_as(actor, request_context(request)) as conn:
        yield conn


CoreDep = Annotated[Core, Depends(_core)]
ActorDep = Annotated[Actor, Depends(_actor)]
ApiKeyDep = Annotated[Actor, Depends(require_apikey)]  # the apikey's actor; bearer ignored
# scope="function": commit before the response is sent (FastAPI's default for `yield`
# dependencies ends them after it, so a client could see 201 before the commit).
Tx = Annotated[Connection, Depends(transaction_as_caller, scope="function")]
