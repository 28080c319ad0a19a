"""HTTP routes of resumable uploads (TUS 1.0): `/upload/resumable` with the caller's
credentials, `/upload/resumable/sign` with a signed upload token in `x-signature`.

POST creates (`Upload-Length`, `Upload-Metadata`, `x-upsert`; a body of type
`application/offset+octet-stream` is the first chunk), HEAD reports `Upload-Offset`, PATCH
appends at `Upload-Offset`, DELETE terminates, OPTIONS describes the server. Errors are
rendered the way tus servers answer (see `errors.render_storage_error`).
"""

from __future__ import annotations

from email.utils import formatdate

from fastapi import APIRouter, Request
from starlette.responses import Response

from neo.storage import service_resumable as resumable
from neo.storage import service_signed as signed
from neo.storage.caller import Caller
from neo.storage.deps import CallerDep, StateDep, Upsert
from neo.storage.errors import StorageError, TusVersionUnsupported
from neo.storage.state import StorageState
from neo.storage.tus import (
    OFFSET_TYPE,
    TUS_EXTENSIONS,
    TUS_VERSION,
    PendingUpload,
    parse_length,
    parse_metadata,
)

router = APIRouter()
BASE = "/upload/resumable"
SIGNED = f"{BASE}/sign"


class InvalidContentType(StorageError):
    status, code, error = 415, "InvalidContentType", "Unsupported Media Type"
    message = f"Content-Type must be {OFFSET_TYPE}"


def _check_version(request: Request) -> None:
    version = request.headers.get("tus-resumable")
    if version is not None and version.strip() != TUS_VERSION:
        raise TusVersionUnsupported()


def _headers(upload: PendingUpload | None = None, **extra: str) -> dict[str, str]:
    headers = {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}
    if upload is not None:
        headers["Upload-Expires"] = formatdate(upload.expires, usegmt=True)
    return headers | extra


def _signed_caller(
    state: StorageState, request: Request, bucket: str, key: str
) -> tuple[Caller, bool]:
    """The token's owner and upsert flag, for a valid `x-signature` on this object."""
    token = request.headers.get("x-signature")
    claims = signed.verify_token(state, token, bucket, key, scope="upload")
    return Caller.superuser(state.core.db, owner_sub=claims.get("owner")), bool(
        claims.get("upsert")
    )


def _has_first_chunk(request: Request) -> bool:
    mime = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return mime == OFFSET_TYPE and request.headers.get("content-length", "0") != "0"


@router.options(BASE)
@router.options(f"{BASE}/{{upload_id}}")
@router.options(SIGNED)
@router.options(f"{SIGNED}/{{upload_id}}")
async def describe(state: StateDep) -> Response:
    """What this tus server supports."""
    return Response(
        status_code=204,
        headers={
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(state.settings.file_size_limit),
        },
    )


async def _create(
    request: Request, state: StorageState, caller: Caller | None, upsert: bool
) -> Response:
    """Create an upload; `caller` None: the signed route, where the token says who uploads
    and whether to upsert."""
    meta = parse_metadata(request.headers.get("upload-metadata"))
    if caller is None:
        caller, upsert = _signed_caller(state, request, *resumable.target(meta))
    length = parse_length(request.headers.get("upload-length"), "Upload-Length")
    header = request.headers.get("upload-metadata", "")
    upload = await resumable.create_upload(
        state, caller, meta, length=length, upsert=upsert, header=header
    )
    location = str(request.url).split("?", 1)[0].rstrip("/") + "/" + upload.upload_id
    headers = _headers(upload, Location=location)
    if _has_first_chunk(request):
        offset = await resumable.append(state, caller, upload, offset=0, chunks=request.stream())
        headers["Upload-Offset"] = str(offset)
    return Response(status_code=201, headers=headers)


@router.post(BASE)
async def create(request: Request, caller: CallerDep, state: StateDep, upsert: Upsert) -> Response:
    """Start an upload as the caller."""
    _check_version(request)
    return await _create(request, state, caller, upsert)


@router.post(SIGNED)
async def create_signed(request: Request, state: StateDep) -> Response:
    """Start an upload with a signed upload token."""
    _check_version(request)
    return await _create(request, state, None, False)


@router.head(f"{SIGNED}/{{upload_id}}")
@router.head(f"{BASE}/{{upload_id}}")
async def offset(upload_id: str, state: StateDep) -> Response:
    """How much of an upload has arrived."""
    upload, received = await resumable.find_upload(state, upload_id)
    headers = _headers(upload, **{"Upload-Offset": str(received)})
    headers["Upload-Length"] = str(upload.length)
    if upload.metadata_header:
        headers["Upload-Metadata"] = upload.metadata_header
    return Response(status_code=200, headers=headers)


async def _patch(
    request: Request, state: StorageState, caller: Caller | None, upload_id: str
) -> Response:
    _check_version(request)
    upload = await resumable.load_upload(state, upload_id)
    if caller is None:
        caller, _ = _signed_caller(state, request, upload.bucket, upload.key)
    mime = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime != OFFSET_TYPE:
        raise InvalidContentType()
    start = parse_length(request.headers.get("upload-offset"), "Upload-Offset")
    offset = await resumable.append(state, caller, upload, offset=start, chunks=request.stream())
    headers = _headers(upload, **{"Upload-Offset": str(offset)})
    if offset == upload.length:
        headers["Tus-Complete"] = "1"
    return Response(status_code=204, headers=headers)


@router.patch(f"{BASE}/{{upload_id}}")
async def append(upload_id: str, request: Request, caller: CallerDep, state: StateDep) -> Response:
    """Add bytes to an upload as the caller."""
    return await _patch(request, state, caller, upload_id)


@router.patch(f"{SIGNED}/{{upload_id}}")
async def append_signed(upload_id: str, request: Request, state: StateDep) -> Response:
    """Add bytes to an upload with a signed upload token."""
    return await _patch(request, state, None, upload_id)


async def _delete(
    request: Request, state: StorageState, caller: Caller | None, upload_id: str
) -> Response:
    _check_version(request)
    upload = await resumable.load_upload(state, upload_id)
    if caller is None:
        caller, _ = _signed_caller(state, request, upload.bucket, upload.key)
    await resumable.terminate(state, caller, upload)
    return Response(status_code=204, headers=_headers())


@router.delete(f"{BASE}/{{upload_id}}")
async def terminate(
    upload_id: str, request: Request, caller: CallerDep, state: StateDep
) -> Response:
    """Drop an unfinished upload as the caller."""
    return await _delete(request, state, caller, upload_id)


@router.delete(f"{SIGNED}/{{upload_id}}")
async def terminate_signed(upload_id: str, request: Request, state: StateDep) -> Response:
    """Drop an unfinished upload with a signed upload token."""
    return await _delete(request, state, None, upload_id)
