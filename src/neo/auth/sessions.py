"""Sessions: access tokens with GoTrue's claims, refresh-token rotation with reuse detection.

Refresh tokens are random (192 bits) for a new session; each rotation derives the next one
as HMAC(server secret, previous token), and only SHA-256 hashes are stored. Deriving makes
concurrent refreshes with one token converge: whoever holds token N can be handed token N+1
again without it being stored. Within `refresh_token_reuse_interval` of a rotation the used
token (parallel tabs, or a client that failed to save the answer) yields the session's
current token; later, a used token is a replay: the session is deleted, an audit entry
written, and every token of it dies (GoTrue accepts the previous token forever).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from neo.auth import store
from neo.auth.errors import (
    RefreshTokenAlreadyUsed,
    RefreshTokenNotFound,
    SessionExpired,
    SessionNotFound,
    UserBanned,
    ValidationFailed,
)
from neo.auth.models import session_json, user_json
from neo.auth.state import AuthState, FailAfterCommit
from neo.core.db import Connection

Row = dict[str, Any]
_MAX_CATCH_UP = 3  # how many rotations a reused token may be behind within the window


@dataclass(frozen=True)
class Client:
    """Who is calling: the client IP (trusted-proxy aware) and user agent."""

    ip: str
    user_agent: str = ""


def hash_token(token: str) -> str:
    """The stored form of a refresh or link token."""
    return hashlib.sha256(token.encode()).hexdigest()


def next_refresh_token(secret: bytes, token: str) -> str:
    """The token a rotation of `token` hands out."""
    digest = hmac.new(secret, b"rt:" + token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def is_banned(user: Row) -> bool:
    """True while `banned_until` is in the future."""
    until = user.get("banned_until")
    return until is not None and until > datetime.now(UTC)


async def audit(conn: Connection, action: str, client: Client, **fields: Any) -> None:
    """Append an audit entry (GoTrue's payload shape); never pass secrets here."""
    payload = {"action": action, "log_type": fields.pop("log_type", "account")}
    payload |= {"traits": {k: str(v) for k, v in fields.items()}} if fields else {}
    await store.insert_audit_entry(conn, payload, client.ip)


async def create_session(
    conn: Connection, state: AuthState, user: Row, *, method: str, client: Client
) -> Row:
    """Open a session for `user` and return the token response."""
    session_id = uuid.uuid4()
    await store.insert_session(
        conn, session_id=session_id, user_id=user["id"], aal="aal1",
        user_agent=client.user_agent, ip=client.ip or None,
    )  # fmt: skip
    await store.insert_amr_claim(conn, session_id, method)
    token = secrets.token_urlsafe(24)
    await store.insert_refresh_token(
        conn, token_hash=hash_token(token), user_id=user["id"], session_id=session_id, parent=None
    )
    await store.update_user(conn, "update_user_signed_in", user["id"])
    await audit(conn, "login", client, user_id=user["id"], method=method)
    return await token_response(conn, state, user["id"], session_id, token)


async def token_response(
    conn: Connection, state: AuthState, user_id: Any, session_id: Any, refresh_token: str
) -> Row:
    """Sign an access token for the session and build the AccessTokenResponse."""
    bundle = await store.select_user_bundle(conn, user_id, session_id)
    if bundle is None:
        raise RefreshTokenNotFound()
    body = user_json(bundle, bundle["identities"], bundle["factors"])
    now = int(time.time())
    exp = now + state.settings.jwt_exp
    claims = {
        "iss": state.issuer,
        "sub": str(user_id),
        "aud": bundle["aud"] or state.settings.jwt_aud,
        "exp": exp,
        "iat": now,
        "email": bundle["email"] or "",
        "phone": bundle["phone"] or "",
        "app_metadata": body["app_metadata"],
        "user_metadata": body["user_metadata"],
        "role": bundle["role"] or "authenticated",
        "aal": bundle["session_aal"] or "aal1",
        "amr": bundle["amr"],
        "session_id": str(session_id),
        "is_anonymous": bool(bundle["is_anonymous"]),
    }
    return session_json(
        access_token=state.core.keys.sign(claims),
        refresh_token=refresh_token,
        expires_in=state.settings.jwt_exp,
        expires_at=exp,
        user=body,
    )


async def refresh(state: AuthState, token: str, client: Client) -> Row:
    """The refresh_token grant: rotate, or answer a reuse as described above."""
    if not token:
        raise ValidationFailed("refresh_token required")
    async with state.transaction() as conn:
        found = await store.select_refresh_token_for_update(conn, hash_token(token))
        if found is None:
            raise RefreshTokenNotFound()
        _check_session(state, found)
        if not found["revoked"] or not state.settings.refresh_token_rotation:
            return await _rotate(conn, state, found, token, client)
        current = await _catch_up(conn, state, found, token)
        if current is not None:
            return await token_response(conn, state, found["user_id"], found["session_id"], current)
        await audit(
            conn, "refresh_token_reuse", client, log_type="token",
            user_id=found["user_id"], session_id=found["session_id"],
        )  # fmt: skip
        await store.delete_session(conn, found["session_id"])
        raise FailAfterCommit(RefreshTokenAlreadyUsed())


def _check_session(state: AuthState, found: Row) -> None:
    """Ban, `not_after`, timebox and inactivity checks on a locked token's session."""
    if not found["user_exists"]:
        raise SessionNotFound(status=400)
    if is_banned(found):
        raise UserBanned()
    now = datetime.now(UTC)
    not_after = found.get("not_after")
    if not_after is not None and not_after < now:
        raise SessionExpired()
    timebox, idle = state.settings.sessions_timebox, state.settings.sessions_inactivity_timeout
    if timebox and (now - found["session_created_at"]).total_seconds() > timebox:
        raise SessionExpired("Session expired (timebox)")
    refreshed = (found.get("refreshed_at") or now.replace(tzinfo=None)).replace(tzinfo=UTC)
    if idle and (now - refreshed).total_seconds() > idle:
        raise SessionExpired("Session expired (inactivity)")


async def _rotate(
    conn: Connection, state: AuthState, found: Row, token: str, client: Client
) -> Row:
    session_id = found["session_id"]
    if not state.settings.refresh_token_rotation:
        await store.touch_session(conn, session_id)
        return await token_response(conn, state, found["user_id"], session_id, token)
    new = next_refresh_token(state.secret, token)
    entry = {"action": "token_refreshed", "log_type": "token",
             "traits": {"session_id": str(session_id)}}  # fmt: skip
    await store.rotate_refresh_token(
        conn, found, token_hash=hash_token(new), audit=entry, ip=client.ip
    )
    return await token_response(conn, state, found["user_id"], session_id, new)


async def _catch_up(conn: Connection, state: AuthState, found: Row, token: str) -> str | None:
    """The session's live token when `token` was used within the reuse window, else None."""
    window = state.settings.refresh_token_reuse_interval
    age = (datetime.now(UTC) - found["updated_at"]).total_seconds()
    if age > window:
        return None
    candidate = token
    for _ in range(_MAX_CATCH_UP):
        candidate = next_refresh_token(state.secret, candidate)
        row = await store.select_refresh_token(conn, hash_token(candidate))
        if row is None or row["session_id"] != found["session_id"]:
            return None
        if not row["revoked"]:
            return candidate
    return None
