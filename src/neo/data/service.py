"""Use cases of the data API: read, write and call, each in one transaction as the caller.

Takes a parsed request and the current schema cache, plans, builds the statement, runs it
inside `core.db.transaction_as(actor, context)` and turns the result into a `Response`.
Checks that must undo the work (single object, max-affected, `tx=rollback`) raise inside the
transaction so it rolls back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import asyncpg
from starlette.responses import Response

from neo.core.actor import Actor, RequestContext
from neo.core.db import Connection
from neo.data import query
from neo.data.actions import ReadPlan, WritePlan, plan_call, plan_read, plan_write
from neo.data.errors import ApiError, from_postgres, not_acceptable, singular
from neo.data.fragments import qualified
from neo.data.plan import Node, OutColumn
from neo.data.request import RAW_KINDS, RAW_TYPES, ApiRequest, Media
from neo.data.response import (
    ReadShape,
    apply_gucs,
    content_range,
    content_type,
    location,
    preference_applied,
    read_response,
    read_shape,
    read_status,
)
from neo.data.schema_cache import SchemaCache
from neo.data.state import DataState


class _Rollback(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass
class Call:
    """One request's context for the use cases."""

    state: DataState
    actor: Actor
    context: RequestContext
    req: ApiRequest
    schema: str
    cache: SchemaCache  # the snapshot this request plans and runs with, even across a reload


def transaction(call: Call, *, readonly: bool) -> AbstractAsyncContextManager[Connection]:
    """The caller's transaction: its role's settings (statement_timeout…) and the schema's
    search_path applied, as PostgREST does."""
    db = call.state.core.db
    settings = _tx_settings(call)
    zone = timezone(call)
    if zone is not None:
        settings = {**settings, "timezone": zone}
    return db.transaction_as(call.actor, call.context, readonly=readonly, settings=settings)


def timezone(call: Call) -> str | None:
    """`Prefer: timezone=…` when PostgreSQL knows the zone (others are ignored, as PostgREST
    does, or refused under handling=strict)."""
    zone = call.req.prefer.get("timezone")
    return zone if zone and zone in call.cache.timezones else None


def _tx_settings(call: Call) -> Mapping[str, str]:
    """The extra settings of a (role, schema), computed once per schema cache snapshot
    (read-only: every request of that role shares them)."""
    key = ("tx", call.actor.role, call.schema)
    shared: Mapping[str, str] | None = call.cache.memo.get(key)
    if shared is None:
        settings: dict[str, str] = {}
        if call.state.settings.role_settings:
            settings.update(call.cache.role_settings.get(call.actor.role, {}))
        wanted = query.search_path(call.schema)
        if call.state.core.db.search_path != wanted:
            settings["search_path"] = wanted
        shared = call.cache.remember(key, MappingProxyType(settings))
    return shared


async def guarded(call: Call, work: Any) -> Response:
    """Run `work` (a coroutine) mapping PostgreSQL errors; a rollback still answers."""
    try:
        response: Response = await work
        return response
    except _Rollback as done:
        return done.response
    except asyncpg.PostgresError as exc:
        raise from_postgres(exc, authenticated=call.actor.role != "anon") from None
    except (OSError, TimeoutError) as exc:  # the database is unreachable: clients retry 503
        raise ApiError(
            "Database client error. Retrying the connection.",
            status=503,
            code="PGRST001",
            details=type(exc).__name__,
        ) from None


def window(req: ApiRequest, max_rows: int | None) -> tuple[int, int | None]:
    """(offset, limit) of the root from limit/offset and the Range header, capped by max_rows."""
    offset, limit = req.offset.get((), 0), req.limit.get(())
    if req.range is not None:
        first, last = req.range
        end = None if limit is None else offset + limit - 1
        if last is not None:
            end = last if end is None else min(end, last)
        offset = max(offset, first)
        limit = None if end is None else max(0, end - offset + 1)
    if max_rows is not None:
        limit = max_rows if limit is None else min(limit, max_rows)
    return offset, limit


def media(call: Call, node: Node | None, scalar: str | None = None) -> Media:
    """The negotiated media type, completed for this plan: application/geo+json needs PostGIS;
    text/plain, text/xml and application/octet-stream need one output column (or a scalar
    function result of type `scalar`), else the next acceptable type or 406 PGRST107."""
    wanted = call.req.media
    if wanted.kind == "geojson":
        if call.cache.geojson_schema is None:
            raise not_acceptable("application/geo+json")
        return replace(wanted, geojson=qualified(call.cache.geojson_schema, "st_asgeojson"))
    if wanted.kind not in RAW_KINDS:
        return wanted
    column = _single_column(node) if node is not None else ("v", scalar) if scalar else None
    if column is not None:
        return replace(wanted, raw_column=column[0], raw_binary=column[1] == "bytea")
    if wanted.fallback is not None:
        return wanted.fallback
    raise not_acceptable(next(k for k, v in RAW_TYPES.items() if v == wanted.kind))


def _single_column(node: Node) -> tuple[str, str] | None:
    """(name, SQL type) of a node's only output column, if it has exactly one."""
    if len(node.items) != 1 or not isinstance(node.items[0], OutColumn):
        return None
    item = node.items[0]
    if item.cast or item.aggregate or item.field.path:
        return item.name, item.cast or "text"
    return item.name, node.column_type(item.field.name)


def check_strict(call: Call) -> None:
    """PGRST122 for unknown preferences (or time zones) under `handling=strict`."""
    prefer = call.req.prefer
    if prefer.get("handling") != "strict":
        return
    invalid = list(prefer.invalid)
    zone = prefer.get("timezone")
    if zone is not None and timezone(call) is None:
        invalid.append(f"timezone={zone}")
    if invalid:
        raise ApiError(
            "Invalid preferences given with handling=strict",
            code="PGRST122",
            details=f"Invalid preferences: {', '.join(invalid)}",
        )


def tx_end(call: Call) -> str | None:
    """`rollback` when this transaction must not commit; the applied tx preference."""
    setting = call.state.settings.tx_end
    wanted = call.req.prefer.get("tx")
    if wanted and setting.endswith("allow-override"):
        return wanted
    return "rollback" if setting.startswith("rollback") else None


@dataclass(frozen=True)
class ReadStatement:
    """A read planned and built: what a request needs besides its caller."""

    plan: ReadPlan
    sql: str
    params: list[Any]  # never mutated: shared by the requests that reuse this statement
    offset: int
    limit: int | None
    media: Media  # what the body is, as negotiated for this plan
    shape: ReadShape  # the response's Preference-Applied and Content-Type


def read_statement(call: Call) -> ReadStatement:
    """Plan and build the statement of a read."""
    req, state = call.req, call.state
    check_strict(call)
    plan = plan_read(req, call.cache, call.schema, aggregates=state.settings.aggregates_enabled)
    offset, limit = window(req, state.settings.max_rows)
    body = media(call, plan.node)
    sql, params = query.read_statement(
        plan,
        body,
        count=req.prefer.get("count") == "exact",
        head=req.method == "HEAD",
        limit=limit,
        offset=offset,
    )
    shape = read_shape(req, body, timezone(call))
    return ReadStatement(plan, sql, params, offset, limit, body, shape)


async def read(call: Call, statement: ReadStatement | None = None) -> Response:
    """GET/HEAD on a table or view (`statement`: built earlier for the same request)."""
    req = call.req
    built = statement or read_statement(call)
    if req.media.kind == "plan":
        return await _explain(call, built.sql, built.params)
    return await guarded(call, _read(call, built))


async def _read(call: Call, built: ReadStatement) -> Response:
    count = call.req.prefer.get("count")
    async with transaction(call, readonly=True) as conn:
        result = await query.run(conn, built.sql, built.params)
        total = result.total
        if count in ("planned", "estimated"):
            total = await _planned(conn, built.plan, count, result.page, built.offset, built.limit)
    head = call.req.method == "HEAD"
    return _read_response(call, result, total, built.offset, head, built.shape)


async def _planned(
    conn: Connection,
    plan: Any,
    count: str,
    page: int,
    offset: int,
    limit: int | None,
) -> int:
    if count == "estimated" and (limit is None or page < limit):
        return offset + page
    text = await query.run_explain(conn, *query.explain_count_statement(plan))
    estimate = int(json.loads(text)[0]["Plan"]["Plan Rows"])
    return max(estimate, offset + page)


def _read_response(
    call: Call, result: query.Result, total: int | None, offset: int, head: bool, shape: ReadShape
) -> Response:
    if call.req.media.kind == "object" and result.page != 1:
        raise singular(result.page)
    status = read_status(offset, result.page, total)
    body = b"" if head or result.body is None else result.body
    response = read_response(shape, body, status, content_range(offset, result.page, total))
    if result.response_headers is None and result.response_status is None:
        return response
    return apply_gucs(response, result.response_headers, result.response_status)


async def write(call: Call, raw: bytes) -> Response:
    """POST/PATCH/DELETE on a table or view."""
    req, state = call.req, call.state
    check_strict(call)
    plan = plan_write(
        req, call.cache, call.schema, raw, aggregates=state.settings.aggregates_enabled
    )
    if plan.kind != "insert" and state.settings.safe_update and not plan.node.conditions:
        verb = "UPDATE" if plan.kind == "update" else "DELETE"
        raise ApiError(f"{verb} requires a WHERE clause", code="21000")
    returning = req.prefer.get("return") or "minimal"
    head = req.method == "HEAD"
    shape = media(call, plan.node)
    sql, params = query.write_statement(plan, shape, returning=returning, head=head)
    if req.media.kind == "plan":
        return await _explain(call, sql, params)
    end = tx_end(call)

    async def work() -> Response:
        async with transaction(call, readonly=False) as conn:
            if plan.kind == "update" and not plan.columns:
                result = query.Result(None, 0, b"[]")
            else:
                result = await query.run(conn, sql, params)
            response = _write_response(call, plan, result, returning, shape)
            if end == "rollback":
                raise _Rollback(response)
            return response

    return await guarded(call, work())


def _write_response(
    call: Call, plan: WritePlan, result: query.Result, returning: str, shape: Media
) -> Response:
    response = _write_shape(call, plan, result, returning, shape)
    return apply_gucs(response, result.response_headers, result.response_status)


def _write_shape(
    call: Call, plan: WritePlan, result: query.Result, returning: str, shape: Media
) -> Response:
    req, kind, table = call.req, plan.kind, plan.relation.name
    strict = req.prefer.get("handling") == "strict"
    if strict and req.prefer.max_affected is not None and result.page > req.prefer.max_affected:
        raise ApiError(
            "Query result exceeds max-affected preference constraint",
            code="PGRST124",
            details=f"The query affects {result.page} rows",
        )
    if req.media.kind == "object" and result.page != 1 and returning == "representation":
        raise singular(result.page)
    total = result.page if req.prefer.get("count") == "exact" else None
    headers = {
        "Content-Range": f"*/{'*' if total is None else total}"
        if kind == "insert"
        else content_range(0, result.page, total)
    }
    overridable = call.state.settings.tx_end.endswith("allow-override")
    tx = req.prefer.get("tx") if overridable else None
    applied = preference_applied(
        req, tx=tx, write=True, timezone=timezone(call), resolved=plan.resolution is not None
    )
    if applied:
        headers["Preference-Applied"] = applied
    loc = location(table, result.location) if returning == "headers-only" else None
    if loc:
        headers["Location"] = loc
    # An insert is 201, but a merge-duplicates upsert that only updated rows is 200; PUT is
    # 201/200 with its representation and 204 without.
    created = kind == "insert" and result.inserted != 0
    if req.method == "PUT" and returning != "representation":
        return Response(b"", status_code=204, headers=headers)
    if req.method == "PUT":
        created = bool(result.inserted)
    if returning == "representation":
        return Response(
            result.body or b"[]",
            status_code=201 if created else 200,
            headers=headers,
            media_type=content_type(shape),
        )
    return Response(
        b"", status_code=201 if created else 200 if kind == "insert" else 204, headers=headers
    )


async def call_function(call: Call, raw: bytes | None) -> Response:
    """GET/HEAD/POST on /rpc/fn."""
    req, state = call.req, call.state
    check_strict(call)
    plan = plan_call(
        req, call.cache, call.schema, raw, aggregates=state.settings.aggregates_enabled
    )
    readonly = req.method in ("GET", "HEAD")
    if readonly and plan.function.volatility == "v":
        raise ApiError(
            "cannot execute a volatile function in a read-only transaction",
            status=405,
            code="25006",
            hint=f"Call {call.schema}.{plan.function.name} with POST",
        )
    offset, limit = window(req, state.settings.max_rows)
    head = req.method == "HEAD"
    count = req.prefer.get("count") == "exact"
    fn = plan.function
    body = media(call, plan.node, None if fn.returns_void else fn.return_type)
    sql, params = query.call_statement(
        plan, body, count=count, head=head, limit=limit, offset=offset
    )
    if req.media.kind == "plan":
        return await _explain(call, sql, params)
    end = tx_end(call)

    async def work() -> Response:
        async with transaction(call, readonly=readonly) as conn:
            result = await query.run(conn, sql, params)
            if plan.function.returns_void:
                response = apply_gucs(
                    Response(b"", status_code=204),
                    result.response_headers,
                    result.response_status,
                )
            else:
                shape = read_shape(req, body, timezone(call))
                response = _read_response(call, result, result.total, offset, head, shape)
            if end == "rollback":
                raise _Rollback(response)
            return response

    return await guarded(call, work())


async def _explain(call: Call, sql: str, params: list[Any]) -> Response:
    media = call.req.media
    if not call.state.settings.plan_enabled:
        raise ApiError(
            "None of these media types are available: application/vnd.pgrst.plan",
            status=406,
            code="PGRST107",
        )
    explain = query.explain_statement(sql, media.plan_format, media.plan_options)

    async def work() -> Response:
        async with transaction(call, readonly=call.req.method in ("GET", "HEAD")) as conn:
            text = await query.run_explain(conn, explain, params)
            response = Response(text.encode(), media_type=content_type(media))
            raise _Rollback(response)  # EXPLAIN ANALYZE of a write must not commit

    return await guarded(call, work())
