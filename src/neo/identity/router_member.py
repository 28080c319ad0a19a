"""HTTP routes of `/identity/v1` for members and invitations, on the router of `router.py`.

Invitations are mailed through auth's mailer; `POST /invitations/accept {token}` joins the
signed-in user whose email the invitation was sent to.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from neo.core.deps import Tx
from neo.identity import service_member as service
from neo.identity.deps import CallerDep, auth_state, body_doc, parse_body
from neo.identity.models import AcceptInvitation, AddMember, ChangeRole, CreateInvitation
from neo.identity.router import ORG, router

MEMBER = ORG + "/members/{user_id}"
INVITATION = ORG + "/invitations/{invitation_id}"


@router.get(ORG + "/members")
async def list_members(org_id: str, conn: Tx, caller: CallerDep) -> list[dict[str, Any]]:
    """An organization's members and their roles (any member)."""
    return await service.list_members(conn, caller, org_id)


@router.post(ORG + "/members", status_code=201, openapi_extra=body_doc(AddMember))
async def add_member(org_id: str, request: Request, conn: Tx, caller: CallerDep) -> dict[str, Any]:
    """Add an existing user by id (admins; owners to add an owner)."""
    body = await parse_body(request, AddMember)
    return await service.add_member(conn, caller, org_id, body)


@router.patch(MEMBER, openapi_extra=body_doc(ChangeRole))
async def change_role(
    org_id: str, user_id: str, request: Request, conn: Tx, caller: CallerDep
) -> dict[str, Any]:
    """Change a member's role; the last owner cannot be demoted."""
    body = await parse_body(request, ChangeRole)
    return await service.change_role(conn, caller, org_id, user_id, body)


@router.delete(MEMBER, status_code=204)
async def remove_member(org_id: str, user_id: str, conn: Tx, caller: CallerDep) -> Response:
    """Remove a member (or leave); the last owner cannot be removed."""
    await service.remove_member(conn, caller, org_id, user_id)
    return Response(status_code=204)


@router.get(ORG + "/invitations")
async def list_invitations(org_id: str, conn: Tx, caller: CallerDep) -> list[dict[str, Any]]:
    """An organization's invitations (admins, owners); tokens are never shown."""
    return await service.list_invitations(conn, caller, org_id)


@router.post(ORG + "/invitations", status_code=201, openapi_extra=body_doc(CreateInvitation))
async def create_invitation(
    org_id: str, request: Request, conn: Tx, caller: CallerDep
) -> dict[str, Any]:
    """Invite an email address; the mail carries a one-time link (admins, owners)."""
    body = await parse_body(request, CreateInvitation)
    return await service.create_invitation(conn, caller, auth_state(request), org_id, body)


@router.delete(INVITATION)
async def revoke_invitation(
    org_id: str, invitation_id: str, conn: Tx, caller: CallerDep
) -> dict[str, Any]:
    """Revoke a pending invitation (admins, owners)."""
    return await service.revoke_invitation(conn, caller, org_id, invitation_id)


@router.post("/invitations/accept", openapi_extra=body_doc(AcceptInvitation))
async def accept_invitation(request: Request, conn: Tx, caller: CallerDep) -> dict[str, Any]:
    """Join an organization with the token from an invitation mail (the invitee only)."""
    body = await parse_body(request, AcceptInvitation)
    return await service.accept_invitation(conn, caller, body.token)
