"""Move, copy and remove, as the caller (RLS: move needs SELECT + UPDATE, copy SELECT on the
source and INSERT on the destination, remove SELECT + DELETE).

Bytes first, rows second, old bytes last: a move or copy writes the destination's bytes as a
new version, then changes rows in one transaction, then deletes what no row points at. A
source replaced or removed by another request meanwhile is read again (a move renames the
row only if it still points at the bytes that were copied).
"""

from __future__ import annotations

import uuid
from typing import Any

from neo.core.db import Connection
from neo.storage import store
from neo.storage.backends import Location
from neo.storage.caller import Caller
from neo.storage.errors import NoSuchKey, ResourceAlreadyExists
from neo.storage.models import MoveIn
from neo.storage.names import check_key
from neo.storage.service_object import bucket_for_write, find_object, render_row, save_row
from neo.storage.state import StorageState, discard

TRIES = 3  # a source replaced under a move or copy is read again, this many times at most


async def move_object(state: StorageState, caller: Caller, body: MoveIn) -> dict[str, str]:
    """Rename an object (possibly into another bucket)."""
    src_bucket, dst_bucket = body.bucketId, body.destinationBucket or body.bucketId
    src_key, dst_key = check_key(body.sourceKey), check_key(body.destinationKey)
    await bucket_for_write(state, dst_bucket)
    for _ in range(TRIES):
        source, new = await _copied_source(
            state, caller, (src_bucket, src_key), new_at=(dst_bucket, dst_key)
        )
        try:
            async with caller.tx() as conn:
                if await store.select_object(conn, dst_bucket, dst_key) is not None:
                    raise ResourceAlreadyExists()
                moved = await store.move_object(
                    conn,
                    (src_bucket, src_key),
                    (dst_bucket, dst_key),
                    version=new.version,
                    owner=caller.owner_uuid,
                    owner_id=caller.sub,
                    was=source["version"],
                )
                if moved is None and await _unchanged(conn, (src_bucket, src_key), source):
                    raise NoSuchKey()  # there, but the caller may not change it (RLS)
        except BaseException:
            await state.backend.delete([new])
            raise
        if moved is not None:
            await discard(state, [Location(src_bucket, src_key, source["version"])])
            return {"message": "Successfully moved", "Id": moved, "Key": f"{dst_bucket}/{dst_key}"}
        await state.backend.delete([new])  # the source was replaced or removed meanwhile
    raise NoSuchKey()


async def copy_object(
    state: StorageState, caller: Caller, body: MoveIn, *, upsert: bool = False
) -> dict[str, str]:
    """Duplicate an object under a new key; `{"Id", "Key"}`."""
    row = await copied_object(state, caller, body, upsert=upsert)
    return {"Id": row["id"], "Key": f"{row['bucket_id']}/{row['name']}"}


async def copied_object(
    state: StorageState, caller: Caller, body: MoveIn, *, upsert: bool = False
) -> dict[str, Any]:
    """Duplicate an object under a new key; the new row as written (S3's CopyObject answers
    from it: reading it back could meet a removal that came meanwhile)."""
    src_bucket, dst_bucket = body.bucketId, body.destinationBucket or body.bucketId
    src_key, dst_key = check_key(body.sourceKey), check_key(body.destinationKey)
    await bucket_for_write(state, dst_bucket)
    source, new = await _copied_source(
        state, caller, (src_bucket, src_key), new_at=(dst_bucket, dst_key)
    )
    row = _copied_row(caller, source, new, body)
    old: dict[str, Any] | None = None
    try:
        async with caller.tx() as conn:
            old = await save_row(conn, row, upsert=upsert)
    except BaseException:
        await state.backend.delete([new])
        raise
    if old is not None and old.get("version"):
        await discard(state, [Location(dst_bucket, dst_key, old["version"])])
    return row


async def _unchanged(conn: Connection, src: tuple[str, str], source: dict[str, Any]) -> bool:
    """Whether the source row is still the one read (same version), as the caller sees it."""
    current = await store.select_object(conn, *src)
    return current is not None and current.get("version") == source["version"]


async def _copied_source(
    state: StorageState, caller: Caller, src: tuple[str, str], *, new_at: tuple[str, str]
) -> tuple[dict[str, Any], Location]:
    """The source's row, and its bytes copied to a new version at `new_at`. A source replaced
    or removed between the read and the copy has lost those bytes: it is read again."""
    for _ in range(TRIES):
        source = await find_object(caller, *src)
        new = Location(*new_at, str(uuid.uuid4()))
        try:
            await state.backend.copy(Location(*src, source["version"]), new)
        except FileNotFoundError:
            continue
        return source, new
    raise NoSuchKey()


def _copied_row(
    caller: Caller, source: dict[str, Any], new: Location, body: MoveIn
) -> dict[str, Any]:
    user_metadata = source.get("user_metadata") if body.copyMetadata else body.metadata
    return {
        "id": str(uuid.uuid4()),
        "bucket_id": new.bucket,
        "name": new.key,
        "owner": caller.owner_uuid,
        "owner_id": caller.sub,
        "version": new.version,
        "metadata": source.get("metadata"),
        "user_metadata": user_metadata,
    }


async def remove_objects(
    state: StorageState, caller: Caller, bucket_id: str, names: list[str]
) -> list[dict[str, Any]]:
    """Delete the named objects the caller may delete; their rows."""
    async with caller.tx() as conn:
        rows = await store.delete_objects(conn, bucket_id, names)
    await discard(
        state, [Location(bucket_id, r["name"], r["version"]) for r in rows if r.get("version")]
    )
    return [render_row(r) for r in rows]
