"""Key material: the legacy HS256 secret, asymmetric signing keys (JWKS), and API keys.

* The legacy JWT secret signs Supabase-style `anon` / `service_role` keys and verifies HS256
  tokens, as Supabase projects have always done.
* Asymmetric keys (ES256 by default, with a `kid`) sign new tokens and are published at the
  JWKS endpoint. A rotation stages a key first (published, not yet signing) so that clients
  caching the JWKS know it before it signs; the next rotation makes it current.
* A rotated-out (`previous`) key retires itself once the longest access token it could have
  signed has expired, and running processes reload the key set (`neo.core.key_refresh`).
* Opaque `sb_publishable_…` / `sb_secret_…` keys are aliases of anon / service_role.

Keys come from the database (per key set, created on first start) unless configured
(`keys.jwt_secret`, `keys.jwt_keys` as JWKs, like GoTrue's JWT keys setting).
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from neo.core import store
from neo.core.db import Connection
from neo.core.errors import InvalidToken
from neo.core.settings import KeySettings

LEGACY_ISSUER = "neo"
_KTY_ALG = {"EC": "ES256", "RSA": "RS256", "OKP": "EdDSA", "oct": "HS256"}
_TEN_YEARS = 10 * 365 * 24 * 3600
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(frozen=True)
class SigningKey:
    """One JWK with its algorithm and rotation status."""

    kid: str
    alg: str
    status: str  # standby | current | previous
    jwk: dict[str, Any]

    def key(self) -> Any:
        """The key object PyJWT signs or verifies with (parsed once)."""
        return self._parsed[0]

    def verifying_key(self) -> Any:
        """The key PyJWT verifies with: the public half of a private key (RSA needs it)."""
        return self._parsed[1]

    def sign(self, claims: dict[str, Any]) -> str:
        """A JWT of `claims` with this key (`kid` in the header), the bytes PyJWT would make.

        The header segment is encoded once per key: on the refresh path PyJWT's own
        encoding cost half as much as the ES256 signature itself.
        """
        try:
            payload = json.dumps(claims, separators=(",", ":")).encode()
        except TypeError:  # e.g. datetimes, which PyJWT converts
            return jwt.encode(claims, self.key(), algorithm=self.alg, headers={"kid": self.kid})
        header, algorithm = self._signer
        signing_input = header + b"." + _b64(payload)
        return (signing_input + b"." + _b64(algorithm.sign(signing_input, self.key()))).decode()

    @cached_property
    def _signer(self) -> tuple[bytes, Any]:
        """(the encoded header, PyJWT's algorithm object)."""
        header = {"alg": self.alg, "kid": self.kid, "typ": "JWT"}
        encoded = _b64(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
        return encoded, jwt.get_algorithm_by_name(self.alg)

    @cached_property
    def _parsed(self) -> tuple[Any, Any]:
        """(key, verifying key): parsing a JWK costs more than the signature it makes."""
        key = jwt.PyJWK(self.jwk, algorithm=self.alg).key
        return key, key.public_key() if hasattr(key, "public_key") else key

    def public_jwk(self) -> dict[str, Any]:
        """The public half, as published in the JWKS."""
        public = {k: v for k, v in self.jwk.items() if k not in _PRIVATE_JWK_MEMBERS}
        ops = ["verify"] if self.status != "current" else ["sign", "verify"]
        return public | {"kid": self.kid, "alg": self.alg, "use": "sig", "key_ops": ops}


@dataclass(frozen=True)
class KeyRing:
    """Every key of one key set, loaded once at start."""

    jwt_secret: str
    publishable_key: str
    secret_key: str
    anon_key: str
    service_key: str
    signing_keys: tuple[SigningKey, ...]
    issuer: str
    accepted_issuers: frozenset[str]
    accepted_audiences: frozenset[str]
    legacy_hs256: bool = True  # the secret verifies kid-less HS256 tokens

    @property
    def current(self) -> SigningKey | None:
        """The key that signs new tokens (None: sign with the legacy secret)."""
        return next((k for k in self.signing_keys if k.status == "current"), None)

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign claims with the current key, or the legacy secret (HS256) when there is none."""
        key = self.current
        if key is None:
            return jwt.encode(claims, self.jwt_secret, algorithm="HS256")
        return key.sign(claims)

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document: asymmetric keys only, never the shared secret."""
        public = [k for k in self.signing_keys if k.jwk.get("kty") != "oct"]
        return {"keys": [k.public_jwk() for k in public]}

    def role_for_opaque_key(self, key: str) -> str | None:
        """anon / service_role for this key set's opaque keys, None otherwise."""
        if hmac.compare_digest(key, self.publishable_key):
            return "anon"
        if hmac.compare_digest(key, self.secret_key):
            return "service_role"
        return None

    def verify(self, token: str) -> dict[str, Any]:
        """Claims of a valid token; InvalidToken (with the reason) otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(_decode_reason(token, exc)) from None
        alg, kid = str(header.get("alg")), header.get("kid")
        key = self._key_for(alg, kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[alg], options={"verify_aud": False, "require": []}
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("JWT expired", expired=True) from None
        except jwt.PyJWTError:
            raise InvalidToken("JWT cryptographic operation failed") from None
        self._check_audience_and_issuer(claims)
        return claims

    def _key_for(self, alg: Any, kid: Any) -> Any:
        if kid is not None:
            match = next((k for k in self.signing_keys if k.kid == kid), None)
            if match is None:
                raise InvalidToken("No suitable key or wrong key type")
            if alg != match.alg:
                raise InvalidToken("Wrong or unsupported encoding algorithm")
            return match.verifying_key()
        if alg == "HS256" and self.legacy_hs256:
            return self.jwt_secret
        if alg == "HS256":
            raise InvalidToken("No suitable key or wrong key type")
        raise InvalidToken("Wrong or unsupported encoding algorithm")

    def _check_audience_and_issuer(self, claims: dict[str, Any]) -> None:
        aud = claims.get("aud")
        if aud is not None:
            auds = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
            if not auds & self.accepted_audiences:
                raise InvalidToken("JWT not in audience")
        iss = claims.get("iss")
        if iss is not None and iss not in self.accepted_issuers:
            raise InvalidToken("JWT issuer not accepted")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _decode_reason(token: str, exc: Exception) -> str:
    parts = token.count(".") + 1
    if parts != 3:
        return f"Expected 3 parts in JWT; got {parts}"
    return "JWT cryptographic operation failed"


def new_es256_jwk() -> dict[str, Any]:
    """A fresh P-256 private key as a JWK."""
    key = ec.generate_private_key(ec.SECP256R1())
    return dict(json.loads(ECAlgorithm.to_jwk(key)))


def configured_signing_keys(jwks: list[dict[str, Any]]) -> tuple[SigningKey, ...]:
    """Keys given in configuration: the one with `sign` in key_ops (or the first private) signs."""
    keys = []
    signer = next((j for j in jwks if "sign" in (j.get("key_ops") or [])), None)
    signer = signer or next((j for j in jwks if "d" in j or "k" in j), None)
    for index, jwk in enumerate(jwks):
        alg = str(jwk.get("alg") or _KTY_ALG.get(str(jwk.get("kty")), ""))
        if not alg:
            raise ValueError(f"keys.jwt_keys[{index}]: unknown key type {jwk.get('kty')!r}")
        kid = str(jwk.get("kid") or f"configured-{index}")
        status = "current" if jwk is signer else "previous"
        key = SigningKey(kid=kid, alg=alg, status=status, jwk=dict(jwk))
        try:
            key.key()  # fail at start, not at the first request, on a malformed key
        except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise ValueError(f"keys.jwt_keys[{index}]: not a valid {alg} key ({reason})") from None
        keys.append(key)
    return tuple(keys)


async def load_keyring(conn: Connection, settings: KeySettings, *, public_url: str) -> KeyRing:
    """Read (creating on first use) the key set's keys; configuration wins over stored keys."""
    async with conn.transaction():
        await store.lock_keyset(conn, settings.keyset)
        stored = await _ensure_secrets(conn, settings.keyset)
        if settings.jwt_keys:
            signing = configured_signing_keys(settings.jwt_keys)
        else:
            signing = await _ensure_signing_keys(conn, settings.keyset)
    if not settings.legacy_hs256 and not any(k.status == "current" for k in signing):
        raise ValueError("keys.legacy_hs256 is off, so keys.jwt_keys needs a key that signs")
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else stored["jwt_secret"]
    iat = int(stored["legacy_keys_iat"])
    issuer = settings.issuer or f"{public_url.rstrip('/')}/auth/v1"
    return KeyRing(
        jwt_secret=secret,
        publishable_key=stored["publishable_key"],
        secret_key=stored["secret_key"],
        anon_key=_legacy_key(secret, "anon", settings.keyset, iat),
        service_key=_legacy_key(secret, "service_role", settings.keyset, iat),
        signing_keys=signing,
        issuer=issuer,
        accepted_issuers=frozenset({issuer, LEGACY_ISSUER, *settings.accepted_issuers}),
        accepted_audiences=frozenset(settings.accepted_audiences),
        legacy_hs256=settings.legacy_hs256,
    )


def _legacy_key(secret: str, role: str, keyset: str, iat: int) -> str:
    claims = {
        "iss": LEGACY_ISSUER,
        "ref": keyset,
        "role": role,
        "iat": iat,
        "exp": iat + _TEN_YEARS,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


async def _ensure_secrets(conn: Connection, keyset: str) -> dict[str, str]:
    wanted: dict[str, Callable[[], str]] = {
        "jwt_secret": lambda: secrets.token_urlsafe(48),
        "publishable_key": lambda: "sb_publishable_" + secrets.token_urlsafe(24),
        "secret_key": lambda: "sb_secret_" + secrets.token_urlsafe(32),
        "legacy_keys_iat": lambda: str(int(time.time())),
    }
    stored = await store.select_secrets(conn, keyset)
    for name, make in wanted.items():
        if name not in stored:
            await store.insert_secret(conn, keyset, name, make())
    return await store.select_secrets(conn, keyset)


async def _ensure_signing_keys(conn: Connection, keyset: str) -> tuple[SigningKey, ...]:
    rows = await store.select_signing_keys(conn, keyset)
    if not any(r["status"] == "current" for r in rows):
        await store.insert_signing_key(
            conn, keyset, kid=str(uuid.uuid4()), alg="ES256", status="current", jwk=new_es256_jwk()
        )
        rows = await store.select_signing_keys(conn, keyset)
    return signing_keys_from_rows(rows)


def signing_keys_from_rows(
    rows: list[dict[str, Any]], known: tuple[SigningKey, ...] = ()
) -> tuple[SigningKey, ...]:
    """The keys of stored rows; a key of `known` with the same kid and status is reused (it
    keeps its parsed key)."""
    same = {(k.kid, k.status): k for k in known}
    return tuple(
        same.get((r["kid"], r["status"]))
        or SigningKey(kid=r["kid"], alg=r["alg"], status=r["status"], jwk=r["private_jwk"])
        for r in rows
    )


async def rotate_keys(conn: Connection, keyset: str) -> str:
    """Promote the staged key (if any) to current, then stage a new one; the new standby kid."""
    async with conn.transaction():
        await store.lock_keyset(conn, keyset)
        if any(r["status"] == "standby" for r in await store.select_signing_keys(conn, keyset)):
            await store.retire_current_key(conn, keyset)
            await store.activate_standby_key(conn, keyset)
        kid = str(uuid.uuid4())
        await store.insert_signing_key(
            conn, keyset, kid=kid, alg="ES256", status="standby", jwk=new_es256_jwk()
        )
    return kid


class KeyNotRetirable(ValueError):
    """`retire_key` was given a kid that is not a verify-only key of the key set."""


async def retire_key(conn: Connection, keyset: str, kid: str) -> None:
    """Retire a verify-only key (previous, or a staged one) now: tokens it signed stop verifying
    once processes reload the key ring (within `keys.refresh_interval`). A previous key
    retires itself once the tokens it signed have expired (`neo.core.key_refresh`); retiring
    it sooner refuses tokens it signed that are still unexpired."""
    async with conn.transaction():
        await store.lock_keyset(conn, keyset)
        if not await store.revoke_signing_key(conn, keyset, kid):
            raise KeyNotRetirable(
                f"no previous or standby key {kid!r} in key set {keyset!r} (the current key "
                "cannot be retired: rotate twice first)"
            )
