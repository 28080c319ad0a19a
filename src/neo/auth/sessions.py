"""Sessions: access tokens with GoTrue's claims, refresh-token rotation with reuse detection.

New sessions get session-signed refresh tokens (`refresh_tokens.py`, decision 0012): the
token carries the session id and a counter, the session row holds the newest counter, and a
rotation moves it one up. Within `refresh_token_reuse_interval` of the last rotation, the
token one behind (parallel tabs, or a client that failed to save the answer) yields the
session's newest token; any other older token is a replay: the session is deleted, an audit
entry written, and every token of it dies (GoTrue accepts the previous token forever).

Sessions begun before (or with `refresh_token_algorithm_version` 1) keep hashed token rows
(decision 0005): a new session gets a random 192-bit token, each rotation derives the next
one as HMAC(server secret, previous token), and only SHA-256 hashes are stored, so parallel
refreshes converge on the same successor without storing it.

Either grant is one SQL statement (`rotate_session` / `refresh_session` in queries.sql) on
an owner connection: one round trip locks, judges, writes and returns the user bundle;
Python checks or derives tokens before it and signs the access token after it. Opening a
session is one statement too (`open_session`): the session, its AMR claim, the user's last
sign-in, the audit entry and what a sign-in adds (`SignIn`), returning the same bundle.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from neo.auth import refresh_tokens, store
from neo.auth.errors import (
    RefreshTokenAlreadyUsed,
    RefreshTokenNotFound,
    SessionExpired,
    SessionNotFound,
    UserBanned,
    ValidationFailed,
)
from neo.auth.models import session_json, user_json
from neo.auth.state import AuthState
from neo.core.db import Connection
from neo.core.errors import NeoError

Row = dict[str, Any]
_MAX_CATCH_UP = 3  # how many rotations a reused token may be behind within the window


@dataclass(frozen=True)
class Client:
    """Who is calling: the client IP (trusted-proxy aware) and user agent."""

    ip: str
    user_agent: str = ""
    request_id: str = ""


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


def audit_payload(action: str, client: Client, **fields: Any) -> Row:
    """An audit entry's payload (GoTrue's shape); never pass secrets here."""
    payload = {"action": action, "log_type": fields.pop("log_type", "account")}
    # Beyond GoTrue's traits: the user agent and request id, so the identity audit log (which
    # mirrors these entries) can say which client and request did it.
    fields |= {k: v for k, v in (("user_agent", client.user_agent),
                                 ("request_id", client.request_id)) if v}  # fmt: skip
    payload |= {"traits": {k: str(v) for k, v in fields.items()}} if fields else {}
    return payload


async def audit(conn: Connection, action: str, client: Client, **fields: Any) -> None:
    """Append an audit entry (GoTrue's payload shape); never pass secrets here."""
    await store.insert_audit_entry(conn, audit_payload(action, client, **fields), client.ip)


@dataclass(frozen=True)
class SignIn:
    """What a sign-in writes along with its session: the identity signed in with (its last
    sign-in recorded), an account's wrong-password throttle key to clear, a new hash of the
    password (an outdated algorithm or parameters)."""

    identity: str | None = None
    forget: str | None = None
    rehashed: str | None = None


async def create_session(
    conn: Connection,
    state: AuthState,
    user: Row,
    *,
    method: str,
    client: Client,
    sign_in: SignIn | None = None,
) -> Row:
    """Open a session for `user` and return the token response: one statement
    (`store.open_session`), and for decision 0005's hashed tokens the token row after it."""
    session_id = uuid.uuid4()
    signed = state.settings.refresh_token_algorithm_version == 2
    sign_in = sign_in or SignIn()
    bundle = await store.open_session(conn, {
        "id": session_id, "user_id": user["id"], "aal": "aal1",
        "user_agent": client.user_agent, "ip": client.ip or None,
        "key_name": refresh_tokens.KEY_NAME if signed else None, "counter": 0 if signed else None,
        "method": method, "audit": audit_payload("login", client, user_id=user["id"],
                                                   method=method),
        "audit_ip": client.ip, "identity": sign_in.identity, "forget": sign_in.forget,
        "rehashed": sign_in.rehashed,
    })  # fmt: skip
    if signed:
        token = refresh_tokens.encode(state.secret, session_id, 0)
    else:
        token = secrets.token_urlsafe(24)
        await store.insert_refresh_token(
            conn, token_hash=hash_token(token), user_id=user["id"], session_id=session_id,
            parent=None,
        )  # fmt: skip
    return respond(state, bundle, session_id, token)


async def token_response(
    conn: Connection, state: AuthState, user_id: Any, session_id: Any, refresh_token: str
) -> Row:
    """Sign an access token for the session and build the AccessTokenResponse."""
    bundle = await store.select_user_bundle(conn, user_id, session_id)
    if bundle is None:
        raise RefreshTokenNotFound()
    return respond(state, bundle, session_id, refresh_token)


def respond(state: AuthState, bundle: Row, session_id: Any, refresh_token: str) -> Row:
    """The AccessTokenResponse for a user bundle (`store.select_user_bundle`'s row)."""
    body = user_json(bundle, bundle["identities"], bundle["factors"])
    now = int(time.time())
    exp = now + state.settings.jwt_exp
    claims = {
        "iss": state.issuer,
        "sub": body["id"],
        "aud": bundle["aud"] or state.settings.jwt_aud,
        "exp": exp,
        "iat": now,
        "email": body["email"],
        "phone": body["phone"],
        "app_metadata": body["app_metadata"],
        "user_metadata": body["user_metadata"],
        "role": bundle["role"] or "authenticated",
        "aal": bundle["session_aal"] or "aal1",
        "amr": bundle["amr"],
        "session_id": str(session_id),
        "is_anonymous": body["is_anonymous"],
    }
    return session_json(
        access_token=state.core.keys.sign(claims),
        refresh_token=refresh_token,
        expires_in=state.settings.jwt_exp,
        expires_at=exp,
        user=body,
    )


async def refresh(state: AuthState, token: str, client: Client) -> Row:
    """The refresh_token grant: rotate, or answer a reuse as described above.

    One statement locks, judges and writes; it is its own transaction, so a reuse's audit
    entry and ended session are committed when it raises.
    """
    if not token:
        raise ValidationFailed("refresh_token required")
    parsed = refresh_tokens.parse(token)
    if parsed is None:
        return await _refresh_hashed(state, token, client)
    if not refresh_tokens.verify(state.secret, parsed):
        raise RefreshTokenNotFound()
    return await _refresh_signed(state, parsed, client)


async def _refresh_signed(
    state: AuthState, parsed: refresh_tokens.SessionToken, client: Client
) -> Row:
    """The grant for a session-signed token whose signature was checked (decision 0012)."""
    settings = state.settings
    async with state.connection() as conn:
        found = await store.rotate_session(
            conn, parsed.session_id, parsed.counter,
            rotation=settings.refresh_token_rotation,
            window=float(settings.refresh_token_reuse_interval),
            timebox=float(settings.sessions_timebox or 0),
            idle=float(settings.sessions_inactivity_timeout or 0),
            ip=client.ip, async_commit=not settings.refresh_durable_commit,
        )  # fmt: skip
    if found is None:
        raise RefreshTokenNotFound()
    if found["outcome"] in _REFUSED:
        raise _REFUSED[found["outcome"]]()
    if found["id"] is None:
        raise RefreshTokenNotFound()
    answer = refresh_tokens.encode(state.secret, found["session_id"], found["counter"])
    return respond(state, found, found["session_id"], answer)


async def _refresh_hashed(state: AuthState, token: str, client: Client) -> Row:
    """The grant for a token stored as a hashed row (decision 0005)."""
    successors = [next_refresh_token(state.secret, token)]
    for _ in range(_MAX_CATCH_UP - 1):
        successors.append(next_refresh_token(state.secret, successors[-1]))
    hashes = [hash_token(t) for t in successors]
    async with state.connection() as conn:
        found = await _judge(conn, state, hash_token(token), hashes, client, final=False)
        if found is not None and found["outcome"] == "retry":
            found = await _judge(conn, state, hash_token(token), hashes, client, final=True)
    if found is None:
        raise RefreshTokenNotFound()
    outcome = found["outcome"]
    if outcome in _REFUSED:
        raise _REFUSED[outcome]()
    answer = {"rotate": successors[0], "keep": token}.get(outcome)
    if outcome == "catch_up":
        answer = successors[found["live"] - 1]
    if answer is None or found["id"] is None:
        raise RefreshTokenNotFound()
    return respond(state, found, found["session_id"], answer)


async def _judge(
    conn: Connection,
    state: AuthState,
    token_hash: str,
    successors: list[str],
    client: Client,
    *,
    final: bool,
) -> Row | None:
    settings = state.settings
    return await store.refresh_session(
        conn, token_hash, successors,
        rotation=settings.refresh_token_rotation,
        window=float(settings.refresh_token_reuse_interval),
        timebox=float(settings.sessions_timebox or 0),
        idle=float(settings.sessions_inactivity_timeout or 0),
        final=final, ip=client.ip, async_commit=not settings.refresh_durable_commit,
    )  # fmt: skip


_REFUSED: dict[str, Callable[[], NeoError]] = {
    "no_user": lambda: SessionNotFound(status=400),
    "banned": UserBanned,
    "expired": SessionExpired,
    "timebox": lambda: SessionExpired("Session expired (timebox)"),
    "inactive": lambda: SessionExpired("Session expired (inactivity)"),
    "reuse": RefreshTokenAlreadyUsed,
    "ahead": lambda: ValidationFailed("Invalid Refresh Token: Not Issued By This Server"),
}
