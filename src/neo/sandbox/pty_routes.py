"""The terminal route: `GET /sandbox/v1/sandboxes/{id}/pty` upgraded to a WebSocket, bridged
to a pseudo-terminal the sandbox's agent runs.

Query: `command` (default: a shell), `cwd`, `cols`, `rows`; browsers, which cannot set headers
on a WebSocket, may pass `apikey` and `access_token` there too. Once open, binary messages are
terminal bytes both ways; the client's text messages are JSON controls (`{"type": "resize",
"cols", "rows"}`, or `{"type": "input", "data"}` for text input); when the command ends the
server sends `{"type": "exit", "exit_code"}` and closes (1000). A refusal before the upgrade
is an HTTP answer in the API's error shape (4xx); a client that goes away hangs up the
terminal, which kills its processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from neo.core.actor import Actor, RequestContext
from neo.core.errors import NeoError
from neo.core.runtime import Core
from neo.sandbox import service
from neo.sandbox.audit import Caller, command_facts
from neo.sandbox.errors import InvalidTerminal
from neo.sandbox.models import PtyParams, Sandbox
from neo.sandbox.runtimes.base import PtyRequest, Terminal

log = structlog.get_logger("neo.sandbox")
router = APIRouter()


async def _actor(core: Core, websocket: WebSocket) -> Actor:
    """The caller, as the gateway resolves an HTTP request's (registered keys, such as
    `neo_sk_`, resolved first: the gateway's middleware does that for HTTP only)."""
    headers = dict(websocket.headers)
    token = websocket.query_params.get("access_token")
    if token and "authorization" not in headers:
        headers["authorization"] = f"Bearer {token}"
    bearer = headers.get("authorization", "").partition(" ")[2].strip()
    apikey = headers.get("apikey") or websocket.query_params.get("apikey", "")
    found = await core.gateway.preresolve([k for k in (bearer, apikey) if k])
    with core.gateway.resolved(found):
        return core.gateway.resolve(headers, websocket.query_params)


def _params(websocket: WebSocket) -> PtyRequest:
    query = {k: v for k, v in websocket.query_params.items() if k not in {"apikey", "access_token"}}
    try:
        params = PtyParams.model_validate(query)
    except ValidationError as exc:
        fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
        raise InvalidTerminal(f"invalid terminal parameters: {', '.join(fields)}") from None
    return PtyRequest(params.command, params.cwd, {}, params.cols, params.rows)


async def _sandbox(core: Core, actor: Actor, websocket: WebSocket, sandbox_id: str) -> Sandbox:
    headers = {k: v for k, v in websocket.headers.items() if k != "cookie"}
    context = RequestContext(method="GET", path=websocket.url.path, headers=headers)
    async with core.db.transaction_as(actor, context, readonly=True) as conn:
        return await service.get_sandbox(conn, sandbox_id, write=True)


async def refuse(websocket: WebSocket, error: NeoError) -> None:
    """Answer a WebSocket request with an HTTP error in the API's shape (no upgrade), under
    the request id the app's front layer gave the session."""
    request_id = websocket.scope.get("state", {}).get("request_id") or uuid.uuid4().hex
    message = error.message if error.status < 500 or error.expose else "Internal error"
    body = {"code": error.code, "message": message, "request_id": request_id}
    log.info("sandbox.terminal_refused", code=error.code, request_id=request_id)
    await websocket.send_denial_response(JSONResponse(body, status_code=error.status))


@router.websocket("/sandboxes/{sandbox_id}/pty")
async def terminal(websocket: WebSocket, sandbox_id: str) -> None:
    """A terminal in a running sandbox."""
    core: Core = websocket.app.state.core
    state: service.Sandboxes = websocket.app.state.sandbox
    try:
        actor = await _actor(core, websocket)
        service.owner_of(actor)
        sandbox = await _sandbox(core, actor, websocket, sandbox_id)
        params = _params(websocket)
        opened = await service.open_terminal(state, sandbox, params)
    except NeoError as exc:
        await refuse(websocket, exc)
        return
    await websocket.accept()
    log.info("sandbox.terminal_opened", sandbox=sandbox.id, pid=opened.pid)
    if state.trail is not None:
        caller = Caller.of(
            actor,
            websocket.client.host if websocket.client else "",
            websocket.headers.get("user-agent", ""),
            str(websocket.scope.get("state", {}).get("request_id") or ""),
        )
        state.trail.record(
            caller, "sandbox.terminal_opened", sandbox, command_facts(params.command)
        )
    try:
        await _bridge(websocket, opened)
    finally:
        await opened.close()
        async with core.db.transaction() as conn:
            await service.record_activity(conn, sandbox.id)


async def _bridge(websocket: WebSocket, opened: Terminal) -> None:
    """Copy both ways until the command ends or the client goes away."""
    inbound = asyncio.create_task(_from_client(websocket, opened))
    try:
        while isinstance(chunk := await opened.read(), bytes):
            await websocket.send_bytes(chunk)
        await websocket.send_text(json.dumps({"type": "exit", "exit_code": chunk}))
        await websocket.close(1000)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass  # the client went away while output was on its way
    finally:
        inbound.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await inbound


async def _from_client(websocket: WebSocket, opened: Terminal) -> None:
    """Input and controls from the client; a disconnect hangs the terminal up."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                await opened.write(message["bytes"])
            elif message.get("text") is not None:
                await _control(opened, message["text"])
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    await opened.close()


async def _control(opened: Terminal, text: str) -> None:
    try:
        control: dict[str, Any] = json.loads(text)
        if control.get("type") == "resize":
            cols, rows = int(control["cols"]), int(control["rows"])
            if 1 <= cols <= 1000 and 1 <= rows <= 1000:
                await opened.resize(cols, rows)
        elif control.get("type") == "input":
            await opened.write(str(control["data"]).encode())
    except (ValueError, KeyError, TypeError, AttributeError):
        pass  # a malformed control message is ignored, the terminal goes on
