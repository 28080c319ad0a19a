"""Email flows: OTP / magic link, recovery, resend, and verify (codes, token hashes, links).

`/otp`, `/recover` and `/resend` answer `{}` whether or not the address has an account, and
count a mail either way, so neither the answer nor the throttle tells (auth-security A2/A4).
Verification consumes the one-time token; a wrong code counts against the token and the
token dies after `otp_max_attempts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neo.auth import links, store, throttle
from neo.auth.errors import OtpExpired, UserBanned, ValidationFailed
from neo.auth.mail import Mail
from neo.auth.params import EmailParams, OtpParams, ResendParams, SignupParams, VerifyParams
from neo.auth.service import insert_email_user, new_user, normalize_email, send_confirmation
from neo.auth.sessions import Client, audit, create_session, hash_token, is_banned
from neo.auth.state import AuthState, FailAfterCommit
from neo.core.db import Connection

Row = dict[str, Any]
EMAIL_CHANGE = ("email_change", "email_change_current")
HALF_CONFIRMED = (
    "Confirmation link accepted. Please proceed to confirm link sent to the other email"
)
_METHODS = {
    "signup": "email/signup", "invite": "invite", "magiclink": "magiclink",
    "recovery": "recovery", "email_change": "email_change",
}  # fmt: skip


@dataclass(frozen=True)
class Verified:
    """The outcome of a verification: a Session, or a PKCE auth code for the redirect."""

    session: Row | None
    auth_code: str | None
    purpose: str
    message: str | None = None  # the first half of a double email-change confirmation


def _pkce(params: OtpParams | EmailParams | ResendParams) -> SignupParams:
    return SignupParams(
        code_challenge=params.code_challenge, code_challenge_method=params.code_challenge_method
    )


async def send_otp(
    state: AuthState, params: OtpParams, client: Client, redirect_to: str | None
) -> None:
    """POST /otp (and /magiclink): a magic link + code, creating the user when allowed."""
    if params.phone:
        raise ValidationFailed("Phone OTP is not supported")
    email = normalize_email(params.email)
    links.check_challenge(state, params)
    async with state.transaction() as conn:
        await throttle.limit_ip(conn, state, "otp", client)
        user = await store.select_user_by_email(conn, email)
        if user is None:
            if not params.create_user or state.settings.disable_signup:
                await links.send_mail(conn, state, None, email)
                return
            row = new_user(
                email=email, provider="email", confirmed=False, user_metadata=params.data
            )
            user = await insert_email_user(conn, row)
            await audit(conn, "user_signedup", client, user_id=user["id"], provider="email")
        if user["email_confirmed_at"] is None:
            await send_confirmation(conn, state, user, _pkce(params), redirect_to)
            return
        await _send_link(conn, state, user, "magiclink", params, redirect_to)


async def _send_link(
    conn: Connection,
    state: AuthState,
    user: Row,
    purpose: str,
    params: OtpParams | EmailParams | ResendParams,
    redirect_to: str | None,
) -> None:
    flow = await links.start_flow(
        conn, state, _pkce(params), user_id=user["id"], method=_METHODS[purpose]
    )
    token, code = await links.issue_token(
        conn, state, user, purpose, relates_to=user["email"], flow_id=flow
    )
    link = links.action_link(state, token, purpose, links.safe_redirect(state, redirect_to))
    await links.send_mail(conn, state, Mail(user["email"], purpose, link, code), user["email"])
    sent = "recovery" if purpose in ("recovery", "magiclink") else "confirmation"
    await store.update_user(conn, "update_user_sent_at", user["id"], sent)


async def recover(
    state: AuthState, params: EmailParams, client: Client, redirect_to: str | None
) -> None:
    """POST /recover: a password-reset link + code to an existing account."""
    email = normalize_email(params.email)
    links.check_challenge(state, params)
    async with state.transaction() as conn:
        await throttle.limit_ip(conn, state, "otp", client)
        user = await store.select_user_by_email(conn, email)
        if user is None:
            await links.send_mail(conn, state, None, email)
            return
        await _send_link(conn, state, user, "recovery", params, redirect_to)


async def resend(
    state: AuthState, params: ResendParams, client: Client, redirect_to: str | None
) -> None:
    """POST /resend: the signup confirmation or the email-change link again."""
    if params.type not in ("signup", "email_change"):
        raise ValidationFailed(
            "Missing one of these types: signup, email_change, sms, phone_change"
        )
    email = normalize_email(params.email)
    links.check_challenge(state, params)
    async with state.transaction() as conn:
        await throttle.limit_ip(conn, state, "otp", client)
        user = await store.select_user_by_email(conn, email)
        if user is not None and params.type == "signup" and user["email_confirmed_at"] is None:
            await send_confirmation(conn, state, user, _pkce(params), redirect_to)
        elif user is not None and params.type == "email_change" and user["email_change"]:
            new = user["email_change"]
            token, code = await links.issue_token(conn, state, user, "email_change", relates_to=new)
            target = links.safe_redirect(state, redirect_to)
            link = links.action_link(state, token, "email_change", target)
            await links.send_mail(conn, state, Mail(new, "email_change", link, code), new)
        else:
            await links.send_mail(conn, state, None, email)


async def verify(state: AuthState, params: VerifyParams, client: Client, *, link: bool) -> Verified:
    """POST /verify (Session) and GET /verify (`link=True`: a PKCE code when the flow has one)."""
    kind = params.type or ""
    if kind not in links.VERIFY_TYPES:
        raise ValidationFailed("Verify requires a verification type")
    if not params.token_hash and not (params.token and (params.email or link)):
        raise ValidationFailed("Verify requires either a token or a token hash")
    async with state.transaction() as conn:
        await throttle.limit_ip(conn, state, "otp", client)
        token = await _find_token(conn, state, params, kind, link=link)
        user = await store.select_user(conn, token["user_id"], for_update=True)
        if user is None:
            raise OtpExpired()
        await store.delete_one_time_token(conn, token["id"])
        purpose = token["verify_type"]
        if purpose in EMAIL_CHANGE:
            pending = await store.select_one_time_tokens_for_user(conn, user["id"])
            if any(t["verify_type"] in EMAIL_CHANGE for t in pending):
                return Verified(None, None, "email_change", HALF_CONFIRMED)
            purpose = "email_change"
        await _apply(conn, user, purpose, token)
        if is_banned(user):
            raise UserBanned()
        await audit(conn, "user_confirmation_requested", client, user_id=user["id"], type=purpose)
        if link and token["flow_state_id"] is not None:
            code = await store.issue_flow_state_code(conn, token["flow_state_id"], user["id"])
            if code is None:
                raise OtpExpired()
            return Verified(None, code, purpose)
        method = "otp" if params.token and not link else _METHODS[purpose]
        session = await create_session(conn, state, user, method=method, client=client)
        return Verified(session, None, purpose)


async def _find_token(
    conn: Connection, state: AuthState, params: VerifyParams, kind: str, *, link: bool
) -> Row:
    allowed = links.VERIFY_TYPES[kind]
    if params.token_hash or link:
        token = await store.select_one_time_token_by_hash(
            conn, hash_token(params.token_hash or params.token or "")
        )
        candidates = [token] if token is not None else []
        match = candidates[0] if candidates else None
    else:
        user = await _user_for_code(conn, kind, normalize_email(params.email))
        candidates = await store.select_one_time_tokens_for_user(conn, user["id"]) if user else []
        candidates = [t for t in candidates if t["verify_type"] in allowed]
        code = params.token or ""
        match = next((t for t in candidates if links.code_matches(state, t, code)), None)
    if match is None or match["verify_type"] not in allowed:
        await _count_failure(conn, state, candidates)
        raise FailAfterCommit(OtpExpired())
    if links.is_expired(state, match):
        await store.delete_one_time_token(conn, match["id"])
        raise FailAfterCommit(OtpExpired())
    return match


async def _user_for_code(conn: Connection, kind: str, email: str) -> Row | None:
    if kind == "email_change":
        pending = await store.select_user_by_email_change(conn, email)
        return pending or await store.select_user_by_email(conn, email)
    return await store.select_user_by_email(conn, email)


async def _count_failure(conn: Connection, state: AuthState, tokens: list[Row]) -> None:
    for token in tokens:
        if await store.count_otp_attempt(conn, token["id"]) >= state.settings.otp_max_attempts:
            await store.delete_one_time_token(conn, token["id"])


async def _apply(conn: Connection, user: Row, purpose: str, token: Row) -> None:
    if purpose == "email_change":
        await store.update_user(conn, "update_user_email", user["id"], token["relates_to"], None)
        await store.update_identity_email(conn, user["id"], token["relates_to"])
    await store.update_user(conn, "update_user_email_confirmed", user["id"])
