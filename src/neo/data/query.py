"""The one place that builds dynamic SQL: plans become one statement and its parameters.

Identifiers go through `ident` only; every value from the request is a bound parameter
(`Sql.bind`). Type names come from the catalog (schema cache) or match a strict pattern.
Each statement returns `total`, `page` (rows), `body` (bytes built by PostgreSQL:
`convert_to(coalesce(json_agg(…), '[]')::text, 'UTF8')`) and `location`, so the body is
passed to the client as PostgreSQL produced it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from neo.core.db import Connection
from neo.data.actions import CallPlan, ReadPlan, WritePlan
from neo.data.nodes import Condition, Field, Logic
from neo.data.plan import EmbedPlan, Node, OutColumn, OutStar
from neo.data.request import Media

OPS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "~",
    "imatch": "~*",
    "isdistinct": "IS DISTINCT FROM",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "sl": "<<",
    "sr": ">>",
    "nxr": "&<",
    "nxl": "&>",
    "adj": "-|-",
}
TSQUERY = {
    "fts": "to_tsquery",
    "plfts": "plainto_tsquery",
    "phfts": "phraseto_tsquery",
    "wfts": "websearch_to_tsquery",
}
IS_SQL = {
    "null": "NULL",
    "not_null": "NOT NULL",
    "true": "TRUE",
    "false": "FALSE",
    "unknown": "UNKNOWN",
}
_SAFE_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_ \[\]]*")


def csv_field(var: str) -> str:
    """A CSV field: empty for NULL, quoted when it holds a comma, quote or newline."""
    return (
        f"CASE WHEN {var} IS NULL THEN '' WHEN {var} ~ '[,\"\\n\\r]' "
        f"THEN '\"' || replace({var}, '\"', '\"\"') || '\"' ELSE {var} END"
    )


def ident(name: str) -> str:
    """A quoted SQL identifier: the only way a name from a request or the catalog enters SQL."""
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    """`"schema"."name"`."""
    return f"{ident(schema)}.{ident(name)}"


def safe_type(name: str) -> str:
    """A cast target from the `select` grammar (letters, digits, spaces, brackets only)."""
    if not _SAFE_TYPE.fullmatch(name):
        raise ValueError(f"unsafe type name {name!r}")
    return name


class Sql:
    """Collects bound parameters while fragments are built."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def bind(self, value: Any, cast: str = "text") -> str:
        """A placeholder for `value` (cast names are fixed strings of this module)."""
        self.params.append(value)
        return f"${len(self.params)}::{cast}"


@dataclass
class Result:
    """What one statement returned."""

    total: int | None
    page: int
    body: bytes | None
    location: str | None = None


def field_sql(q: Sql, alias: str, field: Field) -> str:
    """A column reference followed by its JSON path."""
    expr = f"{ident(alias)}.{ident(field.name)}"
    for step in field.path:
        key = step.key
        index = re.fullmatch(r"-?\d{1,9}", key) is not None
        bound = q.bind(int(key), "int4") if index else q.bind(key)
        expr = f"({expr}{step.arrow}{bound})"
    return expr


def lhs_type(node: Node, field: Field) -> str:
    """The SQL type of a filtered expression (column type, or text/json after a path)."""
    base = node.column_type(field.name)
    if not field.path:
        return base
    if field.path[-1].arrow == "->>":
        return "text"
    return "jsonb" if base == "jsonb" else "json"


def cond_sql(q: Sql, node: Node, cond: Condition) -> str:
    """One filter or logic tree as a boolean expression."""
    if isinstance(cond, Logic):
        joined = f" {'OR' if cond.op == 'or' else 'AND'} ".join(
            cond_sql(q, node, c) for c in cond.children
        )
        return f"NOT ({joined})" if cond.negated else f"({joined})"
    lhs, typ, op, value = (
        field_sql(q, node.alias, cond.field),
        lhs_type(node, cond.field),
        cond.op,
        cond.operand,
    )
    if op == "is":
        expr = f"{lhs} IS {IS_SQL[str(value).lower()]}"
    elif op == "in":
        expr = f"{lhs} = ANY(CAST({q.bind(list(value), 'text[]')} AS {typ}[]))"
    elif op in TSQUERY:
        lang = f"CAST({q.bind(cond.lang)} AS regconfig), " if cond.lang else ""
        vector = lhs if typ == "tsvector" else f"to_tsvector({lang}{lhs})"
        expr = f"{vector} @@ {TSQUERY[op]}({lang}{q.bind(str(value))})"
    elif cond.quant:
        like = op in ("like", "ilike")
        items = [v.replace("*", "%") if like else v for v in value]
        target = "text" if op in ("like", "ilike", "match", "imatch") else typ
        array = f"CAST({q.bind(items, 'text[]')} AS {target}[])"
        expr = f"{lhs} {OPS[op]} {cond.quant.upper()}({array})"
    elif op in ("like", "ilike"):
        expr = f"{lhs} {OPS[op]} {q.bind(str(value).replace('*', '%'))}"
    elif op in ("match", "imatch"):
        expr = f"{lhs} {OPS[op]} {q.bind(str(value))}"
    else:
        expr = f"{lhs} {OPS[op]} CAST({q.bind(str(value))} AS {typ})"
    return f"NOT ({expr})" if cond.negated else expr


def join_sql(parent: Node, embed: EmbedPlan) -> str:
    """How an embedded node's rows relate to the parent row."""
    rel, child = embed.rel, embed.node
    if rel.junction is None or rel.junction_fk is None:
        return " AND ".join(
            f"{ident(child.alias)}.{ident(c)} = {ident(parent.alias)}.{ident(p)}"
            for p, c in rel.pairs
        )
    j = ident("j" + child.alias)
    to_parent = [f"{j}.{ident(c)} = {ident(parent.alias)}.{ident(p)}" for p, c in rel.pairs]
    to_child = [
        f"{j}.{ident(c)} = {ident(child.alias)}.{ident(r)}"
        for c, r in zip(rel.junction_fk.columns, rel.junction_fk.ref_columns, strict=True)
    ]
    junction = qualified(rel.junction.schema, rel.junction.name)
    return f"EXISTS (SELECT 1 FROM {junction} AS {j} WHERE {' AND '.join(to_parent + to_child)})"


def where_sql(q: Sql, node: Node, join: str | None) -> list[str]:
    """Every condition on a node's rows: join, filters, inner embeds, null checks on embeds."""
    parts = [join] if join else []
    parts += [cond_sql(q, node, c) for c in node.conditions]
    for embed in node.embeds:
        if embed.inner:
            parts.append(exists_sql(q, node, embed))
    for embed, is_null in node.null_embeds:
        parts.append(("NOT " if is_null else "") + exists_sql(q, node, embed))
    return parts


def exists_sql(q: Sql, parent: Node, embed: EmbedPlan) -> str:
    """EXISTS (a matching embedded row)."""
    child, target = embed.node, embed.rel.target
    where = " AND ".join(where_sql(q, child, join_sql(parent, embed)))
    return (
        f"EXISTS (SELECT 1 FROM {qualified(target.schema, target.name)} AS "
        f"{ident(child.alias)} WHERE {where})"
    )


def items_sql(q: Sql, node: Node) -> tuple[list[str], list[str]]:
    """Select-list entries and GROUP BY expressions of a node."""
    out: list[str] = []
    groups: list[str] = []
    aggregated = any(isinstance(i, OutColumn) and i.aggregate for i in node.items)
    for item in node.items:
        if isinstance(item, OutStar):
            out.append(f"{ident(node.alias)}.*")
        elif isinstance(item, OutColumn):
            expr = "*" if item.field.name == "*" else field_sql(q, node.alias, item.field)
            if item.aggregate:
                expr = f"{item.aggregate}({expr})"
            elif aggregated:
                groups.append(expr)
            if item.cast:
                expr = f"CAST({expr} AS {safe_type(item.cast)})"
            out.append(f"{expr} AS {ident(item.name)}")
        elif item.node.items:
            out.extend(_embed_items(item))
    return out, groups


def _embed_items(embed: EmbedPlan) -> list[str]:
    lateral = ident(embed.lateral)
    if embed.spread:
        return [f"{lateral}.{ident(n)} AS {ident(n)}" for n in embed.node.output_names()]
    if embed.rel.to_one:
        return [f"{lateral}.body AS {ident(embed.name)}"]
    return [f"coalesce({lateral}.body, '[]') AS {ident(embed.name)}"]


def lateral_sql(q: Sql, parent: Node, embed: EmbedPlan) -> str:
    """LEFT JOIN LATERAL producing an embedded resource's JSON (or spread columns)."""
    target = embed.rel.target
    inner = node_sql(
        q, embed.node, qualified(target.schema, target.name), join=join_sql(parent, embed)
    )
    if embed.spread and embed.rel.to_one:
        sub = inner
    elif embed.spread:
        cols = ", ".join(
            f"json_agg(pgrst_r.{ident(n)}) AS {ident(n)}" for n in embed.node.output_names()
        )
        sub = f"SELECT {cols} FROM ({inner}) AS pgrst_r"
    elif embed.rel.to_one:
        sub = f"SELECT row_to_json(pgrst_r) AS body FROM ({inner}) AS pgrst_r"
    else:
        sub = f"SELECT json_agg(pgrst_r) AS body FROM ({inner}) AS pgrst_r"
    return f"LEFT JOIN LATERAL ({sub}) AS {ident(embed.lateral)} ON TRUE"


def order_sql(q: Sql, node: Node) -> str:
    """ORDER BY of a node (to-one embedded columns through a correlated subquery)."""
    terms = []
    for term, embed in node.order:
        if embed is None:
            expr = field_sql(q, node.alias, term.field)
        else:
            target = embed.rel.target
            expr = (
                f"(SELECT {field_sql(q, embed.node.alias, term.field)} FROM "
                f"{qualified(target.schema, target.name)} AS {ident(embed.node.alias)} "
                f"WHERE {join_sql(node, embed)} LIMIT 1)"
            )
        nulls = f" NULLS {term.nulls.upper()}" if term.nulls else ""
        terms.append(f"{expr} {'DESC' if term.desc else 'ASC'}{nulls}")
    return f" ORDER BY {', '.join(terms)}" if terms else ""


def node_sql(
    q: Sql,
    node: Node,
    source: str,
    *,
    join: str | None = None,
    limit: int | None = None,
    offset: int | None = None,
    prefix: str = "",
) -> str:
    """SELECT of one node from `source` (a relation, a CTE, or a function call)."""
    items, groups = items_sql(q, node)
    laterals = " ".join(lateral_sql(q, node, e) for e in node.embeds if e.node.items)
    where = where_sql(q, node, join)
    sql = (
        f"SELECT {', '.join(items) or 'NULL'} FROM {prefix}{source} AS {ident(node.alias)} "
        f"{laterals}"
    )
    if where:
        sql += f" WHERE {' AND '.join(where)}"
    if groups:
        sql += f" GROUP BY {', '.join(groups)}"
    sql += order_sql(q, node)
    limit = node.limit if limit is None else limit
    offset = node.offset if offset is None else offset
    if limit is not None:
        sql += f" LIMIT {q.bind(limit, 'int8')}"
    if offset:
        sql += f" OFFSET {q.bind(offset, 'int8')}"
    return sql


def body_sql(media: Media, rows: str = "pgrst_t") -> str:
    """The response body built by PostgreSQL, as UTF-8 bytes."""
    if media.kind == "csv":
        header = (
            f"(SELECT string_agg({csv_field('k')}, ',') FROM "
            f"json_object_keys(json_agg({rows})->0) AS k)"
        )
        line = (
            f"(SELECT string_agg({csv_field('v')}, ',' ORDER BY o) FROM "
            f"json_each_text(row_to_json({rows})) WITH ORDINALITY AS x(k, v, o))"
        )
        text = f"coalesce({header} || E'\\n' || string_agg({line}, E'\\n'), '')"
    elif media.kind == "object":
        text = f"coalesce(json_agg({rows})->0, 'null')"
    else:
        text = f"coalesce(json_agg({rows}), '[]')"
    if media.strip_nulls:
        text = f"json_strip_nulls({text})"
    return f"convert_to(({text})::text, 'UTF8')"


def _select(total: str, page: str, body: str, location: str, rest: str) -> str:
    return f"SELECT {total} AS total, {page} AS page, {body} AS body, {location} AS location {rest}"


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
    return _select(total, "count(*)", body, "NULL::text", f"FROM ({inner}) AS pgrst_t"), q.params


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
    if returning == "representation":
        shape = Node(node.alias, node.label, node.columns, node.relation, node.items)
        inner = node_sql(q, shape, "pgrst_source")
        body = "NULL::bytea" if head else body_sql(media)
        rest = f"FROM ({inner}) AS pgrst_t"
        return _cte(
            dml, f"RETURNING {alias}.*", "NULL::int8", "count(*)", body, "NULL::text", rest
        ), q.params
    if returning == "headers-only" and pk:
        cols = ", ".join(ident(c) for c in pk)
        location = (
            f"(SELECT row_to_json(pgrst_l)::text FROM (SELECT {cols} FROM pgrst_source "
            "LIMIT 1) AS pgrst_l)"
        )
        return _cte(
            dml,
            f"RETURNING {', '.join(f'{alias}.{ident(c)}' for c in pk)}",
            "NULL::int8",
            "(SELECT count(*) FROM pgrst_source)",
            "NULL::bytea",
            location,
            "",
        ), q.params
    return _cte(
        dml,
        "RETURNING 1",
        "NULL::int8",
        "count(*)",
        "NULL::bytea",
        "NULL::text",
        "FROM pgrst_source",
    ), q.params


def _cte(
    dml: str, returning: str, total: str, page: str, body: str, location: str, rest: str
) -> str:
    return f"WITH pgrst_source AS ({dml} {returning}) " + _select(total, page, body, location, rest)


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
        return _select(
            total, "count(*)", body, "NULL::text", f"FROM ({inner}) AS pgrst_t"
        ), q.params
    if fn.returns_void:
        return _select(
            "NULL::int8", "count(*)", "NULL::bytea", "NULL::text", f"FROM {prefix}{call} AS pgrst_t"
        ), q.params
    if not fn.returns_set:
        body = (
            "NULL::bytea"
            if head
            else "convert_to(coalesce((array_agg(to_json(pgrst_t.v)))[1]::text, 'null'), 'UTF8')"
        )
        return _select(
            "NULL::int8", "count(*)", body, "NULL::text", f"FROM {prefix}{call} AS pgrst_t(v)"
        ), q.params
    inner = f"SELECT pgrst_s.v FROM {prefix}{call} AS pgrst_s(v)"
    if limit is not None:
        inner += f" LIMIT {q.bind(limit, 'int8')}"
    if offset:
        inner += f" OFFSET {q.bind(offset, 'int8')}"
    agg = "json_agg(pgrst_t.v)->0" if media.kind == "object" else "json_agg(pgrst_t.v)"
    body = "NULL::bytea" if head else f"convert_to(coalesce({agg}, '[]')::text, 'UTF8')"
    total = f"(SELECT count(*) FROM {prefix}{call} AS pgrst_c)" if count else "NULL::int8"
    return _select(total, "count(*)", body, "NULL::text", f"FROM ({inner}) AS pgrst_t"), q.params


def _call_sql(q: Sql, plan: CallPlan) -> tuple[str, str]:
    fn = plan.function
    name = qualified(fn.schema, fn.name)
    if plan.single_body is not None:
        return "", f"{name}(CAST({q.bind(plan.single_body)} AS {fn.params[0].type}))"
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
    types = {p.name: p for p in fn.params}
    args = ", ".join(
        f"{_variadic(types[k].variadic)}{ident(k)} := CAST({q.bind(v)} AS {types[k].type})"
        for k, v in plan.query_args
    )
    return "", f"{name}({args})"


def _variadic(flag: bool) -> str:
    return "VARIADIC " if flag else ""


async def run(conn: Connection, sql: str, params: list[Any]) -> Result:
    """Run one built statement."""
    row = await conn.fetchrow(sql, *params)
    assert row is not None
    return Result(row["total"], int(row["page"]), row["body"], row["location"])


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
