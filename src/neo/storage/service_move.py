"""Move, copy and remove, as the caller (RLS: move needs SELECT + UPDATE, copy SELECT on the
source and INSERT on the destination, remove SELECT + DELETE).

Bytes first, rows second, old bytes last: a move or copy writes the destination's bytes as a
new version, then changes rows in one transaction, then deletes what no row points at.
"""

from __future__ import annotations

import uuid
from typing import Any

from neo.storage import store
from neo.storage.backends import Location
from neo.storage.caller import Caller
from neo.storage.errors import NoSuchKey, ResourceAlreadyExists
from neo.storage.models import MoveIn
from neo.storage.names import check_key
from neo.storage.service_object import bucket_for_write, find_object, render_row
from neo.storage.state import StorageState, discard


async def move_object(state: StorageState, caller: Caller, body: MoveIn) -> dict[str, str]:
    """Rename an object (possibly into another bucket)."""
    src_bucket, dst_bucket = body.bucketId, body.destinationBucket or body.bucketId
    src_key, dst_key = check_key(body.sourceKey), check_key(body.destinationKey)
    await bucket_for_write(state, dst_bucket)
    source = await find_object(caller, src_bucket, src_key)
    new = Location(dst_bucket, dst_key, str(uuid.uuid4()))
    await state.backend.copy(Location(src_bucket, src_key, source["version"]), new)
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
            )
            if moved is None:
                raise NoSuchKey()
    except BaseException:
        await state.backend.delete([new])
        raise
    await discard(state, [Location(src_bucket, src_key, source["version"])])
    return {"message": "Successfully moved", "Id": moved, "Key": f"{dst_bucket}/{dst_key}"}


async def copy_object(
    state: StorageState, caller: Caller, body: MoveIn, *, upsert: bool = False
) -> dict[str, str]:
    """Duplicate an object under a new key."""
    src_bucket, dst_bucket = body.bucketId, body.destinationBucket or body.bucketId
    src_key, dst_key = check_key(body.sourceKey), check_key(body.destinationKey)
    await bucket_for_write(state, dst_bucket)
    source = await find_object(caller, src_bucket, src_key)
    new = Location(dst_bucket, dst_key, str(uuid.uuid4()))
    row = _copied_row(caller, source, new, body)
    await state.backend.copy(Location(src_bucket, src_key, source["version"]), new)
    old: dict[str, Any] | None = None
    try:
        async with caller.tx() as conn:
            old = await store.lock_object(conn, dst_bucket, dst_key) if upsert else None
            if old is None:
                await store.insert_object(conn, row)
            else:
                row["id"] = str(old["id"])
                await store.update_object(conn, row)
    except BaseException:
        await state.backend.delete([new])
        raise
    if old is not None and old.get("version"):
        await discard(state, [Location(dst_bucket, dst_key, old["version"])])
    return {"Id": row["id"], "Key": f"{dst_bucket}/{dst_key}"}


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
