"""Plans for the three kinds of request: read a relation, write to it, call a function.

Built from an `ApiRequest`, the schema cache and (for writes and calls) the parsed body;
they hold everything `query.py` needs to build one statement. Errors are PostgREST's
(PGRST102 body, PGRST204 columns, PGRST202/203 functions).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from neo.data.bodies import Body, parse_body
from neo.data.errors import ApiError, unknown_column
from neo.data.nodes import Condition, Filter
from neo.data.plan import Node, Planner
from neo.data.request import ApiRequest
from neo.data.schema_cache import Function, Relation, SchemaCache


@dataclass
class ReadPlan:
    """GET/HEAD on a table or view."""

    schema: str
    relation: Relation
    node: Node


@dataclass
class WritePlan:
    """POST (insert/upsert), PATCH or DELETE."""

    kind: str  # insert | update | delete
    schema: str
    relation: Relation
    node: Node  # conditions of the write + the shape of the representation
    columns: tuple[str, ...] = ()
    body: str | None = None
    rows: int = 0
    missing_default: bool = False
    on_conflict: tuple[str, ...] = ()
    resolution: str | None = None


@dataclass
class CallPlan:
    """`/rpc/fn`: the chosen function and how its arguments are passed."""

    schema: str
    function: Function
    node: Node | None  # set-returning or composite results read like a relation
    named_body: str | None = None  # JSON object of named arguments (POST)
    arg_names: tuple[str, ...] = ()
    single_body: str | bytes | None = None  # the whole body, for one unnamed parameter
    query_args: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def plan_read(
    req: ApiRequest, cache: SchemaCache, schema: str, *, aggregates: bool = False
) -> ReadPlan:
    """A read of the request's target."""
    planner = Planner(req, cache, schema, aggregates=aggregates)
    relation = planner.relation(req.target)
    return ReadPlan(schema, relation, planner.root(relation))


def plan_write(
    req: ApiRequest, cache: SchemaCache, schema: str, raw: bytes, *, aggregates: bool = False
) -> WritePlan:
    """An insert/upsert, update or delete of the request's target."""
    planner = Planner(req, cache, schema, aggregates=aggregates)
    relation = planner.relation(req.target)
    node = planner.root(relation)
    kind = {"POST": "insert", "PUT": "insert", "PATCH": "update", "DELETE": "delete"}[req.method]
    plan = WritePlan(kind, schema, relation, node)
    if kind == "delete":
        return plan
    body = parse_body(raw, req.content_type)
    if req.method == "PUT":
        body = _put_body(req, relation, body)
        plan.resolution, plan.on_conflict = "merge-duplicates", relation.pk
    plan.body = body.text
    plan.columns, plan.rows = _payload_columns(req, relation, body.doc, kind)
    plan.missing_default = req.prefer.get("missing") == "default"
    # Without conflict columns (no `on_conflict`, no primary key: a view) there is nothing to
    # resolve on: a plain insert, as PostgREST does.
    resolving = req.prefer.get("resolution") and (req.on_conflict or relation.pk)
    if req.method == "POST" and resolving:
        plan.resolution = req.prefer.get("resolution")
        plan.on_conflict = req.on_conflict or relation.pk
        for col in plan.on_conflict:
            if col not in relation.columns:
                raise unknown_column(col, relation.name)
    return plan


def _put_body(req: ApiRequest, relation: Relation, body: Body) -> Body:
    """PUT puts one row (the first of an array), named by every primary-key column in `eq`
    filters whose values the payload repeats (PGRST114, PGRST105, PGRST115 otherwise)."""
    if () in req.limit or () in req.offset:
        raise ApiError(
            "limit/offset querystring parameters are not allowed for PUT", code="PGRST114"
        )
    keys = _primary_key_filters(req.conditions.get((), ()), relation.pk)
    doc = body.doc[0] if isinstance(body.doc, list) and body.doc else body.doc
    if not isinstance(doc, dict):
        raise ApiError("Empty or invalid json", code="PGRST102", details="expected a JSON object")
    if any(_as_text(doc.get(col)) != value for col, value in keys.items()):
        raise ApiError("Payload values do not match URL in primary key column(s)", code="PGRST115")
    return Body(doc, json.dumps(doc))


def _primary_key_filters(conditions: tuple[Condition, ...], pk: tuple[str, ...]) -> dict[str, str]:
    keys = {
        c.field.name: str(c.operand)
        for c in conditions
        if isinstance(c, Filter) and c.op == "eq" and not (c.negated or c.quant or c.field.path)
    }
    if not pk or len(keys) != len(conditions) or set(keys) != set(pk):
        raise ApiError(
            "Filters must include all and only primary key columns with 'eq' operators",
            status=405,
            code="PGRST105",
        )
    return keys


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _payload_columns(
    req: ApiRequest, relation: Relation, doc: Any, kind: str
) -> tuple[tuple[str, ...], int]:
    rows = doc if isinstance(doc, list) else [doc]
    if kind == "update" and not isinstance(doc, dict):
        raise ApiError(
            "Empty or invalid json", code="PGRST102", details="a PATCH body must be a JSON object"
        )
    if not all(isinstance(r, dict) for r in rows):
        raise ApiError(
            "Empty or invalid json",
            code="PGRST102",
            details="expected a JSON object or an array of objects",
        )
    if req.columns is not None:
        columns = req.columns
    else:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        if any(set(r) != set(keys) for r in rows):
            raise ApiError("All object keys must match", code="PGRST102")
        columns = tuple(keys)
    for col in columns:
        if col not in relation.columns:
            raise unknown_column(col, relation.name)
    return columns, len(rows)


def plan_call(
    req: ApiRequest, cache: SchemaCache, schema: str, raw: bytes | None, *, aggregates: bool = False
) -> CallPlan:
    """A call of `/rpc/<target>`: overload by argument names, then the result's shape."""
    candidates = cache.functions.get((schema, req.target), [])
    raw_fn = _raw_body_function(candidates, req.content_type) if raw is not None else None
    if raw is not None and raw_fn is not None:
        return _raw_call(req, cache, schema, raw_fn, raw, aggregates=aggregates)
    body = None
    if raw is not None:
        body = parse_body(raw, req.content_type) if raw.strip() else Body({}, "{}")
        doc = body.doc
        names = tuple(doc) if isinstance(doc, dict) else ()
    else:
        doc, names = None, tuple(k for k, _ in req.args)
    try:
        fn, single = _choose(candidates, names, schema, req.target, doc)
    except ApiError as err:
        if err.code == "PGRST202" and not candidates:
            known = [n for (s, n) in cache.functions if s == schema]
            close = difflib.get_close_matches(req.target, known, n=1)
            err.hint = (
                f"Perhaps you meant to call the function {schema}.{close[0]}" if close else None
            )
        raise
    planner = Planner(req, cache, schema, aggregates=aggregates)
    node = None
    if fn.result_columns is not None:
        node = _result_node(planner, cache, fn)
    else:
        for path in (*req.conditions, *req.order):
            if path or req.conditions.get(path):
                raise ApiError(f"column {fn.name}.{fn.name} does not exist", code="42703")
    plan = CallPlan(schema, fn, node, query_args=req.args)
    if body is not None and single:
        plan.single_body = body.text
    elif body is not None:
        plan.named_body, plan.arg_names = body.text, names
    return plan


def _result_node(planner: Planner, cache: SchemaCache, fn: Function) -> Node:
    """The node reading a function's rows; rows of an exposed table or view embed their
    relationships (foreign keys, computed ones) as the relation's own rows do."""
    relation = cache.relations.get(fn.return_relation) if fn.return_relation else None
    return planner.root(relation, fn.result_columns, fn.name)


# Bodies passed whole to a function's single unnamed parameter of this type (besides JSON).
RAW_BODY_TYPES = {
    "text/plain": "text",
    "text/xml": "xml",
    "application/octet-stream": "bytea",
}


def _raw_body_function(candidates: list[Function], content_type: str) -> Function | None:
    wanted = RAW_BODY_TYPES.get(content_type)
    for f in candidates:
        if wanted and len(f.params) == 1 and not f.params[0].name and f.params[0].type == wanted:
            return f
    return None


def _raw_call(
    req: ApiRequest, cache: SchemaCache, schema: str, fn: Function, raw: bytes, *, aggregates: bool
) -> CallPlan:
    """A call whose body is the function's one unnamed text/xml/bytea argument."""
    node = None
    if fn.result_columns is not None:
        node = _result_node(Planner(req, cache, schema, aggregates=aggregates), cache, fn)
    plan = CallPlan(schema, fn, node)
    if fn.params[0].type == "bytea":
        plan.single_body = raw
    else:
        try:
            plan.single_body = raw.decode()
        except UnicodeDecodeError as exc:
            raise ApiError("Invalid request body", code="PGRST102", details=str(exc)) from None
    return plan


def _choose(
    candidates: list[Function], names: tuple[str, ...], schema: str, name: str, doc: Any
) -> tuple[Function, bool]:
    given = set(names)
    fits = [
        f
        for f in candidates
        if given <= {p.name for p in f.params}
        and {p.name for p in f.params if not p.has_default} <= given
    ]
    if len(fits) == 1:
        return fits[0], False
    if len(fits) > 1:
        raise ApiError(
            f"Could not choose the best candidate function between: "
            f"{', '.join(_signature(f) for f in fits)}",
            status=300,
            code="PGRST203",
            hint="Try renaming the parameters or the function itself in the "
            "database so function overloading can be resolved",
        )
    for f in candidates:
        if (
            doc is not None
            and len(f.params) == 1
            and f.params[0].name == ""
            and f.params[0].type in ("json", "jsonb")
        ):
            return f, True
    shown = (
        f"{schema}.{name}({', '.join(sorted(names))})"
        if names
        else f"{schema}.{name} without parameters"
    )
    raise ApiError(
        f"Could not find the function {shown} in the schema cache",
        status=404,
        code="PGRST202",
        details=f"Searched for the function {schema}.{name} with parameters "
        f"{', '.join(sorted(names))} or with a single unnamed json/jsonb parameter, "
        "but no matches were found in the schema cache."
        if names
        else f"Searched for the function {schema}.{name} without parameters, but no "
        "matches were found in the schema cache.",
    )


def _signature(f: Function) -> str:
    args = ", ".join(f"{p.name} => {p.type}" for p in f.params)
    return f"{f.schema}.{f.name}({args})"
