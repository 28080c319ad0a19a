"""Bucket use cases, run as the caller so RLS on `storage.buckets` decides (service role
bypasses it). Emptying deletes the rows the caller may delete, then their bytes."""

from __future__ import annotations

import uuid
from typing import Any

from neo.core.actor import Actor
from neo.core.db import Connection
from neo.storage import store
from neo.storage.backends import Location
from neo.storage.errors import InvalidRequest, NoSuchBucket
from neo.storage.models import BucketIn
from neo.storage.names import check_bucket_name, parse_size

SORT_COLUMNS = {"id", "name", "created_at", "updated_at"}


def render_bucket(row: dict[str, Any]) -> dict[str, Any]:
    """A bucket as storage-api returns it."""
    out = dict(row)
    for name in ("created_at", "updated_at"):
        out[name] = out[name].isoformat() if out.get(name) else None
    return out


async def list_buckets(conn: Connection, query: dict[str, str]) -> list[dict[str, Any]]:
    """Buckets the caller may see, with storage-api's optional paging and sorting."""
    column = query.get("sortColumn", "name")
    order = query.get("sortOrder", "asc").lower()
    try:
        limit, offset = int(query.get("limit", 10000)), int(query.get("offset", 0))
    except ValueError:
        raise InvalidRequest("limit and offset must be integers") from None
    rows = await store.select_buckets(
        conn,
        limit=max(limit, 0),
        offset=max(offset, 0),
        search=query.get("search", ""),
        column=column if column in SORT_COLUMNS else "name",
        order="desc" if order == "desc" else "asc",
    )
    return [render_bucket(r) for r in rows]


async def get_bucket(conn: Connection, bucket_id: str) -> dict[str, Any]:
    """One bucket; NoSuchBucket when missing or hidden."""
    row = await store.select_bucket(conn, bucket_id)
    if row is None:
        raise NoSuchBucket()
    return render_bucket(row)


async def create_bucket(conn: Connection, actor: Actor, body: BucketIn) -> str:
    """Create a bucket; its name."""
    bucket_id = check_bucket_name(body.id or body.name or "")
    sub = actor.user_id
    return await store.insert_bucket(
        conn,
        {
            "id": bucket_id,
            "name": body.name or bucket_id,
            "owner": _uuid_or_none(sub),
            "owner_id": sub,
            "public": bool(body.public),
            "file_size_limit": parse_size(body.file_size_limit),
            "allowed_mime_types": body.allowed_mime_types or None,
        },
    )


async def update_bucket(conn: Connection, bucket_id: str, body: BucketIn) -> None:
    """Change a bucket's public flag and limits (only those given)."""
    given = body.model_fields_set
    changes: dict[str, Any] = {}
    if "public" in given and body.public is not None:
        changes["public"] = body.public
    if "file_size_limit" in given:
        changes["file_size_limit"] = parse_size(body.file_size_limit)
    if "allowed_mime_types" in given:
        changes["allowed_mime_types"] = body.allowed_mime_types or None
    if not await store.update_bucket(conn, bucket_id, changes):
        raise NoSuchBucket()


async def empty_bucket(conn: Connection, bucket_id: str) -> list[Location]:
    """Delete the bucket's objects (those RLS lets the caller delete); their byte locations."""
    if await store.select_bucket(conn, bucket_id) is None:
        raise NoSuchBucket()
    rows = await store.delete_bucket_objects(conn, bucket_id)
    return [Location(r["bucket_id"], r["name"], r["version"]) for r in rows if r["version"]]


async def delete_bucket(conn: Connection, bucket_id: str) -> None:
    """Delete an empty bucket; BucketNotEmpty while objects remain."""
    if not await store.delete_bucket(conn, bucket_id):
        raise NoSuchBucket()


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
