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

from neo.data.errors import ApiError, unknown_column
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
    single_body: str | None = None  # the whole body, for one unnamed json parameter
    query_args: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def parse_body(raw: bytes) -> Any:
    """The JSON body, or PGRST102."""
    try:
        return json.loads(raw) if raw.strip() else _empty()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("Empty or invalid json", code="PGRST102", details=str(exc)) from None


def _empty() -> Any:
    raise ApiError("Empty or invalid json", code="PGRST102")


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
    kind = {"POST": "insert", "PATCH": "update", "DELETE": "delete"}[req.method]
    plan = WritePlan(kind, schema, relation, node)
    if kind == "delete":
        return plan
    doc = parse_body(raw)
    plan.body = raw.decode()
    plan.columns, plan.rows = _payload_columns(req, relation, doc, kind)
    plan.missing_default = req.prefer.get("missing") == "default"
    if kind == "insert" and req.prefer.get("resolution"):
        plan.resolution = req.prefer.get("resolution")
        plan.on_conflict = req.on_conflict or relation.pk
        for col in plan.on_conflict:
            if col not in relation.columns:
                raise unknown_column(col, relation.name)
    return plan


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
    if raw is not None:
        doc = parse_body(raw) if raw.strip() else {}
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
        node = planner.root(None, fn.result_columns, fn.name)
    else:
        for path in (*req.conditions, *req.order):
            if path or req.conditions.get(path):
                raise ApiError(f"column {fn.name}.{fn.name} does not exist", code="42703")
    plan = CallPlan(schema, fn, node, query_args=req.args)
    if single:
        plan.single_body = raw.decode() if raw else "{}"
    elif raw is not None:
        plan.named_body, plan.arg_names = raw.decode() if raw.strip() else "{}", names
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
