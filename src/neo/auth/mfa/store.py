"""The SQL of MFA: factors, challenges, and the session's assurance level."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from neo.core.db import Connection
from neo.kit.sqlfile import load_named_queries

QUERIES = load_named_queries(Path(__file__).with_name("queries.sql"))
Row = dict[str, Any]


def _row(record: asyncpg.Record | None) -> Row | None:
    return dict(record) if record is not None else None


async def insert_factor(
    conn: Connection, *, factor_id: Any, user_id: Any, friendly_name: str, secret: str
) -> Row:
    """An unverified TOTP factor."""
    row = _row(
        await conn.fetchrow(QUERIES["insert_factor"], factor_id, user_id, friendly_name, secret)
    )
    assert row is not None
    return row


async def select_factor(conn: Connection, factor_id: Any, user_id: Any) -> Row | None:
    """One of the user's factors, locked."""
    return _row(await conn.fetchrow(QUERIES["select_factor"], factor_id, user_id))


async def delete_factor(conn: Connection, factor_id: Any, user_id: Any) -> Row | None:
    """Remove a factor; the removed row, or None."""
    return _row(await conn.fetchrow(QUERIES["delete_factor"], factor_id, user_id))


async def delete_stale_factors(conn: Connection, user_id: Any) -> None:
    """Forget unverified factors older than five minutes."""
    await conn.execute(QUERIES["delete_stale_factors"], user_id)


async def verify_factor(conn: Connection, factor_id: Any, step: int) -> None:
    """Mark a factor verified and remember the time step just used."""
    await conn.execute(QUERIES["verify_factor"], factor_id, step)


async def insert_challenge(
    conn: Connection, factor_id: Any, ip: str | None
) -> tuple[Any, datetime]:
    """A challenge for a factor: (id, created_at)."""
    record = await conn.fetchrow(QUERIES["insert_challenge"], factor_id, ip or None)
    assert record is not None
    await conn.execute(QUERIES["touch_factor_challenged"], factor_id)
    return record["id"], record["created_at"]


async def select_challenge(conn: Connection, challenge_id: Any, factor_id: Any) -> Row | None:
    """A challenge of a factor, locked."""
    return _row(await conn.fetchrow(QUERIES["select_challenge"], challenge_id, factor_id))


async def count_challenge_attempt(conn: Connection, challenge_id: Any) -> int:
    """Count a wrong code; the attempts so far."""
    return int(await conn.fetchval(QUERIES["count_challenge_attempt"], challenge_id))


async def delete_challenge(conn: Connection, challenge_id: Any) -> None:
    """Consume a challenge."""
    await conn.execute(QUERIES["delete_challenge"], challenge_id)


async def update_session_aal(conn: Connection, session_id: Any, aal: str, factor_id: Any) -> None:
    """Raise (or lower) a session's assurance level."""
    await conn.execute(QUERIES["update_session_aal"], session_id, aal, factor_id)


async def downgrade_factor_sessions(conn: Connection, factor_id: Any) -> None:
    """Sessions that reached aal2 with a removed factor fall back to aal1."""
    await conn.execute(QUERIES["downgrade_factor_sessions"], factor_id)


async def revoke_session_refresh_tokens(conn: Connection, session_id: Any) -> None:
    """Mark every live refresh token of a session used (a step-up issues a new one)."""
    await conn.execute(QUERIES["revoke_session_refresh_tokens"], session_id)


async def advance_session_counter(conn: Connection, session_id: Any, step: int) -> int:
    """Move a session-signed session's refresh counter `step` up; the new counter."""
    counter = await conn.fetchval(QUERIES["advance_session_counter"], session_id, step)
    assert counter is not None
    return int(counter)
