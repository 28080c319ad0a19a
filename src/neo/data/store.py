"""The data API's fixed SQL: catalog reads for the schema cache (named queries in queries.sql).

Dynamic SQL for requests is built in `fragments.py` and `query.py` and run in `query.py` only.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg

from neo.core.db import Connection
from neo.kit.sqlfile import load_named_queries

QUERIES = load_named_queries(Path(__file__).with_name("queries.sql"))
Rows = list[asyncpg.Record]


async def select_schemas(conn: Connection, schemas: list[str]) -> list[str]:
    """The exposed schemas that exist."""
    return [r["name"] for r in await conn.fetch(QUERIES["select_schemas"], schemas)]


async def select_relations(conn: Connection, schemas: list[str]) -> Rows:
    """Tables, views, materialized views and foreign tables with their keys."""
    return await conn.fetch(QUERIES["select_relations"], schemas)


async def select_columns(conn: Connection, schemas: list[str]) -> Rows:
    """Columns of every relation, in order."""
    return await conn.fetch(QUERIES["select_columns"], schemas)


async def select_foreign_keys(
    conn: Connection, schemas: list[str], relids: list[int] | None = None
) -> Rows:
    """Foreign keys whose referencing table is in `schemas`, or from or to `relids`."""
    return await conn.fetch(QUERIES["select_foreign_keys"], schemas, relids or [])


async def select_functions(conn: Connection, schemas: list[str]) -> Rows:
    """Callable functions with their parameters and result shape."""
    return await conn.fetch(QUERIES["select_functions"], schemas)


async def clear_search_path(conn: Connection) -> None:
    """Print every type schema-qualified for the rest of the transaction."""
    await conn.fetchval(QUERIES["clear_search_path"])


async def select_role_settings(conn: Connection) -> Rows:
    """`ALTER ROLE … SET` settings a request transaction may apply (context `user`)."""
    return await conn.fetch(QUERIES["select_role_settings"])


async def select_view_actions(conn: Connection, schemas: list[str]) -> Rows:
    """Each exposed view's query as a parse tree (for relationships through views)."""
    return await conn.fetch(QUERIES["select_view_actions"], schemas)


async def select_sources(conn: Connection, relids: list[int]) -> Rows:
    """Relations of other schemas read by exposed views: names, columns, views' parse trees."""
    return await conn.fetch(QUERIES["select_sources"], relids)


async def select_timezones(conn: Connection) -> list[str]:
    """Time zone names PostgreSQL knows."""
    return [r["name"] for r in await conn.fetch(QUERIES["select_timezones"])]


async def select_geojson_schema(conn: Connection) -> str | None:
    """The schema of PostGIS's `st_asgeojson(record)`, if installed."""
    schema: str | None = await conn.fetchval(QUERIES["select_geojson_schema"])
    return schema
