"""auth-security D (JWTs and keys) over HTTP: every protected /auth/v1 route refuses forged,
confused, foreign, expired, premature and mis-addressed tokens with GoTrue's 403 `bad_jwt`,
and a logged-out session's token with `session_not_found`. The key ring's own table of
rejected tokens and the staged rotation are in tests/core/test_keys.py."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from neo.core.keys import KeyRing
from tests.auth.conftest import bearer, sign_up
from tests.conftest import DEMO_ANON_KEY
from tests.core.test_keys import hand_made, public_pem

ROUTES = [
    ("GET", "/auth/v1/user"),
    ("PUT", "/auth/v1/user"),
    ("POST", "/auth/v1/logout"),
    ("GET", "/auth/v1/reauthenticate"),
    ("POST", "/auth/v1/factors"),
]


def ring_of(app: Any) -> KeyRing:
    ring: KeyRing = app.state.core.keys
    return ring


async def session_claims(app: Any, client: httpx.AsyncClient) -> dict[str, Any]:
    """The verified claims of a fresh user's access token."""
    session = await sign_up(client)
    return dict(ring_of(app).verify(session["access_token"]))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def foreign_signed(claims: dict[str, Any], header: dict[str, Any]) -> str:
    """Signed with a key the server has never seen (an attacker's, or another IdP's)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, key, algorithm="ES256", headers=header)


def embedded_jwk(claims: dict[str, Any]) -> str:
    """Self-signed, carrying its own public key in a `jwk` header (and a `jku` URL)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    header = {"jwk": public, "jku": "https://evil.example/jwks.json", "x5u": "https://evil.example"}
    return jwt.encode(claims, key, algorithm="ES256", headers=header)


def stripped(token: str) -> str:
    head, body, _ = token.split(".")
    return f"{head}.{body}."


def modified(token: str, **changes: Any) -> str:
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    return f"{head}.{b64(json.dumps(claims | changes).encode())}.{signature}"


async def assert_refused(client: httpx.AsyncClient, token: str) -> None:
    headers = bearer({"access_token": token})
    for method, path in ROUTES:
        response = await client.request(method, path, json={}, headers=headers)
        assert response.status_code in (401, 403), (method, path, response.text)
        assert response.json()["code"] == "bad_jwt", (method, path, response.text)


FORGED = {
    "alg-none": lambda ring, c: hand_made({"alg": "none", "typ": "JWT"}, c, None),
    "stripped-signature": lambda ring, c: stripped(ring.sign(c)),
    "modified-payload": lambda ring, c: modified(ring.sign(c), role="service_role"),
    "hs256-with-public-key": lambda ring, c: hand_made({"alg": "HS256"}, c, public_pem(ring)),
    "hs256-with-public-key-and-kid": lambda ring, c: hand_made(
        {"alg": "HS256", "kid": ring.current.kid if ring.current else ""}, c, public_pem(ring)
    ),
    "kid-path": lambda ring, c: foreign_signed(c, {"kid": "../../etc/passwd"}),
    "kid-sql": lambda ring, c: foreign_signed(c, {"kid": "' OR 1=1--"}),
    "embedded-jwk": lambda ring, c: embedded_jwk(c),
    "other-idp-id-token": lambda ring, c: foreign_signed(
        c | {"aud": "some-client-id", "nonce": "n"}, {"kid": "idp-key-1", "typ": "JWT"}
    ),
}


@pytest.mark.parametrize("forge", FORGED.values(), ids=FORGED.keys())
async def test_forged_tokens_are_refused_everywhere(
    app: Any, client: httpx.AsyncClient, forge: Any
) -> None:
    """D1 (none, stripped, modified), D2 (HS256 keyed with the public key), D3 (unknown or
    hostile kid, self-supplied jwk/jku/x5u headers), D4 (another issuer's ID token)."""
    claims = await session_claims(app, client)
    await assert_refused(client, forge(ring_of(app), claims))


CLAIMS = {
    "expired-61s-ago": lambda now: {"exp": now - 61, "iat": now - 3600},
    "not-before-in-future": lambda now: {"nbf": now + 600},
    "issued-in-future": lambda now: {"iat": now + 600},
    "wrong-audience": lambda now: {"aud": "some-other-api"},
    "wrong-issuer": lambda now: {"iss": "https://evil.example/auth/v1"},
}


@pytest.mark.parametrize("change", CLAIMS.values(), ids=CLAIMS.keys())
async def test_time_audience_and_issuer_claims_are_enforced(
    app: Any, client: httpx.AsyncClient, change: Any
) -> None:
    """D4: exp, nbf and iat (no leeway), aud and iss, on tokens signed with the real key."""
    claims = await session_claims(app, client)
    await assert_refused(client, ring_of(app).sign(claims | change(int(time.time()))))


async def test_token_one_second_before_exp_is_accepted(app: Any, client: httpx.AsyncClient) -> None:
    """D4: the other side of the boundary."""
    claims = await session_claims(app, client)
    token = ring_of(app).sign(claims | {"exp": int(time.time()) + 2})
    assert (await client.get("/auth/v1/user", headers=bearer({"access_token": token}))).is_success


async def test_jwks_publishes_only_public_members(client: httpx.AsyncClient) -> None:
    """D5: no d, p, q, k (or other private members) under /auth/v1."""
    response = await client.get("/auth/v1/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key), key


async def test_logged_out_session_token_is_session_not_found(client: httpx.AsyncClient) -> None:
    """D6: the server checks the session behind a still-unexpired access token."""
    session = await sign_up(client)
    assert (await client.post("/auth/v1/logout", headers=bearer(session))).status_code == 204
    me = await client.get("/auth/v1/user", headers=bearer(session))
    assert me.status_code == 403
    assert me.json()["code"] == "session_not_found"


async def test_anon_key_is_not_taken_as_a_user_token(client: httpx.AsyncClient) -> None:
    """D4: a token of another type (the sessionless anon key) never acts as an access token."""
    response = await client.get("/auth/v1/user", headers=bearer({"access_token": DEMO_ANON_KEY}))
    assert response.status_code in (401, 403)
