"""The SQL of OAuth sign-in: pending authorization states and identity lookups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from neo.core.db import Connection
from neo.kit.sqlfile import load_named_queries

QUERIES = load_named_queries(Path(__file__).with_name("queries.sql"))
Row = dict[str, Any]


async def insert_oauth_state(conn: Connection, row: Row) -> None:
    """Remember an authorization in progress."""
    await conn.execute(
        QUERIES["insert_oauth_state"],
        row["id"], row["provider"], row["code_verifier"], row["nonce"], row["redirect_to"],
        row["flow_state_id"], row.get("link_user_id"),
    )  # fmt: skip


async def take_oauth_state(conn: Connection, state_id: Any) -> Row | None:
    """Remove and return a pending authorization: a state is used at most once."""
    await conn.execute(QUERIES["prune_oauth_states"])
    record = await conn.fetchrow(QUERIES["take_oauth_state"], state_id)
    return dict(record) if record is not None else None


async def select_identity(conn: Connection, provider_id: str, provider: str) -> Row | None:
    """The identity a provider's subject is linked to."""
    record = await conn.fetchrow(QUERIES["select_identity"], provider_id, provider)
    if record is None:
        return None
    row = dict(record)
    if isinstance(row.get("identity_data"), str):
        row["identity_data"] = json.loads(row["identity_data"])
    return row


async def delete_identity(conn: Connection, identity_id: Any, user_id: Any) -> str | None:
    """Unlink one of a user's identities; its provider, or None when there was none."""
    provider: str | None = await conn.fetchval(QUERIES["delete_identity"], identity_id, user_id)
    return provider


async def count_identities(conn: Connection, user_id: Any) -> int:
    """How many identities a user has."""
    return int(await conn.fetchval(QUERIES["count_identities"], user_id))
