"""Routes for sessions: POST /signup, POST /token (password, refresh_token, pkce), /logout."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from neo.auth import service, sessions
from neo.auth.deps import ClientDep, StateDep, UserDep, read_body
from neo.auth.errors import InvalidCredentials
from neo.auth.params import PasswordGrant, PkceGrant, RefreshGrant, SignupParams
from neo.core.deps import require_apikey

router = APIRouter(dependencies=[Depends(require_apikey)])  # Kong's key-auth


@router.post("/signup")
async def signup(
    request: Request, state: StateDep, client: ClientDep, redirect_to: str | None = None
) -> dict[str, Any]:
    """Email + password sign-up, or anonymous sign-up when neither email nor phone is given."""
    params = await read_body(request, SignupParams)
    return await service.sign_up(state, params, client, redirect_to)


@router.post("/token")
async def token(
    request: Request, state: StateDep, client: ClientDep, grant_type: str = ""
) -> dict[str, Any]:
    """The token endpoint; `grant_type` is a query parameter."""
    if grant_type == "password":
        return await service.sign_in_with_password(
            state, await read_body(request, PasswordGrant), client
        )
    if grant_type == "refresh_token":
        body = await read_body(request, RefreshGrant)
        return await sessions.refresh(state, body.refresh_token or "", client)
    if grant_type == "pkce":
        return await service.exchange_code(state, await read_body(request, PkceGrant), client)
    raise InvalidCredentials("unsupported_grant_type")


@router.post("/logout", status_code=204)
async def logout(
    state: StateDep, actor: UserDep, client: ClientDep, scope: str = "global"
) -> Response:
    """End this session (local), all (global) or all others (others)."""
    await service.logout(state, actor, scope, client)
    return Response(status_code=204)
