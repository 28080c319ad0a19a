"""The schema cache: relations, columns, keys, foreign keys and functions of the exposed schemas.

Loaded once at start on an owner connection with an empty search_path (so every type name is
schema-qualified), then replaced as a whole on reload; a request keeps the cache object it
started with, so a reload never fails a request midway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from neo.core.db import Connection
from neo.data import store
from neo.data.views import MAX_DEPTH, lineage, through_views, unknown_origins

Key = tuple[str, str]  # (schema, name)
MEMO_SIZE = 1024  # derived values kept per snapshot (oldest dropped first)


@dataclass(frozen=True)
class Column:
    """A column of a relation, or of a function's result."""

    name: str
    type: str  # schema-qualified SQL type, as format_type prints it
    category: str = "U"  # pg_type.typcategory: S string, N numeric, A array, U user (json...)
    nullable: bool = True
    default: str | None = None
    generated: bool = False
    description: str | None = None


@dataclass(frozen=True)
class Relation:
    """A table, view, materialized view or foreign table."""

    schema: str
    name: str
    kind: str
    columns: dict[str, Column]
    pk: tuple[str, ...] = ()
    unique_keys: tuple[frozenset[str], ...] = ()
    description: str | None = None

    @property
    def key(self) -> Key:
        return (self.schema, self.name)


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key constraint `relation(columns) -> ref_relation(ref_columns)`."""

    name: str
    schema: str
    relation: str
    columns: tuple[str, ...]
    ref_schema: str
    ref_relation: str
    ref_columns: tuple[str, ...]
    via_view: bool = False  # the key as seen through a view of either side


@dataclass(frozen=True)
class Param:
    """An input parameter of a function."""

    name: str
    type: str
    has_default: bool
    variadic: bool = False


@dataclass(frozen=True)
class Function:
    """A function callable through `/rpc`."""

    schema: str
    name: str
    params: tuple[Param, ...]
    return_type: str
    returns_set: bool
    volatility: str  # i, s, v
    result_columns: dict[str, Column] | None  # composite / TABLE results, else None
    description: str | None = None
    rows: float = 0  # the planner's row estimate (`ROWS 1` makes a computed relation to-one)
    arg_relation: Key | None = None  # the relation whose row is the one argument, if any
    return_relation: Key | None = None  # the relation whose rows it returns, if any

    @property
    def returns_void(self) -> bool:
        return self.return_type == "void" and not self.returns_set


@dataclass
class SchemaCache:
    """One consistent snapshot of the exposed schemas."""

    schemas: list[str]
    relations: dict[Key, Relation] = field(default_factory=dict)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    functions: dict[Key, list[Function]] = field(default_factory=dict)
    role_settings: dict[str, dict[str, str]] = field(default_factory=dict)
    timezones: frozenset[str] = frozenset()
    geojson_schema: str | None = None  # where PostGIS's st_asgeojson(record) is, if anywhere
    # Computed fields: scalar functions of one relation's row, selectable like its columns.
    fields: dict[Key, dict[str, Function]] = field(default_factory=dict)
    # Values derived from this snapshot alone (parsed and planned reads, transaction
    # settings), so a reload, which replaces the snapshot, drops them all at once.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def relation(self, schema: str, name: str) -> Relation | None:
        """A relation by schema and name."""
        return self.relations.get((schema, name))

    def computed(self, parent: Key, name: str) -> list[Function]:
        """Functions named `name` that take a `parent` row and return rows of an exposed
        relation: PostgREST's computed relationships."""
        return [
            f
            for f in self.functions.get((parent[0], name), [])
            if len(f.params) == 1
            and f.arg_relation == parent
            and f.return_relation is not None
            and f.return_relation in self.relations
        ]

    def remember(self, key: Any, value: Any) -> Any:
        """Store a derived value (the oldest goes beyond MEMO_SIZE entries); return it."""
        memo = self.memo
        if len(memo) >= MEMO_SIZE:
            del memo[next(iter(memo))]
        memo[key] = value
        return value


async def load_schema_cache(
    conn: Connection, wanted: list[str], *, timezones: frozenset[str] | None = None
) -> SchemaCache:
    """Read the catalog for the `wanted` schemas that exist (in the order given); `timezones`
    (from an earlier snapshot) saves reading `pg_timezone_names` again."""
    await store.clear_search_path(conn)
    existing = set(await store.select_schemas(conn, wanted))
    schemas = [s for s in wanted if s in existing]
    cache = SchemaCache(schemas)
    columns: dict[Key, dict[str, Column]] = {}
    oids: dict[int, Key] = {}
    attnames: dict[tuple[int, int], str] = {}
    for r in await store.select_columns(conn, schemas):
        oids[r["relid"]] = (r["schema"], r["relation"])
        attnames[(r["relid"], r["attnum"])] = r["name"]
        columns.setdefault((r["schema"], r["relation"]), {})[r["name"]] = Column(
            r["name"],
            r["type"],
            r["category"],
            r["nullable"],
            r["default_expr"],
            r["generated"],
            r["description"],
        )
    for r in await store.select_relations(conn, schemas):
        key = (r["schema"], r["name"])
        uniques = tuple(frozenset(u.split(",")) for u in r["unique_keys"])
        cache.relations[key] = Relation(
            r["schema"],
            r["name"],
            r["kind"],
            columns.get(key, {}),
            tuple(r["pk"]),
            uniques,
            r["description"],
        )
    cache.foreign_keys += map(_foreign_key, await store.select_foreign_keys(conn, schemas))
    await _add_view_keys(conn, cache, schemas, oids, attnames)
    for r in await store.select_role_settings(conn):
        cache.role_settings.setdefault(r["role"], {})[r["name"]] = r["value"]
    cache.timezones = timezones or frozenset(await store.select_timezones(conn))
    cache.geojson_schema = await store.select_geojson_schema(conn)
    for r in await store.select_functions(conn, schemas):
        fn = _function(r)
        cache.functions.setdefault((fn.schema, fn.name), []).append(fn)
        if _is_field(fn) and fn.arg_relation is not None:
            cache.fields.setdefault(fn.arg_relation, {})[fn.name] = fn
    return cache


def _foreign_key(r: Any) -> ForeignKey:
    return ForeignKey(
        r["name"],
        r["schema"],
        r["relation"],
        tuple(r["columns"]),
        r["ref_schema"],
        r["ref_relation"],
        tuple(r["ref_columns"]),
    )


async def _add_view_keys(
    conn: Connection,
    cache: SchemaCache,
    schemas: list[str],
    oids: dict[int, Key],
    attnames: dict[tuple[int, int], str],
) -> None:
    """The foreign keys seen through exposed views, including keys between tables of other
    schemas that the views read (PostgREST follows view columns wherever they lead)."""
    actions = {r["relid"]: r["action"] for r in await store.select_view_actions(conn, schemas)}
    hidden: list[int] = []
    todo = list(actions.values())
    for _ in range(MAX_DEPTH):
        wanted = sorted(unknown_origins(todo, oids))
        if not wanted:
            break
        todo = []
        for r in await store.select_sources(conn, wanted):
            hidden.append(r["relid"])
            oids[r["relid"]] = (r["schema"], r["name"])
            for number, name in zip(r["attnums"], r["attnames"], strict=True):
                attnames[(r["relid"], number)] = name
            if r["action"]:
                actions[r["relid"]] = r["action"]
                todo.append(r["action"])
    keys = list(cache.foreign_keys)
    if hidden:
        known = {(k.name, k.schema, k.relation) for k in keys}
        more = map(_foreign_key, await store.select_foreign_keys(conn, [], hidden))
        keys += [k for k in more if (k.name, k.schema, k.relation) not in known]
    shows = lineage(actions, oids, attnames)
    cache.foreign_keys += through_views(keys, cache.relations, shows)


def _function(r: object) -> Function:
    row = dict(r)  # type: ignore[call-overload]
    raw = json.loads(row["params"])
    inputs = [p for p in raw if p["mode"] in ("i", "b", "v")]
    first_default = len(inputs) - int(row["defaults"] or 0)
    params = tuple(
        Param(p["name"], p["type"], i >= first_default, p["mode"] == "v")
        for i, p in enumerate(inputs)
    )
    outs = [p for p in raw if p["mode"] in ("o", "b", "t")]
    result: dict[str, Column] | None = None
    if row["return_columns"]:
        result = {
            c["name"]: Column(c["name"], c["type"]) for c in json.loads(row["return_columns"])
        }
    elif outs and row["return_type"] == "record":
        result = {p["name"]: Column(p["name"], p["type"]) for p in outs}
    return Function(
        row["schema"],
        row["name"],
        params,
        row["return_type"],
        row["returns_set"],
        row["volatility"],
        result,
        row["description"],
        float(row["rows"] or 0),
        _key(row["arg_relation"]),
        _key(row["return_relation"]),
    )


def _is_field(fn: Function) -> bool:
    """A function of one row returning one scalar: PostgREST's computed field."""
    scalar = fn.return_relation is None and fn.result_columns is None and not fn.returns_void
    return len(fn.params) == 1 and not fn.returns_set and scalar


def _key(pair: list[str] | None) -> Key | None:
    return (pair[0], pair[1]) if pair else None
