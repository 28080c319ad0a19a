"""The schema cache: relations, columns, keys, foreign keys and functions of the exposed schemas.

Loaded once at start on an owner connection with an empty search_path (so every type name is
schema-qualified), then replaced as a whole on reload; a request keeps the cache object it
started with, so a reload never fails a request midway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from neo.core.db import Connection
from neo.data import store

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
    # Values derived from this snapshot alone (parsed and planned reads, transaction
    # settings), so a reload, which replaces the snapshot, drops them all at once.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def relation(self, schema: str, name: str) -> Relation | None:
        """A relation by schema and name."""
        return self.relations.get((schema, name))

    def remember(self, key: Any, value: Any) -> Any:
        """Store a derived value (the oldest goes beyond MEMO_SIZE entries); return it."""
        memo = self.memo
        if len(memo) >= MEMO_SIZE:
            del memo[next(iter(memo))]
        memo[key] = value
        return value


async def load_schema_cache(conn: Connection, wanted: list[str]) -> SchemaCache:
    """Read the catalog for the `wanted` schemas that exist (in the order given)."""
    await store.clear_search_path(conn)
    existing = set(await store.select_schemas(conn, wanted))
    schemas = [s for s in wanted if s in existing]
    cache = SchemaCache(schemas)
    columns: dict[Key, dict[str, Column]] = {}
    for r in await store.select_columns(conn, schemas):
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
    for r in await store.select_foreign_keys(conn, schemas):
        cache.foreign_keys.append(
            ForeignKey(
                r["name"],
                r["schema"],
                r["relation"],
                tuple(r["columns"]),
                r["ref_schema"],
                r["ref_relation"],
                tuple(r["ref_columns"]),
            )
        )
    cache.foreign_keys += _through_views(cache, await store.select_view_columns(conn, schemas))
    for r in await store.select_role_settings(conn):
        cache.role_settings.setdefault(r["role"], {})[r["name"]] = r["value"]
    for r in await store.select_functions(conn, schemas):
        fn = _function(r)
        cache.functions.setdefault((fn.schema, fn.name), []).append(fn)
    return cache


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
    )


def _through_views(cache: SchemaCache, usage: list[Any]) -> list[ForeignKey]:
    """Foreign keys seen through simple views that expose the key columns under their names."""
    views: dict[Key, list[Key]] = {}  # base table -> views reading it
    reads: set[tuple[Key, Key, str]] = set()
    for r in usage:
        view, table = (r["view_schema"], r["view_name"]), (r["table_schema"], r["table_name"])
        views.setdefault(table, [])
        if view not in views[table]:
            views[table].append(view)
        reads.add((view, table, r["column_name"]))

    def aliases(table: Key, columns: tuple[str, ...]) -> list[Key]:
        found = [table]
        for view in views.get(table, []):
            rel = cache.relations.get(view)
            if rel and all(c in rel.columns and (view, table, c) in reads for c in columns):
                found.append(view)
        return found

    out = []
    for fk in cache.foreign_keys:
        sources = aliases((fk.schema, fk.relation), fk.columns)
        targets = aliases((fk.ref_schema, fk.ref_relation), fk.ref_columns)
        for src in sources:
            for dst in targets:
                if (src, dst) != ((fk.schema, fk.relation), (fk.ref_schema, fk.ref_relation)):
                    out.append(
                        replace(
                            fk,
                            schema=src[0],
                            relation=src[1],
                            ref_schema=dst[0],
                            ref_relation=dst[1],
                            via_view=True,
                        )
                    )
    return out
