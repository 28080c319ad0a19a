"""HTTP routes of a sandbox's shell sessions (`/sandbox/v1/sandboxes/{id}/sessions`):
create, list, get, exec (sync, or in the background), delete; `sessions.py` does the work."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from neo.sandbox import sessions
from neo.sandbox.audit import command_facts
from neo.sandbox.deps import AuditDep, SandboxDep, StateDep, WritableSandboxDep
from neo.sandbox.models import SESSION_ID_PATTERN, SessionBody, SessionExecBody

router = APIRouter()
SESSIONS = "/sandboxes/{sandbox_id}/sessions"
SessionId = Annotated[str, Path(pattern=SESSION_ID_PATTERN)]


@router.post(SESSIONS, status_code=201)
async def create(
    body: SessionBody, sandbox: WritableSandboxDep, state: StateDep, audit: AuditDep
) -> dict[str, Any]:
    """Start a session."""
    made = await sessions.create_session(state, sandbox, body)
    audit("sandbox.session_created", sandbox, session_id=made["id"])
    return made


@router.get(SESSIONS)
async def list_all(sandbox: SandboxDep, state: StateDep) -> list[dict[str, Any]]:
    """The sandbox's sessions."""
    return await sessions.list_sessions(state, sandbox)


@router.get(SESSIONS + "/{session_id}")
async def get_one(session_id: SessionId, sandbox: SandboxDep, state: StateDep) -> dict[str, Any]:
    """A session and its current directory."""
    return await sessions.get_session(state, sandbox, session_id)


@router.post(SESSIONS + "/{session_id}/exec")
async def exec_command(
    session_id: SessionId,
    body: SessionExecBody,
    sandbox: WritableSandboxDep,
    state: StateDep,
    audit: AuditDep,
) -> dict[str, Any]:
    """Run a command in the session (`background: true`: answer with its command's status)."""
    result = await sessions.exec_in_session(state, sandbox, session_id, body)
    action = "sandbox.command_started" if body.background else "sandbox.command_run"
    audit(action, sandbox, via="session", session_id=session_id, **command_facts(body.command))
    return result


@router.delete(SESSIONS + "/{session_id}", status_code=204)
async def delete(
    session_id: SessionId, sandbox: WritableSandboxDep, state: StateDep, audit: AuditDep
) -> Response:
    """Forget a session."""
    await sessions.delete_session(state, sandbox, session_id)
    audit("sandbox.session_deleted", sandbox, session_id=session_id)
    return Response(status_code=204)
