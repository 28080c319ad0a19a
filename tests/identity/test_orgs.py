"""Organizations: the personal org made at sign-up, CRUD, and malformed input."""

from __future__ import annotations

import asyncpg
import httpx
from fastapi.openapi.utils import get_openapi

from neo import identity
from tests.identity.conftest import ANON, SERVICE, call, make_org, new_user, ok


async def test_sign_up_creates_a_personal_org_with_the_user_id(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    org = await ok(await call(client, "GET", f"/orgs/{user.id}", user))
    assert org["id"] == user.id
    assert org["personal"] is True
    members = await ok(await call(client, "GET", f"/orgs/{user.id}/members", user))
    assert [(m["user_id"], m["role"]) for m in members] == [(user.id, "owner")]


async def test_personal_org_cannot_be_deleted(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    response = await call(client, "DELETE", f"/orgs/{user.id}", user)
    assert response.status_code == 409
    assert response.json()["code"] == "personal_org"


async def test_list_shows_only_the_callers_orgs(client: httpx.AsyncClient) -> None:
    alice, bob = await new_user(client), await new_user(client)
    org = await make_org(client, alice)
    ids = {o["id"] for o in await ok(await call(client, "GET", "/orgs", alice))}
    assert ids == {alice.id, org}
    ids = {o["id"] for o in await ok(await call(client, "GET", "/orgs", bob))}
    assert ids == {bob.id}


async def test_create_rename_delete_an_org(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    body = {"name": "Acme", "slug": f"acme-{user.id[:8]}"}
    org = await ok(await call(client, "POST", "/orgs", user, body), 201)
    assert (org["name"], org["personal"], org["created_by"]) == ("Acme", False, user.id)
    renamed = await ok(await call(client, "PATCH", f"/orgs/{org['id']}", user, {"name": "Acme 2"}))
    assert renamed["name"] == "Acme 2"
    assert renamed["slug"] == body["slug"]
    await ok(await call(client, "DELETE", f"/orgs/{org['id']}", user), 204)
    assert (await call(client, "GET", f"/orgs/{org['id']}", user)).status_code == 404


async def test_slug_taken_is_a_conflict(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    body = {"name": "Dup", "slug": f"dup-{user.id[:8]}"}
    await ok(await call(client, "POST", "/orgs", user, body), 201)
    response = await call(client, "POST", "/orgs", user, body)
    assert response.status_code == 409
    assert response.json()["code"] == "slug_taken"


async def test_malformed_bodies_are_422(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    for body in [
        None,
        {"name": ""},
        {"name": "x", "slug": "Bad Slug"},
        {"name": "x", "slug": "ok", "extra": 1},
    ]:
        response = await call(client, "POST", "/orgs", user, body)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid_input"
        assert response.json()["request_id"]
    raw = await client.post(
        "/identity/v1/orgs",
        headers=user.headers | {"content-type": "application/json"},
        content=b"{",
    )
    assert raw.status_code == 422
    response = await call(client, "GET", f"/orgs/{user.id}/audit", user, limit="0")
    assert response.status_code == 422


async def test_service_role_creates_an_org_for_a_named_owner(client: httpx.AsyncClient) -> None:
    user = await new_user(client)
    body = {"name": "Svc", "slug": f"svc-{user.id[:8]}", "owner_id": user.id}
    org = await ok(await call(client, "POST", "/orgs", SERVICE, body), 201)
    members = await ok(await call(client, "GET", f"/orgs/{org['id']}/members", user))
    assert [(m["user_id"], m["role"]) for m in members] == [(user.id, "owner")]
    missing = await call(client, "POST", "/orgs", SERVICE, body | {"owner_id": None, "slug": "s2"})
    assert missing.status_code == 422
    mine = await call(client, "POST", "/orgs", user, body | {"slug": "s3"})
    assert mine.status_code == 422


async def test_anon_gets_401(client: httpx.AsyncClient) -> None:
    response = await call(client, "GET", "/orgs", ANON)
    assert response.status_code == 401
    assert response.json()["code"] == "auth_required"


async def test_deleting_a_user_removes_their_personal_org(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    user = await new_user(client)
    await ok(await client.delete(f"/auth/v1/admin/users/{user.id}", headers=SERVICE))
    assert (
        await db.fetchval("select count(*) from neo_identity.organizations where id = $1", user.id)
        == 0
    )


def test_openapi_documents_the_routes_and_bodies() -> None:
    # Only identity's routes: the whole app's document currently warns about a duplicate
    # operation id in auth (HEAD/GET /verify), which the suite turns into an error.
    spec = get_openapi(title="identity", version="1", routes=identity.router.routes)
    paths = list(spec["paths"])
    assert "/identity/v1/orgs/{org_id}/members/{user_id}" in paths
    assert "/identity/v1/invitations/accept" in paths
    create = spec["paths"]["/identity/v1/orgs"]["post"]
    assert "slug" in create["requestBody"]["content"]["application/json"]["schema"]["properties"]
