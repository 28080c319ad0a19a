"""auth-security G1: every `/auth/v1/admin` route (and `/invite`) x {anon, user, org member,
org admin, wrong-scope key, right-scope key} is refused. The admin API administers every
user of the instance, so no org's service-account key reaches it, whatever its permissions
(decision 0009); it takes the instance's secret key (`service_role`), and a `service_role`
token signed with another key is refused as `bad_jwt`."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import jwt
import pytest
import pytest_asyncio
from fastapi import FastAPI

from tests.auth.conftest import ANON, SERVICE, V2
from tests.identity.conftest import ALL_PERMISSIONS, Key, User, make_key, make_org, new_user

ACTORS = ["anon", "user", "member", "admin", "wrong_key", "right_key"]


def admin_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every admin route in the app's OpenAPI document, ids filled in."""
    found = set()
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/auth/v1/admin") or path == "/auth/v1/invite":
            concrete = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
            found |= {(m.upper(), concrete) for m in operations if m != "head"}
    return sorted(found)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def cast(module_client: httpx.AsyncClient) -> dict[str, User | Key | dict[str, str]]:
    owner, member, admin, user = [await new_user(module_client) for _ in range(4)]
    org = await make_org(module_client, owner, {member.id: "member", admin.id: "admin"})
    return {
        "anon": ANON,
        "user": user,
        "member": member,
        "admin": admin,
        "wrong_key": await make_key(module_client, org, ["docs:read"]),
        "right_key": await make_key(module_client, org, [*ALL_PERMISSIONS, "auth:admin"]),
    }


def headers_of(who: User | Key | dict[str, str]) -> dict[str, str]:
    if isinstance(who, User):
        return who.headers
    if isinstance(who, Key):  # the key as the bearer, behind the project's anon key
        return {"apikey": ANON["apikey"], "Authorization": f"Bearer {who.secret}"} | V2
    return who | V2


async def test_the_admin_route_list_is_complete(app: FastAPI) -> None:
    paths = {p for _, p in admin_routes(app)}
    assert len(admin_routes(app)) >= 12
    assert "/auth/v1/invite" in paths
    assert "/auth/v1/admin/users" in paths


@pytest.mark.parametrize("actor", ACTORS)
async def test_every_admin_route_refuses_everyone_but_the_service_role(
    app: FastAPI, client: httpx.AsyncClient, cast: dict[str, User | Key | dict[str, str]],
    actor: str,
) -> None:  # fmt: skip
    for method, path in admin_routes(app):
        response = await client.request(method, path, headers=headers_of(cast[actor]), json={})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "not_admin"
    if isinstance(cast[actor], Key):  # also as supabase-js sends a key: apikey and bearer
        key = cast[actor]
        assert isinstance(key, Key)
        response = await client.get("/auth/v1/admin/users", headers=key.headers | V2)
        assert response.status_code == 403, response.text


async def test_service_role_reaches_them_and_a_forged_one_does_not(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for method, path in admin_routes(app):
        if method == "GET":
            response = await client.request(method, path, headers=SERVICE | V2)
            assert response.status_code not in (401, 403), (path, response.text)
    now = int(time.time())
    forged = jwt.encode(
        {"role": "service_role", "iat": now, "exp": now + 60}, "another-secret-" * 3, "HS256"
    )
    headers = {"apikey": ANON["apikey"], "Authorization": f"Bearer {forged}"} | V2
    response = await client.get("/auth/v1/admin/users", headers=headers)
    # Refused as unverifiable (GoTrue answers such tokens 403 `bad_jwt`; spec G1 says 401).
    assert response.status_code in (401, 403), response.text
    assert response.json()["code"] == "bad_jwt"
