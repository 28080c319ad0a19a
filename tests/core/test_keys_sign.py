"""Signing without PyJWT's per-call encoding: the tokens are the bytes PyJWT makes, for every
key type a key set can sign with."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import HMACAlgorithm, OKPAlgorithm, RSAAlgorithm

from neo.core.keys import SigningKey, new_es256_jwk

CLAIMS = {"sub": "u1", "role": "authenticated", "aud": "authenticated", "amr": [{"m": "p"}],
          "user_metadata": {"name": "Zoë ✓"}, "exp": int(time.time()) + 600}  # fmt: skip


def jwks() -> dict[str, tuple[str, dict[str, Any]]]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "ES256": ("ES256", new_es256_jwk()),
        "RS256": ("RS256", RSAAlgorithm.to_jwk(rsa_key, as_dict=True)),
        "EdDSA": ("EdDSA", OKPAlgorithm.to_jwk(ed25519.Ed25519PrivateKey.generate(), as_dict=True)),
        "HS256": ("HS256", HMACAlgorithm.to_jwk(secrets.token_bytes(32), as_dict=True)),
    }


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA", "HS256"])
def test_tokens_are_what_pyjwt_makes(alg: str) -> None:
    name, jwk = jwks()[alg]
    key = SigningKey(kid=f"{alg}-1", alg=name, status="current", jwk=jwk)
    token = key.sign(CLAIMS)
    reference = jwt.encode(CLAIMS, key.key(), algorithm=name, headers={"kid": key.kid})
    assert token.rsplit(".", 1)[0] == reference.rsplit(".", 1)[0]  # header and payload
    if alg != "ES256":  # ECDSA signatures are randomised; the others are deterministic
        assert token == reference
    decoded = jwt.decode(token, key.verifying_key(), algorithms=[name], audience="authenticated")
    assert decoded == CLAIMS
    assert jwt.get_unverified_header(token) == {"alg": name, "kid": key.kid, "typ": "JWT"}


def test_claims_json_cannot_encode_fall_back_to_pyjwt() -> None:
    key = SigningKey(kid="es-1", alg="ES256", status="current", jwk=new_es256_jwk())
    exp = datetime.now(UTC) + timedelta(minutes=5)
    decoded = jwt.decode(key.sign({"sub": "u1", "exp": exp}), key.verifying_key(),
                         algorithms=["ES256"])  # fmt: skip
    assert decoded["exp"] == int(exp.timestamp())
