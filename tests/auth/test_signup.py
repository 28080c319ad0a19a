"""POST /signup: sessions, User JSON, claims, anonymous users, GoTrue's errors in both shapes."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from tests.auth.conftest import ANON, V2, bearer, random_email, sign_up

USER_KEYS = {
    "id", "aud", "role", "email", "email_confirmed_at", "phone", "confirmed_at",
    "last_sign_in_at", "app_metadata", "user_metadata", "identities", "created_at",
    "updated_at", "is_anonymous",
}  # fmt: skip


async def test_signup_with_autoconfirm_returns_a_session(client: httpx.AsyncClient) -> None:
    email = random_email()
    session = await sign_up(client, email)
    assert session["token_type"] == "bearer"
    assert session["expires_in"] == 3600
    assert isinstance(session["expires_at"], int)
    user = session["user"]
    assert set(user) == USER_KEYS
    assert user["email"] == email
    assert user["phone"] == ""
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert user["created_at"].endswith("Z")
    identity = user["identities"][0]
    assert identity["id"] == user["id"]
    assert identity["user_id"] == user["id"]
    assert identity["provider"] == "email"
    assert identity["identity_data"]["email"] == email
    assert identity["identity_id"] != user["id"]


async def test_access_token_carries_gotrue_claims(app: Any, client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    claims = app.state.core.keys.verify(session["access_token"])
    assert claims["sub"] == session["user"]["id"]
    assert claims["aud"] == "authenticated"
    assert claims["role"] == "authenticated"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["aal"] == "aal1"
    assert claims["is_anonymous"] is False
    assert claims["amr"][0]["method"] == "password"
    assert claims["email"] == session["user"]["email"]
    assert claims["phone"] == ""
    assert claims["iss"].endswith("/auth/v1")
    assert {"session_id", "app_metadata", "user_metadata"} <= set(claims)
    assert "jti" not in claims
    assert "nbf" not in claims
    assert jwt.get_unverified_header(session["access_token"]).get("kid")


async def test_signup_data_becomes_user_metadata(client: httpx.AsyncClient) -> None:
    body = {"email": random_email(), "password": "correct horse 1", "data": {"name": "Ada"}}
    response = await client.post("/auth/v1/signup", json=body, headers=ANON | V2)
    assert response.json()["user"]["user_metadata"] == {"name": "Ada"}


async def test_existing_email_with_autoconfirm_is_user_already_exists(
    client: httpx.AsyncClient,
) -> None:
    email = random_email()
    await sign_up(client, email)
    body = {"email": email.upper(), "password": "correct horse 1"}
    response = await client.post("/auth/v1/signup", json=body, headers=ANON | V2)
    assert response.status_code == 422
    assert response.json() == {"code": "user_already_exists", "message": "User already registered"}
    assert response.headers["x-supabase-api-version"] == "2024-01-01"
    assert response.headers["x-sb-error-code"] == "user_already_exists"
    legacy = await client.post("/auth/v1/signup", json=body, headers=ANON)
    assert legacy.status_code == 422
    assert legacy.json()["code"] == 422
    assert legacy.json()["error_code"] == "user_already_exists"
    assert legacy.json()["msg"] == "User already registered"
    assert "error_id" in legacy.json()


async def test_weak_password_lists_reasons(client: httpx.AsyncClient) -> None:
    body = {"email": random_email(), "password": "short"}
    response = await client.post("/auth/v1/signup", json=body, headers=ANON | V2)
    assert response.status_code == 422
    assert response.json() == {
        "code": "weak_password",
        "message": "Password should be at least 8 characters.",
        "weak_password": {"reasons": ["length"]},
    }
    legacy = await client.post("/auth/v1/signup", json=body, headers=ANON)
    assert legacy.json()["weak_password"] == {"reasons": ["length"]}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "a@example.com"}, 400, "validation_failed"),
        ({"email": "not-an-email", "password": "correct horse 1"}, 400, "validation_failed"),
        ({"email": 5, "password": "correct horse 1"}, 400, "bad_json"),
        ({"email": "a@example.com", "password": ["x"]}, 400, "bad_json"),
    ],
)
async def test_bad_signup_bodies_are_gotrue_errors(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, code: str
) -> None:
    response = await client.post("/auth/v1/signup", json=body, headers=ANON | V2)
    assert response.status_code == status
    assert response.json()["code"] == code


async def test_malformed_json_is_bad_json(client: httpx.AsyncClient) -> None:
    for raw in (b"{not json", b"\xff\xfe", b"[1, 2]"):
        response = await client.post(
            "/auth/v1/signup", content=raw, headers=ANON | V2 | {"content-type": "application/json"}
        )
        assert response.status_code == 400, raw
        assert response.json()["code"] == "bad_json"


async def test_huge_body_is_rejected_without_a_500(client: httpx.AsyncClient) -> None:
    body = {"email": random_email(), "password": "x" * (2 * 1024 * 1024)}
    response = await client.post("/auth/v1/signup", json=body, headers=ANON | V2)
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


async def test_anonymous_sign_in(client: httpx.AsyncClient) -> None:
    body = {"data": {}, "gotrue_meta_security": {"captcha_token": None}}
    response = await client.post("/auth/v1/signup", json=body, headers=ANON | V2)
    assert response.status_code == 200, response.text
    session = response.json()
    user = session["user"]
    assert user["is_anonymous"] is True
    assert user["email"] == ""
    assert user["identities"] == []
    assert user["app_metadata"]["provider"] == "anonymous"
    assert user["role"] == "authenticated"
    me = await client.get("/auth/v1/user", headers=bearer(session))
    assert me.json()["is_anonymous"] is True


async def test_settings_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/v1/settings", headers=ANON)
    body = response.json()
    assert body["external"]["email"] is True
    assert body["external"]["anonymous_users"] is True
    assert body["mailer_autoconfirm"] is True
    assert body["disable_signup"] is False


@pytest.mark.parametrize(
    "raw",
    [
        b'{"email": "a\\u0000@example.com", "password": "correct horse 1"}',
        b'{"email": "a@example.com", "password": "correct horse 1", "data": {"x": "\\u0000"}}',
        b"[" * 100_000,
        b'{"email": "a@example.com", "password": "correct horse 1", "data": 12}',
    ],
)
async def test_hostile_bodies_are_4xx(client: httpx.AsyncClient, raw: bytes) -> None:
    headers = ANON | V2 | {"content-type": "application/json"}
    response = await client.post("/auth/v1/signup", content=raw, headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_json"


async def test_control_characters_in_email_are_refused(client: httpx.AsyncClient) -> None:
    body = {"email": "a\u0007b@example.com", "password": "correct horse 1"}
    response = await client.post("/auth/v1/signup", json=body, headers=ANON | V2)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_failed"
