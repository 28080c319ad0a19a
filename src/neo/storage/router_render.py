"""HTTP routes of `/render/image`: transformed images, for the caller (`authenticated`), for
anyone (`public` buckets) or for a signed token (whose claim fixes the transformation)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from neo.storage import service_object as objects
from neo.storage import service_signed as signed
from neo.storage.backends import Location
from neo.storage.deps import CallerDep, StateDep
from neo.storage.download import disposition
from neo.storage.errors import EntityTooLarge, NoSuchKey
from neo.storage.names import header_text
from neo.storage.state import StorageState
from neo.storage.transform import Transform, decode_claim, parse_transform, render_image

router = APIRouter()


async def _render(
    state: StorageState, request: Request, row: dict[str, Any], transform: Transform
) -> Response:
    meta = row.get("metadata") or {}
    if int(meta.get("size") or 0) > state.settings.image_max_bytes:
        raise EntityTooLarge("The image is too large to transform")
    loc = Location(row["bucket_id"], row["name"], row["version"])
    try:
        stream = await state.backend.open(loc)
    except FileNotFoundError:
        raise NoSuchKey() from None
    data = b"".join([chunk async for chunk in stream])
    body, mime = await asyncio.to_thread(render_image, data, transform)
    headers = {"cache-control": header_text(meta.get("cacheControl"), "no-cache")}
    if value := disposition(request.query_params.get("download"), row["name"]):
        headers["content-disposition"] = value
    return Response(body, media_type=mime, headers=headers)


@router.get("/render/image/authenticated/{bucket_id}/{key:path}")
async def render_authenticated(
    bucket_id: str, key: str, request: Request, caller: CallerDep, state: StateDep
) -> Response:
    """A transformed image the caller may read."""
    transform = parse_transform(dict(request.query_params))
    row = await objects.find_object(caller, bucket_id, key)
    return await _render(state, request, row, transform)


@router.get("/render/image/public/{bucket_id}/{key:path}")
async def render_public(bucket_id: str, key: str, request: Request, state: StateDep) -> Response:
    """A transformed image of a public bucket."""
    transform = parse_transform(dict(request.query_params))
    row = await objects.find_public_object(state, bucket_id, key)
    return await _render(state, request, row, transform)


@router.get("/render/image/sign/{bucket_id}/{key:path}")
async def render_signed(bucket_id: str, key: str, request: Request, state: StateDep) -> Response:
    """A transformed image for a signed token (the token's transformation wins)."""
    token = request.query_params.get("token")
    claims = signed.verify_token(state, token, bucket_id, key, scope="download")
    claim = claims.get("transformations")
    transform = decode_claim(claim) if isinstance(claim, str) else Transform()
    row = await signed.find_signed_object(state, token, bucket_id, key)
    return await _render(state, request, row, transform)
