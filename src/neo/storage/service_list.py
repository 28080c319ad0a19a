"""Listing use cases: `/object/list` (one folder level via `storage.search`, as storage-api)
and `/object/list-v2` (cursor paging, optional folders). Both run as the caller (RLS)."""

from __future__ import annotations

import base64
from typing import Any

from neo.storage import store
from neo.storage.caller import Caller
from neo.storage.errors import InvalidRequest
from neo.storage.models import ListIn, ListV2In
from neo.storage.names import check_prefix
from neo.storage.service_object import render_row


async def list_objects(caller: Caller, bucket_id: str, body: ListIn) -> list[dict[str, Any]]:
    """One level below `prefix`: folders (null id and metadata) then objects."""
    prefix = check_prefix(body.prefix)
    if prefix and not prefix.endswith("/"):
        prefix += "/"  # storage-api: the prefix is always a folder
    async with caller.tx() as conn:
        rows = await store.search_objects(
            conn,
            bucket_id,
            prefix,
            limit=body.limit,
            offset=body.offset,
            search=body.search,
            column=body.sortBy.column,
            order=body.sortBy.order,
        )
    return [render_row(r) for r in rows]


async def list_objects_v2(caller: Caller, bucket_id: str, body: ListV2In) -> dict[str, Any]:
    """A page of keys after the cursor (by name); folders when `with_delimiter`."""
    prefix = check_prefix(body.prefix)
    cursor = _decode_cursor(body.cursor) if body.cursor else ""
    async with caller.tx() as conn:
        rows = await store.list_objects_v2(
            conn,
            bucket_id,
            prefix,
            cursor=cursor,
            delimiter=body.with_delimiter,
            limit=body.limit + 1,
        )
    has_next = len(rows) > body.limit
    rows = rows[: body.limit]
    folders = [{"key": r["key"], "name": r["key"]} for r in rows if r["is_folder"]]
    objects = [_v2_object(r) for r in rows if not r["is_folder"]]
    result: dict[str, Any] = {"hasNext": has_next, "folders": folders, "objects": objects}
    if has_next and rows:
        result["nextCursor"] = base64.urlsafe_b64encode(rows[-1]["key"].encode()).decode()
    return result


def _v2_object(row: dict[str, Any]) -> dict[str, Any]:
    out = render_row(row)
    return {
        "id": out["id"],
        "key": row["key"],
        "name": row["key"],
        "created_at": out["created_at"],
        "updated_at": out["updated_at"],
        "last_accessed_at": out["last_accessed_at"],
        "metadata": row.get("metadata"),
    }


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("invalid cursor") from None
