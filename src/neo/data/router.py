"""HTTP routes of `/rest/v1`: tables and views, `/rpc/{fn}`, and the OpenAPI root.

Only HTTP here: resolve the caller, parse the request, pick the schema, hand over to
`service.py`, return its response.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from neo.core.actor import RequestContext
from neo.core.deps import get_actor
from neo.data import service
from neo.data.errors import ApiError
from neo.data.openapi import openapi_document
from neo.data.request import negotiate, parse_request
from neo.data.state import DataState

PREFIX = "/rest/v1"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
READ = ("GET", "HEAD")
CONTEXTS_MAX = 1024  # shared request contexts kept (emptied when full)
CONTEXT_HEADERS_MAX = 8192  # requests with more header bytes get a context of their own


def _state(request: Request) -> DataState:
    state: DataState = request.app.state.data
    return state


def _headers(request: Request) -> dict[str, str]:
    """Header names lower-cased, the last of repeated ones (repeated `Prefer` headers are
    joined, as PostgREST reads them all), without `cookie` (which PostgREST does not pass to
    SQL and no parser reads), decoded from the raw ASGI list."""
    headers: dict[str, str] = {}
    for k, v in request.scope["headers"]:
        name = k.decode("latin-1").lower()
        if name == "prefer" and name in headers:
            headers[name] += ", " + v.decode("latin-1")
        elif name != "cookie":
            headers[name] = v.decode("latin-1")
    return headers


def _context(request: Request, path: str) -> tuple[dict[str, str], RequestContext]:
    """The request's headers and its context for SQL, shared by requests with the same
    method, path and raw headers (a client repeating a request): neither is ever changed
    after it is built, and `core.db` recognises a shared context to reuse its SQL."""
    key: tuple[str, str, tuple[Any, ...]] | None
    key = (request.method, path, tuple(request.scope["headers"]))
    contexts = _state(request).contexts
    try:
        hit: tuple[dict[str, str], RequestContext] | None = contexts.get(key)
    except TypeError:  # header pairs given as lists (ASGI allows it): not shared
        hit = key = None
    if hit is not None:
        return hit
    headers = _headers(request)
    found = headers, RequestContext(method=request.method, path=path, headers=headers)
    if key is not None and sum(len(v) for _, v in key[2]) <= CONTEXT_HEADERS_MAX:
        if len(contexts) >= CONTEXTS_MAX:
            contexts.clear()
        contexts[key] = found
    return found


@router.api_route("/", methods=["GET", "HEAD"])
async def root(request: Request) -> Response:
    """The OpenAPI description of the exposed schema."""
    get_actor(request)
    headers = _headers(request)
    state = _state(request)
    media = negotiate(headers.get("accept"))
    if media.kind not in ("json", "openapi"):
        raise ApiError(
            f"None of these media types are available: {headers.get('accept')}",
            status=406,
            code="PGRST107",
        )
    schema = state.schema_for(headers.get("accept-profile"))
    body = openapi_document(state.cache, schema, state.core.public_url)
    return Response(
        b"" if request.method == "HEAD" else body,
        media_type="application/openapi+json; charset=utf-8",
    )


async def rpc(request: Request) -> Response:
    """Call a function."""
    name = request.path_params["name"]
    actor = get_actor(request)
    state, (headers, context) = _state(request), _context(request, f"/rpc/{name}")
    cache = state.cache
    profile = headers.get("accept-profile" if request.method in READ else "content-profile")
    schema = state.schema_for(profile.strip() if profile else None)
    arg_names = frozenset(p.name for f in cache.functions.get((schema, name), []) for p in f.params)
    req = parse_request(
        request.method,
        name,
        request.query_params.multi_items(),
        headers,
        rpc=True,
        arg_names=arg_names,
    )
    call = service.Call(state, actor, context, req, schema, cache)
    raw = await request.body() if request.method == "POST" else None
    return await service.call_function(call, raw)


# What a read's parse, plan and statement depend on besides the schema cache snapshot.
READ_HEADERS = ("accept", "prefer", "range", "range-unit", "accept-profile")
MEMO_KEY_MAX = 2048  # longer URLs and headers are planned each time (bounds the memo's size)


async def relation(request: Request) -> Response:
    """Read or write a table or view."""
    name = request.path_params["name"]
    actor = get_actor(request)
    state, (headers, context) = _state(request), _context(request, f"/{name}")
    cache = state.cache
    method = request.method
    if method not in READ:
        req = parse_request(method, name, request.query_params.multi_items(), headers)
        schema = state.schema_for(req.profile)
        call = service.Call(state, actor, context, req, schema, cache)
        return await service.write(call, await request.body())
    # A read is parsed, planned and built once per (URL, relevant headers, snapshot): the
    # plan does not depend on the caller, whose role and claims only enter the transaction.
    key = (method, name, request.scope["query_string"], *map(headers.get, READ_HEADERS))
    hit = cache.memo.get(key)
    if hit is None:
        req = parse_request(method, name, request.query_params.multi_items(), headers)
        schema = state.schema_for(req.profile)
        call = service.Call(state, actor, context, req, schema, cache)
        statement = service.read_statement(call)
        if sum(len(part) for part in key if part) <= MEMO_KEY_MAX:
            cache.remember(key, (req, schema, statement))
    else:
        req, schema, statement = hit
        call = service.Call(state, actor, context, req, schema, cache)
    return await service.read(call, statement)


async def options(request: Request) -> Response:
    """The methods a relation supports (CORS preflights are answered by the middleware)."""
    return Response(b"", headers={"Allow": "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"})


async def unsupported(request: Request) -> Response:
    """Methods PostgREST does not offer here."""
    raise ApiError("Unsupported HTTP method: " + request.method, status=405, code="PGRST117")


# The hot routes are plain Starlette routes: no FastAPI parameter solving per request. They
# carry the full path (APIRouter's prefix applies to `api_route` only).
router.add_route(f"{PREFIX}/rpc/{{name}}", rpc, methods=["GET", "HEAD", "POST"])
router.add_route(
    f"{PREFIX}/{{name}}", relation, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
)
router.add_route(f"{PREFIX}/{{name}}", options, methods=["OPTIONS"])
router.add_route(f"{PREFIX}/{{name}}", unsupported, methods=["TRACE", "CONNECT"])
