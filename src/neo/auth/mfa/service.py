"""MFA use cases: enroll, challenge, verify (step-up to aal2) and unenroll a TOTP factor."""

from __future__ import annotations

import hmac
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pyotp
import segno

from neo.auth import refresh_tokens, store, throttle
from neo.auth.errors import (
    InsufficientAal,
    MfaChallengeExpired,
    MfaFactorNameConflict,
    MfaFactorNotFound,
    MfaVerificationFailed,
    NoAuthorization,
    TooManyFactors,
    ValidationFailed,
)
from neo.auth.mfa import store as mfa_store
from neo.auth.models import factor_json
from neo.auth.service import current_user
from neo.auth.sessions import Client, audit, hash_token, token_response
from neo.auth.state import AuthState, FailAfterCommit
from neo.core.actor import Actor
from neo.core.db import Connection

Row = dict[str, Any]
CHALLENGE_TTL = 300
MAX_FACTORS = 10
MAX_ATTEMPTS = 5
STEP = 30


def _parse_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise MfaFactorNotFound() from None


async def _user_and_session(conn: Connection, actor: Actor) -> tuple[Row, Row | None]:
    user = await current_user(conn, actor)
    if user["is_anonymous"]:
        raise NoAuthorization("Anonymous user not allowed to perform these actions", status=403)
    session_id = actor.claims.get("session_id")
    session = await store.select_session(conn, uuid.UUID(str(session_id))) if session_id else None
    return user, session


async def enroll(
    state: AuthState, actor: Actor, *, factor_type: str, friendly_name: str, issuer: str | None
) -> Row:
    """POST /factors: a new unverified TOTP factor with its QR code, secret and URI."""
    if factor_type != "totp":
        raise ValidationFailed("factor_type must be totp")
    async with state.transaction() as conn:
        user, session = await _user_and_session(conn, actor)
        await mfa_store.delete_stale_factors(conn, user["id"])
        factors = await store.select_factors(conn, user["id"])
        if len(factors) >= MAX_FACTORS:
            raise TooManyFactors()
        if any(f["status"] == "verified" for f in factors) and (session or {}).get("aal") != "aal2":
            raise InsufficientAal("AAL2 required to enroll a new factor")
        if friendly_name and any(f["friendly_name"] == friendly_name for f in factors):
            raise MfaFactorNameConflict(
                f'A factor with the friendly name "{friendly_name}" for this user already exists'
            )
        secret = pyotp.random_base32()
        label = user["email"] or str(user["id"])
        issuer = issuer or urlsplit(state.settings.site_url).hostname or "neo"
        uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=issuer)
        factor = await mfa_store.insert_factor(
            conn, factor_id=uuid.uuid4(), user_id=user["id"], friendly_name=friendly_name,
            secret=secret,
        )  # fmt: skip
    svg = segno.make(uri, error="m").svg_inline(scale=4)
    return {
        "id": str(factor["id"]),
        "type": "totp",
        "friendly_name": friendly_name,
        "totp": {"qr_code": svg, "secret": secret, "uri": uri},
    }


async def challenge(state: AuthState, actor: Actor, factor_id: str, client: Client) -> Row:
    """POST /factors/{id}/challenge."""
    async with state.transaction() as conn:
        await throttle.limit_ip(conn, state, "mfa", client)
        user, _ = await _user_and_session(conn, actor)
        factor = await mfa_store.select_factor(conn, _parse_id(factor_id), user["id"])
        if factor is None:
            raise MfaFactorNotFound()
        challenge_id, created = await mfa_store.insert_challenge(conn, factor["id"], client.ip)
    return {
        "id": str(challenge_id),
        "type": "totp",
        "expires_at": int(created.timestamp()) + CHALLENGE_TTL,
    }


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step (now, one before or after) whose code is `code`, else None."""
    totp = pyotp.TOTP(secret)
    current = int(now // STEP)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.at(step * STEP), code):
            return step
    return None


async def verify(
    state: AuthState, actor: Actor, factor_id: str, *, challenge_id: str, code: str, client: Client
) -> Row:
    """POST /factors/{id}/verify: a Session at aal2 with a fresh refresh token."""
    async with state.transaction() as conn:
        await throttle.limit_ip(conn, state, "mfa", client)
        user, session = await _user_and_session(conn, actor)
        factor = await mfa_store.select_factor(conn, _parse_id(factor_id), user["id"])
        if factor is None or session is None:
            raise MfaFactorNotFound()
        await _check_code(conn, factor, challenge_id, code)
        await mfa_store.update_session_aal(conn, session["id"], "aal2", factor["id"])
        await store.insert_amr_claim(conn, session["id"], "totp")
        token = await _step_up_refresh_token(conn, state, user, session)
        await audit(conn, "verification_attempted", client, user_id=user["id"], factor=factor["id"])
        return await token_response(conn, state, user["id"], session["id"], token)


async def _step_up_refresh_token(
    conn: Connection, state: AuthState, user: Row, session: Row
) -> str:
    """A new refresh token for a stepped-up session; its earlier ones count as used.

    A session-signed session's counter moves two up (as GoTrue's): the token one behind the
    new one was never issued, so the aal1 token is two behind, a reuse, never a catch-up.
    """
    if session["refresh_token_hmac_key"] == refresh_tokens.KEY_NAME:
        counter = await mfa_store.advance_session_counter(conn, session["id"], 2)
        return refresh_tokens.encode(state.secret, session["id"], counter)
    await mfa_store.revoke_session_refresh_tokens(conn, session["id"])
    token = secrets.token_urlsafe(24)
    await store.insert_refresh_token(
        conn, token_hash=hash_token(token), user_id=user["id"], session_id=session["id"],
        parent=None,
    )  # fmt: skip
    return token


async def _check_code(conn: Connection, factor: Row, challenge_id: str, code: str) -> None:
    try:
        cid = uuid.UUID(challenge_id)
    except ValueError:
        raise MfaVerificationFailed("Challenge not found") from None
    found = await mfa_store.select_challenge(conn, cid, factor["id"])
    if found is None or found["verified_at"] is not None:
        raise MfaVerificationFailed("Challenge not found")
    if (datetime.now(UTC) - found["created_at"]).total_seconds() > CHALLENGE_TTL:
        await mfa_store.delete_challenge(conn, cid)
        raise FailAfterCommit(MfaChallengeExpired(f"MFA challenge {cid} has expired"))
    step = matching_step(factor["secret"] or "", code.strip(), time.time())
    used = factor.get("last_used_step")
    if step is None or (used is not None and step <= used):
        if await mfa_store.count_challenge_attempt(conn, cid) >= MAX_ATTEMPTS:
            await mfa_store.delete_challenge(conn, cid)
        raise FailAfterCommit(MfaVerificationFailed())
    await mfa_store.verify_factor(conn, factor["id"], step)
    await mfa_store.delete_challenge(conn, cid)


async def unenroll(state: AuthState, actor: Actor, factor_id: str) -> Row:
    """DELETE /factors/{id}."""
    async with state.transaction() as conn:
        user, session = await _user_and_session(conn, actor)
        factor = await mfa_store.select_factor(conn, _parse_id(factor_id), user["id"])
        if factor is None:
            raise MfaFactorNotFound()
        if factor["status"] == "verified" and (session or {}).get("aal") != "aal2":
            raise InsufficientAal("AAL2 required to unenroll verified factor", status=422)
        await mfa_store.delete_factor(conn, factor["id"], user["id"])
        await mfa_store.downgrade_factor_sessions(conn, factor["id"])
    return {"id": str(factor["id"])}


async def list_user_factors(state: AuthState, user_id: str) -> list[Row]:
    """GET /admin/users/{id}/factors."""
    async with state.transaction() as conn:
        return [factor_json(f) for f in await store.select_factors(conn, _parse_id(user_id))]


async def delete_user_factor(state: AuthState, user_id: str, factor_id: str) -> Row:
    """DELETE /admin/users/{id}/factors/{factor_id}: the removed Factor."""
    async with state.transaction() as conn:
        factor = await mfa_store.delete_factor(conn, _parse_id(factor_id), _parse_id(user_id))
        if factor is None:
            raise MfaFactorNotFound()
        await mfa_store.downgrade_factor_sessions(conn, factor["id"])
    return factor_json(factor)
