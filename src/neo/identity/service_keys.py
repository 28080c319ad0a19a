"""Use cases of service accounts and their API keys, for an organization's admins (people or
the service role, never a key). Each takes the caller's connection (never commits) and
writes an audit row for every change; a new key is returned once and never stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from neo.core.db import Connection
from neo.identity import keys, store
from neo.identity.access import audit, authorize, parse_id, refuse_keys
from neo.identity.deps import Caller
from neo.identity.errors import (
    ApiKeyNotFound,
    ApiKeyRevoked,
    OrgNotFound,
    ProjectNotFound,
    ServiceAccountNotFound,
)
from neo.identity.models import CreateApiKey, CreateServiceAccount, public


async def _admin(conn: Connection, caller: Caller, org_id: str) -> UUID:
    """The org, for its admins; a key gets 404 outside its own org and 403 inside it."""
    if caller.key is not None and caller.key["org_id"] != str(parse_id(org_id, OrgNotFound)):
        raise OrgNotFound()
    refuse_keys(caller)
    return await authorize(conn, caller, org_id, "admin", "service_accounts:write")


async def create_service_account(
    conn: Connection, caller: Caller, org_id: str, body: CreateServiceAccount
) -> dict[str, Any]:
    """Create a service account of the org, optionally limited to one of its projects."""
    org = await _admin(conn, caller, org_id)
    project = parse_id(body.project_id, ProjectNotFound) if body.project_id else None
    row = await store.insert_service_account(
        conn, org, project_id=project, name=body.name, role=body.role
    )
    if row is None:
        raise ProjectNotFound()
    details = {"role": body.role, "project_id": body.project_id}
    await audit(conn, caller, "service_account.created", ("service_account", row["id"]),
                org=org, details=details)  # fmt: skip
    return public(row)


async def list_service_accounts(
    conn: Connection, caller: Caller, org_id: str
) -> list[dict[str, Any]]:
    """The org's service accounts."""
    org = await _admin(conn, caller, org_id)
    return [public(row) for row in await store.list_service_accounts(conn, org)]


async def get_service_account(
    conn: Connection, caller: Caller, org_id: str, account_id: str
) -> dict[str, Any]:
    """One service account."""
    org = await _admin(conn, caller, org_id)
    return public(await _account(conn, org, account_id))


async def delete_service_account(
    conn: Connection, caller: Caller, org_id: str, account_id: str
) -> None:
    """Delete a service account; its keys stop working on the next request."""
    org = await _admin(conn, caller, org_id)
    account = parse_id(account_id, ServiceAccountNotFound)
    if not await store.delete_service_account(conn, org, account):
        raise ServiceAccountNotFound()
    await audit(conn, caller, "service_account.deleted", ("service_account", account), org=org)


async def create_key(
    conn: Connection, caller: Caller, org_id: str, account_id: str, body: CreateApiKey
) -> dict[str, Any]:
    """Mint a key for a service account: the answer holds the key, shown this once."""
    org = await _admin(conn, caller, org_id)
    account = (await _account(conn, org, account_id))["id"]
    secret = keys.new_key()
    expires = None
    if body.expires_in_days is not None:
        expires = datetime.now(UTC) + timedelta(days=body.expires_in_days)
    row = await store.insert_api_key(
        conn,
        {
            "org_id": org, "service_account_id": account, "name": body.name,
            "prefix": secret[: keys.SHOWN], "key_hash": keys.hash_key(secret),
            "permissions": sorted(set(body.permissions)), "expires_at": expires,
        },
    )  # fmt: skip
    details = {"service_account_id": str(account), "permissions": list(row["permissions"])}
    await audit(conn, caller, "api_key.created", ("api_key", row["id"]), org=org,
                details=details)  # fmt: skip
    return public(row) | {"key": secret}


async def list_keys(
    conn: Connection, caller: Caller, org_id: str, account_id: str
) -> list[dict[str, Any]]:
    """A service account's keys (prefix, scope, expiry, last use; never the key)."""
    org = await _admin(conn, caller, org_id)
    account = (await _account(conn, org, account_id))["id"]
    return [public(row) for row in await store.list_api_keys(conn, org, account)]


async def revoke_key(
    conn: Connection, caller: Caller, org_id: str, account_id: str, key_id: str
) -> dict[str, Any]:
    """Revoke a key: the next request carrying it is refused."""
    org = await _admin(conn, caller, org_id)
    account = parse_id(account_id, ServiceAccountNotFound)
    key = parse_id(key_id, ApiKeyNotFound)
    row = await store.revoke_api_key(conn, org, account, key)
    if row is None:
        existing = await store.select_api_key(conn, org, account, key)
        raise ApiKeyNotFound() if existing is None else ApiKeyRevoked()
    await audit(conn, caller, "api_key.revoked", ("api_key", key), org=org)
    return public(row)


async def _account(conn: Connection, org: UUID, account_id: str) -> Any:
    row = await store.select_service_account(
        conn, org, parse_id(account_id, ServiceAccountNotFound)
    )
    if row is None:
        raise ServiceAccountNotFound()
    return row
