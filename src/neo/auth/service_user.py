"""The signed-in user's own account: PUT /user (password, email, metadata), reauthenticate.

A password change ends the user's other sessions (ASVS 6.2.3 / 7.4.3). An email change is
confirmed through a link to the new address, except for anonymous users under autoconfirm
(GoTrue's rule). A password change needs a nonce from `GET /reauthenticate` when
`secure_password_change` is set, or once the token's newest sign-in is older than
`password_change_reauth_after`. Users list their sessions and end one of them (`/sessions`).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from neo.auth import links, store
from neo.auth.breached import check_not_breached
from neo.auth.errors import (
    EmailExists,
    NotAdmin,
    ReauthenticationNeeded,
    ReauthenticationNotValid,
    SamePassword,
    SessionNotFound,
    ValidationFailed,
)
from neo.auth.mail import Mail
from neo.auth.params import UserUpdate
from neo.auth.passwords import check_password_strength
from neo.auth.service import current_user, normalize_email, render_user
from neo.auth.sessions import Client, audit
from neo.auth.state import AuthState, FailAfterCommit
from neo.core.actor import Actor
from neo.core.db import Connection

Row = dict[str, Any]


async def update_user(
    state: AuthState, actor: Actor, params: UserUpdate, client: Client, redirect_to: str | None
) -> Row:
    """PUT /user: the updated User."""
    if params.app_metadata is not None:
        raise NotAdmin("Updating app_metadata requires admin privileges")
    if params.phone:
        raise ValidationFailed("Phone changes are not supported")
    async with state.transaction() as conn:
        user = await current_user(conn, actor)
    hashed = await _new_password_hash(state, user, params)
    async with state.transaction() as conn:
        user = await current_user(conn, actor)
        if hashed is not None:
            await _set_password(conn, state, user, params, hashed, actor, client)
        if params.data is not None:
            await store.update_user(conn, "update_user_metadata", user["id"], params.data)
        if params.email:
            await _change_email(conn, state, user, params, redirect_to)
        return await render_user(conn, user)


async def _new_password_hash(state: AuthState, user: Row, params: UserUpdate) -> str | None:
    if params.password is None:
        return None
    check_password_strength(params.password, state.settings)
    await check_not_breached(params.password, state.settings)
    stored = user["encrypted_password"] or None
    if stored and await state.hasher.verify(stored, params.password):
        raise SamePassword()
    return await state.hasher.hash(params.password)


async def _set_password(
    conn: Connection,
    state: AuthState,
    user: Row,
    params: UserUpdate,
    hashed: str,
    actor: Actor,
    client: Client,
) -> None:
    if state.settings.secure_password_change or params.nonce or _signed_in_long_ago(state, actor):
        await _consume_nonce(conn, state, user, params.nonce)
    await store.update_user(conn, "update_user_password", user["id"], hashed)
    session_id = actor.claims.get("session_id")
    keep = uuid.UUID(str(session_id)) if session_id else None
    await store.delete_user_sessions(conn, user["id"], keep=keep)
    await audit(conn, "user_updated_password", client, user_id=user["id"])


def _signed_in_long_ago(state: AuthState, actor: Actor) -> bool:
    """True when the token's newest authentication (`amr`) is older than the re-auth limit."""
    limit = state.settings.password_change_reauth_after
    amr = actor.claims.get("amr")
    times = (
        [a.get("timestamp") for a in amr if isinstance(a, dict)] if isinstance(amr, list) else []
    )
    newest = max((t for t in times if isinstance(t, int | float)), default=0)
    return bool(limit) and time.time() - newest > limit


async def _consume_nonce(conn: Connection, state: AuthState, user: Row, nonce: str | None) -> None:
    if not nonce:
        raise ReauthenticationNeeded()
    tokens = await store.select_one_time_tokens_for_user(conn, user["id"])
    token = next((t for t in tokens if t["verify_type"] == "reauthentication"), None)
    if token is None or links.is_expired(state, token):
        raise ReauthenticationNotValid()
    if not links.code_matches(state, token, nonce, "reauthentication"):
        if await store.count_otp_attempt(conn, token["id"]) >= state.settings.otp_max_attempts:
            await store.delete_one_time_token(conn, token["id"])
        raise FailAfterCommit(ReauthenticationNotValid())
    await store.delete_one_time_token(conn, token["id"])


async def _change_email(
    conn: Connection, state: AuthState, user: Row, params: UserUpdate, redirect_to: str | None
) -> None:
    email = normalize_email(params.email)
    if email == (user["email"] or ""):
        return
    other = await store.select_user_by_email(conn, email)
    if other is not None and other["id"] != user["id"]:
        raise EmailExists()
    if user["is_anonymous"] and state.settings.autoconfirm:
        await _convert_anonymous(conn, user, email)
        return
    await store.update_user(conn, "update_user_email_change", user["id"], email)
    flow = await links.start_flow(conn, state, params, user_id=user["id"], method="email_change")
    target = links.safe_redirect(state, redirect_to)
    recipients = [("email_change", email)]
    if state.settings.secure_email_change and user["email"]:
        recipients.append(("email_change_current", user["email"]))
    for purpose, address in recipients:
        token, code = await links.issue_token(
            conn, state, user, purpose, relates_to=email, flow_id=flow
        )
        link = links.action_link(state, token, "email_change", target)
        await links.send_mail(conn, state, Mail(address, "email_change", link, code), address)


async def _convert_anonymous(conn: Connection, user: Row, email: str) -> None:
    """An anonymous user who adds an email becomes an email user (autoconfirm on)."""
    now = datetime.now(UTC)
    await store.update_user(conn, "update_user_email", user["id"], email, now)
    await store.update_user(
        conn, "update_user_app_metadata", user["id"], {"provider": "email", "providers": ["email"]}
    )
    data = {"sub": str(user["id"]), "email": email, "email_verified": True, "phone_verified": False}
    await store.insert_identity(
        conn, provider_id=str(user["id"]), user_id=user["id"], data=data, provider="email"
    )


async def reauthenticate(state: AuthState, actor: Actor) -> None:
    """GET /reauthenticate: mail a nonce for a password change."""
    async with state.transaction() as conn:
        user = await current_user(conn, actor)
        if not user["email"]:
            raise ValidationFailed("Reauthentication requires the user to have an email")
        _, code = await links.issue_token(
            conn, state, user, "reauthentication", relates_to=user["email"]
        )
        mail = Mail(user["email"], "reauthentication", None, code)
        await links.send_mail(conn, state, mail, user["email"])
        await store.update_user(conn, "update_user_sent_at", user["id"], "reauthentication")


async def list_sessions(state: AuthState, actor: Actor) -> list[Row]:
    """GET /sessions: the caller's sessions (device, IP, last seen), `current` marked."""
    async with state.transaction() as conn:
        user = await current_user(conn, actor)
        rows = await store.select_user_sessions(conn, user["id"])
    current = str(actor.claims.get("session_id") or "")
    return [
        {k: _iso(v) for k, v in row.items()}
        | {"id": str(row["id"]), "current": str(row["id"]) == current}
        for row in rows
    ]


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def revoke_session(state: AuthState, actor: Actor, session_id: str, client: Client) -> None:
    """DELETE /sessions/{id}: end one of the caller's sessions; 404 for anyone else's."""
    try:
        sid = uuid.UUID(session_id)
    except ValueError:
        raise SessionNotFound(status=404) from None
    async with state.transaction() as conn:
        user = await current_user(conn, actor)
        if not await store.delete_user_session(conn, sid, user["id"]):
            raise SessionNotFound(status=404)
        await audit(conn, "session_revoked", client, user_id=user["id"], session_id=sid)
