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
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import asyncpg
from starlette.responses import Response

from neo.core.actor import Actor, RequestContext
from neo.core.db import Connection
from neo.data import query
from neo.data.actions import ReadPlan, plan_call, plan_read, plan_write
from neo.data.errors import ApiError, from_postgres, singular
from neo.data.request import ApiRequest
from neo.data.response import content_range, content_type, location, preference_applied, read_status
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
    return db.transaction_as(
        call.actor, call.context, readonly=readonly, settings=_tx_settings(call)
    )


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


def check_strict(req: ApiRequest) -> None:
    """PGRST122 for unknown preferences under `handling=strict`."""
    if req.prefer.get("handling") == "strict" and req.prefer.invalid:
        raise ApiError(
            "Invalid preferences given with handling=strict",
            code="PGRST122",
            details=f"Invalid preferences: {', '.join(req.prefer.invalid)}",
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


def read_statement(call: Call) -> ReadStatement:
    """Plan and build the statement of a read."""
    req, state = call.req, call.state
    check_strict(req)
    plan = plan_read(req, call.cache, call.schema, aggregates=state.settings.aggregates_enabled)
    offset, limit = window(req, state.settings.max_rows)
    sql, params = query.read_statement(
        plan,
        req.media,
        count=req.prefer.get("count") == "exact",
        head=req.method == "HEAD",
        limit=limit,
        offset=offset,
    )
    return ReadStatement(plan, sql, params, offset, limit)


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
    return _read_response(call, result, total, built.offset, call.req.method == "HEAD")


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
    call: Call, result: query.Result, total: int | None, offset: int, head: bool
) -> Response:
    req = call.req
    if req.media.kind == "object" and result.page != 1:
        raise singular(result.page)
    status = read_status(offset, result.page, total)
    headers = {"Content-Range": content_range(offset, result.page, total)}
    applied = preference_applied(req, tx=None, write=False)
    if applied:
        headers["Preference-Applied"] = applied
    body = b"" if head or result.body is None else result.body
    return Response(body, status_code=status, headers=headers, media_type=content_type(req.media))


async def write(call: Call, raw: bytes) -> Response:
    """POST/PATCH/DELETE on a table or view."""
    req, state = call.req, call.state
    check_strict(req)
    plan = plan_write(
        req, call.cache, call.schema, raw, aggregates=state.settings.aggregates_enabled
    )
    if plan.kind != "insert" and state.settings.safe_update and not plan.node.conditions:
        verb = "UPDATE" if plan.kind == "update" else "DELETE"
        raise ApiError(f"{verb} requires a WHERE clause", code="21000")
    returning = req.prefer.get("return") or "minimal"
    head = req.method == "HEAD"
    sql, params = query.write_statement(plan, req.media, returning=returning, head=head)
    if req.media.kind == "plan":
        return await _explain(call, sql, params)
    end = tx_end(call)

    async def work() -> Response:
        async with transaction(call, readonly=False) as conn:
            if plan.kind == "update" and not plan.columns:
                result = query.Result(None, 0, b"[]")
            else:
                result = await query.run(conn, sql, params)
            response = _write_response(call, plan.kind, plan.relation.name, result, returning)
            if end == "rollback":
                raise _Rollback(response)
            return response

    return await guarded(call, work())


def _write_response(
    call: Call, kind: str, table: str, result: query.Result, returning: str
) -> Response:
    req = call.req
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
    applied = preference_applied(req, tx=req.prefer.get("tx") if overridable else None, write=True)
    if applied:
        headers["Preference-Applied"] = applied
    loc = location(table, result.location) if returning == "headers-only" else None
    if loc:
        headers["Location"] = loc
    if returning == "representation":
        status = 201 if kind == "insert" else 200
        return Response(
            result.body or b"[]",
            status_code=status,
            headers=headers,
            media_type=content_type(req.media),
        )
    return Response(b"", status_code=201 if kind == "insert" else 204, headers=headers)


async def call_function(call: Call, raw: bytes | None) -> Response:
    """GET/HEAD/POST on /rpc/fn."""
    req, state = call.req, call.state
    check_strict(req)
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
    sql, params = query.call_statement(
        plan, req.media, count=count, head=head, limit=limit, offset=offset
    )
    if req.media.kind == "plan":
        return await _explain(call, sql, params)
    end = tx_end(call)

    async def work() -> Response:
        async with transaction(call, readonly=readonly) as conn:
            result = await query.run(conn, sql, params)
            if plan.function.returns_void:
                response = Response(b"", status_code=204)
            else:
                response = _read_response(call, result, result.total, offset, head)
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
