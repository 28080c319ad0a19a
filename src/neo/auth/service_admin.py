"""The admin API (service role): users CRUD with pagination, invite, generate_link, mailbox.

Bodies and answers are GoTrue's (spec §1.9). Imported password hashes (`password_hash`) may
be bcrypt (Supabase), argon2 or Firebase scrypt; they are upgraded at the next login.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from neo.auth import fbscrypt, links, store
from neo.auth.errors import EmailExists, UserNotFound, ValidationFailed
from neo.auth.mail import Mail
from neo.auth.models import timestamp
from neo.auth.params import AdminUser, GenerateLinkParams, InviteParams
from neo.auth.passwords import check_password_strength
from neo.auth.service import insert_email_user, new_user, normalize_email, render_user
from neo.auth.sessions import Client, audit
from neo.auth.state import AuthState
from neo.core.db import Connection

Row = dict[str, Any]
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_HASH_PREFIXES = ("$2a$", "$2b$", "$2y$", "$argon2id$", "$argon2i$", fbscrypt.PREFIX)


def parse_ban(value: str) -> datetime | None:
    """A Go duration (`24h`, `1h30m`) from now, or None for `none`."""
    if value == "none":
        return None
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValidationFailed("invalid format for ban duration: " + value)
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _user_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise UserNotFound() from None


async def _password_hash(state: AuthState, params: AdminUser) -> str | None:
    if params.password_hash:
        hashed = params.password_hash
        malformed = hashed.startswith(fbscrypt.PREFIX) and fbscrypt.parse(hashed) is None
        if not hashed.startswith(_HASH_PREFIXES) or malformed:
            raise ValidationFailed("Invalid password hash format")
        return params.password_hash
    if params.password:
        check_password_strength(params.password, state.settings)
        return await state.hasher.hash(params.password)
    return None


async def create_user(state: AuthState, params: AdminUser, client: Client) -> Row:
    """POST /admin/users."""
    if params.phone:
        raise ValidationFailed("Phone users are not supported")
    if not params.email:
        raise ValidationFailed("Cannot create a user without either an email or phone")
    email = normalize_email(params.email)
    hashed = await _password_hash(state, params)
    row = new_user(
        email=email, provider="email", confirmed=bool(params.email_confirm),
        encrypted_password=hashed, user_metadata=params.user_metadata,
        app_metadata=params.app_metadata, role=params.role,
        id=uuid.UUID(params.id) if params.id else None,
    )  # fmt: skip
    async with state.transaction() as conn:
        if await store.select_user_by_email(conn, email) is not None:
            raise EmailExists()
        user = await insert_email_user(conn, row)
        if params.ban_duration:
            await store.update_user(
                conn, "update_user_ban", user["id"], parse_ban(params.ban_duration)
            )
        await audit(conn, "user_signedup", client, log_type="team", user_id=user["id"])
        return await render_user(conn, await _get(conn, user["id"]))


async def _get(conn: Connection, user_id: uuid.UUID) -> Row:
    user = await store.select_user(conn, user_id)
    if user is None:
        raise UserNotFound()
    return user


async def list_users(
    state: AuthState, *, page: int, per_page: int, email: str | None
) -> tuple[list[Row], int]:
    """GET /admin/users: one page of users and the total."""
    async with state.transaction() as conn:
        rows, total = await store.select_users(
            conn, limit=per_page, offset=(page - 1) * per_page, email=email
        )
        return [await render_user(conn, r) for r in rows], total


async def get_user(state: AuthState, user_id: str) -> Row:
    """GET /admin/users/{id}."""
    async with state.transaction() as conn:
        return await render_user(conn, await _get(conn, _user_id(user_id)))


async def update_user(state: AuthState, user_id: str, params: AdminUser, client: Client) -> Row:
    """PUT /admin/users/{id}: the given attributes only."""
    uid = _user_id(user_id)
    hashed = await _password_hash(state, params)
    async with state.transaction() as conn:
        user = await _get(conn, uid)
        if params.email:
            email = normalize_email(params.email)
            if email != user["email"]:
                other = await store.select_user_by_email(conn, email)
                if other is not None:
                    raise EmailExists()
                await store.update_user(conn, "update_user_email", uid, email, None)
                await store.update_identity_email(conn, uid, email)
        await _apply_attributes(conn, uid, params, hashed)
        await audit(conn, "user_modified", client, log_type="team", user_id=uid)
        return await render_user(conn, await _get(conn, uid))


async def _apply_attributes(
    conn: Connection, uid: uuid.UUID, params: AdminUser, hashed: str | None
) -> None:
    if hashed is not None:
        await store.update_user(conn, "update_user_password", uid, hashed)
    if params.email_confirm:
        await store.update_user(conn, "update_user_email_confirmed", uid)
    if params.user_metadata is not None:
        await store.update_user(conn, "update_user_metadata", uid, params.user_metadata)
    if params.app_metadata is not None:
        await store.update_user(conn, "update_user_app_metadata", uid, params.app_metadata)
    if params.role:
        await store.update_user(conn, "update_user_role", uid, params.role)
    if params.ban_duration:
        await store.update_user(conn, "update_user_ban", uid, parse_ban(params.ban_duration))
        await store.delete_user_sessions(conn, uid)


async def delete_user(state: AuthState, user_id: str, *, soft: bool, client: Client) -> None:
    """DELETE /admin/users/{id}."""
    uid = _user_id(user_id)
    async with state.transaction() as conn:
        if soft:
            await store.delete_user_sessions(conn, uid)
        if not await store.delete_user(conn, uid, soft=soft):
            raise UserNotFound()
        await audit(conn, "user_deleted", client, log_type="team", user_id=uid)


async def revoke_sessions(state: AuthState, user_id: str | None, client: Client) -> None:
    """DELETE /admin/users/{id}/sessions (one user) or /admin/sessions (everyone)."""
    async with state.transaction() as conn:
        if user_id is None:
            await store.delete_all_sessions(conn)
        else:
            uid = _user_id(user_id)
            await _get(conn, uid)
            await store.delete_user_sessions(conn, uid)
        await audit(conn, "sessions_revoked", client, log_type="team", user_id=user_id or "*")


async def invite(
    state: AuthState, params: InviteParams, client: Client, redirect_to: str | None
) -> Row:
    """POST /invite: a new user with `invited_at`, and an invite mail."""
    email = normalize_email(params.email)
    async with state.transaction() as conn:
        if await store.select_user_by_email(conn, email) is not None:
            raise EmailExists()
        now = datetime.now(UTC)
        row = new_user(email=email, provider="email", confirmed=False, user_metadata=params.data)
        user = await insert_email_user(conn, row | {"invited_at": now})
        token, code = await links.issue_token(conn, state, user, "invite", relates_to=email)
        link = links.action_link(state, token, "invite", links.safe_redirect(state, redirect_to))
        await links.send_mail(conn, state, Mail(email, "invite", link, code), email)
        await audit(conn, "user_invited", client, log_type="team", user_id=user["id"])
        return await render_user(conn, await _get(conn, user["id"]))


LINK_TYPES = (
    "signup",
    "invite",
    "magiclink",
    "recovery",
    "email_change_current",
    "email_change_new",
)


async def generate_link(
    state: AuthState, params: GenerateLinkParams, client: Client, redirect_to: str | None
) -> Row:
    """POST /admin/generate_link: the User, flattened, plus the link properties."""
    kind = params.type or ""
    if kind not in LINK_TYPES:
        raise ValidationFailed("Invalid type")
    email = normalize_email(params.email)
    hashed = await state.hasher.hash(params.password) if params.password else None
    if params.password:
        check_password_strength(params.password, state.settings)
    async with state.transaction() as conn:
        user = await _link_user(conn, kind, email, params, hashed)
        purpose, relates_to = _purpose(kind, email, params)
        if purpose.startswith("email_change"):
            await store.update_user(conn, "update_user_email_change", user["id"], relates_to)
        token, code = await links.issue_token(conn, state, user, purpose, relates_to=relates_to)
        target = links.safe_redirect(state, redirect_to or params.redirect_to)
        body = await render_user(conn, await _get(conn, user["id"]))
        await audit(conn, "generate_link", client, log_type="team", user_id=user["id"], type=kind)
    verify_type = "email_change" if purpose.startswith("email_change") else purpose
    return body | {
        "action_link": links.action_link(state, token, verify_type, target),
        "email_otp": code,
        "hashed_token": token,
        "verification_type": verify_type,
        "redirect_to": target,
    }


def _purpose(kind: str, email: str, params: GenerateLinkParams) -> tuple[str, str]:
    if kind.startswith("email_change"):
        if not params.new_email:
            raise ValidationFailed("new_email is required for email change links")
        purpose = "email_change_current" if kind == "email_change_current" else "email_change"
        return purpose, normalize_email(params.new_email)
    return kind, email


async def _link_user(
    conn: Connection, kind: str, email: str, params: GenerateLinkParams, hashed: str | None
) -> Row:
    user = await store.select_user_by_email(conn, email)
    if kind in ("signup", "invite"):
        if user is not None and (kind == "invite" or user["email_confirmed_at"] is not None):
            raise EmailExists()
        if user is None:
            extra = {"invited_at": datetime.now(UTC)} if kind == "invite" else {}
            row = new_user(
                email=email, provider="email", confirmed=False,
                encrypted_password=hashed, user_metadata=params.data,
            )  # fmt: skip
            user = await insert_email_user(conn, row | extra)
        return user
    if user is None:
        raise UserNotFound("User with this email not found")
    return user


async def read_mailbox(state: AuthState, recipient: str | None, limit: int) -> list[Row]:
    """GET /admin/mailbox: the dev mailbox, newest first."""
    async with state.transaction() as conn:
        rows = await store.select_mail(conn, recipient, limit)
    keys = ("id", "recipient", "subject", "kind", "body_text", "body_html", "link", "code")
    return [{k: r[k] for k in keys} | {"created_at": timestamp(r["created_at"])} for r in rows]


async def clear_mailbox(state: AuthState, recipient: str | None) -> None:
    """DELETE /admin/mailbox."""
    async with state.transaction() as conn:
        await store.delete_mail(conn, recipient)
