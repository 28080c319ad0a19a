"""The auth capability's running state and its start hook.

`start(core, settings)` builds what every request needs once: the password hasher (with its
dummy hash), the mailer, and the server secret one-time codes and refresh-token derivation are
keyed with. The state lives on `app.state.auth`.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from neo.auth import store
from neo.auth.mail import Mailer
from neo.auth.oauth.providers import Provider, configured
from neo.auth.passwords import Hasher
from neo.auth.settings import AuthSettings
from neo.core.db import Connection
from neo.core.errors import NeoError
from neo.core.runtime import Core


class FailAfterCommit(Exception):
    """Raised inside `AuthState.transaction()`: commit what was written, then raise `error`.

    A refresh-token reuse must kill the session and a wrong code must count as an attempt,
    even though the request itself fails.
    """

    def __init__(self, error: NeoError) -> None:
        super().__init__(error.code)
        self.error = error


@dataclass(frozen=True)
class AuthState:
    """What auth's requests share for the app's lifetime."""

    core: Core
    settings: AuthSettings
    hasher: Hasher
    mailer: Mailer
    secret: bytes  # HMAC key for refresh-token derivation and one-time codes
    providers: dict[str, Provider]  # external sign-in (OAuth / OIDC)
    http: httpx.AsyncClient  # for calls to those providers

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One owner-pool transaction (auth's own tables); see `FailAfterCommit`."""
        pending: NeoError | None = None
        async with self.core.db.transaction() as conn:
            try:
                yield conn
            except FailAfterCommit as exc:
                pending = exc.error
        if pending is not None:
            raise pending

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """An owner-pool connection with no transaction open: each statement is its own
        (for a request whose work is one statement, like the refresh_token grant)."""
        async with self.core.db.admin.acquire() as conn:
            yield conn

    @property
    def issuer(self) -> str:
        """The `iss` of access tokens."""
        return self.core.keys.issuer

    @property
    def api_url(self) -> str:
        """Where `/auth/v1` is reached by clients (for links in mails)."""
        return f"{self.core.public_url}/auth/v1"


@asynccontextmanager
async def start(core: Core, settings: AuthSettings | None) -> AsyncIterator[AuthState]:
    """Build the state; close the providers' HTTP client and the hashing threads at the end."""
    settings = settings or AuthSettings()
    hasher = Hasher(settings)
    try:
        await hasher.prepare()
        secret = hashlib.sha256(b"neo.auth:" + core.keys.jwt_secret.encode()).digest()
        async with core.db.transaction() as conn:
            await store.prune_throttles(conn)
        async with httpx.AsyncClient(timeout=10.0) as http:
            yield AuthState(
                core, settings, hasher, Mailer(settings.smtp), secret,
                configured(settings.external), http,
            )  # fmt: skip
    finally:
        hasher.close()
