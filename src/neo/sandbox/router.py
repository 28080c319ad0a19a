"""HTTP routes of `/sandbox/v1`: sandboxes, exec (JSON and streamed NDJSON), files,
background commands (`commands_routes.py`), shell sessions (`sessions_routes.py`), the
terminal WebSocket (`pty_routes.py`) and preview URLs (`preview_routes.py`).

Lifecycle routes run in the caller's transaction (`Tx`, committed before the answer;
RLS decides visibility). Exec and file routes look the sandbox up in a short transaction of
their own (`SandboxDep`, `WritableSandboxDep` for actions) and then hold no database
connection while commands run or bytes move. Actions are audited (`AuditDep`, queued); an
exec's activity time is written with the audit batch, not in a transaction of its own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from neo.core.deps import ActorDep, Tx
from neo.sandbox import (
    commands_routes,
    files_routes,
    preview_routes,
    pty_routes,
    service,
    sessions_routes,
)
from neo.sandbox.audit import command_facts
from neo.sandbox.deps import AuditDep, StateDep, WritableSandboxDep
from neo.sandbox.errors import SandboxError
from neo.sandbox.models import CreateSandbox, ExecBody
from neo.sandbox.runtimes.base import ExecEvent
from neo.sandbox.runtimes.output import collect

PREFIX = "/sandbox/v1"
router = APIRouter(prefix=PREFIX, tags=["sandbox"])


@router.post("/sandboxes", status_code=201)
async def create(
    body: CreateSandbox, conn: Tx, state: StateDep, actor: ActorDep, audit: AuditDep
) -> dict[str, Any]:
    """Create and start a sandbox (in `org_id`, a key's org, or the caller's own)."""
    sandbox = await service.create_sandbox(conn, state, actor, body)
    audit("sandbox.created", sandbox, name=sandbox.name, network=sandbox.network.mode)
    return sandbox.public()


@router.get("/sandboxes")
async def list_all(request: Request, conn: Tx, state: StateDep) -> list[dict[str, Any]]:
    """The caller's sandboxes; `label.<key>=<value>` query parameters filter."""
    labels = {
        k.removeprefix("label."): v
        for k, v in request.query_params.items()
        if k.startswith("label.")
    }
    return [s.public() for s in await service.list_sandboxes(conn, labels or None)]


@router.get("/sandboxes/{sandbox_id}")
async def get_one(sandbox_id: str, conn: Tx, state: StateDep) -> dict[str, Any]:
    """One sandbox."""
    return (await service.get_sandbox(conn, sandbox_id)).public()


@router.post("/sandboxes/{sandbox_id}/start")
async def start(sandbox_id: str, conn: Tx, state: StateDep, audit: AuditDep) -> dict[str, Any]:
    """Start a stopped sandbox."""
    sandbox = await service.start_sandbox(conn, state, sandbox_id)
    audit("sandbox.started", sandbox)
    return sandbox.public()


@router.post("/sandboxes/{sandbox_id}/stop")
async def stop(sandbox_id: str, conn: Tx, state: StateDep, audit: AuditDep) -> dict[str, Any]:
    """Stop a sandbox (its files stay)."""
    sandbox = await service.stop_sandbox(conn, state, sandbox_id)
    audit("sandbox.stopped", sandbox)
    return sandbox.public()


@router.delete("/sandboxes/{sandbox_id}", status_code=204)
async def delete(sandbox_id: str, conn: Tx, state: StateDep, audit: AuditDep) -> Response:
    """Delete a sandbox and its files."""
    audit("sandbox.deleted", await service.delete_sandbox(conn, state, sandbox_id))
    return Response(status_code=204)


@router.post("/sandboxes/{sandbox_id}/exec")
async def exec_command(
    body: ExecBody, sandbox: WritableSandboxDep, state: StateDep, audit: AuditDep
) -> dict[str, Any]:
    """Run a command; answer when it ends: `{exit_code, stdout, stderr, timed_out, truncated}`."""
    request = service.exec_request(sandbox, body, state.settings)
    if body.mode == "oneshot":
        result = await state.runtime.run_once(sandbox.spec(), request)
    else:
        events = service.exec_events(state, sandbox, request)
        result = await collect(events, state.settings.max_output_bytes)
    audit.touch(sandbox)
    audit(
        "sandbox.command_run", sandbox, via="exec", mode=body.mode, exit_code=result.exit_code,
        timed_out=result.timed_out, **command_facts(body.command),
    )  # fmt: skip
    return asdict(result)  # exit_code, stdout, stderr, timed_out, truncated


@router.post("/sandboxes/{sandbox_id}/exec/stream")
async def exec_stream(
    body: ExecBody, sandbox: WritableSandboxDep, state: StateDep, audit: AuditDep
) -> StreamingResponse:
    """Run a command, streaming NDJSON lines: `{"stdout": …}`, `{"stderr": …}`, then
    `{"exit_code": …, "timed_out": …}`."""
    events = service.exec_events(
        state, sandbox, service.exec_request(sandbox, body, state.settings)
    )
    first = await anext(events, None)  # errors before any output become a proper status
    audit("sandbox.command_run", sandbox, via="stream", **command_facts(body.command))

    async def lines() -> AsyncIterator[bytes]:
        try:
            event = first
            while event is not None:
                yield _ndjson(event)
                event = await anext(events, None)
        except SandboxError as exc:  # after the status line was sent: say it in the stream
            yield json.dumps({"error": {"code": exc.code, "message": exc.message}}).encode() + b"\n"
        finally:
            await events.aclose()  # a client gone mid-stream hangs up on the agent: it kills
        audit.touch(sandbox)

    return StreamingResponse(lines(), media_type="application/x-ndjson")


def _ndjson(event: ExecEvent) -> bytes:
    if event.kind == "exit":
        item: dict[str, Any] = {"exit_code": event.exit_code, "timed_out": event.timed_out}
    else:
        item = {event.kind: event.data}
    return json.dumps(item).encode() + b"\n"


router.include_router(files_routes.router)
router.include_router(commands_routes.router)
router.include_router(sessions_routes.router)
router.include_router(pty_routes.router)
router.include_router(preview_routes.router)
