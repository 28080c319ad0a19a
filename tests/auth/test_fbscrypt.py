"""Firebase scrypt hashes (`$fbscrypt$`, GoTrue's import format): the published vectors
verify, malformed or too costly hashes are refused at import, and an imported user signs in
with their Firebase password, which rehashes it with argon2id."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from neo.auth import fbscrypt
from tests.auth.conftest import SERVICE, password_login, random_email

# GoTrue's test vector, and the one of Firebase's scrypt tool (public, made for testing).
GOTRUE = (
    "$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==,sk=ou9tdYTGyYm8kuR6Dt0Bp0kDuAYoXrK16mbZO4yGwAn3oLspjn"
    "N0/c41v8xZnO1n14J3MjKj1b2g6AUCAlFwMw==$C0sHCg9ek77hsg==$zKVTMvnWVw5BBOZNUdnsalx4c4c7y/w7"
    "IS5p6Ut2+CfEFFlz37J9huyQfov4iizN8dbjvEJlM5tQaJP84+hfTw=="
)
FIREBASE = (
    "$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==,sk=jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210w"
    "jLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQND"
    "NC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="
)


def test_published_vectors_verify() -> None:
    assert fbscrypt.verify(GOTRUE, "mytestpassword")
    assert not fbscrypt.verify(GOTRUE, "mytestpassworD")
    assert fbscrypt.verify(FIREBASE, "user1password")
    assert not fbscrypt.verify(FIREBASE, "mytestpassword")


@pytest.mark.parametrize(
    "stored",
    [
        GOTRUE.replace("n=14", "n=25"),  # 4 GiB of scrypt memory: refused, not attempted
        GOTRUE.replace("v=1", "v=2"),
        GOTRUE.rsplit("$", 1)[0] + "$ZGlmZmVyZW50aGFzaA==",  # not as long as the signer key
        GOTRUE.replace("$C0sHCg9ek77hsg==$", "$not base64!$"),
    ],
)
def test_malformed_or_costly_hashes_never_verify(stored: str) -> None:
    assert fbscrypt.parse(stored) is None
    assert not fbscrypt.verify(stored, "mytestpassword")


async def test_imported_firebase_user_signs_in_and_is_rehashed(
    client: httpx.AsyncClient, database_url: str
) -> None:
    email = random_email()
    body = {"email": email, "password_hash": FIREBASE, "email_confirm": True}
    created = await client.post("/auth/v1/admin/users", json=body, headers=SERVICE)
    assert created.status_code == 200, created.text
    assert (await password_login(client, email, "wrong password")).status_code == 400
    assert (await password_login(client, email, "user1password")).status_code == 200
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval(
            "select encrypted_password from auth.users where email = $1", email
        )
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$")
    assert (await password_login(client, email, "user1password")).status_code == 200


async def test_malformed_firebase_hash_is_refused_at_import(client: httpx.AsyncClient) -> None:
    body = {"email": random_email(), "password_hash": GOTRUE.replace("n=14", "n=99")}
    response = await client.post("/auth/v1/admin/users", json=body, headers=SERVICE)
    assert response.status_code == 400
    assert response.json()["error_code"] == "validation_failed"  # GoTrue's pre-2024 shape
