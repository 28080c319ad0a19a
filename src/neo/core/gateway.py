"""The gateway: one place that turns a request's credentials into an `Actor`.

Rules (the union of what Kong, PostgREST and GoTrue do in Supabase, spec §0.3):
1. `Authorization: Bearer <JWT>` that verifies -> the token's `role` and claims.
2. `Authorization: Bearer sb_…`, or no Authorization -> the `apikey` (header, or query
   parameter) decides: legacy anon/service JWT keys and `sb_publishable_`/`sb_secret_` keys.
3. Neither -> anon, unless strict mode requires a key.
An invalid bearer token raises `InvalidToken`; an unknown apikey raises `InvalidApiKey`; each
contract renders them in its own shape. Verified tokens are cached until they expire.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from neo.core.actor import Actor, Credential
from neo.core.errors import InvalidApiKey, InvalidToken, MissingApiKey
from neo.core.keys import KeyRing
from neo.core.settings import GatewaySettings

_KEY_CREDENTIAL: dict[str, Credential] = {"anon": "anon_key", "service_role": "service_key"}


class Gateway:
    """Resolves credentials to actors for one key ring."""

    def __init__(self, keys: KeyRing, settings: GatewaySettings) -> None:
        self.keys = keys
        self.settings = settings
        self._cache: OrderedDict[str, tuple[dict[str, Any], float]] = OrderedDict()

    def resolve(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Actor:
        """The actor for a request's `authorization` and `apikey` (header or query)."""
        apikey = headers.get("apikey") or query.get("apikey")
        bearer = _bearer(headers.get("authorization"))
        if bearer and not bearer.startswith("sb_"):
            return self._actor_for_jwt(bearer)
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
        claims = self.verify(token)
        role = claims.get("role")
        if not isinstance(role, str) or not role:
            role = "anon"
        credential = _KEY_CREDENTIAL.get(role, "jwt") if "sub" not in claims else "jwt"
        return Actor(role=role, claims=claims, credential=credential, token=token)

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
            self._cache[token] = (claims, until)
            if len(self._cache) > self.settings.jwt_cache_size:
                self._cache.popitem(last=False)
        return claims


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None
