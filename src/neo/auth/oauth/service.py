"""OAuth sign-in use cases: start an authorization, finish it at the callback."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from neo.auth import links, store
from neo.auth.errors import AuthError, EmailExists, UserBanned, ValidationFailed
from neo.auth.oauth import store as oauth_store
from neo.auth.oauth.providers import Provider, ProviderFailed
from neo.auth.params import PkceParams
from neo.auth.service import new_user
from neo.auth.sessions import Client, audit, create_session, is_banned
from neo.auth.state import AuthState
from neo.core.db import Connection

Row = dict[str, Any]
STATE_TTL = 600
PROFILE_CLAIMS = (
    "name", "full_name", "picture", "avatar_url", "preferred_username", "email",
    "email_verified", "sub", "iss",
)  # fmt: skip


class BadOAuthState(AuthError):
    status, code, message = 400, "bad_oauth_state", "OAuth state parameter is invalid"


class IdentityAlreadyExists(AuthError):
    status, code = 422, "identity_already_exists"
    message = "Identity is already linked to another user"


class IdentityNotFound(AuthError):
    status, code, message = 404, "identity_not_found", "Identity doesn't exist"


class SingleIdentity(AuthError):
    status, code = 422, "single_identity_not_deletable"
    message = "User must have at least 1 identity after unlinking"


async def unlink(state: AuthState, user: Row, identity_id: str) -> None:
    """DELETE /user/identities/{id}: keep at least one identity."""
    try:
        key = uuid.UUID(identity_id)
    except ValueError:
        raise IdentityNotFound() from None
    async with state.transaction() as conn:
        if await oauth_store.count_identities(conn, user["id"]) <= 1:
            raise SingleIdentity()
        provider = await oauth_store.delete_identity(conn, key, user["id"])
        if provider is None:
            raise IdentityNotFound()
        providers = [p for p in (user["raw_app_meta_data"] or {}).get("providers", [])]
        remaining = [i["provider"] for i in user["identities"] if str(i["id"]) != identity_id]
        kept = [p for p in providers if p in remaining]
        await store.update_user(conn, "update_user_app_metadata", user["id"], {"providers": kept})


@dataclass(frozen=True)
class SignedIn:
    """Where the callback sends the browser: with a session or a PKCE code."""

    redirect_to: str
    session: Row | None
    auth_code: str | None


def _provider(state: AuthState, name: str) -> Provider:
    provider = state.providers.get(name.lower())
    if provider is None:
        raise ValidationFailed("Unsupported provider: provider is not enabled")
    return provider


def callback_url(state: AuthState, provider: Provider) -> str:
    """The redirect URI registered with the provider."""
    return provider.config.redirect_uri or f"{state.api_url}/callback"


async def authorize(
    state: AuthState, name: str, *, redirect_to: str | None, scopes: str | None,
    pkce: PkceParams, link_user_id: Any = None,
) -> str:  # fmt: skip
    """The provider URL to send the browser to."""
    provider = _provider(state, name)
    endpoints = await provider.resolve(state.http)
    verifier, nonce, state_id = secrets.token_urlsafe(48), secrets.token_urlsafe(16), uuid.uuid4()
    async with state.transaction() as conn:
        flow = await links.start_flow(conn, state, pkce, user_id=None, method="oauth")
        await oauth_store.insert_oauth_state(
            conn,
            {
                "id": state_id, "provider": provider.name, "code_verifier": verifier,
                "nonce": nonce, "redirect_to": links.safe_redirect(state, redirect_to),
                "flow_state_id": flow, "link_user_id": link_user_id,
            },
        )  # fmt: skip
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "client_id": provider.config.client_id,
        "redirect_uri": callback_url(state, provider),
        "response_type": "code",
        "scope": " ".join(dict.fromkeys([*provider.scopes, *(scopes or "").split()])),
        "state": str(state_id),
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
    }
    if provider.config.kind == "oidc":
        query["nonce"] = nonce
    return f"{endpoints['authorize']}?{urlencode(query)}"


async def take_state(state: AuthState, state_id: str) -> Row:
    """The pending authorization of a callback's `state`; BadOAuthState otherwise."""
    try:
        key = uuid.UUID(state_id)
    except ValueError:
        raise BadOAuthState() from None
    async with state.transaction() as conn:
        row = await oauth_store.take_oauth_state(conn, key)
    if row is None or (datetime.now(UTC) - row["created_at"]).total_seconds() > STATE_TTL:
        raise BadOAuthState()
    return row


async def finish(state: AuthState, pending: Row, code: str, client: Client) -> SignedIn:
    """Exchange the code, find or create the user, and sign in."""
    provider = _provider(state, pending["provider"])
    if not code:
        raise ProviderFailed("OAuth callback without a code")
    tokens = await provider.exchange(
        state.http, code=code, verifier=pending["code_verifier"],
        redirect_uri=callback_url(state, provider),
    )  # fmt: skip
    claims = await provider.claims(state.http, tokens, nonce=pending["nonce"])
    async with state.transaction() as conn:
        if pending["link_user_id"] is not None:
            user = await _link_to(conn, provider, claims, pending["link_user_id"], client)
        else:
            user = await _user_for(conn, provider, claims, client)
        if is_banned(user):
            raise UserBanned()
        if pending["flow_state_id"] is not None:
            auth_code = await store.issue_flow_state_code(
                conn, pending["flow_state_id"], user["id"]
            )
            return SignedIn(pending["redirect_to"], None, auth_code)
        session = await create_session(conn, state, user, method="oauth", client=client)
    session["provider_token"] = tokens.get("access_token", "")
    if tokens.get("refresh_token"):
        session["provider_refresh_token"] = tokens["refresh_token"]
    return SignedIn(pending["redirect_to"], session, None)


async def _user_for(conn: Connection, provider: Provider, claims: Row, client: Client) -> Row:
    subject = str(claims.get("sub") or "")
    if not subject:
        raise ProviderFailed("The provider returned no subject")
    email = str(claims.get("email") or "").strip().lower() or None
    verified = bool(claims.get("email_verified")) and provider.config.trust_email_verified
    data = {k: v for k, v in claims.items() if k not in ("aud", "exp", "iat", "nonce", "at_hash")}
    data |= {"sub": subject, "provider_id": subject, "email_verified": verified}
    identity = await oauth_store.select_identity(conn, subject, provider.name)
    if identity is not None:
        await store.insert_identity(
            conn, provider_id=subject, user_id=identity["user_id"], data=data,
            provider=provider.name,
        )  # fmt: skip
        await store.touch_identity(conn, identity["user_id"], provider.name)
        user = await store.select_user(conn, identity["user_id"])
        if user is None:
            raise BadOAuthState()
        return user
    existing = await store.select_user_by_email(conn, email) if email else None
    if existing is not None:
        if not verified:
            raise EmailExists()
        await store.update_user(conn, "update_user_email_confirmed", existing["id"])
        return await _link(conn, existing, provider.name, subject, data, client)
    return await _create(conn, provider.name, subject, email, verified, data, client)


async def _link_to(
    conn: Connection, provider: Provider, claims: Row, user_id: Any, client: Client
) -> Row:
    """Link the provider account to the signed-in user who asked for it."""
    subject = str(claims.get("sub") or "")
    identity = await oauth_store.select_identity(conn, subject, provider.name)
    if identity is not None and identity["user_id"] != user_id:
        raise IdentityAlreadyExists()
    user = await store.select_user(conn, user_id)
    if user is None or not subject:
        raise BadOAuthState()
    data = {k: v for k, v in claims.items() if k not in ("aud", "exp", "iat", "nonce", "at_hash")}
    return await _link(conn, user, provider.name, subject, data | {"sub": subject}, client)


async def _link(
    conn: Connection, user: Row, provider: str, subject: str, data: Row, client: Client
) -> Row:
    await store.insert_identity(
        conn, provider_id=subject, user_id=user["id"], data=data, provider=provider
    )
    providers = list(
        dict.fromkeys([*(user["raw_app_meta_data"] or {}).get("providers", []), provider])
    )
    await store.update_user(conn, "update_user_app_metadata", user["id"], {"providers": providers})
    await audit(conn, "identity_linked", client, user_id=user["id"], provider=provider)
    return await store.select_user(conn, user["id"]) or user


async def _create(
    conn: Connection, provider: str, subject: str, email: str | None, verified: bool,
    data: Row, client: Client,
) -> Row:  # fmt: skip
    profile = {k: data[k] for k in PROFILE_CLAIMS if k in data}
    row = new_user(email=email, provider=provider, confirmed=verified, user_metadata=profile)
    user = await store.insert_user(conn, row)
    await store.insert_identity(
        conn, provider_id=subject, user_id=user["id"], data=data, provider=provider
    )
    await audit(conn, "user_signedup", client, user_id=user["id"], provider=provider)
    return user


def error_redirect(target: str, error: AuthError | None, *, code: str, description: str) -> str:
    """GoTrue's error redirect: the error both in the query and in the fragment."""
    params = {
        "error": code,
        "error_code": error.code if error else code,
        "error_description": error.message if error else description,
    }
    query = urlencode(params)
    base = target.partition("#")[0]
    return f"{base}{'&' if '?' in base else '?'}{query}#{query}"
