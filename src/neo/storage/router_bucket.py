"""HTTP routes of `/storage/v1/bucket`: list, get, create, update, empty, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from neo.storage import service_bucket as buckets
from neo.storage.deps import CallerDep, StateDep
from neo.storage.models import BucketIn
from neo.storage.state import discard

router = APIRouter()


@router.get("/bucket")
async def list_buckets(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
    """Buckets the caller may see."""
    async with caller.tx() as conn:
        return await buckets.list_buckets(conn, dict(request.query_params))


@router.get("/bucket/{bucket_id}")
async def get_bucket(bucket_id: str, caller: CallerDep) -> dict[str, Any]:
    """One bucket."""
    async with caller.tx() as conn:
        return await buckets.get_bucket(conn, bucket_id)


@router.post("/bucket")
async def create_bucket(body: BucketIn, caller: CallerDep) -> dict[str, str]:
    """Create a bucket."""
    async with caller.tx() as conn:
        name = await buckets.create_bucket(conn, caller.actor_or_anon, body)
    return {"name": name}


@router.put("/bucket/{bucket_id}")
async def update_bucket(bucket_id: str, body: BucketIn, caller: CallerDep) -> dict[str, str]:
    """Change a bucket's public flag and limits."""
    async with caller.tx() as conn:
        await buckets.update_bucket(conn, bucket_id, body)
    return {"message": "Successfully updated"}


@router.post("/bucket/{bucket_id}/empty")
async def empty_bucket(bucket_id: str, caller: CallerDep, state: StateDep) -> dict[str, str]:
    """Delete every object of a bucket (storage-api queues this; NEO does it now)."""
    async with caller.tx() as conn:
        locs = await buckets.empty_bucket(conn, bucket_id)
    await discard(state, locs)
    return {"message": "Successfully emptied"}


@router.delete("/bucket/{bucket_id}")
async def delete_bucket(bucket_id: str, caller: CallerDep) -> dict[str, str]:
    """Delete an empty bucket."""
    async with caller.tx() as conn:
        await buckets.delete_bucket(conn, bucket_id)
    return {"message": "Successfully deleted"}
