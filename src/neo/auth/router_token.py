"""Routes for sessions: POST /signup, POST /token (password, refresh_token, pkce), /logout.

`/token` is the hottest route of the capability (every client refreshes its session on a
timer), so it is a plain Starlette endpoint: no dependency solving, no response model, the
body serialized once; the app's `Edge` layer serves it before FastAPI's own layers. It makes
the same checks as the FastAPI routes (Kong's apikey check first).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.responses import JSONResponse

from neo.auth import service, sessions
from neo.auth.deps import (
    ClientDep,
    StateDep,
    UserDep,
    get_client,
    get_state,
    read_body,
    read_fields,
    text_field,
)
from neo.auth.errors import InvalidCredentials
from neo.auth.params import PasswordGrant, PkceGrant, SignupParams
from neo.core.deps import require_apikey

router = APIRouter(dependencies=[Depends(require_apikey)])  # Kong's key-auth


@router.post("/signup")
async def signup(
    request: Request, state: StateDep, client: ClientDep, redirect_to: str | None = None
) -> dict[str, Any]:
    """Email + password sign-up, or anonymous sign-up when neither email nor phone is given."""
    params = await read_body(request, SignupParams)
    return await service.sign_up(state, params, client, redirect_to)


async def token(request: Request) -> Response:
    """The token endpoint (registered in `router.py`); `grant_type` is a query parameter."""
    await require_apikey(request)
    state, client = get_state(request), get_client(request)
    grant_type = request.query_params.get("grant_type", "")
    if grant_type == "refresh_token":
        # one field: read without a model (pydantic's validation showed in the profile)
        refresh_token = text_field(await read_fields(request), "refresh_token")
        answer = await sessions.refresh(state, refresh_token or "", client)
    elif grant_type == "password":
        params = await read_body(request, PasswordGrant)
        answer = await service.sign_in_with_password(state, params, client)
    elif grant_type == "pkce":
        answer = await service.exchange_code(state, await read_body(request, PkceGrant), client)
    else:
        raise InvalidCredentials("unsupported_grant_type")
    return JSONResponse(answer)


@router.post("/logout", status_code=204)
async def logout(
    state: StateDep, actor: UserDep, client: ClientDep, scope: str = "global"
) -> Response:
    """End this session (local), all (global) or all others (others)."""
    await service.logout(state, actor, scope, client)
    return Response(status_code=204)
