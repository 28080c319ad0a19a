"""Routes of preview URLs: `GET /sandboxes/{id}/ports/{port}/preview-url` (the caller's
sandbox: a URL with a token), and `/preview/{id}/{port}/{path}` (any method, or a WebSocket;
the token is the only credential), proxied to the port inside the sandbox by `preview.py`
(HTTP) and `preview_ws.py` (WebSocket)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, WebSocket

from neo.core.deps import CoreDep
from neo.core.errors import NeoError
from neo.core.runtime import Core
from neo.sandbox import preview, preview_ws, store
from neo.sandbox.deps import AuditDep, StateDep, WritableSandboxDep
from neo.sandbox.errors import PortsDisabled, PreviewDenied, SandboxNotFound, SandboxNotRunning
from neo.sandbox.models import Sandbox
from neo.sandbox.pty_routes import refuse
from neo.sandbox.service import Sandboxes, record_activity

router = APIRouter()
Port = Annotated[int, Path(ge=1, le=65535)]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.get("/sandboxes/{sandbox_id}/ports/{port}/preview-url")
async def preview_url(
    port: Port,
    sandbox: WritableSandboxDep,
    state: StateDep,
    core: CoreDep,
    request: Request,
    audit: AuditDep,
) -> dict[str, Any]:
    """A URL (with its token) that reaches `port` inside the sandbox until it expires."""
    if not state.settings.loopback_ports:
        raise PortsDisabled("sandboxes here cannot serve ports (NEO_SANDBOX__LOOPBACK_PORTS)")
    expires = int(time.time()) + state.settings.preview_ttl_seconds
    token = preview.make_token(core.keys.jwt_secret, sandbox.id, port, expires)
    url = request.url_for("sandbox_preview", sandbox_id=sandbox.id, port=str(port), path="")
    audit("sandbox.preview_url_issued", sandbox, port=port, expires_at=expires)  # never the token
    return {
        "url": f"{url}?{preview.TOKEN_PARAM}={token}",
        "token": token,
        "expires_at": datetime.fromtimestamp(expires, UTC).isoformat(),
    }


@router.api_route(
    "/preview/{sandbox_id}/{port}/{path:path}", methods=METHODS, name="sandbox_preview"
)
async def sandbox_preview(
    sandbox_id: str, port: Port, path: str, request: Request, core: CoreDep
) -> Response:
    """Proxy to the port inside the sandbox, for a valid token."""
    state: Sandboxes = request.app.state.sandbox
    from_query = request.query_params.get(preview.TOKEN_PARAM)
    token = _token(request.headers, from_query, request.cookies)
    sandbox = await _open(core, token, sandbox_id, port)
    upstream = preview.Upstream(state.runtime, sandbox.id, port, state.settings.max_upload_mb << 20)
    response = await preview.proxy(upstream, request, path)
    if from_query:
        scope = request.url_for("sandbox_preview", sandbox_id=sandbox.id, port=str(port), path="")
        response.set_cookie(
            preview.TOKEN_COOKIE, token, path=scope.path, httponly=True, samesite="lax",
            secure=request.url.scheme == "https",
            max_age=max(int(token.partition(".")[0]) - int(time.time()), 0),
        )  # fmt: skip
    return response


def _token(headers: Mapping[str, str], from_query: str | None, cookies: Mapping[str, str]) -> str:
    return (
        headers.get(preview.TOKEN_HEADER) or from_query or cookies.get(preview.TOKEN_COOKIE) or ""
    )


async def _open(core: Core, token: str, sandbox_id: str, port: int) -> Sandbox:
    """The started sandbox a valid token opens (its activity noted)."""
    preview.check_token(core.keys.jwt_secret, token, sandbox_id, port)
    async with core.db.transaction() as conn:  # the token is the caller's right to see it
        sandbox = await store.select_sandbox(conn, sandbox_id)
        if sandbox is None:
            raise SandboxNotFound()
        if sandbox.state != "started":
            raise SandboxNotRunning(f"sandbox {sandbox.id} is {sandbox.state}")
        await record_activity(conn, sandbox.id)
    return sandbox


@router.websocket("/preview/{sandbox_id}/{port}/{path:path}")
async def sandbox_preview_ws(websocket: WebSocket, sandbox_id: str, port: int, path: str) -> None:
    """Bridge a WebSocket to one served on the port inside the sandbox."""
    core: Core = websocket.app.state.core
    state: Sandboxes = websocket.app.state.sandbox
    token = _token(
        websocket.headers, websocket.query_params.get(preview.TOKEN_PARAM), websocket.cookies
    )
    try:
        if not 1 <= port <= 65535:
            raise PreviewDenied("preview token not valid for this sandbox and port")
        sandbox = await _open(core, token, sandbox_id, port)
        upstream = preview.Upstream(state.runtime, sandbox.id, port, 0)
        side = await preview_ws.open_upstream(upstream, websocket, path)
    except NeoError as exc:
        await refuse(websocket, exc)
        return
    await websocket.accept(subprotocol=side.protocol.subprotocol)
    await preview_ws.bridge(websocket, side)
