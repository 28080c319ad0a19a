"""GoTrue's error codes in both body shapes: `{code, message}` with the API-version header
(echoed, with `x-sb-error-code`) and the legacy `{code: <status>, error_code, msg, error_id}`.

One table, one request per code, sent once per shape."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
import pyotp
import pytest

from tests.auth.conftest import ANON, SERVICE, V2, random_email
from tests.conftest import DEMO_JWT_SECRET

Send = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]


@pytest.fixture(scope="module")
def auth_overrides() -> dict[str, Any]:
    return {
        "disable_signup": True,
        "email_enabled": False,
        "secure_password_change": True,
        "rate_limits": {"email_sent": 1},
    }


async def session_for(client: httpx.AsyncClient) -> dict[str, Any]:
    """A signed-in user made by the admin API (sign-ups and password logins are off here)."""
    email = random_email()
    body = {"email": email, "password": "correct horse 1", "email_confirm": True}
    assert (
        await client.post("/auth/v1/admin/users", json=body, headers=SERVICE)
    ).status_code == 200
    link = await client.post(
        "/auth/v1/admin/generate_link", json={"type": "magiclink", "email": email}, headers=SERVICE
    )
    verified = await client.post(
        "/auth/v1/verify",
        json={"type": "magiclink", "token_hash": link.json()["hashed_token"]},
        headers=ANON,
    )
    return dict(verified.json()) | {"email": email}


def as_user(session: dict[str, Any], headers: dict[str, str]) -> dict[str, str]:
    return {
        "apikey": ANON["apikey"],
        "Authorization": f"Bearer {session['access_token']}",
    } | headers


async def signup_disabled(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    body = {"email": random_email(), "password": "correct horse 1"}
    return await c.post("/auth/v1/signup", json=body, headers=ANON | h)


async def email_provider_disabled(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    body = {"email": random_email(), "password": "correct horse 1"}
    return await c.post("/auth/v1/token?grant_type=password", json=body, headers=ANON | h)


async def invalid_credentials(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    return await c.post("/auth/v1/token?grant_type=unknown", json={}, headers=ANON | h)


async def validation_failed(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    session = await session_for(c)
    return await c.post("/auth/v1/logout?scope=nope", headers=as_user(session, h))


async def bad_json(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    headers = ANON | h | {"content-type": "application/json"}
    return await c.post("/auth/v1/token?grant_type=refresh_token", content=b"{", headers=headers)


async def request_too_large(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    body = b'{"refresh_token":"' + b"x" * (1024 * 1024) + b'"}'
    headers = ANON | h | {"content-type": "application/json"}
    return await c.post("/auth/v1/token?grant_type=refresh_token", content=body, headers=headers)


async def refresh_token_not_found(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    body = {"refresh_token": "no-such-token"}
    return await c.post("/auth/v1/token?grant_type=refresh_token", json=body, headers=ANON | h)


async def flow_state_not_found(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    body = {"auth_code": str(uuid.uuid4()), "code_verifier": "v" * 43}
    return await c.post("/auth/v1/token?grant_type=pkce", json=body, headers=ANON | h)


async def otp_expired(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    body = {"type": "magiclink", "token_hash": "not-a-token"}
    return await c.post("/auth/v1/verify", json=body, headers=ANON | h)


async def email_exists(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    session = await session_for(c)
    body = {"email": session["email"], "password": "correct horse 1"}
    return await c.post("/auth/v1/admin/users", json=body, headers=SERVICE | h)


async def user_not_found(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    return await c.get(f"/auth/v1/admin/users/{uuid.uuid4()}", headers=SERVICE | h)


async def not_admin(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    return await c.get("/auth/v1/admin/users", headers=ANON | h)


async def no_authorization(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    return await c.get("/auth/v1/user", headers=ANON | h)


async def bad_jwt(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    return await c.get("/auth/v1/user", headers={"Authorization": "Bearer not.a.jwt"} | h)


async def session_not_found(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    session = await session_for(c)
    claims = jwt.decode(session["access_token"], options={"verify_signature": False})
    token = jwt.encode(claims | {"session_id": str(uuid.uuid4())}, DEMO_JWT_SECRET, "HS256")
    return await c.get("/auth/v1/user", headers=as_user({"access_token": token}, h))


async def same_password(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    session = await session_for(c)
    body = {"password": "correct horse 1"}
    return await c.put("/auth/v1/user", json=body, headers=as_user(session, h))


async def weak_password(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    session = await session_for(c)
    return await c.put("/auth/v1/user", json={"password": "short"}, headers=as_user(session, h))


async def reauthentication_needed(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    session = await session_for(c)
    body = {"password": "a different password"}
    return await c.put("/auth/v1/user", json=body, headers=as_user(session, h))


async def reauthentication_not_valid(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    session = await session_for(c)
    body = {"password": "a different password", "nonce": "123456"}
    return await c.put("/auth/v1/user", json=body, headers=as_user(session, h))


async def over_email_send_rate_limit(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    await c.post("/auth/v1/recover", json={"email": random_email()}, headers=ANON)
    return await c.post("/auth/v1/recover", json={"email": random_email()}, headers=ANON | h)


async def mfa_factor_not_found(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    session = await session_for(c)
    path = f"/auth/v1/factors/{uuid.uuid4()}/challenge"
    return await c.post(path, json={}, headers=as_user(session, h))


async def mfa_verification_failed(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    session = await session_for(c)
    headers = as_user(session, h)
    factor = (
        await c.post("/auth/v1/factors", json={"factor_type": "totp"}, headers=headers)
    ).json()
    challenge = await c.post(f"/auth/v1/factors/{factor['id']}/challenge", json={}, headers=headers)
    right = pyotp.TOTP(factor["totp"]["secret"]).now()
    body = {"challenge_id": challenge.json()["id"], "code": "000000" if right != "000000" else "1"}
    return await c.post(f"/auth/v1/factors/{factor['id']}/verify", json=body, headers=headers)


async def mfa_factor_name_conflict(c: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    session = await session_for(c)
    body = {"factor_type": "totp", "friendly_name": "phone"}
    await c.post("/auth/v1/factors", json=body, headers=as_user(session, {}))
    return await c.post("/auth/v1/factors", json=body, headers=as_user(session, h))


CASES: list[tuple[Send, int]] = [
    (signup_disabled, 422), (email_provider_disabled, 422), (invalid_credentials, 400),
    (validation_failed, 400), (bad_json, 400), (request_too_large, 413),
    (refresh_token_not_found, 400), (flow_state_not_found, 404), (otp_expired, 403),
    (email_exists, 422), (user_not_found, 404), (not_admin, 403), (no_authorization, 401),
    (bad_jwt, 403), (session_not_found, 403), (same_password, 422), (weak_password, 422),
    (reauthentication_needed, 400), (reauthentication_not_valid, 422),
    (over_email_send_rate_limit, 429), (mfa_factor_not_found, 404),
    (mfa_verification_failed, 422), (mfa_factor_name_conflict, 422),
]  # fmt: skip


@pytest.mark.parametrize(("send", "status"), CASES, ids=lambda v: getattr(v, "__name__", ""))
async def test_error_in_both_shapes(client: httpx.AsyncClient, send: Send, status: int) -> None:
    code = send.__name__
    current = await send(client, V2)
    assert current.status_code == status, current.text
    body = current.json()
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert set(body) <= {"code", "message", "weak_password"}
    assert current.headers["x-supabase-api-version"] == "2024-01-01"
    assert current.headers["x-sb-error-code"] == code
    legacy = await send(client, {})
    assert legacy.status_code == status, legacy.text
    old = legacy.json()
    assert old["code"] == status
    assert old["error_code"] == code
    assert old["msg"]
    assert "error_id" in old
    assert "x-supabase-api-version" not in legacy.headers
