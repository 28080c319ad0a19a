"""The admin API: who may call it, users CRUD, pagination headers, invite, generate_link."""

from __future__ import annotations

import re

import bcrypt
import httpx
import pytest

from tests.auth.conftest import ANON, SERVICE, V2, bearer, password_login, random_email, sign_up


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/auth/v1/admin/users"),
        ("POST", "/auth/v1/admin/users"),
        ("GET", "/auth/v1/admin/users/00000000-0000-0000-0000-000000000000"),
        ("PUT", "/auth/v1/admin/users/00000000-0000-0000-0000-000000000000"),
        ("DELETE", "/auth/v1/admin/users/00000000-0000-0000-0000-000000000000"),
        ("POST", "/auth/v1/invite"),
        ("POST", "/auth/v1/admin/generate_link"),
        ("GET", "/auth/v1/admin/mailbox"),
    ],
)
async def test_admin_routes_refuse_anon_and_users(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    anon = await client.request(method, path, headers=ANON | V2, json={})
    assert anon.status_code == 403
    assert anon.json()["code"] == "not_admin"
    user = await sign_up(client)
    as_user = await client.request(method, path, headers=bearer(user), json={})
    assert as_user.status_code == 403
    assert as_user.json()["code"] == "not_admin"


async def test_create_get_update_delete(client: httpx.AsyncClient) -> None:
    email = random_email()
    body = {"email": email, "password": "correct horse 1", "email_confirm": True,
            "user_metadata": {"name": "Ada"}, "app_metadata": {"plan": "pro"}}  # fmt: skip
    created = await client.post("/auth/v1/admin/users", json=body, headers=SERVICE | V2)
    assert created.status_code == 200, created.text
    user = created.json()
    assert user["email_confirmed_at"]
    assert user["app_metadata"]["plan"] == "pro"
    assert user["app_metadata"]["provider"] == "email"
    again = await client.post("/auth/v1/admin/users", json=body, headers=SERVICE | V2)
    assert again.status_code == 422
    assert again.json()["code"] == "email_exists"
    got = await client.get(f"/auth/v1/admin/users/{user['id']}", headers=SERVICE)
    assert got.json()["user_metadata"] == {"name": "Ada"}
    updated = await client.put(
        f"/auth/v1/admin/users/{user['id']}",
        json={"user_metadata": {"age": 36}, "ban_duration": "24h"},
        headers=SERVICE,
    )
    assert updated.json()["user_metadata"] == {"name": "Ada", "age": 36}
    assert updated.json()["banned_until"]
    unban = await client.put(
        f"/auth/v1/admin/users/{user['id']}", json={"ban_duration": "none"}, headers=SERVICE
    )
    assert "banned_until" not in unban.json()
    assert (await password_login(client, email, "correct horse 1")).status_code == 200
    deleted = await client.delete(f"/auth/v1/admin/users/{user['id']}", headers=SERVICE)
    assert deleted.status_code == 200
    assert deleted.json() == {}
    missing = await client.get(f"/auth/v1/admin/users/{user['id']}", headers=SERVICE | V2)
    assert missing.status_code == 404
    assert missing.json()["code"] == "user_not_found"


async def test_list_users_paginates_like_gotrue(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await sign_up(client)
    response = await client.get("/auth/v1/admin/users?page=1&per_page=2", headers=SERVICE)
    assert response.status_code == 200
    body = response.json()
    assert body["aud"] == "authenticated"
    assert len(body["users"]) == 2
    total = int(response.headers["x-total-count"])
    assert total >= 3
    link = response.headers["link"]
    assert re.match(r'^</admin/users\?page=2&per_page=2>; rel="next", ', link)
    assert f'</admin/users?page={-(-total // 2)}&per_page=2>; rel="last"' in link


async def test_imported_bcrypt_hash_logs_in(client: httpx.AsyncClient) -> None:
    email = random_email()
    hashed = bcrypt.hashpw(b"imported pw 1", bcrypt.gensalt(rounds=4)).decode()
    body = {"email": email, "password_hash": hashed, "email_confirm": True}
    created = await client.post("/auth/v1/admin/users", json=body, headers=SERVICE)
    assert created.status_code == 200, created.text
    assert (await password_login(client, email, "imported pw 1")).status_code == 200


async def test_invite_creates_an_invited_user_and_mails(client: httpx.AsyncClient) -> None:
    email = random_email()
    response = await client.post("/auth/v1/invite", json={"email": email}, headers=SERVICE)
    assert response.status_code == 200, response.text
    assert response.json()["invited_at"]
    again = await client.post("/auth/v1/invite", json={"email": email}, headers=SERVICE | V2)
    assert again.status_code == 422
    assert again.json()["code"] == "email_exists"
    mail = await client.get("/auth/v1/admin/mailbox", params={"email": email}, headers=SERVICE)
    assert mail.json()["messages"][0]["kind"] == "invite"


async def test_generate_link_flattens_user_and_properties(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    response = await client.post(
        "/auth/v1/admin/generate_link",
        json={"type": "magiclink", "email": email},
        headers=SERVICE,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["email"] == email
    assert body["verification_type"] == "magiclink"
    assert "/auth/v1/verify?token=" in body["action_link"]
    assert len(body["email_otp"]) == 6
    assert body["hashed_token"]
    verified = await client.post(
        "/auth/v1/verify",
        json={"type": "magiclink", "token_hash": body["hashed_token"]},
        headers=ANON | V2,
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["user"]["email"] == email
    unknown = await client.post(
        "/auth/v1/admin/generate_link",
        json={"type": "recovery", "email": random_email()},
        headers=SERVICE | V2,
    )
    assert unknown.status_code == 404
