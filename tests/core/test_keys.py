"""The key ring on a real database: creation, stability, rotation, configured keys, verification."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi import FastAPI
from jwt.algorithms import HMACAlgorithm, OKPAlgorithm, RSAAlgorithm

from neo.core.errors import InvalidToken
from neo.core.keys import KeyRing, load_keyring, rotate_keys
from neo.core.settings import KeySettings
from neo.settings import Settings
from tests.conftest import DEMO_ANON_KEY, DEMO_JWT_SECRET
from tests.support.servers import asgi_client, running_app

PUBLIC_URL = "http://neo.test"
PRIVATE_PARTS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
USER_ID = "0c7f3e52-1d7a-4bd1-9d8e-5a1f6b3c2d4e"
JWKS_PATH = "/auth/v1/.well-known/jwks.json"


async def load(conn: asyncpg.Connection, keyset: str, **settings: Any) -> KeyRing:
    return await load_keyring(conn, KeySettings(keyset=keyset, **settings), public_url=PUBLIC_URL)


def user_claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": USER_ID, "role": "authenticated", "aud": "authenticated", "iat": now}
    return claims | {"exp": now + 600} | extra


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], hs256_secret: bytes | None) -> str:
    """A token built without PyJWT, which refuses to make the malicious ones."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    if hs256_secret is None:
        return f"{signing_input}."
    mac = hmac.new(hs256_secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def public_pem(ring: KeyRing) -> bytes:
    current = ring.current
    assert current is not None
    return bytes(
        current.key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def kid_of(token: str) -> str | None:
    kid = jwt.get_unverified_header(token).get("kid")
    return None if kid is None else str(kid)


def assert_public_only(jwks: dict[str, Any]) -> None:
    for key in jwks["keys"]:
        assert key["kty"] != "oct", key
        assert not PRIVATE_PARTS & set(key), key
        assert key["alg"] != "HS256", key


async def signing_rows(conn: asyncpg.Connection, keyset: str) -> dict[str, str]:
    rows = await conn.fetch(
        "select kid, status from neo_core.signing_keys where keyset = $1", keyset
    )
    return {r["kid"]: r["status"] for r in rows}


# Creation and stability


async def test_first_load_creates_the_key_set(conn: asyncpg.Connection, keyset: str) -> None:
    ring = await load(conn, keyset)

    assert len(ring.jwt_secret) >= 32
    assert ring.publishable_key.startswith("sb_publishable_")
    assert ring.secret_key.startswith("sb_secret_")
    assert [(k.alg, k.status) for k in ring.signing_keys] == [("ES256", "current")]
    assert ring.issuer == f"{PUBLIC_URL}/auth/v1"
    anon = jwt.decode(ring.anon_key, ring.jwt_secret, algorithms=["HS256"])
    service = jwt.decode(ring.service_key, ring.jwt_secret, algorithms=["HS256"])
    assert (anon["role"], service["role"]) == ("anon", "service_role")
    assert anon["ref"] == keyset
    assert await signing_rows(conn, keyset) == {ring.signing_keys[0].kid: "current"}
    assert (
        await conn.fetchval("select count(*) from neo_core.secrets where scope = $1", keyset) == 4
    )


async def test_second_load_returns_the_same_keys(database_url: str, keyset: str) -> None:
    rings = []
    for _ in range(2):  # two connections, as two starts of the process would use
        conn = await asyncpg.connect(database_url)
        try:
            rings.append(await load(conn, keyset))
        finally:
            await conn.close()

    first, second = rings
    assert second == first
    assert (second.anon_key, second.service_key) == (first.anon_key, first.service_key)
    assert second.verify(first.sign(user_claims()))["sub"] == USER_ID


async def test_concurrent_first_loads_create_exactly_one_current_key(
    database_url: str, conn: asyncpg.Connection, keyset: str
) -> None:
    conns = await asyncio.gather(*(asyncpg.connect(database_url) for _ in range(6)))
    try:
        rings = await asyncio.gather(*(load(c, keyset) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))

    assert all(ring == rings[0] for ring in rings)
    assert list((await signing_rows(conn, keyset)).values()) == ["current"]


async def test_a_configured_jwt_secret_verifies_supabase_demo_keys(
    conn: asyncpg.Connection, keyset: str
) -> None:
    ring = await load(conn, keyset, jwt_secret=DEMO_JWT_SECRET)

    assert ring.jwt_secret == DEMO_JWT_SECRET
    assert ring.verify(DEMO_ANON_KEY)["role"] == "anon"
    assert jwt.decode(ring.anon_key, DEMO_JWT_SECRET, algorithms=["HS256"])["role"] == "anon"


# Rotation


async def test_rotation_stages_a_key_before_it_signs(conn: asyncpg.Connection, keyset: str) -> None:
    original = (await load(conn, keyset)).current
    assert original is not None
    old_token = (await load(conn, keyset)).sign(user_claims())

    standby = await rotate_keys(conn, keyset)
    staged = await load(conn, keyset)

    assert {k["kid"] for k in staged.jwks()["keys"]} == {original.kid, standby}
    published = {k["kid"]: k["key_ops"] for k in staged.jwks()["keys"]}
    assert published[standby] == ["verify"]
    assert "sign" in published[original.kid]
    assert kid_of(staged.sign(user_claims())) == original.kid

    newer = await rotate_keys(conn, keyset)
    rotated = await load(conn, keyset)

    assert await signing_rows(conn, keyset) == {
        original.kid: "previous",
        standby: "current",
        newer: "standby",
    }
    assert kid_of(rotated.sign(user_claims())) == standby
    assert rotated.verify(old_token)["sub"] == USER_ID
    assert {k["kid"] for k in rotated.jwks()["keys"]} == {original.kid, standby, newer}


async def test_a_restarted_app_serves_the_rotated_keys(
    make_settings: Callable[..., Settings], conn: asyncpg.Connection, keyset: str
) -> None:
    settings = make_settings(keys={"keyset": keyset})
    async with running_app(settings) as app, asgi_client(app) as client:
        first_kid = (await client.get(JWKS_PATH)).json()["keys"][0]["kid"]
        old_token = app.state.core.keys.sign(user_claims())
    standby = await rotate_keys(conn, keyset)
    await rotate_keys(conn, keyset)

    async with running_app(settings) as app, asgi_client(app) as client:
        jwks = (await client.get(JWKS_PATH)).json()
        whoami = await client.get(
            "/neo/v1/whoami", headers={"authorization": f"Bearer {old_token}"}
        )
        new_token = app.state.core.keys.sign(user_claims())

    assert first_kid in {k["kid"] for k in jwks["keys"]}
    assert len(jwks["keys"]) == 3
    assert_public_only(jwks)
    assert whoami.status_code == 200, whoami.text
    assert whoami.json()["uid"] == USER_ID
    assert kid_of(new_token) == standby


# The JWKS document


async def test_served_jwks_holds_public_asymmetric_keys_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get(JWKS_PATH)

    assert response.status_code == 200
    jwks = response.json()
    assert jwks == app.state.core.keys.jwks()
    assert [k["kty"] for k in jwks["keys"]] == ["EC"]
    assert_public_only(jwks)
    assert {"kid", "alg", "use", "crv", "x", "y"} <= set(jwks["keys"][0])


# Configured keys (like GOTRUE_JWT_KEYS)


def configured_jwks(signer: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """An RS256, an EdDSA and an HS256 private JWK (kids rsa-1, ed-1, hs-1); `signer` signs."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    hs_key = secrets.token_bytes(64)
    jwks = [
        RSAAlgorithm.to_jwk(rsa_key, as_dict=True) | {"kid": "rsa-1", "alg": "RS256"},
        OKPAlgorithm.to_jwk(ed_key, as_dict=True) | {"kid": "ed-1"},
        HMACAlgorithm.to_jwk(hs_key, as_dict=True) | {"kid": "hs-1"},
    ]
    for jwk in jwks:
        jwk["key_ops"] = ["sign", "verify"] if jwk["kid"] == signer else ["verify"]
    private = {"rsa-1": rsa_key, "ed-1": ed_key, "hs-1": hs_key}
    return jwks, private


ALGS = {"rsa-1": "RS256", "ed-1": "EdDSA", "hs-1": "HS256"}


@pytest.mark.parametrize("signer", ["rsa-1", "ed-1", "hs-1"])
async def test_configured_keys_sign_with_the_sign_key_and_verify_with_all(
    conn: asyncpg.Connection, keyset: str, signer: str
) -> None:
    jwks, private = configured_jwks(signer)
    ring = await load(conn, keyset, jwt_keys=jwks)

    token = ring.sign(user_claims())
    assert jwt.get_unverified_header(token) | {"typ": "JWT"} == {
        "alg": ALGS[signer],
        "kid": signer,
        "typ": "JWT",
    }
    assert ring.verify(token)["sub"] == USER_ID
    for kid, key in private.items():
        own = jwt.encode(user_claims(), key, algorithm=ALGS[kid], headers={"kid": kid})
        assert ring.verify(own)["sub"] == USER_ID, kid
    assert await signing_rows(conn, keyset) == {}  # configuration is not stored


async def test_configured_keys_publish_only_public_asymmetric_keys(
    conn: asyncpg.Connection, keyset: str
) -> None:
    jwks, _ = configured_jwks("ed-1")
    hs512 = HMACAlgorithm.to_jwk(secrets.token_bytes(64), as_dict=True)
    ring = await load(conn, keyset, jwt_keys=[*jwks, hs512 | {"kid": "hs-2", "alg": "HS512"}])

    published = ring.jwks()
    assert {k["kid"]: k["alg"] for k in published["keys"]} == {"rsa-1": "RS256", "ed-1": "EdDSA"}
    assert_public_only(published)
    assert {k["kid"]: k["key_ops"] for k in published["keys"]} == {
        "rsa-1": ["verify"],
        "ed-1": ["sign", "verify"],
    }


async def test_a_configured_key_only_verifies_its_own_algorithm(
    conn: asyncpg.Connection, keyset: str
) -> None:
    jwks, private = configured_jwks("ed-1")
    ring = await load(conn, keyset, jwt_keys=jwks)
    rsa_public = private["rsa-1"].public_key()
    rsa_pem = rsa_public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = [
        # RS256 kid, signed with the Ed25519 key
        jwt.encode(user_claims(), private["ed-1"], algorithm="EdDSA", headers={"kid": "rsa-1"}),
        # RS256 kid, HMAC'd with the RSA public key (the classic algorithm confusion)
        hand_made({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, user_claims(), rsa_pem),
        # HS256 kid, with a stronger HMAC of the same secret
        jwt.encode(user_claims(), private["hs-1"], algorithm="HS512", headers={"kid": "hs-1"}),
        # EdDSA kid, signed with the RSA key
        jwt.encode(user_claims(), private["rsa-1"], algorithm="RS256", headers={"kid": "ed-1"}),
    ]
    for token in forged:
        with pytest.raises(InvalidToken, match="Wrong or unsupported encoding algorithm"):
            ring.verify(token)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"kty": "EC", "crv": "P-256", "x": "garbage"}, id="ec-without-y"),
        pytest.param({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}, id="ec-short"),
        pytest.param({"kty": "RSA", "n": "AQAB"}, id="rsa-without-e"),
        pytest.param({"kty": "OKP", "crv": "Ed25519"}, id="okp-without-x"),
        pytest.param({"kty": "oct"}, id="oct-without-k"),
        pytest.param({"kty": "XYZ", "k": "AAAA"}, id="unknown-kty"),
        pytest.param({"kty": "RSA", "alg": "ES256", "n": "AQAB", "e": "AQAB"}, id="alg-mismatch"),
    ],
)
async def test_a_malformed_configured_key_fails_at_load(
    conn: asyncpg.Connection, keyset: str, bad: dict[str, Any]
) -> None:
    good, _ = configured_jwks("ed-1")

    with pytest.raises(ValueError, match=r"keys\.jwt_keys\[3\]"):
        await load(conn, keyset, jwt_keys=[*good, bad])


# Verification


@pytest.fixture
async def ring(conn: asyncpg.Connection, keyset: str) -> KeyRing:
    return await load(conn, keyset, accepted_audiences=["authenticated", "anon"])


def foreign_es256(kid: str | None) -> Callable[[KeyRing], str]:
    def make(ring: KeyRing) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        headers = {"kid": kid or (ring.current.kid if ring.current else "")}
        return jwt.encode(user_claims(), key, algorithm="ES256", headers=headers)

    return make


def tampered_signature(ring: KeyRing) -> str:
    head, body, signature = ring.sign(user_claims()).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 1
    return f"{head}.{body}.{b64(bytes(raw))}"


def tampered_claims(ring: KeyRing) -> str:
    head, _, signature = ring.sign(user_claims()).split(".")
    body = b64(json.dumps(user_claims(role="service_role")).encode())
    return f"{head}.{body}.{signature}"


def current_kid(ring: KeyRing) -> str:
    assert ring.current is not None
    return ring.current.kid


REJECTED: list[Any] = [
    pytest.param(
        lambda r: r.sign(user_claims(exp=int(time.time()) - 30)), "JWT expired", id="expired"
    ),
    pytest.param(foreign_es256(None), "cryptographic", id="es256-wrong-signature"),
    pytest.param(tampered_signature, "cryptographic", id="es256-tampered-signature"),
    pytest.param(tampered_claims, "cryptographic", id="es256-tampered-claims"),
    pytest.param(
        lambda r: jwt.encode(user_claims(), "x" * 40, algorithm="HS256"),
        "cryptographic",
        id="hs256-wrong-secret",
    ),
    pytest.param(
        lambda r: hand_made({"alg": "none", "typ": "JWT"}, user_claims(role="service_role"), None),
        "algorithm",
        id="alg-none",
    ),
    pytest.param(
        lambda r: hand_made({"alg": "none", "kid": current_kid(r)}, user_claims(), None),
        "algorithm",
        id="alg-none-with-kid",
    ),
    pytest.param(
        lambda r: hand_made({"alg": "NONE"}, user_claims(), None), "algorithm", id="alg-NONE"
    ),
    pytest.param(foreign_es256("no-such-kid"), "No suitable key", id="unknown-kid"),
    pytest.param(
        lambda r: jwt.encode(
            user_claims(), r.jwt_secret, algorithm="HS256", headers={"kid": current_kid(r)}
        ),
        "algorithm",
        id="hs256-claiming-es256-kid",
    ),
    pytest.param(
        lambda r: hand_made({"alg": "HS256", "kid": current_kid(r)}, user_claims(), public_pem(r)),
        "algorithm",
        id="hs256-with-es256-public-key",
    ),
    pytest.param(
        lambda r: hand_made({"alg": "HS256"}, user_claims(), public_pem(r)),
        "cryptographic",
        id="hs256-no-kid-with-es256-public-key",
    ),
    pytest.param(
        lambda r: r.sign(user_claims(aud="someone-else")), "audience", id="aud-not-accepted"
    ),
    pytest.param(
        lambda r: r.sign(user_claims(aud=["service_role", "other"])),
        "audience",
        id="aud-list-not-accepted",
    ),
    pytest.param(
        lambda r: r.sign(user_claims(iss="https://evil.example/auth/v1")),
        "issuer",
        id="iss-not-accepted",
    ),
    pytest.param(lambda r: "garbage", "Expected 3 parts in JWT; got 1", id="garbage"),
    pytest.param(lambda r: "a.b", "Expected 3 parts in JWT; got 2", id="two-parts"),
    pytest.param(lambda r: "a.b.c", "", id="three-garbage-parts"),
    pytest.param(lambda r: "", "", id="empty"),
]


@pytest.mark.parametrize(("make_token", "reason"), REJECTED)
async def test_verify_rejects(
    ring: KeyRing, make_token: Callable[[KeyRing], str], reason: str
) -> None:
    token = make_token(ring)

    with pytest.raises(InvalidToken) as caught:
        ring.verify(token)

    assert reason in caught.value.reason
    assert caught.value.expired is (reason == "JWT expired")


ACCEPTED: list[Any] = [
    pytest.param(
        lambda r: jwt.encode({"role": "service_role"}, r.jwt_secret, algorithm="HS256"),
        id="hs256-without-exp-like-supabase-py",
    ),
    pytest.param(lambda r: r.sign({"role": "service_role"}), id="es256-without-exp"),
    pytest.param(lambda r: r.sign(user_claims(iss=r.issuer)), id="own-issuer"),
    pytest.param(lambda r: r.sign(user_claims(iss="supabase-demo")), id="supabase-demo-issuer"),
    pytest.param(lambda r: r.sign(user_claims(aud=["x", "anon"])), id="aud-list-with-accepted"),
    pytest.param(lambda r: r.anon_key, id="legacy-anon-key"),
    pytest.param(lambda r: r.service_key, id="legacy-service-key"),
]


@pytest.mark.parametrize("make_token", ACCEPTED)
async def test_verify_accepts(ring: KeyRing, make_token: Callable[[KeyRing], str]) -> None:
    claims = ring.verify(make_token(ring))

    assert claims["role"] in {"authenticated", "service_role", "anon"}


async def test_an_expired_token_is_refused_over_http(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ring: KeyRing = app.state.core.keys
    fresh = ring.sign(user_claims())
    expired = ring.sign(user_claims(exp=int(time.time()) - 30))

    ok = await client.get("/neo/v1/whoami", headers={"authorization": f"Bearer {fresh}"})
    refused = await client.get("/neo/v1/whoami", headers={"authorization": f"Bearer {expired}"})

    assert ok.status_code == 200, ok.text
    assert ok.json()["uid"] == USER_ID
    assert refused.status_code == 401
