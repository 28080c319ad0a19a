"""The one place that assembles and runs dynamic SQL: plans become one statement and its
parameters (built from `fragments.py`: identifiers quoted by `ident`, values bound).

Each statement returns `total`, `page` (rows), `body` (bytes built by PostgreSQL:
`convert_to(coalesce(json_agg(…), '[]')::text, 'UTF8')`) and `location`, so the body is
passed to the client as PostgreSQL produced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neo.core.db import Connection
from neo.data.actions import CallPlan, ReadPlan, WritePlan
from neo.data.fragments import Sql, body_sql, ident, node_sql, order_sql, qualified, where_sql
from neo.data.plan import Node
from neo.data.request import Media


@dataclass
class Result:
    """What one statement returned."""

    total: int | None
    page: int
    body: bytes | None
    location: str | None = None
    inserted: int | None = None  # rows an upsert inserted (not updated), when tracked
    response_headers: str | None = None  # the `response.headers` GUC a function set
    response_status: str | None = None  # the `response.status` GUC


# What a function or trigger asked of the response (PostgREST reads both GUCs in the same
# statement, after the rows it aggregates were produced).
RESPONSE_GUCS = (
    "nullif(current_setting('response.headers', true), '') AS response_headers, "
    "nullif(current_setting('response.status', true), '') AS response_status"
)


def _select(
    rest: str,
    *,
    total: str = "NULL::int8",
    page: str = "count(*)",
    body: str = "NULL::bytea",
    location: str = "NULL::text",
    inserted: str = "NULL::int8",
) -> str:
    return (
        f"SELECT {total} AS total, {page} AS page, {body} AS body, {location} AS location, "
        f"{inserted} AS inserted, {RESPONSE_GUCS} {rest}"
    )


def read_statement(
    plan: ReadPlan, media: Media, *, count: bool, head: bool, limit: int | None, offset: int | None
) -> tuple[str, list[Any]]:
    """One SELECT returning the page, its JSON (or CSV) body and optionally the exact count."""
    q = Sql()
    node = plan.node
    source = qualified(plan.schema, plan.relation.name)
    inner = node_sql(q, node, source, limit=limit, offset=offset)
    total = _count_sql(q, node, source) if count else "NULL::int8"
    body = "NULL::bytea" if head else body_sql(media)
    return _select(f"FROM ({inner}) AS pgrst_t", total=total, body=body), q.params


def _count_sql(q: Sql, node: Node, source: str, prefix: str = "") -> str:
    where = " AND ".join(where_sql(q, node, None)) or "TRUE"
    return f"(SELECT count(*) FROM {prefix}{source} AS {ident(node.alias)} WHERE {where})"


def explain_count_statement(plan: ReadPlan) -> tuple[str, list[Any]]:
    """EXPLAIN of the filtered relation: its planner estimate is `count=planned`."""
    q = Sql()
    node = plan.node
    where = " AND ".join(where_sql(q, node, None)) or "TRUE"
    source = qualified(plan.schema, plan.relation.name)
    return (
        f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {source} AS {ident(node.alias)} WHERE {where}",
        q.params,
    )


def write_statement(
    plan: WritePlan, media: Media, *, returning: str, head: bool
) -> tuple[str, list[Any]]:
    """One INSERT/UPDATE/DELETE in a CTE, with the representation built from its RETURNING."""
    q = Sql()
    node = plan.node
    target, alias = qualified(plan.schema, plan.relation.name), ident(node.alias)
    if plan.kind == "insert":
        dml = _insert_sql(q, plan, target, alias)
    elif plan.kind == "update":
        dml = _update_sql(q, plan, target, alias)
    else:
        dml = f"DELETE FROM {target} AS {alias} WHERE {_write_where(q, node, target)}"
    pk = plan.relation.pk
    keyed = returning == "headers-only" and bool(pk)
    if returning == "representation":
        wanted = f"{alias}.*"
    else:
        wanted = ", ".join(f"{alias}.{ident(c)}" for c in pk) if keyed else "1"
    with_, inserted = _dml_ctes(plan, dml, alias, wanted)
    if returning == "representation":
        shape = Node(node.alias, node.label, node.columns, node.relation, node.items)
        inner = node_sql(q, shape, "pgrst_source")
        body = "NULL::bytea" if head else body_sql(media)
        rest = f"FROM ({inner}) AS pgrst_t"
        return with_ + _select(rest, body=body, inserted=inserted), q.params
    if keyed:
        cols = ", ".join(ident(c) for c in pk)
        location = (
            f"(SELECT row_to_json(pgrst_l)::text FROM (SELECT {cols} FROM pgrst_source "
            "LIMIT 1) AS pgrst_l)"
        )
        page = "(SELECT count(*) FROM pgrst_source)"
        return with_ + _select("", page=page, location=location, inserted=inserted), q.params
    return with_ + _select("FROM pgrst_source", inserted=inserted), q.params


def _dml_ctes(plan: WritePlan, dml: str, alias: str, returning: str) -> tuple[str, str]:
    """`WITH pgrst_source AS (…)` and the inserted-rows count expression.

    A merge-duplicates upsert into a table also tells inserted rows from updated ones
    (`xmax = 0` for a fresh row version): PostgREST answers 200 when it inserted none. The row
    comes back whole so that `pgrst_source` holds the table's columns only.
    """
    if plan.resolution != "merge-duplicates" or plan.relation.kind not in ("r", "p"):
        return f"WITH pgrst_source AS ({dml} RETURNING {returning}) ", "NULL::int8"
    ctes = (
        f"WITH pgrst_dml AS ({dml} RETURNING {alias} AS pgrst_row, {alias}.xmax = 0 AS pgrst_new),"
        " pgrst_source AS (SELECT (pgrst_row).* FROM pgrst_dml) "
    )
    return ctes, "(SELECT count(*) FILTER (WHERE pgrst_new) FROM pgrst_dml)"


def _insert_sql(q: Sql, plan: WritePlan, target: str, alias: str) -> str:
    body = q.bind(plan.body, "json")
    rows = (
        f"(CASE WHEN json_typeof({body}) = 'array' THEN {body} ELSE json_build_array({body}) END)"
    )
    rowtype = f"NULL::{target}"
    columns = plan.relation.columns
    if plan.missing_default and plan.columns:
        source = (
            f"json_array_elements({rows}) AS pgrst_j, "
            f"LATERAL json_populate_record({rowtype}, pgrst_j) AS pgrst_r"
        )
        exprs = [
            f"CASE WHEN pgrst_j::jsonb ? {q.bind(c)} THEN pgrst_r.{ident(c)} "
            f"ELSE {columns[c].default or 'NULL'} END"
            for c in plan.columns
        ]
    else:
        source = f"json_populate_recordset({rowtype}, {rows}) AS pgrst_r"
        exprs = [f"pgrst_r.{ident(c)}" for c in plan.columns]
    names = f" ({', '.join(ident(c) for c in plan.columns)})" if plan.columns else ""
    sql = f"INSERT INTO {target} AS {alias}{names} SELECT {', '.join(exprs)} FROM {source}"
    if plan.resolution:
        conflict = ", ".join(ident(c) for c in plan.on_conflict)
        updates = [c for c in plan.columns]
        if plan.resolution == "ignore-duplicates" or not updates:
            sql += f" ON CONFLICT ({conflict}) DO NOTHING"
        else:
            sets = ", ".join(f"{ident(c)} = EXCLUDED.{ident(c)}" for c in updates)
            sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {sets}"
    return sql


def _update_sql(q: Sql, plan: WritePlan, target: str, alias: str) -> str:
    body = q.bind(plan.body, "json")
    sets = ", ".join(f"{ident(c)} = pgrst_b.{ident(c)}" for c in plan.columns)
    where = _write_where(q, plan.node, target)
    return (
        f"UPDATE {target} AS {alias} SET {sets} FROM (SELECT * FROM "
        f"json_populate_record(NULL::{target}, {body})) AS pgrst_b WHERE {where}"
    )


def _write_where(q: Sql, node: Node, target: str) -> str:
    """The rows an UPDATE/DELETE touches; with limit/offset, the first rows in `order`."""
    where = " AND ".join(where_sql(q, node, None)) or "TRUE"
    if node.limit is None and not node.offset:
        return where
    alias = ident(node.alias)
    picked = f"SELECT {alias}.ctid FROM {target} AS {alias} WHERE {where}{order_sql(q, node)}"
    if node.limit is not None:
        picked += f" LIMIT {q.bind(node.limit, 'int8')}"
    if node.offset:
        picked += f" OFFSET {q.bind(node.offset, 'int8')}"
    return f"{alias}.ctid = ANY(ARRAY({picked}))"


def call_statement(
    plan: CallPlan, media: Media, *, count: bool, head: bool, limit: int | None, offset: int | None
) -> tuple[str, list[Any]]:
    """SELECT over a function call, shaped by what the function returns."""
    q = Sql()
    fn = plan.function
    prefix, call = _call_sql(q, plan)
    if plan.node is not None:
        node = plan.node
        inner = node_sql(q, node, call, limit=limit, offset=offset, prefix=prefix)
        total = _count_sql(q, node, call, prefix) if count else "NULL::int8"
        if not fn.returns_set and media.kind == "json":
            media = Media("object", strip_nulls=media.strip_nulls)
        body = "NULL::bytea" if head else body_sql(media)
        return _select(f"FROM ({inner}) AS pgrst_t", total=total, body=body), q.params
    if fn.returns_void:
        return _select(f"FROM {prefix}{call} AS pgrst_t"), q.params
    if not fn.returns_set:
        body = (
            "NULL::bytea"
            if head
            else body_sql(media)
            if media.raw_column
            else "convert_to(coalesce((array_agg(to_json(pgrst_t.v)))[1]::text, 'null'), 'UTF8')"
        )
        return _select(f"FROM {prefix}{call} AS pgrst_t(v)", body=body), q.params
    inner = f"SELECT pgrst_s.v FROM {prefix}{call} AS pgrst_s(v)"
    if limit is not None:
        inner += f" LIMIT {q.bind(limit, 'int8')}"
    if offset:
        inner += f" OFFSET {q.bind(offset, 'int8')}"
    agg = "json_agg(pgrst_t.v)->0" if media.kind == "object" else "json_agg(pgrst_t.v)"
    body = "NULL::bytea" if head else f"convert_to(coalesce({agg}, '[]')::text, 'UTF8')"
    if media.raw_column and not head:
        body = body_sql(media)
    total = f"(SELECT count(*) FROM {prefix}{call} AS pgrst_c)" if count else "NULL::int8"
    return _select(f"FROM ({inner}) AS pgrst_t", total=total, body=body), q.params


def _call_sql(q: Sql, plan: CallPlan) -> tuple[str, str]:
    fn = plan.function
    name = qualified(fn.schema, fn.name)
    if plan.single_body is not None:
        # The whole body as the one unnamed parameter: json/jsonb/text/xml, or bytes for bytea.
        raw = plan.single_body
        value = q.bind(raw, "bytea") if isinstance(raw, bytes) else q.bind(raw)
        return "", f"{name}(CAST({value} AS {fn.params[0].type}))"
    if plan.named_body is not None:
        params = [p for p in fn.params if p.name in plan.arg_names]
        if not params:
            return "", f"{name}()"
        defs = ", ".join(f"{ident(p.name)} {p.type}" for p in params)
        prefix = f"json_to_record({q.bind(plan.named_body, 'json')}) AS pgrst_args({defs}), "
        args = ", ".join(
            f"{_variadic(p.variadic)}{ident(p.name)} := pgrst_args.{ident(p.name)}" for p in params
        )
        return prefix, f"{name}({args})"
    return "", f"{name}({_query_args(q, plan)})"


def _query_args(q: Sql, plan: CallPlan) -> str:
    """Arguments from the query string; a variadic one collects every repeated value (or takes
    one array literal, `{1,2}`, as clients send lists)."""
    types = {p.name: p for p in plan.function.params}
    grouped: dict[str, list[str]] = {}
    for key, value in plan.query_args:
        grouped.setdefault(key, []).append(value)
    args = []
    for key, values in grouped.items():
        param = types[key]
        if param.variadic and not (len(values) == 1 and values[0].lstrip().startswith("{")):
            value = f"CAST({q.bind(values, 'text[]')} AS {param.type})"
        else:
            value = f"CAST({q.bind(values[-1])} AS {param.type})"
        args.append(f"{_variadic(param.variadic)}{ident(key)} := {value}")
    return ", ".join(args)


def _variadic(flag: bool) -> str:
    return "VARIADIC " if flag else ""


async def run(conn: Connection, sql: str, params: list[Any]) -> Result:
    """Run one built statement."""
    row = await conn.fetchrow(sql, *params)
    assert row is not None
    return Result(
        row["total"],
        int(row["page"]),
        row["body"],
        row["location"],
        row["inserted"],
        row["response_headers"],
        row["response_status"],
    )


async def run_explain(conn: Connection, sql: str, params: list[Any]) -> Any:
    """Run an EXPLAIN and return its single value (JSON text or plan text)."""
    rows = await conn.fetch(sql, *params)
    return "\n".join(str(r[0]) for r in rows)


def search_path(schema: str) -> str:
    """search_path = the requested schema, then `extensions` (as Supabase configures it)."""
    return f"{ident(schema)}, {ident('extensions')}"


def explain_statement(sql: str, fmt: str, options: tuple[str, ...]) -> str:
    """EXPLAIN of a built statement with the options PostgREST accepts."""
    opts = [f"FORMAT {'JSON' if fmt == 'json' else 'TEXT'}"]
    opts += [
        o.upper() for o in options if o in ("analyze", "verbose", "settings", "buffers", "wal")
    ]
    return f"EXPLAIN ({', '.join(opts)}) {sql}"
