"""HTTP routes of a sandbox's files (`/sandbox/v1/sandboxes/{id}/files`): list, info,
download, upload, delete, move and mkdir, done host-side on the workspace by `files.py`."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from neo.sandbox.deps import AuditDep, SandboxDep, StateDep, WritableSandboxDep
from neo.sandbox.errors import FileTooLarge, InvalidPath, WorkspaceFull
from neo.sandbox.files import Workspace
from neo.sandbox.models import MkdirBody, MoveBody

router = APIRouter()
FILES = "/sandboxes/{sandbox_id}/files"
CHUNK = 1 << 16


@router.get(FILES, response_model=None)
async def download(
    sandbox: SandboxDep, state: StateDep, path: str = "", info: bool = False
) -> dict[str, Any] | StreamingResponse:
    """A directory's listing, a path's info (`info=true`), or a file's bytes."""
    workspace = state.workspace(sandbox)
    described = workspace.info(path)
    if info:
        return described
    if described["type"] == "directory":
        return {"path": path or "/", "entries": workspace.list(path)}
    if described["type"] != "file":
        raise InvalidPath(f"not a regular file or directory ({described['type']}): {path}")
    fd, size = workspace.open_read(path)
    headers = {"content-length": str(size)}
    return StreamingResponse(_chunks(fd), media_type="application/octet-stream", headers=headers)


def _chunks(fd: int) -> Iterator[bytes]:
    try:
        while chunk := os.read(fd, CHUNK):
            yield chunk
    finally:
        os.close(fd)


@router.put(FILES, status_code=201)
async def upload(
    request: Request, sandbox: WritableSandboxDep, state: StateDep, audit: AuditDep, path: str
) -> dict[str, Any]:
    """Write the request body to a file (created or replaced)."""
    limit = state.settings.max_upload_mb << 20
    if int(request.headers.get("content-length") or 0) > limit:
        raise FileTooLarge(f"uploads are limited to {state.settings.max_upload_mb} MiB")
    workspace = state.workspace(sandbox)
    fd = workspace.open_write(path)
    try:
        await _write_body(request, fd, limit)
    except BaseException:
        workspace.delete(path)
        raise
    finally:
        os.close(fd)
    info = workspace.info(path)
    audit("sandbox.file_uploaded", sandbox, path=path, size=info.get("size"))
    return info


async def _write_body(request: Request, fd: int, limit: int) -> None:
    written = 0
    async for chunk in request.stream():
        written += len(chunk)
        if written > limit:
            raise FileTooLarge(f"uploads are limited to {limit >> 20} MiB")
        view = memoryview(chunk)
        while view:  # a write near the quota can be short; the next one says ENOSPC
            try:
                view = view[os.write(fd, view) :]
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                    raise WorkspaceFull() from None
                raise


@router.delete(FILES, status_code=204)
async def remove(
    sandbox: WritableSandboxDep,
    state: StateDep,
    audit: AuditDep,
    path: str,
    recursive: bool = False,
) -> Response:
    """Delete a file, symlink or directory (`recursive=true` for a non-empty one)."""
    state.workspace(sandbox).delete(path, recursive=recursive)
    audit("sandbox.file_deleted", sandbox, path=path, recursive=recursive)
    return Response(status_code=204)


@router.post(FILES + "/move")
async def move(
    body: MoveBody, sandbox: WritableSandboxDep, state: StateDep, audit: AuditDep
) -> dict[str, Any]:
    """Rename a path within the workspace."""
    workspace: Workspace = state.workspace(sandbox)
    workspace.move(body.source, body.destination, overwrite=body.overwrite)
    audit("sandbox.file_moved", sandbox, source=body.source, destination=body.destination)
    return workspace.info(body.destination)


@router.post(FILES + "/mkdir", status_code=201)
async def mkdir(
    body: MkdirBody, sandbox: WritableSandboxDep, state: StateDep, audit: AuditDep
) -> dict[str, Any]:
    """Create a directory."""
    workspace = state.workspace(sandbox)
    workspace.mkdir(body.path, parents=body.parents)
    audit("sandbox.directory_created", sandbox, path=body.path)
    return workspace.info(body.path)
