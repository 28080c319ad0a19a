"""Account use cases: sign-up (email, anonymous), the password and PKCE grants, logout.

Each use case opens its own transactions through `AuthState.transaction()` so that password
hashing (in a worker thread) never holds a pooled connection. Answers never tell whether an
account exists beyond what GoTrue's contract forces (see docs/deviations.md).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from neo.auth import links, store, throttle
from neo.auth.breached import check_not_breached
from neo.auth.errors import (
    AnonymousDisabled,
    AuthError,
    EmailNotConfirmed,
    EmailProviderDisabled,
    InvalidCredentials,
    SessionNotFound,
    SignupDisabled,
    UserAlreadyExists,
    UserBanned,
    UserNotFound,
    ValidationFailed,
)
from neo.auth.mail import Mail
from neo.auth.models import user_json
from neo.auth.params import PasswordGrant, PkceGrant, SignupParams
from neo.auth.passwords import check_password_length, check_password_strength
from neo.auth.sessions import Client, SignIn, audit, audit_payload, create_session, is_banned
from neo.auth.state import AuthState, FailAfterCommit
from neo.core.actor import Actor
from neo.core.db import Connection

Row = dict[str, Any]
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")
LOGOUT_SCOPES = ("global", "local", "others")


def normalize_email(email: str | None) -> str:
    """Lower-cased, trimmed, validated as GoTrue does; ValidationFailed otherwise."""
    value = (email or "").strip().lower()
    if not _EMAIL.match(value) or len(value) > 255:
        raise ValidationFailed("Unable to validate email address: invalid format")
    return value


def new_user(*, email: str | None, provider: str, confirmed: bool, **fields: Any) -> Row:
    """The row of a user about to be inserted."""
    now = datetime.now(UTC)
    providers = [provider]
    return {
        "id": fields.get("id") or uuid.uuid4(),
        "aud": "authenticated",
        "role": fields.get("role") or "authenticated",
        "email": email,
        "phone": None,
        "encrypted_password": fields.get("encrypted_password") or "",
        "email_confirmed_at": now if confirmed else None,
        "app_metadata": (fields.get("app_metadata") or {})
        | {"provider": provider, "providers": providers},
        "user_metadata": fields.get("user_metadata") or {},
        "is_anonymous": provider == "anonymous",
        "invited_at": fields.get("invited_at"),
        "confirmation_sent_at": fields.get("confirmation_sent_at"),
    }


async def insert_email_user(conn: Connection, row: Row) -> Row:
    """Insert a user and its email identity."""
    user = await store.insert_user(conn, row)
    data = {
        "sub": str(user["id"]),
        "email": user["email"],
        "email_verified": user["email_confirmed_at"] is not None,
        "phone_verified": False,
    }
    await store.insert_identity(
        conn, provider_id=str(user["id"]), user_id=user["id"], data=data, provider="email"
    )
    return user


async def render_user(conn: Connection, user: Row) -> Row:
    """The User JSON of a stored user (read afresh, with identities and factors)."""
    bundle = await store.select_user_bundle(conn, user["id"], None)
    if bundle is None:
        raise UserNotFound()
    return user_json(bundle, bundle["identities"], bundle["factors"])


async def sign_up(
    state: AuthState, params: SignupParams, client: Client, redirect_to: str | None
) -> Row:
    """POST /signup: a Session (autoconfirm, anonymous) or a User awaiting confirmation."""
    settings = state.settings
    if settings.disable_signup:
        raise SignupDisabled()
    if not params.email and not params.phone:
        return await sign_up_anonymously(state, params, client)
    if params.phone:
        raise ValidationFailed("Phone signups are not supported")
    if not settings.email_enabled:
        raise EmailProviderDisabled()
    email = normalize_email(params.email)
    if not params.password:
        raise ValidationFailed("Signup requires a valid password")
    check_password_strength(params.password, settings)
    links.check_challenge(state, params)
    await check_not_breached(params.password, settings)
    hashed = await state.hasher.hash(params.password)
    async with state.transaction() as conn:
        await throttle.limit_ip(conn, state, "otp", client)
        existing = await store.select_user_by_email(conn, email)
        if existing is not None:
            if settings.autoconfirm:
                raise UserAlreadyExists()
            return await _signup_existing(conn, state, existing, params, redirect_to)
        row = new_user(
            email=email, provider="email", confirmed=settings.autoconfirm,
            encrypted_password=hashed, user_metadata=params.data,
        )  # fmt: skip
        user = await insert_email_user(conn, row)
        await audit(conn, "user_signedup", client, user_id=user["id"], provider="email")
        if settings.autoconfirm:
            return await create_session(conn, state, user, method="password", client=client)
        await send_confirmation(conn, state, user, params, redirect_to)
        return await render_user(conn, user)


async def send_confirmation(
    conn: Connection, state: AuthState, user: Row, params: SignupParams, redirect_to: str | None
) -> None:
    """Mail a signup confirmation link and code (PKCE when the request carried a challenge)."""
    flow = await links.start_flow(conn, state, params, user_id=user["id"], method="email/signup")
    token, code = await links.issue_token(
        conn, state, user, "signup", relates_to=user["email"], flow_id=flow
    )
    link = links.action_link(state, token, "signup", links.safe_redirect(state, redirect_to))
    await links.send_mail(conn, state, Mail(user["email"], "signup", link, code), user["email"])
    await store.update_user(conn, "update_user_sent_at", user["id"], "confirmation")


async def _signup_existing(
    conn: Connection, state: AuthState, user: Row, params: SignupParams, redirect_to: str | None
) -> Row:
    """Answer like a new sign-up; mail the owner instead (no `identities: []` tell)."""
    if user["email_confirmed_at"] is None:
        await send_confirmation(conn, state, user, params, redirect_to)
        return await render_user(conn, user)
    await links.send_mail(conn, state, Mail(user["email"], "already_registered"), user["email"])
    fake = new_user(email=user["email"], provider="email", confirmed=False)
    fake |= {"created_at": datetime.now(UTC), "updated_at": datetime.now(UTC)}
    fake |= {"raw_app_meta_data": fake["app_metadata"], "raw_user_meta_data": params.data or {}}
    fake["confirmation_sent_at"] = datetime.now(UTC)
    fake["last_sign_in_at"] = None
    identity = {
        "id": uuid.uuid4(), "provider_id": str(fake["id"]), "user_id": fake["id"],
        "identity_data": {"sub": str(fake["id"]), "email": user["email"],
                          "email_verified": False, "phone_verified": False},
        "provider": "email", "last_sign_in_at": fake["created_at"],
        "created_at": fake["created_at"], "updated_at": fake["created_at"],
        "email": user["email"],
    }  # fmt: skip
    return user_json(fake, [identity])


async def sign_up_anonymously(state: AuthState, params: SignupParams, client: Client) -> Row:
    """An anonymous user with a session."""
    if not state.settings.anonymous_users:
        raise AnonymousDisabled()
    async with state.transaction() as conn:
        await throttle.limit_ip(conn, state, "anonymous", client)
        row = new_user(email=None, provider="anonymous", confirmed=False, user_metadata=params.data)
        user = await store.insert_user(conn, row)
        await audit(conn, "user_signedup", client, user_id=user["id"], provider="anonymous")
        return await create_session(conn, state, user, method="anonymous", client=client)


async def sign_in_with_password(state: AuthState, params: PasswordGrant, client: Client) -> Row:
    """grant_type=password; one answer for every failure (unknown, wrong, banned...)."""
    if bool(params.email) == bool(params.phone):
        raise ValidationFailed("Only an email address or phone number should be provided on login.")
    if not state.settings.email_enabled and params.email:
        raise EmailProviderDisabled()
    password = params.password or ""
    check_password_length(password, state.settings)
    account = (params.email or params.phone or "").strip().lower()
    ip_throttle, failures_throttle = throttle.login_keys(state, client, account)
    async with state.connection() as conn:  # one statement: throttles and the user
        found = await store.find_login(
            conn, account if params.email else None,
            ip_throttle=ip_throttle, failures=failures_throttle,
        )  # fmt: skip
    failures = throttle.judge_login(state, found)
    user = found if found["id"] is not None else None
    stored = (user or {}).get("encrypted_password") or None
    if not await state.hasher.verify(stored, password) or user is None:
        async with state.connection() as conn:  # one statement: the failure and its audit
            entry = audit_payload("login_failed", client, log_type="user")
            await store.record_login_failure(conn, failures_throttle, entry, client.ip)
        raise InvalidCredentials()
    return await _finish_login(state, user, password, account if failures else None, client)


async def _finish_login(
    state: AuthState, user: Row, password: str, failed_account: str | None, client: Client
) -> Row:
    if is_banned(user):
        raise UserBanned()
    if user["email_confirmed_at"] is None:
        raise EmailNotConfirmed()
    rehashed = None
    if state.hasher.needs_rehash(user["encrypted_password"]):
        rehashed = await state.hasher.hash(password)
    sign_in = SignIn(
        identity="email",
        forget=throttle.login_key(failed_account) if failed_account is not None else None,
        rehashed=rehashed,
    )
    # One statement when the session's tokens are session-signed; decision 0005's token row
    # is a second one, so that needs a transaction.
    signed = state.settings.refresh_token_algorithm_version == 2
    async with state.connection() if signed else state.transaction() as conn:
        return await create_session(
            conn, state, user, method="password", client=client, sign_in=sign_in
        )


async def exchange_code(state: AuthState, params: PkceGrant, client: Client) -> Row:
    """grant_type=pkce: a verified email flow's code and verifier -> a Session."""
    if not params.auth_code or not params.code_verifier:
        raise ValidationFailed(
            "invalid request: both auth code and code verifier should be non-empty"
        )
    async with state.transaction() as conn:
        await throttle.limit_ip(conn, state, "token", client)
    async with state.transaction() as conn:
        try:
            flow = await links.take_flow(conn, state, params.auth_code, params.code_verifier)
        except AuthError as exc:
            raise FailAfterCommit(exc) from None  # the code stays burned
        user = await store.select_user(conn, flow["user_id"])
        if user is None:
            raise UserNotFound()
        if is_banned(user):
            raise UserBanned()
        method = flow["authentication_method"]
        return await create_session(conn, state, user, method=method, client=client)


async def current_user(conn: Connection, actor: Actor) -> Row:
    """The caller's user (row, identities, factors); 403 when it or its session is gone."""
    try:
        user_id = uuid.UUID(actor.user_id or "")
    except ValueError:
        raise ValidationFailed("invalid claim: sub claim must be a UUID", status=403) from None
    session_id = _session_id(actor)
    user = await store.select_user_bundle(conn, user_id, session_id)
    if user is None:
        raise UserNotFound("User from sub claim in JWT does not exist", status=403)
    if actor.claims.get("session_id") and not user["session_exists"]:
        raise SessionNotFound()
    if is_banned(user):
        raise UserBanned(status=403)
    return user


def _session_id(actor: Actor) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(actor.claims.get("session_id") or ""))
    except ValueError:
        return None


async def get_user(state: AuthState, actor: Actor) -> Row:
    """GET /user."""
    async with state.transaction() as conn:
        user = await current_user(conn, actor)
    return user_json(user, user["identities"], user["factors"])


async def logout(state: AuthState, actor: Actor, scope: str, client: Client) -> None:
    """POST /logout?scope=global|local|others."""
    if scope not in LOGOUT_SCOPES:
        raise ValidationFailed(f"Unsupported logout scope {scope!r}")
    async with state.transaction() as conn:
        user = await current_user(conn, actor)
        session_id = actor.claims.get("session_id")
        if scope == "local" and session_id:
            await store.delete_session(conn, uuid.UUID(str(session_id)))
        elif scope == "others":
            keep = uuid.UUID(str(session_id)) if session_id else None
            await store.delete_user_sessions(conn, user["id"], keep=keep)
        else:
            await store.delete_user_sessions(conn, user["id"])
        await audit(conn, "logout", client, user_id=user["id"], scope=scope)
