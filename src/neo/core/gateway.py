"""The gateway: one place that turns a request's credentials into an `Actor`.

Rules (the union of what Kong, PostgREST and GoTrue do in Supabase, spec §0.3):
1. `Authorization: Bearer <JWT>` that verifies -> the token's `role` and claims.
2. `Authorization: Bearer sb_…`, or no Authorization -> the `apikey` (header, or query
   parameter) decides: legacy anon/service JWT keys and `sb_publishable_`/`sb_secret_` keys.
3. Neither -> anon, unless strict mode requires a key.
An invalid bearer token raises `InvalidToken`; an unknown apikey raises `InvalidApiKey`; each
contract renders them in its own shape. Verified tokens are cached until they expire.

Keys that need I/O to resolve (identity's `neo_sk_` API keys, looked up in Postgres on every
request so that revocation applies at once) come from resolvers a capability registers by
prefix at start (`register_key_resolver`): the core never imports them. Resolution itself
stays synchronous (it runs in plain dependencies and the data API's hot path), so the
app's front layer (`core.middleware.Edge`) awaits the resolver once per request, before
routing (`registered_keys`, `preresolve`), and keeps the answer in a context variable that
`resolve` reads (`resolved`); a key nobody pre-resolved is refused.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Scope

from neo.core.actor import Actor, Credential
from neo.core.errors import InvalidApiKey, InvalidToken, MissingApiKey
from neo.core.keys import KeyRing
from neo.core.settings import GatewaySettings

_KEY_CREDENTIAL: dict[str, Credential] = {"anon": "anon_key", "service_role": "service_key"}

# A registered resolver: the actor of a key with its prefix, or None when the key is unknown,
# revoked or expired.
KeyResolver = Callable[[str], Awaitable[Actor | None]]
# What the middleware found for each registered-prefix key of the request.
Resolved = dict[str, Actor | Exception | None]


class Gateway:
    """Resolves credentials to actors for one key ring."""

    def __init__(self, keys: KeyRing, settings: GatewaySettings) -> None:
        self.keys = keys
        self.settings = settings
        # token -> (verified claims, valid until, the bearer's Actor once built)
        self._cache: OrderedDict[str, tuple[dict[str, Any], float, Actor | None]] = OrderedDict()
        self._resolvers: dict[str, KeyResolver] = {}
        self._prefixes: tuple[bytes, ...] = ()  # the registered prefixes, as raw header bytes
        self._resolved: ContextVar[Resolved | None] = ContextVar("neo_keys", default=None)

    def use_keys(self, keys: KeyRing) -> None:
        """Verify with `keys` from now on; tokens verified by the previous ring are forgotten
        (a retired key's tokens must not be answered from the cache)."""
        self.keys = keys
        self._cache.clear()

    def register_key_resolver(self, prefix: str, resolver: KeyResolver) -> None:
        """Resolve keys starting with `prefix` (e.g. `neo_sk_`) with `resolver`."""
        if prefix.startswith("sb_") or not prefix:
            raise ValueError(f"key prefix {prefix!r} is reserved")
        self._resolvers[prefix] = resolver
        self._prefixes = tuple(p.encode("latin-1") for p in self._resolvers)

    def _resolver_for(self, key: str) -> KeyResolver | None:
        for prefix, resolver in self._resolvers.items():
            if key.startswith(prefix):
                return resolver
        return None

    async def preresolve(self, keys: list[str]) -> Resolved:
        """Await the registered resolver of each key (errors are kept, raised by `resolve`)."""
        found: Resolved = {}
        for key in keys:
            resolver = self._resolver_for(key)
            if resolver is not None and key not in found:
                try:
                    found[key] = await resolver(key)
                except Exception as exc:  # e.g. the database is down: raised when used
                    found[key] = exc
        return found

    def registered_keys(self, scope: Scope) -> list[str]:
        """The keys of a raw request that a registered resolver claims (usually none)."""
        if not self._resolvers or not _may_carry(scope, self._prefixes):
            return []
        return [k for k in _request_keys(scope) if self._resolver_for(k) is not None]

    @contextmanager
    def resolved(self, found: Resolved) -> Iterator[None]:
        """Within this block (one request), `resolve` answers these keys from `found`."""
        token = self._resolved.set(found)
        try:
            yield
        finally:
            self._resolved.reset(token)

    def _registered_actor(self, key: str, refused: Callable[[], Exception]) -> Actor | None:
        """The pre-resolved actor of a registered-prefix key; None if no resolver claims it."""
        if self._resolver_for(key) is None:
            return None
        result = (self._resolved.get() or {}).get(key)
        if isinstance(result, Exception):
            raise result
        if result is None:
            raise refused()
        return result

    def resolve(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Actor:
        """The actor for a request's `authorization` and `apikey` (header or query)."""
        apikey = headers.get("apikey") or query.get("apikey")
        bearer = _bearer(headers.get("authorization"))
        if bearer and not bearer.startswith("sb_"):
            return self._registered_actor(bearer, _unknown_key) or self._actor_for_jwt(bearer)
        key = apikey or bearer
        if key:
            return self._actor_for_key(key)
        if self.settings.require_api_key:
            raise MissingApiKey()
        return Actor.anonymous()

    def resolve_apikey(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Actor:
        """The actor of the `apikey` alone, ignoring any bearer token: Kong's key check.

        For public routes that must refuse an unknown key but take an expired session token
        (e.g. `/auth/v1/token`); no key is anon, unless strict mode requires one.
        """
        key = headers.get("apikey") or query.get("apikey")
        if key:
            return self._actor_for_key(key)
        if self.settings.require_api_key:
            raise MissingApiKey()
        return Actor.anonymous()

    def _actor_for_key(self, key: str) -> Actor:
        registered = self._registered_actor(key, InvalidApiKey)
        if registered is not None:
            return registered
        if key.startswith("sb_"):
            role = self.keys.role_for_opaque_key(key)
            if role is None:
                raise InvalidApiKey()
            return Actor(role=role, claims={"role": role}, credential=_KEY_CREDENTIAL[role])
        try:
            claims = self.verify(key)
        except InvalidToken:
            raise InvalidApiKey() from None
        role = str(claims.get("role") or "anon")
        return Actor(role=role, claims=claims, credential=_KEY_CREDENTIAL.get(role, "jwt"))

    def _actor_for_jwt(self, token: str) -> Actor:
        """The bearer's actor; built once per cached token (an Actor is immutable)."""
        hit = self._cache.get(token)
        if hit is not None and hit[2] is not None and hit[1] > time.time():
            self._cache.move_to_end(token)
            return hit[2]
        claims = self.verify(token)
        role = claims.get("role")
        if not isinstance(role, str) or not role:
            role = "anon"
        credential = _KEY_CREDENTIAL.get(role, "jwt") if "sub" not in claims else "jwt"
        actor = Actor(role=role, claims=claims, credential=credential, token=token)
        cached = self._cache.get(token)
        if cached is not None and cached[0] is claims:
            self._cache[token] = (claims, cached[1], actor)
        return actor

    def verify(self, token: str) -> dict[str, Any]:
        """Verified claims, from the cache when this exact token was seen and is unexpired."""
        now = time.time()
        hit = self._cache.get(token)
        if hit is not None and hit[1] > now:
            self._cache.move_to_end(token)
            return hit[0]
        claims = self.keys.verify(token)
        if self.settings.jwt_cache_size:
            exp = claims.get("exp")
            until = float(exp) if isinstance(exp, int | float) else now + 300
            self._cache[token] = (claims, until, None)
            if len(self._cache) > self.settings.jwt_cache_size:
                self._cache.popitem(last=False)
        return claims


def gateway_of(scope: Scope) -> Gateway | None:
    """The gateway of the app serving `scope` (None before the core has started)."""
    core = getattr(getattr(scope.get("app"), "state", None), "core", None)
    gateway: Gateway | None = getattr(core, "gateway", None)
    return gateway


def _may_carry(scope: Scope, prefixes: tuple[bytes, ...]) -> bool:
    """False when no credential of a raw request can start with one of `prefixes` (a
    byte scan, cheaper than decoding the credentials; True leaves the answer to
    `_request_keys`)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization" or name == b"apikey":
            for prefix in prefixes:
                if prefix in value:
                    return True
    return b"apikey" in scope.get("query_string", b"")


def _request_keys(scope: Scope) -> list[str]:
    """The bearer token and the apikey (header, else query) of a raw request."""
    keys: list[str] = []
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            bearer = _bearer(value.decode("latin-1"))
            keys += [bearer] if bearer else []
        elif name == b"apikey":
            keys.append(value.decode("latin-1"))
    query: bytes = scope.get("query_string", b"")
    if b"apikey" in query:
        keys += [v for k, v in parse_qsl(query.decode("latin-1")) if k == "apikey"][:1]
    return keys


def _unknown_key() -> InvalidToken:
    return InvalidToken("Unknown, revoked or expired API key")


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None
