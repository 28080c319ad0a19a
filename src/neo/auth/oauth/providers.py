"""External identity providers: endpoints (presets or OIDC discovery), the code exchange,
and the verified claims of the signed-in account.

OIDC ID tokens are verified against the provider's JWKS: the algorithm must be asymmetric
and the key's, `iss` the issuer, `aud` our client id, `exp` in the future and `nonce` the one
sent with the authorization request. Discovery documents and key sets are cached per process.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from neo.auth.errors import AuthError, ValidationFailed
from neo.auth.settings import OAuthProvider

PRESETS: dict[str, dict[str, Any]] = {
    "google": {"issuer": "https://accounts.google.com", "scopes": ["openid", "email", "profile"]},
    "github": {
        "kind": "github",
        "authorize_url": "https://github.com/login/oauth/authorize",
        "token_url": "https://github.com/login/oauth/access_token",
        "userinfo_url": "https://api.github.com/user",
        "scopes": ["read:user", "user:email"],
    },
}
_ASYMMETRIC = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA"]


class ProviderFailed(AuthError):
    """The provider refused the code or answered something unusable."""

    status, code, message = 400, "bad_oauth_callback", "OAuth callback with invalid state"


@dataclass
class Provider:
    """One configured provider with its resolved endpoints."""

    name: str
    config: OAuthProvider
    endpoints: dict[str, str] = field(default_factory=dict)
    jwks: dict[str, Any] | None = None

    @property
    def scopes(self) -> list[str]:
        return self.config.scopes or ["openid", "email", "profile"]

    async def resolve(self, http: httpx.AsyncClient) -> dict[str, str]:
        """authorize / token / userinfo / jwks URLs (discovery fetched once)."""
        if self.endpoints:
            return self.endpoints
        found: dict[str, str] = {}
        if self.config.kind == "oidc" and self.config.issuer:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await _get_json(http, url)
            found = {
                "authorize": document["authorization_endpoint"],
                "token": document["token_endpoint"],
                "userinfo": document.get("userinfo_endpoint", ""),
                "jwks": document["jwks_uri"],
                "issuer": document["issuer"],
            }
        for key, attr in (("authorize", "authorize_url"), ("token", "token_url")):
            found[key] = getattr(self.config, attr) or found.get(key, "")
        found["userinfo"] = self.config.userinfo_url or found.get("userinfo", "")
        if not found["authorize"] or not found["token"]:
            raise ValidationFailed(f"Provider {self.name} has no endpoints configured")
        self.endpoints = found
        return found

    async def exchange(
        self, http: httpx.AsyncClient, *, code: str, verifier: str, redirect_uri: str
    ) -> dict[str, Any]:
        """Trade the authorization code for the provider's tokens."""
        endpoints = await self.resolve(http)
        secret = self.config.secret.get_secret_value() if self.config.secret else ""
        form = {
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": self.config.client_id, "client_secret": secret, "code_verifier": verifier,
        }  # fmt: skip
        response = await http.post(
            endpoints["token"], data=form, headers={"Accept": "application/json"}
        )
        if response.status_code != 200:
            raise ProviderFailed("Unable to exchange external code")
        tokens: dict[str, Any] = response.json()
        return tokens

    async def claims(
        self, http: httpx.AsyncClient, tokens: dict[str, Any], *, nonce: str
    ) -> dict[str, Any]:
        """The account's claims: `sub`, `email`, `email_verified`, and profile fields."""
        if self.config.kind == "github":
            return await self._github_claims(http, str(tokens.get("access_token", "")))
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderFailed("The provider returned no ID token")
        return await self._verify_id_token(http, id_token, nonce)

    async def _verify_id_token(
        self, http: httpx.AsyncClient, token: str, nonce: str
    ) -> dict[str, Any]:
        endpoints = await self.resolve(http)
        try:
            header = jwt.get_unverified_header(token)
            key = await self._key(http, endpoints["jwks"], header.get("kid"))
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[a for a in _ASYMMETRIC if a == header.get("alg")],
                audience=self.config.client_id, issuer=endpoints["issuer"], leeway=60,
            )  # fmt: skip
        except (jwt.PyJWTError, KeyError) as exc:
            raise ProviderFailed(f"Invalid ID token: {type(exc).__name__}") from None
        if not hmac.compare_digest(str(claims.get("nonce") or ""), nonce):
            raise ProviderFailed("Invalid ID token: nonce mismatch")
        return claims

    async def _key(self, http: httpx.AsyncClient, url: str, kid: Any) -> Any:
        for attempt in range(2):
            if self.jwks is None or attempt:
                self.jwks = await _get_json(http, url)
            for jwk in self.jwks.get("keys", []):
                if jwk.get("kid") == kid:
                    return jwt.PyJWK(jwk).key
        raise ProviderFailed("Invalid ID token: unknown key")

    async def _github_claims(self, http: httpx.AsyncClient, access_token: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        user = await _get_json(http, self.endpoints["userinfo"], headers=headers)
        emails = await _get_json(http, self.endpoints["userinfo"] + "/emails", headers=headers)
        primary = next((e for e in emails if e.get("primary")), None) if emails else None
        return {
            "sub": str(user["id"]),
            "email": (primary or {}).get("email") or user.get("email"),
            "email_verified": bool((primary or {}).get("verified")),
            "name": user.get("name"),
            "preferred_username": user.get("login"),
            "picture": user.get("avatar_url"),
        }


async def _get_json(http: httpx.AsyncClient, url: str, **kwargs: Any) -> Any:
    try:
        response = await http.get(url, **kwargs)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError):
        raise ProviderFailed("The provider could not be reached") from None


def configured(settings: dict[str, OAuthProvider]) -> dict[str, Provider]:
    """The enabled providers, presets filled in."""
    providers = {}
    for name, config in settings.items():
        if not config.enabled:
            continue
        preset = {
            k: v for k, v in PRESETS.get(name, {}).items() if k not in config.model_fields_set
        }
        providers[name] = Provider(name, config.model_copy(update=preset))
    return providers
