"""HTTP routes of `/identity/v1` for service accounts and their `neo_sk_` API keys, on the
router of `router.py`. Org admins (people, or the service role) manage them; a key never
does. `POST .../keys` answers the key once; lists show only its first characters."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from neo.core.deps import Tx
from neo.identity import service_keys as service
from neo.identity.deps import CallerDep, body_doc, parse_body
from neo.identity.models import CreateApiKey, CreateServiceAccount
from neo.identity.router import ORG, router

ACCOUNTS = ORG + "/service-accounts"
ACCOUNT = ACCOUNTS + "/{account_id}"
KEY = ACCOUNT + "/keys/{key_id}"


@router.get(ACCOUNTS)
async def list_service_accounts(org_id: str, conn: Tx, caller: CallerDep) -> list[dict[str, Any]]:
    """The organization's service accounts (admins)."""
    return await service.list_service_accounts(conn, caller, org_id)


@router.post(ACCOUNTS, status_code=201, openapi_extra=body_doc(CreateServiceAccount))
async def create_service_account(
    org_id: str, request: Request, conn: Tx, caller: CallerDep
) -> dict[str, Any]:
    """Create a service account (role viewer, member or admin; optionally one project)."""
    body = await parse_body(request, CreateServiceAccount)
    return await service.create_service_account(conn, caller, org_id, body)


@router.get(ACCOUNT)
async def get_service_account(
    org_id: str, account_id: str, conn: Tx, caller: CallerDep
) -> dict[str, Any]:
    """One service account (admins)."""
    return await service.get_service_account(conn, caller, org_id, account_id)


@router.delete(ACCOUNT, status_code=204)
async def delete_service_account(
    org_id: str, account_id: str, conn: Tx, caller: CallerDep
) -> Response:
    """Delete a service account and its keys (admins)."""
    await service.delete_service_account(conn, caller, org_id, account_id)
    return Response(status_code=204)


@router.get(ACCOUNT + "/keys")
async def list_keys(
    org_id: str, account_id: str, conn: Tx, caller: CallerDep
) -> list[dict[str, Any]]:
    """A service account's keys: prefix, permissions, expiry, last use, revocation."""
    return await service.list_keys(conn, caller, org_id, account_id)


@router.post(ACCOUNT + "/keys", status_code=201, openapi_extra=body_doc(CreateApiKey))
async def create_key(
    org_id: str, account_id: str, request: Request, conn: Tx, caller: CallerDep
) -> dict[str, Any]:
    """Mint a `neo_sk_` key; `key` in the answer is shown this once and never again."""
    body = await parse_body(request, CreateApiKey)
    return await service.create_key(conn, caller, org_id, account_id, body)


@router.delete(KEY)
async def revoke_key(
    org_id: str, account_id: str, key_id: str, conn: Tx, caller: CallerDep
) -> dict[str, Any]:
    """Revoke a key; the next request carrying it answers 401."""
    return await service.revoke_key(conn, caller, org_id, account_id, key_id)
