"""One-time links and codes, PKCE flow state, redirect checks and throttled mail.

A link token is 256 random bits; only its SHA-256 is stored (`auth.one_time_tokens.
token_hash`). The short code sent with it is stored as an HMAC keyed by a server secret
and bound to user and purpose, and each token allows `otp_max_attempts` wrong guesses.
Tokens are single-use, expire after `otp_expiry` and carry their purpose (`verify_type`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from neo.auth import store
from neo.auth.errors import BadCodeVerifier, FlowStateExpired, FlowStateNotFound, ValidationFailed
from neo.auth.mail import Mail
from neo.auth.params import PkceParams
from neo.auth.sessions import hash_token
from neo.auth.state import AuthState
from neo.auth.throttle import email_allowed
from neo.core.db import Connection

Row = dict[str, Any]

# verify `type` -> (token_type column value, purposes it accepts)
VERIFY_TYPES: dict[str, tuple[str, ...]] = {
    "signup": ("signup",),
    "invite": ("invite",),
    "magiclink": ("magiclink",),
    "recovery": ("recovery",),
    "email": ("signup", "magiclink", "invite"),
    "email_change": ("email_change", "email_change_current"),
}
TOKEN_TYPES = {
    "signup": "confirmation_token",
    "invite": "confirmation_token",
    "magiclink": "recovery_token",
    "recovery": "recovery_token",
    "email_change": "email_change_token_new",
    "email_change_current": "email_change_token_current",
    "reauthentication": "reauthentication_token",
}


def code_hash(state: AuthState, user_id: Any, purpose: str, code: str) -> str:
    """The stored form of a short code, bound to its user and purpose."""
    message = f"{user_id}:{purpose}:{code}".encode()
    return hmac.new(state.secret, message, hashlib.sha256).hexdigest()


def code_matches(state: AuthState, token: Row, code: str, purpose: str | None = None) -> bool:
    """True when `code` is the one issued with `token` (compared in constant time)."""
    expected = code_hash(state, token["user_id"], purpose or token["verify_type"], code)
    return hmac.compare_digest(str(token["code_hash"] or ""), expected)


async def issue_token(
    conn: Connection,
    state: AuthState,
    user: Row,
    purpose: str,
    *,
    relates_to: str,
    flow_id: uuid.UUID | None = None,
) -> tuple[str, str]:
    """A fresh (link token, code) pair for `purpose`, replacing the previous one."""
    link_token = secrets.token_hex(32)
    code = "".join(secrets.choice("0123456789") for _ in range(state.settings.otp_length))
    await store.upsert_one_time_token(
        conn,
        {
            "user_id": user["id"],
            "token_type": TOKEN_TYPES[purpose],
            "token_hash": hash_token(link_token),
            "relates_to": relates_to,
            "code_hash": code_hash(state, user["id"], purpose, code),
            "flow_state_id": flow_id,
            "verify_type": purpose,
        },
    )
    return link_token, code


def is_expired(state: AuthState, token: Row) -> bool:
    """True when a one-time token is older than `otp_expiry`."""
    created: datetime = token["created_at"].replace(tzinfo=UTC)
    return (datetime.now(UTC) - created).total_seconds() > state.settings.otp_expiry


def action_link(state: AuthState, link_token: str, purpose: str, redirect_to: str) -> str:
    """The `/verify` link a mail carries."""
    query = urlencode({"token": link_token, "type": purpose, "redirect_to": redirect_to})
    return f"{state.api_url}/verify?{query}"


def check_challenge(state: AuthState, params: PkceParams) -> str:
    """The challenge method (`s256`/`plain`) of a well-formed challenge; ValidationFailed else.

    Called before any account lookup, so a bad challenge is refused alike for every address.
    """
    if not params.code_challenge:
        return ""
    kind = (params.code_challenge_method or "").lower()
    if kind not in ("s256", "plain") or (kind == "plain" and not state.settings.pkce_allow_plain):
        raise ValidationFailed("Unsupported code challenge method")
    if not 43 <= len(params.code_challenge) <= 128:
        raise ValidationFailed("code challenge has to be between 43 and 128 characters")
    return kind


async def start_flow(
    conn: Connection, state: AuthState, params: PkceParams, *, user_id: Any, method: str
) -> uuid.UUID | None:
    """A PKCE flow state when the request carries a code challenge, else None."""
    if not params.code_challenge:
        return None
    kind = check_challenge(state, params)
    flow_id = uuid.uuid4()
    await store.insert_flow_state(
        conn,
        {
            "id": flow_id, "user_id": user_id, "auth_code": str(uuid.uuid4()),
            "code_challenge_method": kind, "code_challenge": params.code_challenge,
            "provider_type": "email", "authentication_method": method,
        },
    )  # fmt: skip
    return flow_id


async def take_flow(conn: Connection, state: AuthState, auth_code: str, verifier: str) -> Row:
    """The flow of an exchanged code; the code is burned even when the verifier is wrong."""
    flow = await store.take_flow_state(conn, auth_code)
    if flow is None or flow["auth_code_issued_at"] is None or flow["user_id"] is None:
        raise FlowStateNotFound()
    age = (datetime.now(UTC) - flow["auth_code_issued_at"]).total_seconds()
    if age > state.settings.flow_state_expiry:
        raise FlowStateExpired()
    if not 43 <= len(verifier) <= 128:
        raise ValidationFailed("code verifier should be between 43 and 128 characters")
    expected = verifier
    if flow["code_challenge_method"] == "s256":
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    if not hmac.compare_digest(expected, flow["code_challenge"]):
        raise BadCodeVerifier()
    return flow


def safe_redirect(state: AuthState, redirect_to: str | None) -> str:
    """`redirect_to` when it matches the site URL or the allow list, else the site URL."""
    site = state.settings.site_url
    unsafe = any(c in "\\ " or ord(c) < 0x20 or ord(c) == 0x7F for c in redirect_to or "")
    if not redirect_to or unsafe or len(redirect_to) > 2048 or _climbs(redirect_to):
        return site
    if any(_matches(redirect_to, allowed) for allowed in [site, *state.settings.uri_allow_list]):
        return redirect_to
    return site


def _climbs(url: str) -> bool:
    """True when the path has `.`/`..` segments (also %2e-encoded): browsers resolve them,
    so `/docs/../admin` would leave an allow-listed prefix."""
    segments = unquote(urlsplit(url).path).split("/")
    return any(s in (".", "..") for s in segments)


def _matches(url: str, allowed: str) -> bool:
    glob = allowed.endswith("*")
    base = allowed.rstrip("*")
    want, got = urlsplit(base), urlsplit(url)
    if got.scheme not in ("http", "https") and got.scheme != want.scheme:
        return False
    if got.username or got.password or (got.scheme, got.netloc) != (want.scheme, want.netloc):
        return False
    prefix = want.path.rstrip("/")
    if glob:
        return got.path.startswith(want.path)
    return got.path in (prefix, prefix + "/") or got.path.startswith(prefix + "/") or not prefix


async def send_mail(conn: Connection, state: AuthState, mail: Mail | None, address: str) -> None:
    """Throttle, then send `mail` (None: count the attempt the same way, send nothing)."""
    if await email_allowed(conn, state, address) and mail is not None:
        await state.mailer.send(conn, mail)
