"""Tokens whose `sub` is not a UUID (signed by a trusted key, e.g. a third-party issuer's
subject): every `/identity/v1` route answers a clear 4xx (or an empty list), never a 500,
and the RLS helpers apps call in their own policies answer instead of raising."""

from __future__ import annotations

import time
import uuid

import asyncpg
import httpx
import jwt
import pytest

from tests.conftest import DEMO_ANON_KEY, DEMO_JWT_SECRET

API = "/identity/v1"
SOME = str(uuid.uuid4())
ROUTES = [
    ("GET", "/orgs"),
    ("POST", "/orgs"),
    ("GET", f"/orgs/{SOME}"),
    ("PATCH", f"/orgs/{SOME}"),
    ("DELETE", f"/orgs/{SOME}"),
    ("GET", f"/orgs/{SOME}/projects"),
    ("POST", f"/orgs/{SOME}/projects"),
    ("GET", f"/orgs/{SOME}/audit"),
    ("GET", f"/orgs/{SOME}/members"),
    ("POST", f"/orgs/{SOME}/members"),
    ("GET", f"/orgs/{SOME}/invitations"),
    ("POST", f"/orgs/{SOME}/invitations"),
    ("GET", f"/orgs/{SOME}/roles"),
    ("POST", f"/orgs/{SOME}/roles"),
    ("GET", f"/orgs/{SOME}/service-accounts"),
    ("POST", f"/orgs/{SOME}/service-accounts"),
    ("POST", "/invitations/accept"),
]


def foreign_token(sub: str) -> str:
    now = int(time.time())
    claims = {"sub": sub, "role": "authenticated", "aud": "authenticated", "iat": now}
    return jwt.encode(claims | {"exp": now + 600}, DEMO_JWT_SECRET, algorithm="HS256")


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_refuses_a_foreign_subject_without_a_500(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    headers = {"apikey": DEMO_ANON_KEY, "authorization": f"Bearer {foreign_token('github|42')}"}
    body = {
        "name": "acme",
        "slug": "acme",
        "email": "a@example.com",
        "token": "x",
        "role": "member",
    }
    kwargs = {"json": body} if method in {"POST", "PATCH"} else {}
    response = await client.request(method, API + path, headers=headers, **kwargs)
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code == 200:  # a list the caller may read: nothing of anyone's
        assert response.json() == []


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (f"neo.is_org_member('{SOME}')", False),
        (f"neo.has_org_role('{SOME}', 'member')", False),
        (f"neo.has_org_permission('{SOME}', 'sandboxes:read')", False),
        ("(select count(*) from neo.current_org_ids())", 0),
        # the narrowing helpers only narrow keys; a caller that is no key passes them
        ("neo.has_scope('sandboxes:read')", True),
        (f"neo.in_project_scope('{SOME}')", True),
    ],
)
async def test_rls_helpers_answer_without_raising_for_a_foreign_subject(
    db: asyncpg.Connection, call: str, expected: object
) -> None:
    claims = '{"sub": "github|42", "role": "authenticated"}'
    async with db.transaction():
        await db.execute("select set_config('request.jwt.claims', $1, true)", claims)
        await db.execute("set local role authenticated")
        assert await db.fetchval(f"select {call}") == expected
