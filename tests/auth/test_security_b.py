"""auth-security B (passwords): the length-only policy's defaults, passwords compared exactly
as typed, common and breached passwords refused (a loopback HIBP range API), and a password
change that needs a recent sign-in and ends the other devices' sessions. The hashing items
(B1 lengths, B2 argon2id and rehash) live in test_passwords.py."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpx
import pytest

from neo.auth.settings import AuthSettings
from neo.kit.net import free_port
from neo.settings import Settings
from tests.auth.conftest import (
    ANON,
    V2,
    auth_settings,
    bearer,
    mailbox,
    password_login,
    random_email,
    refresh,
    sign_up,
)
from tests.support.servers import asgi_client, running_app


def test_default_policy_is_at_least_8_and_accepts_long_passwords() -> None:
    """B1: minimum 8 by default, room for far more than 64 characters (and bcrypt's 72)."""
    settings = AuthSettings()
    assert settings.password_min_length >= 8
    assert settings.password_max_bytes >= 4 * 64


async def test_password_is_compared_exactly_as_typed(client: httpx.AsyncClient) -> None:
    """B1: no case folding, trimming or truncation surprises."""
    email = random_email()
    await sign_up(client, email, "Tr0ub4dor & 3 ")
    for variant in ("tr0ub4dor & 3 ", "Tr0ub4dor & 3", " Tr0ub4dor & 3 ", "Tr0ub4dor & "):
        assert (await password_login(client, email, variant)).status_code == 400, variant
    assert (await password_login(client, email, "Tr0ub4dor & 3 ")).status_code == 200


async def test_password_change_revokes_the_other_devices(client: httpx.AsyncClient) -> None:
    """B4: change on device A; B's refresh token and access token stop working, A's do not."""
    email = random_email()
    device_a = await sign_up(client, email)
    device_b = (await password_login(client, email, "correct horse 1")).json()
    changed = await client.put(
        "/auth/v1/user", json={"password": "a brand new one"}, headers=bearer(device_a)
    )
    assert changed.status_code == 200, changed.text
    stale = await refresh(client, device_b["refresh_token"])
    assert stale.status_code == 400
    assert stale.json()["code"] in ("refresh_token_not_found", "session_not_found")
    me = await client.get("/auth/v1/user", headers=bearer(device_b))
    assert me.status_code == 403
    assert me.json()["code"] == "session_not_found"
    assert (await client.get("/auth/v1/user", headers=bearer(device_a))).status_code == 200


async def test_password_change_long_after_sign_in_needs_reauthentication(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """B4: a day after the last sign-in, a password change needs a /reauthenticate nonce."""
    email = random_email()
    session = await sign_up(client, email)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "update auth.mfa_amr_claims c set updated_at = c.updated_at - interval '25 hours',"
            " created_at = c.created_at - interval '25 hours' from auth.sessions s"
            " where s.id = c.session_id and s.user_id = $1::uuid",
            session["user"]["id"],
        )
    finally:
        await conn.close()
    aged = (await refresh(client, session["refresh_token"])).json()
    body = {"password": "a brand new one"}
    refused = await client.put("/auth/v1/user", json=body, headers=bearer(aged))
    assert refused.status_code == 400
    assert refused.json()["code"] == "reauthentication_needed"
    assert (await client.get("/auth/v1/reauthenticate", headers=bearer(aged))).status_code == 200
    nonce = (await mailbox(client, email))[-1]["code"]
    changed = await client.put("/auth/v1/user", json=body | {"nonce": nonce}, headers=bearer(aged))
    assert changed.status_code == 200, changed.text


PWNED = "Tr0ub4dor&3 is pwned"


class RangeApi(BaseHTTPRequestHandler):
    """HIBP's range API on loopback: PWNED is in the corpus, with padding lines around it."""

    def do_GET(self) -> None:
        digest = hashlib.sha1(PWNED.encode(), usedforsecurity=False).hexdigest().upper()
        lines = [f"{secrets.token_hex(18)[:35].upper()}:0" for _ in range(5)]
        if self.path == f"/range/{digest[:5]}":
            lines.append(f"{digest[5:]}:42")
        body = "\r\n".join(lines).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def range_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RangeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def signup_status(
    make_settings: Callable[..., Settings], password: str, **auth: Any
) -> httpx.Response:
    """A sign-up on an app with the given auth settings."""
    settings = make_settings(auth=auth_settings(**auth))
    async with running_app(settings) as app, asgi_client(app) as client:
        return await client.post(
            "/auth/v1/signup",
            json={"email": random_email(), "password": password},
            headers=ANON | V2,
        )


async def test_common_and_breached_passwords_are_weak(
    client: httpx.AsyncClient, make_settings: Callable[..., Settings], range_api: str
) -> None:
    """B3: the offline list (on by default) and HIBP's range API -> 422 reasons ["pwned"],
    at sign-up and at a password change; other passwords pass."""
    common = await client.post(
        "/auth/v1/signup", json={"email": random_email(), "password": "Password123"},
        headers=ANON | V2,
    )  # fmt: skip
    assert common.status_code == 422
    assert common.json()["weak_password"] == {"reasons": ["pwned"]}
    session = await sign_up(client)
    change = await client.put(
        "/auth/v1/user", json={"password": "iloveyou1"}, headers=bearer(session)
    )
    assert change.json()["code"] == "weak_password"
    pwned = await signup_status(
        make_settings, PWNED, password_hibp_enabled=True, password_hibp_url=range_api
    )
    assert pwned.status_code == 422, pwned.text
    assert pwned.json()["weak_password"] == {"reasons": ["pwned"]}
    fine = await signup_status(
        make_settings, "not in any corpus 7", password_hibp_enabled=True,
        password_hibp_url=range_api,
    )  # fmt: skip
    assert fine.status_code == 200, fine.text


async def test_unreachable_range_api_fails_open_or_closed(
    make_settings: Callable[..., Settings],
) -> None:
    """B3: with the API down the password passes, unless fail-closed asks for a 503."""
    down = {"password_hibp_enabled": True, "password_hibp_url": f"http://127.0.0.1:{free_port()}"}
    assert (await signup_status(make_settings, PWNED, **down)).status_code == 200
    closed = await signup_status(make_settings, PWNED, password_hibp_fail_closed=True, **down)
    assert closed.status_code == 503
    assert closed.json()["code"] == "unexpected_failure"
