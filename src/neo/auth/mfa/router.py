"""MFA routes: /factors (enroll, challenge, verify, unenroll) and the admin's factor routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from neo.auth.deps import AdminDep, ClientDep, StateDep, UserDep, read_body
from neo.auth.mfa import service
from neo.auth.params import Params
from neo.core.deps import require_apikey

router = APIRouter(dependencies=[Depends(require_apikey)])  # Kong's key-auth


class EnrollParams(Params):
    factor_type: str | None = None
    friendly_name: str | None = None
    issuer: str | None = None


class VerifyFactorParams(Params):
    challenge_id: str | None = None
    code: str | None = None


@router.post("/factors")
async def enroll(request: Request, state: StateDep, actor: UserDep) -> dict[str, Any]:
    """Enroll a TOTP factor."""
    params = await read_body(request, EnrollParams)
    return await service.enroll(
        state, actor, factor_type=params.factor_type or "",
        friendly_name=params.friendly_name or "", issuer=params.issuer,
    )  # fmt: skip


@router.post("/factors/{factor_id}/challenge")
async def challenge(
    factor_id: str, state: StateDep, actor: UserDep, client: ClientDep
) -> dict[str, Any]:
    """Open a challenge for a factor."""
    return await service.challenge(state, actor, factor_id, client)


@router.post("/factors/{factor_id}/verify")
async def verify(
    factor_id: str, request: Request, state: StateDep, actor: UserDep, client: ClientDep
) -> dict[str, Any]:
    """Answer a challenge with a TOTP code: a Session at aal2."""
    params = await read_body(request, VerifyFactorParams)
    return await service.verify(
        state, actor, factor_id, challenge_id=params.challenge_id or "",
        code=params.code or "", client=client,
    )  # fmt: skip


@router.delete("/factors/{factor_id}")
async def unenroll(factor_id: str, state: StateDep, actor: UserDep) -> dict[str, Any]:
    """Remove a factor."""
    return await service.unenroll(state, actor, factor_id)


@router.get("/admin/users/{user_id}/factors")
async def list_factors(user_id: str, state: StateDep, _: AdminDep) -> list[dict[str, Any]]:
    """A user's factors."""
    return await service.list_user_factors(state, user_id)


@router.delete("/admin/users/{user_id}/factors/{factor_id}")
async def delete_factor(
    user_id: str, factor_id: str, state: StateDep, _: AdminDep
) -> dict[str, Any]:
    """Remove one of a user's factors."""
    return await service.delete_user_factor(state, user_id, factor_id)
