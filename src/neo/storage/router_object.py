"""HTTP routes of `/storage/v1/object`: upload, update, download, info, list, move, copy,
remove. Specific routes come before the catch-all `/object/{bucket}/{path}` ones.

Downloads and uploads are plain Starlette endpoints (`FAST`, registered by `router.py`):
the app's `Edge` layer serves them without FastAPI's stack, a large share of a small
object's cost.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from neo.storage import service_list, service_move
from neo.storage import service_object as objects
from neo.storage.deps import CallerDep, StateDep, Upsert, get_caller, get_state, upsert_flag
from neo.storage.download import object_response
from neo.storage.errors import NoSuchKey
from neo.storage.models import ListIn, ListV2In, MoveIn, RemoveIn
from neo.storage.read_ahead import ReadAhead
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


async def public_download(request: Request) -> Response:
    """GET/HEAD /object/public/{bucket_id}/{key}: an object of a public bucket, for anyone."""
    state = await get_state(request)
    bucket_id, key = request.path_params["bucket_id"], request.path_params["key"]
    download = request.query_params.get("download")
    ahead = ReadAhead(state, request, bucket_id, key)
    try:
        row = await objects.find_public_object(state, bucket_id, key)
        return await object_response(state, request, row, download=download, ahead=ahead)
    finally:
        ahead.drop()


async def download(request: Request) -> Response:
    """GET/HEAD /object/[authenticated/]{bucket_id}/{key}: an object the caller may read."""
    state, caller = await get_state(request), await get_caller(request)
    bucket_id, key = request.path_params["bucket_id"], request.path_params["key"]
    download = request.query_params.get("download")
    ahead = ReadAhead(state, request, bucket_id, key)

    async def respond(row: dict[str, Any]) -> Response:
        return await object_response(state, request, row, download=download, ahead=ahead)

    try:
        return await objects.read_object(caller, bucket_id, key, respond)
    finally:
        ahead.drop()


async def upload(request: Request) -> Response:
    """POST /object/{bucket_id}/{key}: upload an object (x-upsert: replace an existing one);
    PUT: replace an object's bytes."""
    state, caller = await get_state(request), await get_caller(request)
    upsert = request.method == "PUT" or await upsert_flag(request)
    bucket_id, key = request.path_params["bucket_id"], request.path_params["key"]
    body = UploadBody(request, limit=state.settings.file_size_limit, allowed=None)
    answer = await objects.upload_object(state, caller, bucket_id, key, body, upsert=upsert)
    return JSONResponse(answer)


# (path, endpoint, methods) of the fast routes, in matching order; `router.py` registers them
# after every other route, and keeps the catch-alls off what a specific route serves.
FAST = [
    ("/object/public/{bucket_id}/{key:path}", public_download, GET_HEAD),
    ("/object/authenticated/{bucket_id}/{key:path}", download, GET_HEAD),
    ("/object/{bucket_id}/{key:path}", download, ["GET"]),
    ("/object/{bucket_id}/{key:path}", download, ["HEAD"]),
    ("/object/{bucket_id}/{key:path}", upload, ["POST"]),
    ("/object/{bucket_id}/{key:path}", upload, ["PUT"]),
]


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
