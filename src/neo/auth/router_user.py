"""Routes for the signed-in user: GET/PUT /user, GET /reauthenticate, and the NEO extension
`GET /sessions`, `DELETE /sessions/{id}` (GoTrue has no session list)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from neo.auth import service, service_user
from neo.auth.deps import ClientDep, StateDep, UserDep, read_body
from neo.auth.params import UserUpdate
from neo.core.deps import require_apikey

router = APIRouter(dependencies=[Depends(require_apikey)])  # Kong's key-auth


@router.get("/user")
async def get_user(state: StateDep, actor: UserDep) -> dict[str, Any]:
    """The caller's User."""
    return await service.get_user(state, actor)


@router.put("/user")
async def update_user(
    request: Request,
    state: StateDep,
    actor: UserDep,
    client: ClientDep,
    redirect_to: str | None = None,
) -> dict[str, Any]:
    """Change the caller's password, email or user_metadata."""
    params = await read_body(request, UserUpdate)
    return await service_user.update_user(state, actor, params, client, redirect_to)


@router.get("/reauthenticate")
async def reauthenticate(state: StateDep, actor: UserDep) -> dict[str, Any]:
    """Mail a nonce that a following password change presents."""
    await service_user.reauthenticate(state, actor)
    return {}


@router.get("/sessions")
async def list_sessions(state: StateDep, actor: UserDep) -> list[dict[str, Any]]:
    """The caller's sessions, the current one marked."""
    return await service_user.list_sessions(state, actor)


@router.delete("/sessions/{session_id}", status_code=204)
async def revoke_session(
    session_id: str, state: StateDep, actor: UserDep, client: ClientDep
) -> Response:
    """End one of the caller's sessions."""
    await service_user.revoke_session(state, actor, session_id, client)
    return Response(status_code=204)
