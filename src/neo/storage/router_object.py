"""HTTP routes of `/storage/v1/object`: upload, update, download, info, list, move, copy,
remove. Specific routes come before the catch-all `/object/{bucket}/{path}` ones."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from neo.storage import service_list, service_move
from neo.storage import service_object as objects
from neo.storage.deps import CallerDep, StateDep, Upsert
from neo.storage.download import object_response
from neo.storage.errors import NoSuchKey
from neo.storage.models import ListIn, ListV2In, MoveIn, RemoveIn
from neo.storage.uploads import UploadBody

router = APIRouter()
GET_HEAD = ["GET", "HEAD"]


@router.post("/object/list/{bucket_id}")
async def list_objects(bucket_id: str, body: ListIn, caller: CallerDep) -> list[dict[str, Any]]:
    """One folder level of a bucket."""
    return await service_list.list_objects(caller, bucket_id, body)


@router.post("/object/list-v2/{bucket_id}")
async def list_objects_v2(bucket_id: str, body: ListV2In, caller: CallerDep) -> dict[str, Any]:
    """A cursor-paged listing."""
    return await service_list.list_objects_v2(caller, bucket_id, body)


@router.post("/object/move")
async def move_object(body: MoveIn, caller: CallerDep, state: StateDep) -> dict[str, str]:
    """Rename an object."""
    return await service_move.move_object(state, caller, body)


@router.post("/object/copy")
async def copy_object(
    body: MoveIn, caller: CallerDep, state: StateDep, upsert: Upsert
) -> dict[str, str]:
    """Duplicate an object."""
    return await service_move.copy_object(state, caller, body, upsert=upsert)


@router.get("/object/info/public/{bucket_id}/{key:path}")
async def public_object_info(bucket_id: str, key: str, state: StateDep) -> dict[str, Any]:
    """Info of an object in a public bucket."""
    return objects.render_info(await objects.find_public_object(state, bucket_id, key))


# Stacked decorators register bottom-up: the specific path must be the lower one.
@router.get("/object/info/{bucket_id}/{key:path}")
@router.get("/object/info/authenticated/{bucket_id}/{key:path}")
async def object_info(bucket_id: str, key: str, caller: CallerDep) -> dict[str, Any]:
    """An object's info document."""
    return objects.render_info(await objects.find_object(caller, bucket_id, key))


@router.api_route("/object/public/{bucket_id}/{key:path}", methods=GET_HEAD)
async def public_download(bucket_id: str, key: str, request: Request, state: StateDep) -> Response:
    """An object of a public bucket, for anyone."""
    row = await objects.find_public_object(state, bucket_id, key)
    return await object_response(state, request, row, download=request.query_params.get("download"))


@router.api_route("/object/{bucket_id}/{key:path}", methods=GET_HEAD)
@router.api_route("/object/authenticated/{bucket_id}/{key:path}", methods=GET_HEAD)
async def download(
    bucket_id: str, key: str, request: Request, caller: CallerDep, state: StateDep
) -> Response:
    """An object the caller may read."""
    row = await objects.find_object(caller, bucket_id, key)
    return await object_response(state, request, row, download=request.query_params.get("download"))


@router.post("/object/{bucket_id}/{key:path}")
async def upload(
    bucket_id: str, key: str, request: Request, caller: CallerDep, state: StateDep, upsert: Upsert
) -> dict[str, str]:
    """Upload an object (x-upsert: replace an existing one)."""
    body = UploadBody(request, limit=state.settings.file_size_limit, allowed=None)
    return await objects.upload_object(state, caller, bucket_id, key, body, upsert=upsert)


@router.put("/object/{bucket_id}/{key:path}")
async def update(
    bucket_id: str, key: str, request: Request, caller: CallerDep, state: StateDep
) -> dict[str, str]:
    """Replace an object's bytes."""
    body = UploadBody(request, limit=state.settings.file_size_limit, allowed=None)
    return await objects.upload_object(state, caller, bucket_id, key, body, upsert=True)


@router.delete("/object/{bucket_id}")
async def remove_objects(
    bucket_id: str, body: RemoveIn, caller: CallerDep, state: StateDep
) -> list[dict[str, Any]]:
    """Delete many objects."""
    return await service_move.remove_objects(state, caller, bucket_id, body.prefixes)


@router.delete("/object/{bucket_id}/{key:path}")
async def remove_object(
    bucket_id: str, key: str, caller: CallerDep, state: StateDep
) -> dict[str, str]:
    """Delete one object."""
    rows = await service_move.remove_objects(state, caller, bucket_id, [key])
    if not rows:
        raise NoSuchKey()
    return {"message": "Successfully deleted"}
