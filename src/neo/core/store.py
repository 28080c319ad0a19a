"""The core's SQL: secrets, signing keys and server facts, from the named queries file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg

from neo.core.db import Connection
from neo.kit.sqlfile import load_named_queries

QUERIES = load_named_queries(Path(__file__).with_name("queries.sql"))
CLUSTER_SCOPE = "cluster"


async def select_secrets(conn: Connection, scope: str) -> dict[str, str]:
    """Every secret of one scope (a key set, or the cluster)."""
    rows = await conn.fetch(QUERIES["select_secrets"], scope)
    return {r["name"]: r["value"] for r in rows}


async def insert_secret(conn: Connection, scope: str, name: str, value: str) -> None:
    """Store a secret unless one of that name exists (first writer wins)."""
    await conn.execute(QUERIES["insert_secret"], scope, name, value)


async def lock_keyset(conn: Connection, keyset: str) -> None:
    """Serialise key-set changes for the rest of the transaction."""
    await conn.execute(QUERIES["lock_keyset"], keyset)


async def select_signing_keys(conn: Connection, keyset: str) -> list[dict[str, Any]]:
    """Live (not revoked) signing keys of a key set, oldest first."""
    rows = await conn.fetch(QUERIES["select_signing_keys"], keyset)
    return [dict(r) | {"private_jwk": json.loads(r["private_jwk"])} for r in rows]


async def insert_signing_key(
    conn: Connection, keyset: str, *, kid: str, alg: str, status: str, jwk: dict[str, Any]
) -> None:
    """Add a signing key in the given status."""
    await conn.execute(QUERIES["insert_signing_key"], keyset, kid, alg, status, json.dumps(jwk))


async def retire_current_key(conn: Connection, keyset: str) -> None:
    """The current key becomes `previous` (verify-only)."""
    await conn.execute(QUERIES["retire_current_key"], keyset)


async def revoke_signing_key(conn: Connection, keyset: str, kid: str) -> bool:
    """Retire a verify-only key (previous or standby); False when there is no such key."""
    return await conn.fetchval(QUERIES["revoke_signing_key"], keyset, kid) is not None


async def revoke_expired_keys(conn: Connection, keyset: str, older_than: float) -> list[str]:
    """Retire the previous keys that stopped signing more than `older_than` seconds ago;
    their kids."""
    rows = await conn.fetch(QUERIES["revoke_expired_keys"], keyset, older_than)
    return [r["kid"] for r in rows]


async def activate_standby_key(conn: Connection, keyset: str) -> str | None:
    """The standby key becomes current; its kid, or None when there was none."""
    kid: str | None = await conn.fetchval(QUERIES["activate_standby_key"], keyset)
    return kid


async def set_authenticator_password(conn: Connection, password: str) -> None:
    """Give the `authenticator` role the password the API pool logs in with."""
    statement = await conn.fetchval(QUERIES["set_role_password"], password)
    await conn.execute(statement)


async def select_server_facts(conn: Connection) -> dict[str, Any]:
    """Version, limits and privileges of the server NEO is connected to."""
    return _one(await conn.fetchrow(QUERIES["select_server_facts"]))


async def select_extensions(conn: Connection) -> dict[str, str | None]:
    """Available extensions and their installed version (None when not installed)."""
    rows = await conn.fetch(QUERIES["select_extensions"])
    return {r["name"]: r["installed_version"] for r in rows}


async def ping(conn: Connection) -> None:
    """Round trip to the server."""
    await conn.fetchval(QUERIES["ping"])


async def select_caller(conn: Connection) -> dict[str, Any]:
    """The caller as SQL sees it inside an actor transaction."""
    return _one(await conn.fetchrow(QUERIES["select_caller"]))


def _one(row: asyncpg.Record | None) -> dict[str, Any]:
    if row is None:
        raise LookupError("query returned no row")
    return dict(row)
