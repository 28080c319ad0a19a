"""Storage's SQL: functions named after the queries in `queries.sql`, nothing else.

Database errors are mapped here: a duplicate (bucket, name) or bucket id is
`ResourceAlreadyExists`, a row-level-security refusal `AccessDenied`, deleting a bucket that
still has objects `BucketNotEmpty`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from neo.core.db import Connection
from neo.kit.sqlfile import load_named_queries
from neo.storage.errors import AccessDenied, BucketNotEmpty, ResourceAlreadyExists

QUERIES = load_named_queries(Path(__file__).with_name("queries.sql"))
Row = dict[str, Any]


@asynccontextmanager
async def _mapped() -> AsyncIterator[None]:
    try:
        yield
    except asyncpg.UniqueViolationError:
        raise ResourceAlreadyExists() from None
    except asyncpg.InsufficientPrivilegeError as exc:
        raise AccessDenied(str(exc.args[0]) if exc.args else None) from None
    except asyncpg.ForeignKeyViolationError:
        raise BucketNotEmpty() from None


def _row(record: asyncpg.Record | None) -> Row | None:
    if record is None:
        return None
    row = dict(record)
    for name in ("metadata", "user_metadata"):
        if isinstance(row.get(name), str):
            row[name] = json.loads(row[name])
    return row


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


async def select_bucket(conn: Connection, bucket_id: str) -> Row | None:
    """One bucket, as the connection's role may see it."""
    return _row(await conn.fetchrow(QUERIES["select_bucket"], bucket_id))


async def select_buckets(
    conn: Connection, *, limit: int, offset: int, search: str, column: str, order: str
) -> list[Row]:
    """A page of buckets."""
    rows = await conn.fetch(QUERIES["select_buckets"], limit, offset, search, column, order)
    return [dict(r) for r in rows]


async def insert_bucket(conn: Connection, bucket: Row) -> str:
    """Create a bucket; its name."""
    async with _mapped():
        return str(
            await conn.fetchval(
                QUERIES["insert_bucket"],
                bucket["id"],
                bucket["name"],
                bucket["owner"],
                bucket["owner_id"],
                bucket["public"],
                bucket["file_size_limit"],
                bucket["allowed_mime_types"],
            )
        )


async def update_bucket(conn: Connection, bucket_id: str, changes: Row) -> bool:
    """Change a bucket's settings (keys absent from `changes` are kept); False if unseen."""
    async with _mapped():
        found = await conn.fetchval(
            QUERIES["update_bucket"],
            bucket_id,
            changes.get("public"),
            changes.get("file_size_limit"),
            "file_size_limit" in changes,
            changes.get("allowed_mime_types"),
            "allowed_mime_types" in changes,
        )
    return found is not None


async def delete_bucket(conn: Connection, bucket_id: str) -> bool:
    """Delete a bucket; False if unseen, BucketNotEmpty if objects remain."""
    async with _mapped():
        return await conn.fetchval(QUERIES["delete_bucket"], bucket_id) is not None


async def delete_bucket_objects(conn: Connection, bucket_id: str) -> list[Row]:
    """Delete every object of a bucket the role may delete; (bucket_id, name, version) rows."""
    async with _mapped():
        return [dict(r) for r in await conn.fetch(QUERIES["delete_bucket_objects"], bucket_id)]


async def select_object(conn: Connection, bucket_id: str, name: str) -> Row | None:
    """One object's row."""
    return _row(await conn.fetchrow(QUERIES["select_object"], bucket_id, name))


async def select_public_object(conn: Connection, bucket_id: str, name: str) -> Row | None:
    """One object's row and its bucket's `public` flag (see the query)."""
    return _row(await conn.fetchrow(QUERIES["select_public_object"], bucket_id, name))


async def lock_object(conn: Connection, bucket_id: str, name: str) -> Row | None:
    """Lock an object's row for the transaction; its id and version."""
    async with _mapped():
        return _row(await conn.fetchrow(QUERIES["lock_object"], bucket_id, name))


async def insert_object(conn: Connection, obj: Row) -> str:
    """Create an object row; its id."""
    async with _mapped():
        await conn.execute(QUERIES["insert_object"], *_object_args(obj), obj["id"])
    return str(obj["id"])


async def update_object(conn: Connection, obj: Row) -> str | None:
    """Point an existing row at a new version; its id, None if unseen."""
    async with _mapped():
        found = await conn.fetchval(QUERIES["update_object"], *_object_args(obj))
    return None if found is None else str(found)


def _object_args(obj: Row) -> tuple[Any, ...]:
    return (
        obj["bucket_id"],
        obj["name"],
        obj["owner"],
        obj["owner_id"],
        _json(obj["metadata"]),
        obj["version"],
        _json(obj["user_metadata"]),
    )


async def move_object(
    conn: Connection,
    src: tuple[str, str],
    dst: tuple[str, str],
    *,
    version: str,
    owner: uuid.UUID | None,
    owner_id: str | None,
    was: str,
) -> str | None:
    """Rename an object still at version `was` (and point it at `version`); its id, None if
    unseen or replaced meanwhile."""
    async with _mapped():
        found = await conn.fetchval(
            QUERIES["move_object"], *src, *dst, version, owner, owner_id, was
        )
    return None if found is None else str(found)


async def delete_objects(conn: Connection, bucket_id: str, names: list[str]) -> list[Row]:
    """Delete the named objects the role may delete; their rows."""
    async with _mapped():
        rows = await conn.fetch(QUERIES["delete_objects"], bucket_id, names)
    return [r for r in map(_row, rows) if r is not None]


async def search_objects(conn: Connection, bucket_id: str, prefix: str, **opts: Any) -> list[Row]:
    """One folder level of a bucket, through `storage.search` (as storage-api does)."""
    levels = len(prefix.split("/")) if prefix else 1
    rows = await conn.fetch(
        QUERIES["search_objects"],
        prefix,
        bucket_id,
        opts["limit"],
        levels,
        opts["offset"],
        opts["search"],
        opts["column"],
        opts["order"],
    )
    return [r for r in map(_row, rows) if r is not None]


async def list_objects_v2(
    conn: Connection, bucket_id: str, prefix: str, *, cursor: str, delimiter: bool, limit: int
) -> list[Row]:
    """Keys (and folders, with a delimiter) after `cursor`, in byte order."""
    rows = await conn.fetch(QUERIES["list_objects_v2"], bucket_id, prefix, cursor, delimiter, limit)
    return [r for r in map(_row, rows) if r is not None]


async def select_known_versions(conn: Connection, bucket_id: str, versions: list[str]) -> set[str]:
    """Which of `versions` a row of `bucket_id` points at."""
    rows = await conn.fetch(QUERIES["select_known_versions"], bucket_id, versions)
    return {r["version"] for r in rows}
