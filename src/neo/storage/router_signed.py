"""HTTP routes of signed URLs: create (one, many), download with a token, signed upload URL
and upload with its token. Routes that take a token need no other credentials."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from neo.storage import service_signed as signed
from neo.storage.caller import Caller
from neo.storage.deps import CallerDep, StateDep, Upsert
from neo.storage.download import object_response
from neo.storage.models import SignIn, SignManyIn
from neo.storage.service_object import upload_object
from neo.storage.uploads import UploadBody

router = APIRouter()


@router.post("/object/sign/{bucket_id}")
async def sign_many(
    bucket_id: str, body: SignManyIn, caller: CallerDep, state: StateDep
) -> list[dict[str, Any]]:
    """Signed download URLs for many objects."""
    return await signed.sign_urls(state, caller, bucket_id, body.paths, body.expiresIn)


@router.post("/object/sign/{bucket_id}/{key:path}")
async def sign_one(
    bucket_id: str, key: str, body: SignIn, caller: CallerDep, state: StateDep
) -> dict[str, str]:
    """A signed download URL."""
    return await signed.sign_url(
        state, caller, bucket_id, key, body.expiresIn, transform=body.transform
    )


@router.api_route("/object/sign/{bucket_id}/{key:path}", methods=["GET", "HEAD"])
async def signed_download(bucket_id: str, key: str, request: Request, state: StateDep) -> Response:
    """An object, for whoever holds a valid download token."""
    token = request.query_params.get("token")
    row = await signed.find_signed_object(state, token, bucket_id, key)
    return await object_response(state, request, row, download=request.query_params.get("download"))


@router.post("/object/upload/sign/{bucket_id}/{key:path}")
async def sign_upload(
    bucket_id: str, key: str, caller: CallerDep, state: StateDep, upsert: Upsert
) -> dict[str, str]:
    """A signed upload URL (x-upsert: it may replace an existing object)."""
    return await signed.sign_upload_url(state, caller, bucket_id, key, upsert=upsert)


@router.put("/object/upload/sign/{bucket_id}/{key:path}")
async def signed_upload(
    bucket_id: str, key: str, request: Request, state: StateDep
) -> dict[str, str]:
    """Upload with a signed upload token, as the token's owner."""
    token = request.query_params.get("token")
    claims = signed.verify_token(state, token, bucket_id, key, scope="upload")
    caller = Caller.superuser(state.core.db, owner_sub=claims.get("owner"))
    body = UploadBody(request, limit=state.settings.file_size_limit, allowed=None)
    upsert = bool(claims.get("upsert"))
    return await upload_object(state, caller, bucket_id, key, body, upsert=upsert)
