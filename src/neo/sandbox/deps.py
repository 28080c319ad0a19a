"""FastAPI dependencies of the sandbox API: the capability's state, the caller's sandbox
(looked up in a short transaction acting as the caller; RLS: 404 for others', 403 for a
read-only caller that tries to act) and the audit recorder bound to the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from neo.core.deps import ActorDep, CoreDep, request_context
from neo.core.errors import request_id_of
from neo.sandbox import service
from neo.sandbox.audit import AuditTrail, Caller
from neo.sandbox.models import Sandbox
from neo.sandbox.service import Sandboxes


def get_state(request: Request, actor: ActorDep) -> Sandboxes:
    """The capability's state; refuses callers that are neither a user, a key nor the
    service role."""
    service.owner_of(actor)
    state: Sandboxes = request.app.state.sandbox
    return state


StateDep = Annotated[Sandboxes, Depends(get_state)]


async def caller_sandbox(
    sandbox_id: str, request: Request, core: CoreDep, actor: ActorDep, state: StateDep
) -> Sandbox:
    """The sandbox of the path, if the caller may see it (a transaction of its own, so long
    commands and file transfers hold no database connection)."""
    async with core.db.transaction_as(actor, request_context(request), readonly=True) as conn:
        return await service.get_sandbox(conn, sandbox_id)


async def writable_sandbox(
    sandbox_id: str, request: Request, core: CoreDep, actor: ActorDep, state: StateDep
) -> Sandbox:
    """The sandbox of the path, if the caller may also act on it (exec, files, commands)."""
    async with core.db.transaction_as(actor, request_context(request), readonly=True) as conn:
        return await service.get_sandbox(conn, sandbox_id, write=True)


SandboxDep = Annotated[Sandbox, Depends(caller_sandbox)]
WritableSandboxDep = Annotated[Sandbox, Depends(writable_sandbox)]


@dataclass(frozen=True)
class Audit:
    """Records the request's actions in the audit trail (queued: no I/O here)."""

    trail: AuditTrail | None
    caller: Caller

    def __call__(self, action: str, sandbox: Sandbox, **details: Any) -> None:
        if self.trail is not None:
            self.trail.record(self.caller, action, sandbox, details)

    def touch(self, sandbox: Sandbox) -> None:
        """Note the sandbox's activity (the idle sweep's clock), written with the batch."""
        if self.trail is not None:
            self.trail.touch(sandbox.id)


async def get_audit(request: Request, actor: ActorDep) -> Audit:
    """The audit recorder of this request's caller."""
    state: Sandboxes = request.app.state.sandbox
    caller = Caller.of(
        actor,
        request.client.host if request.client else "",
        request.headers.get("user-agent", ""),
        request_id_of(request),
    )
    return Audit(state.trail, caller)


AuditDep = Annotated[Audit, Depends(get_audit)]
