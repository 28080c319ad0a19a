"""The data API's fixed SQL: catalog reads for the schema cache (named queries in queries.sql).

Dynamic SQL for requests is built and run in `query.py` only.
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


async def select_foreign_keys(conn: Connection, schemas: list[str]) -> Rows:
    """Foreign keys whose referencing table is exposed."""
    return await conn.fetch(QUERIES["select_foreign_keys"], schemas)


async def select_functions(conn: Connection, schemas: list[str]) -> Rows:
    """Callable functions with their parameters and result shape."""
    return await conn.fetch(QUERIES["select_functions"], schemas)


async def clear_search_path(conn: Connection) -> None:
    """Print every type schema-qualified for the rest of the transaction."""
    await conn.fetchval(QUERIES["clear_search_path"])


async def select_role_settings(conn: Connection) -> Rows:
    """`ALTER ROLE … SET` settings a request transaction may apply (context `user`)."""
    return await conn.fetch(QUERIES["select_role_settings"])


async def select_view_columns(conn: Connection, schemas: list[str]) -> Rows:
    """Base-table columns each view reads (for relationships through views)."""
    return await conn.fetch(QUERIES["select_view_columns"], schemas)
