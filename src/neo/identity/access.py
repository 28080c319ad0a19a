"""Who may do what: the org-role check every route runs first, and the audit row every
mutation writes, both in the caller's transaction.

Rights are read from `neo_identity.memberships` (and service accounts, custom roles and keys)
through `neo.is_org_member` / `neo.has_org_role` / `neo.has_org_permission` on each call,
never from JWT claims, so a demotion or a narrowed role applies to the very next request.
What the caller cannot see is a 404; what it sees but may not do is a 403.
RLS policies enforce the same rules again underneath.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from neo.core.db import Connection
from neo.identity import store
from neo.identity.deps import Caller
from neo.identity.errors import IdentityError, NotAUser, OrgNotFound, RoleTooLow, ScopeTooNarrow
from neo.identity.models import Role


def parse_id(value: str, missing: type[IdentityError]) -> UUID:
    """A path id as a UUID; a malformed id names nothing the caller can see (404)."""
    try:
        return UUID(value)
    except ValueError:
        raise missing() from None


async def authorize(
    conn: Connection, caller: Caller, org_id: str, need: Role, permission: str
) -> UUID:
    """The org's id once the caller sees it (else 404), holds `need` in it and, for a custom
    role or an API key, holds `permission` (else 403); all read from the database."""
    org = parse_id(org_id, OrgNotFound)
    visible, allowed, permitted = await store.caller_rights(conn, org, need, permission)
    if not visible:
        raise OrgNotFound()
    if caller.actor.is_service:
        return org
    if not allowed:
        raise RoleTooLow()
    if not permitted:  # a custom role or a key without the permission
        raise ScopeTooNarrow()
    return org


def require_scope(caller: Caller, permission: str) -> None:
    """Refuse an API key without `permission` (users' rights come from their roles)."""
    if caller.key is not None and permission not in caller.key["permissions"]:
        raise ScopeTooNarrow()


def refuse_keys(caller: Caller) -> None:
    """Refuse API keys where a person (or the service role) must act: creating orgs,
    managing service accounts and keys (a leaked key cannot mint itself successors)."""
    if caller.key is not None:
        raise NotAUser()


async def holds(conn: Connection, caller: Caller, org: UUID, role: Role) -> bool:
    """True when the caller holds at least `role` in `org` (the service role holds all)."""
    if caller.actor.is_service:
        return True
    return (await store.caller_rights(conn, org, role, ""))[1]


async def audit(
    conn: Connection,
    caller: Caller,
    action: str,
    target: tuple[str, object],
    *,
    org: UUID | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append the audit row of one mutation (`target` = (type, id)); never pass secrets."""
    await store.write_audit(
        conn,
        {
            "action": action,
            "target_type": target[0],
            "target_id": str(target[1]),
            "org_id": org,
            "ip": caller.ip,
            "user_agent": caller.user_agent,
            "request_id": caller.request_id,
            "details": details,
        },
    )
