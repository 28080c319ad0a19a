"""GET/PUT /user and POST /logout: bearer checks, revoked sessions, updates, scopes."""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from tests.auth.conftest import (
    ANON,
    SERVICE,
    V2,
    bearer,
    password_login,
    random_email,
    refresh,
    sign_up,
)
from tests.conftest import DEMO_JWT_SECRET


async def test_user_needs_a_bearer_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/v1/user", headers=ANON | V2)
    assert response.status_code == 401
    assert response.json() == {
        "code": "no_authorization",
        "message": "This endpoint requires a valid Bearer token",
    }


async def test_bad_jwt_is_403_bad_jwt(client: httpx.AsyncClient) -> None:
    forged = jwt.encode(
        {"sub": "x", "role": "authenticated"},
        "a-wrong-secret-that-is-long-enough-for-hs256",
        algorithm="HS256",
    )
    for token in ("not-a-jwt", forged):
        response = await client.get(
            "/auth/v1/user", headers={"apikey": ANON["apikey"], "Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 403
        assert response.json()["error_code"] == "bad_jwt"


async def test_deleted_user_token_is_user_not_found(client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    deleted = await client.delete(f"/auth/v1/admin/users/{session['user']['id']}", headers=SERVICE)
    assert deleted.status_code == 200
    response = await client.get("/auth/v1/user", headers=bearer(session))
    assert response.status_code == 403
    assert response.json()["code"] == "user_not_found"


async def test_token_without_session_row_is_session_not_found(
    app: Any, client: httpx.AsyncClient
) -> None:
    session = await sign_up(client)
    claims = jwt.decode(session["access_token"], options={"verify_signature": False})
    claims["session_id"] = "00000000-0000-0000-0000-000000000001"
    token = jwt.encode(claims, DEMO_JWT_SECRET, algorithm="HS256")
    response = await client.get("/auth/v1/user", headers=bearer({"access_token": token}))
    assert response.status_code == 403
    assert response.json()["code"] == "session_not_found"


async def test_update_merges_user_metadata(client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    headers = bearer(session)
    await client.put("/auth/v1/user", json={"data": {"a": 1, "b": 2}}, headers=headers)
    response = await client.put(
        "/auth/v1/user", json={"data": {"b": None, "c": 3}}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["user_metadata"] == {"a": 1, "c": 3}


async def test_user_may_not_set_app_metadata(client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    body = {"app_metadata": {"role": "admin"}}
    response = await client.put("/auth/v1/user", json=body, headers=bearer(session))
    assert response.status_code == 403
    assert response.json()["code"] == "not_admin"


async def test_password_change_rules_and_other_sessions_end(client: httpx.AsyncClient) -> None:
    email = random_email()
    device_a = await sign_up(client, email)
    device_b = (await password_login(client, email, "correct horse 1")).json()
    same = await client.put(
        "/auth/v1/user", json={"password": "correct horse 1"}, headers=bearer(device_a)
    )
    assert same.status_code == 422
    assert same.json()["code"] == "same_password"
    weak = await client.put("/auth/v1/user", json={"password": "abc"}, headers=bearer(device_a))
    assert weak.status_code == 422
    assert weak.json()["code"] == "weak_password"
    changed = await client.put(
        "/auth/v1/user", json={"password": "a new password"}, headers=bearer(device_a)
    )
    assert changed.status_code == 200
    assert (await refresh(client, device_b["refresh_token"])).status_code == 400
    assert (await refresh(client, device_a["refresh_token"])).status_code == 200
    assert (await password_login(client, email, "a new password")).status_code == 200
    assert (await password_login(client, email, "correct horse 1")).status_code == 400


async def test_logout_scopes(client: httpx.AsyncClient) -> None:
    email = random_email()
    sessions = [await sign_up(client, email)]
    for _ in range(3):
        sessions.append((await password_login(client, email, "correct horse 1")).json())
    bad = await client.post("/auth/v1/logout?scope=everything", headers=bearer(sessions[0]))
    assert bad.status_code == 400
    assert bad.json()["code"] == "validation_failed"
    local = await client.post("/auth/v1/logout?scope=local", headers=bearer(sessions[0]))
    assert local.status_code == 204
    assert local.content == b""
    assert (await client.get("/auth/v1/user", headers=bearer(sessions[0]))).status_code == 403
    assert (await client.get("/auth/v1/user", headers=bearer(sessions[1]))).status_code == 200
    others = await client.post("/auth/v1/logout?scope=others", headers=bearer(sessions[1]))
    assert others.status_code == 204
    assert (await client.get("/auth/v1/user", headers=bearer(sessions[2]))).status_code == 403
    assert (await client.get("/auth/v1/user", headers=bearer(sessions[1]))).status_code == 200
    everything = await client.post("/auth/v1/logout", headers=bearer(sessions[1]))
    assert everything.status_code == 204
    assert (await refresh(client, sessions[1]["refresh_token"])).status_code == 400
    again = await client.post("/auth/v1/logout", headers=bearer(sessions[1]))
    assert again.status_code == 403  # clients read 401/403/404 as "already signed out"


async def test_anonymous_user_adds_an_email(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/v1/signup", json={"data": {}}, headers=ANON | V2)
    session = response.json()
    email = random_email()
    updated = await client.put("/auth/v1/user", json={"email": email}, headers=bearer(session))
    assert updated.status_code == 200, updated.text
    assert updated.json()["email"] == email
    user = updated.json()
    assert user["is_anonymous"] is False
    assert user["app_metadata"]["provider"] == "email"
    assert [i["provider"] for i in user["identities"]] == ["email"]
    password = await client.put(
        "/auth/v1/user", json={"password": "now permanent 1"}, headers=bearer(session)
    )
    assert password.status_code == 200
    assert (await password_login(client, email, "now permanent 1")).status_code == 200
