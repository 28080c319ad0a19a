"""Use cases of memberships and invitations. Each takes the caller's connection (never
commits) and writes an audit row for every change it makes.

Admins manage members and invitations; only owners grant, change or remove the owner role.
The database keeps at least one owner per organization (`LastOwner`), and accepting an
invitation is one database function: on any failure nothing is written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from neo.auth import AuthState
from neo.core.db import Connection
from neo.identity import invites, store
from neo.identity.access import audit, authorize, holds, parse_id
from neo.identity.deps import Caller
from neo.identity.errors import (
    AlreadyMember,
    EmailMismatch,
    IdentityError,
    InvalidInput,
    InvitationExpired,
    InvitationNotFound,
    InvitationRevoked,
    InvitationUsed,
    MemberNotFound,
    NotAUser,
    RoleTooLow,
)
from neo.identity.models import ROLES, AddMember, ChangeRole, CreateInvitation, public

ACCEPT_ERRORS = {
    "not_found": InvitationNotFound,
    "revoked": InvitationRevoked,
    "used": InvitationUsed,
    "expired": InvitationExpired,
    "email_mismatch": EmailMismatch,
    "already_member": AlreadyMember,
}


async def list_members(conn: Connection, caller: Caller, org_id: str) -> list[dict[str, Any]]:
    """An organization's members (any member)."""
    org = await authorize(conn, caller, org_id, "viewer", "members:read")
    return [public(row) for row in await store.list_members(conn, org)]


async def add_member(
    conn: Connection, caller: Caller, org_id: str, body: AddMember
) -> dict[str, Any]:
    """Add an existing user (admins; owners to add an owner)."""
    org = await authorize(conn, caller, org_id, "admin", "members:write")
    role, custom = await resolve_role(conn, org, body.role)
    if role == "owner" and not await holds(conn, caller, org, "owner"):
        raise RoleTooLow()
    try:
        user = UUID(body.user_id)
    except ValueError:
        raise InvalidInput("user_id must be a user id") from None
    row = await store.insert_member(conn, org, user, role, custom)
    await audit(conn, caller, "member.added", ("user", user), org=org, details={"role": body.role})
    return public(row)


async def change_role(
    conn: Connection, caller: Caller, org_id: str, user_id: str, body: ChangeRole
) -> dict[str, Any]:
    """Change a member's role (admins; owners when the owner role is involved)."""
    org = await authorize(conn, caller, org_id, "admin", "members:write")
    user = parse_id(user_id, MemberNotFound)
    current = await store.select_member(conn, org, user)
    if current is None:
        raise MemberNotFound()
    role, custom = await resolve_role(conn, org, body.role)
    if "owner" in (current["role"], role) and not await holds(conn, caller, org, "owner"):
        raise RoleTooLow()
    row = await store.update_member(conn, org, user, role, custom)
    if row is None:  # RLS refused: the caller lost its role since the check above
        raise await _refused(conn, org, user)
    details = {"role": body.role, "previous_role": current["custom_role"] or current["role"]}
    await audit(conn, caller, "member.role_changed", ("user", user), org=org, details=details)
    return public(row)


async def remove_member(conn: Connection, caller: Caller, org_id: str, user_id: str) -> None:
    """Remove a member (admins; owners to remove an owner); anyone may leave."""
    leaving = user_id == caller.user_id
    org = await authorize(conn, caller, org_id, "viewer" if leaving else "admin", "members:write")
    user = parse_id(user_id, MemberNotFound)
    current = await store.select_member(conn, org, user)
    if current is None:
        raise MemberNotFound()
    if current["role"] == "owner" and not leaving and not await holds(conn, caller, org, "owner"):
        raise RoleTooLow()
    if not await store.delete_member(conn, org, user):
        raise await _refused(conn, org, user)
    await audit(conn, caller, "member.removed", ("user", user), org=org,
                details={"role": current["role"]})  # fmt: skip


async def create_invitation(
    conn: Connection, caller: Caller, auth: AuthState, org_id: str, body: CreateInvitation
) -> dict[str, Any]:
    """Invite an email address and mail it a link with a fresh token (admins)."""
    org = await authorize(conn, caller, org_id, "admin", "invitations:write")
    if body.role == "owner" and not await holds(conn, caller, org, "owner"):
        raise RoleTooLow()
    token = invites.new_token()
    expires = datetime.now(UTC) + timedelta(hours=body.expires_in_hours)
    row = await store.insert_invitation(
        conn, org, email=body.email, role=body.role,
        token_hash=invites.hash_token(token), expires_at=expires,
    )  # fmt: skip
    details = {"email": body.email, "role": body.role}
    await audit(conn, caller, "invitation.created", ("invitation", row["id"]), org=org,
                details=details)  # fmt: skip
    org_row = await store.select_org(conn, org)
    assert org_row is not None
    await invites.send_invitation(
        auth, email=body.email, token=token, org_name=org_row["name"], role=body.role
    )
    return _invitation(row)


async def list_invitations(conn: Connection, caller: Caller, org_id: str) -> list[dict[str, Any]]:
    """An organization's invitations (admins)."""
    org = await authorize(conn, caller, org_id, "admin", "invitations:read")
    return [_invitation(row) for row in await store.list_invitations(conn, org)]


async def revoke_invitation(
    conn: Connection, caller: Caller, org_id: str, invitation_id: str
) -> dict[str, Any]:
    """Revoke a pending invitation (admins)."""
    org = await authorize(conn, caller, org_id, "admin", "invitations:write")
    inv = parse_id(invitation_id, InvitationNotFound)
    row = await store.revoke_invitation(conn, org, inv)
    if row is None:
        existing = await store.select_invitation(conn, org, inv)
        if existing is None:
            raise InvitationNotFound()
        raise InvitationUsed() if existing["accepted_at"] else InvitationRevoked()
    await audit(conn, caller, "invitation.revoked", ("invitation", inv), org=org)
    return _invitation(row)


async def accept_invitation(conn: Connection, caller: Caller, token: str) -> dict[str, Any]:
    """Join the invitation's organization as the signed-in user it was sent to."""
    if caller.user_id is None:
        raise NotAUser()
    row = await store.accept_invitation(conn, invites.hash_token(token))
    if row["status"] != "accepted":
        raise ACCEPT_ERRORS[row["status"]]()
    user = UUID(caller.user_id)
    await audit(conn, caller, "invitation.accepted", ("user", user), org=row["org"],
                details={"role": row["granted"]})  # fmt: skip
    return {"org_id": str(row["org"]), "user_id": str(user), "role": row["granted"]}


async def resolve_role(conn: Connection, org: UUID, name: str) -> tuple[str, str | None]:
    """(built-in role, custom role or None) for a role name given in a request."""
    if name in ROLES:
        return name, None
    row = await store.select_role(conn, org, name)
    if row is None:
        raise InvalidInput("role must be owner, admin, member, viewer or a custom role of the org")
    return str(row["base"]), name


async def _refused(conn: Connection, org: UUID, user: UUID) -> IdentityError:
    """Why a write RLS let through no row: the member is gone, or the caller's role is."""
    return MemberNotFound() if await store.select_member(conn, org, user) is None else RoleTooLow()


def _invitation(row: Any) -> dict[str, Any]:
    return public(row, drop=("token_hash",))
