"""Routes for the signed-in user: GET/PUT /user, GET /reauthenticate."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

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
