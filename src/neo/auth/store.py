"""The auth capability's SQL: users, identities, sessions, tokens, mailbox and throttles.

Every function runs one named query from `queries.sql`; rows come back as plain dicts.
Driver errors that mean something to a caller are mapped here (a taken email, a failing
trigger on auth.users).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from neo.auth.errors import EmailExists, PublicServerError
from neo.core.db import Connection
from neo.kit.sqlfile import load_named_queries

QUERIES = load_named_queries(Path(__file__).with_name("queries.sql"))
Row = dict[str, Any]


_JSON_COLUMNS = ("raw_app_meta_data", "raw_user_meta_data", "identity_data")


def _dict(record: asyncpg.Record) -> Row:
    row = dict(record)
    for key in _JSON_COLUMNS:
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def _row(record: asyncpg.Record | None) -> Row | None:
    return _dict(record) if record is not None else None


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _user_error(exc: asyncpg.PostgresError, otherwise: Exception) -> Exception:
    """A taken email or phone on auth.users itself, else `otherwise` (e.g. a failing trigger)."""
    own_table = getattr(exc, "schema_name", None) == "auth" and exc.table_name == "users"
    if isinstance(exc, asyncpg.UniqueViolationError) and own_table:
        return EmailExists()
    return otherwise


async def insert_user(conn: Connection, user: Row) -> Row:
    """Insert a user (the app's triggers on auth.users run here)."""
    try:
        async with conn.transaction():  # a savepoint: a failing trigger leaves no half state
            record = await conn.fetchrow(
                QUERIES["insert_user"],
                user["id"], user["aud"], user["role"], user["email"], user["phone"],
                user["encrypted_password"], user["email_confirmed_at"],
                _json(user["app_metadata"]), _json(user["user_metadata"]),
                user["is_anonymous"], user["invited_at"], user["confirmation_sent_at"],
            )  # fmt: skip
    except asyncpg.PostgresError as exc:
        raise _user_error(exc, PublicServerError()) from None
    assert record is not None
    return _dict(record)


async def select_user(conn: Connection, user_id: Any, *, for_update: bool = False) -> Row | None:
    """A user by id."""
    query = QUERIES["select_user_for_update" if for_update else "select_user"]
    return _row(await conn.fetchrow(query, user_id))


async def select_user_by_email(conn: Connection, email: str) -> Row | None:
    """A (non-SSO) user by email, case-insensitively."""
    return _row(await conn.fetchrow(QUERIES["select_user_by_email"], email))


async def select_user_by_email_change(conn: Connection, email: str) -> Row | None:
    """The user waiting to change their address to `email`."""
    return _row(await conn.fetchrow(QUERIES["select_user_by_email_change"], email))


async def select_user_bundle(conn: Connection, user_id: Any, session_id: Any) -> Row | None:
    """A user row plus `identities`, `factors`, `amr`, `session_aal`, `session_exists`."""
    record = await conn.fetchrow(QUERIES["select_user_bundle"], user_id, session_id)
    if record is None:
        return None
    return _with_bundle(_dict(record))


def _times(row: Row) -> Row:
    """Timestamps of a row that came through JSON, back to datetimes."""
    for key in ("created_at", "updated_at", "last_sign_in_at", "last_challenged_at"):
        if isinstance(row.get(key), str):
            row[key] = datetime.fromisoformat(row[key])
    return row


async def select_users(
    conn: Connection, *, limit: int, offset: int, email: str | None
) -> tuple[list[Row], int]:
    """One page of users, newest first, and the total count."""
    rows = await conn.fetch(QUERIES["select_users"], limit, offset, email)
    total = await conn.fetchval(QUERIES["count_users"], email)
    return [_dict(r) for r in rows], int(total)


async def delete_user(conn: Connection, user_id: Any, *, soft: bool) -> bool:
    """Delete (or soft-delete) a user; False when there was none."""
    query = QUERIES["soft_delete_user" if soft else "delete_user"]
    try:
        return await conn.fetchval(query, user_id) is not None
    except asyncpg.PostgresError:
        raise PublicServerError("Database error deleting user") from None


async def update_user(conn: Connection, query: str, user_id: Any, *args: Any) -> None:
    """Run one of the `update_user_*` queries (password, metadata, email, role, ban, ...)."""
    assert query.startswith("update_user_")
    values = [_json(a) if isinstance(a, dict) else a for a in args]
    try:
        await conn.execute(QUERIES[query], user_id, *values)
    except asyncpg.PostgresError as exc:
        raise _user_error(exc, PublicServerError("Database error updating user")) from None


async def insert_identity(
    conn: Connection, *, provider_id: str, user_id: Any, data: Row, provider: str
) -> Row:
    """Link an identity to a user."""
    record = await conn.fetchrow(
        QUERIES["insert_identity"], provider_id, user_id, _json(data), provider
    )
    assert record is not None
    return _dict(record)


async def update_identity_email(conn: Connection, user_id: Any, email: str) -> None:
    """Keep the email identity's data in step with a changed email."""
    await conn.execute(QUERIES["update_identity_email"], user_id, email)


async def touch_identity(conn: Connection, user_id: Any, provider: str) -> None:
    """Record a sign-in through an identity."""
    await conn.execute(QUERIES["touch_identity"], user_id, provider)


async def select_factors(conn: Connection, user_id: Any) -> list[Row]:
    """A user's MFA factors."""
    return [_dict(r) for r in await conn.fetch(QUERIES["select_factors"], user_id)]


async def select_session(conn: Connection, session_id: Any) -> Row | None:
    """A session by id."""
    return _row(await conn.fetchrow(QUERIES["select_session"], session_id))


async def touch_session(conn: Connection, session_id: Any) -> None:
    """Record a refresh of the session."""
    await conn.execute(QUERIES["touch_session"], session_id)


async def delete_session(conn: Connection, session_id: Any) -> None:
    """End one session (its refresh tokens go with it)."""
    await conn.execute(QUERIES["delete_session"], session_id)


async def delete_user_sessions(conn: Connection, user_id: Any, *, keep: Any = None) -> None:
    """End every session of a user, except `keep` when given."""
    await conn.execute(QUERIES["delete_user_sessions"], user_id, keep)


async def select_user_sessions(conn: Connection, user_id: Any) -> list[Row]:
    """A user's sessions, oldest first (no token material)."""
    return [dict(r) for r in await conn.fetch(QUERIES["select_user_sessions"], user_id)]


async def delete_user_session(conn: Connection, session_id: Any, user_id: Any) -> bool:
    """End one session of `user_id`; False when it is not theirs (or gone)."""
    return await conn.fetchval(QUERIES["delete_user_session"], session_id, user_id) is not None


async def delete_all_sessions(conn: Connection) -> None:
    """End every session of every user."""
    await conn.execute(QUERIES["delete_all_sessions"])


async def insert_amr_claim(conn: Connection, session_id: Any, method: str) -> None:
    """Record how a session was authenticated."""
    await conn.execute(QUERIES["insert_amr_claim"], session_id, method)


async def insert_refresh_token(
    conn: Connection, *, token_hash: str, user_id: Any, session_id: Any, parent: str | None
) -> None:
    """Store a refresh token's hash."""
    await conn.execute(
        QUERIES["insert_refresh_token"], token_hash, str(user_id), parent, session_id
    )


async def refresh_session(
    conn: Connection,
    token_hash: str,
    successors: list[str],
    *,
    rotation: bool,
    window: float,
    timebox: float,
    idle: float,
    final: bool,
    ip: str,
    async_commit: bool,
) -> Row | None:
    """Run the refresh_token grant's one statement (see `refresh_session` in queries.sql):
    the verdict (`outcome`, `live`, `session_id`, `user_id`) and, for a session to answer
    with, the user bundle as `select_user_bundle` returns it; None for an unknown token."""
    record = await conn.fetchrow(
        QUERIES["refresh_session"],
        token_hash, successors, rotation, window, timebox, idle, final, ip, async_commit,
    )  # fmt: skip
    return _verdict(record)


async def rotate_session(
    conn: Connection,
    session_id: Any,
    counter: int,
    *,
    rotation: bool,
    window: float,
    timebox: float,
    idle: float,
    ip: str,
    async_commit: bool,
) -> Row | None:
    """Run the grant's one statement for a session-signed token (`rotate_session` in
    queries.sql): the verdict (`outcome`, `counter` to answer with, `session_id`, `user_id`)
    and the user bundle as `refresh_session`; None for an unknown session."""
    record = await conn.fetchrow(
        QUERIES["rotate_session"],
        session_id, counter, rotation, window, timebox, idle, ip, async_commit,
    )  # fmt: skip
    return _verdict(record)


async def find_login(
    conn: Connection,
    email: str | None,
    *,
    ip_throttle: tuple[str, int] | None,
    failures: tuple[str, int] | None,
) -> Row:
    """The password grant's reads in one statement (`find_login` in queries.sql): a hit on
    `ip_throttle` (key, window) as `ip_hits` / `ip_retry_after`, the wrong passwords under
    `failures` (key, window) as `login_failures`, and the user by email (`id` None: none)."""
    ip_key, ip_window = ip_throttle or (None, 1)
    login_key, login_window = failures or (None, 1)
    record = await conn.fetchrow(
        QUERIES["find_login"], ip_key, ip_window, login_key, login_window, email
    )
    assert record is not None
    return _dict(record)


async def record_login_failure(
    conn: Connection, failures: tuple[str, int] | None, audit: Row, ip: str
) -> None:
    """Count a wrong password under `failures` (key, window; None: off) and audit it, in one
    statement (`record_login_failure` in queries.sql)."""
    key, window = failures or (None, 1)
    await conn.execute(QUERIES["record_login_failure"], key, window, _json(audit), ip)


async def open_session(conn: Connection, session: Row) -> Row:
    """Open a session with what a sign-in writes alongside (`open_session` in queries.sql:
    the keys of `session` are its parameters' names there); the user bundle of
    `select_user_bundle` for the token response, with the session's `amr` and `session_aal`."""
    try:
        record = await conn.fetchrow(
            QUERIES["open_session"],
            session["id"], session["user_id"], session["aal"], session["user_agent"],
            session["ip"], session["key_name"], session["counter"], session["method"],
            _json(session["audit"]), session["audit_ip"], session["identity"],
            session["forget"], session["rehashed"],
        )  # fmt: skip
    except asyncpg.PostgresError as exc:
        raise _user_error(exc, PublicServerError("Database error granting user")) from None
    if record is None:
        raise PublicServerError("Database error granting user")
    bundle = _verdict(record)
    assert bundle is not None
    return bundle


def _verdict(record: asyncpg.Record | None) -> Row | None:
    if record is None:
        return None
    row = _dict(record)
    return _with_bundle(row) if row["id"] is not None else row


def _with_bundle(row: Row) -> Row:
    """`row` with the bundle's JSON columns (`neo_auth.user_bundle`) decoded into
    `identities`, `factors` and `amr`."""
    row["identities"] = [_times(i) for i in json.loads(row.pop("identities_json"))]
    row["factors"] = [_times(f) for f in json.loads(row.pop("factors_json"))]
    row["amr"] = json.loads(row.pop("amr_json"))
    return row


async def insert_audit_entry(conn: Connection, payload: Row, ip: str) -> None:
    """Append to auth.audit_log_entries (never secrets in `payload`)."""
    await conn.execute(QUERIES["insert_audit_entry"], _json(payload), ip)


async def upsert_one_time_token(conn: Connection, token: Row) -> None:
    """Store (replacing the previous one of its type) a one-time token's hashes."""
    await conn.execute(
        QUERIES["upsert_one_time_token"],
        token["user_id"], token["token_type"], token["token_hash"], token["relates_to"],
        token["code_hash"], token["flow_state_id"], token["verify_type"],
    )  # fmt: skip


async def select_one_time_token_by_hash(conn: Connection, token_hash: str) -> Row | None:
    """A one-time token by its link hash, locked."""
    return _row(await conn.fetchrow(QUERIES["select_one_time_token_by_hash"], token_hash))


async def select_one_time_tokens_for_user(conn: Connection, user_id: Any) -> list[Row]:
    """Every pending one-time token of a user, locked."""
    rows = await conn.fetch(QUERIES["select_one_time_tokens_for_user"], user_id)
    return [_dict(r) for r in rows]


async def count_otp_attempt(conn: Connection, token_id: Any) -> int:
    """Count one wrong guess against a token; the attempts so far."""
    return int(await conn.fetchval(QUERIES["count_otp_attempt"], token_id))


async def delete_one_time_token(conn: Connection, token_id: Any) -> None:
    """Consume a one-time token."""
    await conn.execute(QUERIES["delete_one_time_token"], token_id)


async def insert_flow_state(conn: Connection, flow: Row) -> None:
    """Remember a PKCE challenge until its code is exchanged."""
    await conn.execute(
        QUERIES["insert_flow_state"],
        flow["id"], flow["user_id"], flow["auth_code"], flow["code_challenge_method"],
        flow["code_challenge"], flow["provider_type"], flow["authentication_method"],
    )  # fmt: skip


async def issue_flow_state_code(conn: Connection, flow_id: Any, user_id: Any) -> str | None:
    """Mark the flow's auth code issued; the code, or None when the flow is gone."""
    code: str | None = await conn.fetchval(QUERIES["issue_flow_state_code"], flow_id, user_id)
    return code


async def take_flow_state(conn: Connection, auth_code: str) -> Row | None:
    """Remove and return the flow of an auth code: a code is exchanged at most once."""
    return _row(await conn.fetchrow(QUERIES["take_flow_state"], auth_code))


async def insert_mail(conn: Connection, mail: Row) -> None:
    """Keep a mail in the dev mailbox."""
    await conn.execute(
        QUERIES["insert_mail"],
        mail["recipient"], mail["subject"], mail["kind"], mail["text"], mail["html"],
        mail["link"], mail["code"],
    )  # fmt: skip


async def select_mail(conn: Connection, recipient: str | None, limit: int) -> list[Row]:
    """Mailbox messages, newest first."""
    return [_dict(r) for r in await conn.fetch(QUERIES["select_mail"], recipient, limit)]


async def delete_mail(conn: Connection, recipient: str | None) -> None:
    """Empty the mailbox (for one recipient, or all)."""
    await conn.execute(QUERIES["delete_mail"], recipient)


async def hit_throttle(conn: Connection, key: str, window: int, hits: int = 1) -> tuple[int, int]:
    """Count `hits` in the current window of `key`; (hits in the window, seconds left)."""
    record = await conn.fetchrow(QUERIES["hit_throttle"], key, window, hits)
    assert record is not None
    return int(record["hits"]), int(record["retry_after"])


async def peek_throttle(conn: Connection, key: str, window: int) -> int:
    """Hits of `key` over the last `window` seconds."""
    return int(await conn.fetchval(QUERIES["peek_throttle"], key, window))


async def prune_throttles(conn: Connection) -> None:
    """Drop windows older than a day."""
    await conn.execute(QUERIES["prune_throttles"])
