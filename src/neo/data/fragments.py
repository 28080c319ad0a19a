"""SQL fragments of the data API: quoted identifiers, bound values, filters, embeds, bodies.

Identifiers go through `ident` only; every value from the request is a bound parameter
(`Sql.bind`). Type names come from the catalog (schema cache) or match a strict pattern.
`query.py` assembles these fragments into whole statements and runs them.
"""

from __future__ import annotations

import re
from typing import Any

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


def field_sql(q: Sql, node: Node, field: Field) -> str:
    """A column (or a computed field: a function of the row) followed by its JSON path."""
    fn = node.fields.get(field.name) if field.name not in (node.columns or {}) else None
    if fn is not None:
        expr = f"{qualified(fn.schema, fn.name)}({ident(node.alias)}.*)"
    else:
        expr = f"{ident(node.alias)}.{ident(field.name)}"
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
        field_sql(q, node, cond.field),
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


def embed_source(parent: Node, embed: EmbedPlan) -> tuple[str, str | None]:
    """Where an embedded node's rows come from and how they join the parent row (a computed
    relationship's function gets the parent row itself and needs no join)."""
    fn = embed.rel.function
    if fn is not None:
        return f"{qualified(fn.schema, fn.name)}({ident(parent.alias)}.*)", None
    target = embed.rel.target
    return qualified(target.schema, target.name), join_sql(parent, embed)


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
    child = embed.node
    source, join = embed_source(parent, embed)
    where = " AND ".join(where_sql(q, child, join)) or "TRUE"
    return f"EXISTS (SELECT 1 FROM {source} AS {ident(child.alias)} WHERE {where})"


def items_sql(q: Sql, node: Node) -> tuple[list[str], list[str]]:
    """Select-list entries and GROUP BY expressions of a node."""
    out: list[str] = []
    groups: list[str] = []
    aggregated = any(isinstance(i, OutColumn) and i.aggregate for i in node.items)
    for item in node.items:
        if isinstance(item, OutStar):
            out.append(f"{ident(node.alias)}.*")
        elif isinstance(item, OutColumn):
            expr = "*" if item.field.name == "*" else field_sql(q, node, item.field)
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
    source, join = embed_source(parent, embed)
    inner = node_sql(q, embed.node, source, join=join)
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
            expr = field_sql(q, node, term.field)
        else:
            source, join = embed_source(node, embed)
            expr = (
                f"(SELECT {field_sql(q, embed.node, term.field)} FROM "
                f"{source} AS {ident(embed.node.alias)} WHERE {join or 'TRUE'} LIMIT 1)"
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
    elif media.raw_column is not None:  # text/plain, text/xml, application/octet-stream
        column = f"{rows}.{ident(media.raw_column)}"
        if media.raw_binary:
            return f"coalesce(string_agg({column}, ''::bytea), ''::bytea)"
        text = f"coalesce(string_agg({column}::text, ''), '')"
    elif media.kind == "geojson" and media.geojson:
        features = f"coalesce(json_agg({media.geojson}({rows})::json), '[]')"
        text = f"json_build_object('type', 'FeatureCollection', 'features', {features})"
    else:
        text = f"coalesce(json_agg({rows}), '[]')"
    if media.strip_nulls:
        text = f"json_strip_nulls({text})"
    return f"convert_to(({text})::text, 'UTF8')"
