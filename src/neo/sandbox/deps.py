"""FastAPI dependencies of the sandbox API: the capability's state and the caller's
sandbox, looked up in a short transaction acting as the caller (RLS: 404 for others')."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from neo.core.deps import ActorDep, CoreDep, request_context
from neo.sandbox import service
from neo.sandbox.models import Sandbox
from neo.sandbox.service import Sandboxes


def get_state(request: Request, actor: ActorDep) -> Sandboxes:
    """The capability's state; refuses callers that are neither a user nor the service role."""
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


SandboxDep = Annotated[Sandbox, Depends(caller_sandbox)]
