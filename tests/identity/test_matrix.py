"""Who may call what: every /identity/v1 route x {anon, non-member, viewer, member, admin,
owner, service role, wrong-scope key, right-scope key, another org's key}, and IDOR: every
path id swapped for another tenant's answers 404 (for users and for keys)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

from tests.auth.conftest import mailbox
from tests.identity.conftest import ANON, SERVICE, Key, User, call, make_key, make_org, new_user, ok

ROLES = ["viewer", "member", "admin", "owner"]
KEYS = ["wrong_key", "right_key", "foreign_key"]  # admin service accounts' keys
ACTORS = ["anon", "outsider", *ROLES, "service", *KEYS]


@dataclass
class Cast:
    """The users of the matrix: one per role, an outsider, and two spare users."""

    by_role: dict[str, User]
    outsider: User
    spare: User  # added by POST /members
    target: User  # a viewer the member routes act on

    async def who_in(
        self, client: httpx.AsyncClient, actor: str, org: str, permission: str | None
    ) -> User | Key | dict[str, str]:
        """The actor; keys are minted for `org` (right: the route's permission; wrong: an
        unrelated one; foreign: every permission, of another org)."""
        if actor == "right_key":
            return await make_key(client, org, [permission or "org:read"])
        if actor == "wrong_key":
            return await make_key(client, org, ["docs:read"])
        if actor == "foreign_key":
            return await make_key(client, await make_org(client, self.outsider))
        return self.who(actor)

    def who(self, actor: str) -> User | dict[str, str]:
        if actor == "anon":
            return ANON
        if actor == "service":
            return SERVICE
        return self.outsider if actor == "outsider" else self.by_role[actor]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def cast(module_client: httpx.AsyncClient) -> Cast:
    users = [await new_user(module_client) for _ in range(7)]
    return Cast(dict(zip(ROLES, users[:4], strict=True)), users[4], users[5], users[6])


async def fresh_org(client: httpx.AsyncClient, cast: Cast) -> str:
    members = {cast.by_role[r].id: r for r in ROLES[:3]} | {cast.target.id: "viewer"}
    return await make_org(client, cast.by_role["owner"], members)


Setup = Callable[[httpx.AsyncClient, str, Cast], Awaitable[str]]


async def _project(client: httpx.AsyncClient, org: str, cast: Cast) -> str:
    body = {"name": "P", "slug": "p"}
    project = await ok(await call(client, "POST", f"/orgs/{org}/projects", SERVICE, body), 201)
    return str(project["id"])


async def _invitation(client: httpx.AsyncClient, org: str, cast: Cast) -> str:
    body = {"email": "someone@example.com"}
    inv = await ok(await call(client, "POST", f"/orgs/{org}/invitations", SERVICE, body), 201)
    return str(inv["id"])


async def _none(client: httpx.AsyncClient, org: str, cast: Cast) -> str:
    return ""


async def _account(client: httpx.AsyncClient, org: str, cast: Cast) -> str:
    path = f"/orgs/{org}/service-accounts"
    return str((await ok(await call(client, "POST", path, SERVICE, {"name": "a"}), 201))["id"])


async def _role(client: httpx.AsyncClient, org: str, cast: Cast) -> str:
    body = {"name": "custom", "base": "member", "permissions": ["projects:read"]}
    return str(
        (await ok(await call(client, "POST", f"/orgs/{org}/roles", SERVICE, body), 201))["name"]
    )


async def _key(client: httpx.AsyncClient, org: str, cast: Cast) -> str:
    key = await make_key(client, org)
    return f"{key.account_id}/keys/{key.id}"


# (method, path under /orgs/{org}, body, least role, the permission a key needs (None: keys
# never may), success status, setup -> {x} in path)
ORG_ROUTES: list[tuple[str, str, Any, str, str | None, int, Setup]] = [
    ("GET", "", None, "viewer", "org:read", 200, _none),
    ("PATCH", "", {"name": "N"}, "admin", "org:write", 200, _none),
    ("DELETE", "", None, "owner", "org:write", 204, _none),
    ("GET", "/members", None, "viewer", "members:read", 200, _none),
    ("POST", "/members", "spare", "admin", "members:write", 201, _none),
    ("PATCH", "/members/{target}", {"role": "member"}, "admin", "members:write", 200, _none),
    ("DELETE", "/members/{target}", None, "admin", "members:write", 204, _none),
    ("GET", "/invitations", None, "admin", "invitations:read", 200, _none),
    ("POST", "/invitations", {"email": "new@example.com"}, "admin", "invitations:write", 201,
     _none),
    ("DELETE", "/invitations/{x}", None, "admin", "invitations:write", 200, _invitation),
    ("GET", "/projects", None, "viewer", "projects:read", 200, _none),
    ("POST", "/projects", {"name": "Q", "slug": "q"}, "member", "projects:write", 201, _none),
    ("GET", "/projects/{x}", None, "viewer", "projects:read", 200, _project),
    ("PATCH", "/projects/{x}", {"name": "R"}, "member", "projects:write", 200, _project),
    ("DELETE", "/projects/{x}", None, "admin", "projects:write", 204, _project),
    ("GET", "/audit", None, "admin", "audit:read", 200, _none),
    ("GET", "/roles", None, "viewer", "members:read", 200, _none),
    ("POST", "/roles", {"name": "r", "base": "member", "permissions": []}, "admin",
     "members:write", 201, _none),
    ("PATCH", "/roles/{x}", {"permissions": ["org:read"]}, "admin", "members:write", 200, _role),
    ("DELETE", "/roles/{x}", None, "admin", "members:write", 204, _role),
    ("GET", "/service-accounts", None, "admin", None, 200, _none),
    ("POST", "/service-accounts", {"name": "S"}, "admin", None, 201, _none),
    ("GET", "/service-accounts/{x}", None, "admin", None, 200, _account),
    ("DELETE", "/service-accounts/{x}", None, "admin", None, 204, _account),
    ("GET", "/service-accounts/{x}/keys", None, "admin", None, 200, _account),
    ("POST", "/service-accounts/{x}/keys", {"permissions": []}, "admin", None, 201, _account),
    ("DELETE", "/service-accounts/{x}", None, "admin", None, 200, _key),  # revoke a key
]  # fmt: skip


def expected(actor: str, need: str, permission: str | None, success: int) -> int:
    if actor == "anon":
        return 401
    if actor in ("outsider", "foreign_key"):
        return 404
    if actor in KEYS:  # admin service accounts: the role allows up to admin, the key's scope
        ok = actor == "right_key" and permission is not None and need != "owner"
        return success if ok else 403
    if actor == "service" or ROLES.index(actor) >= ROLES.index(need):
        return success
    return 403


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(
    "route", ORG_ROUTES, ids=[f"{r[0]} {r[1] or '/'} {r[6].__name__}" for r in ORG_ROUTES]
)
async def test_org_route_matrix(
    client: httpx.AsyncClient,
    cast: Cast,
    route: tuple[str, str, Any, str, str | None, int, Setup],
    actor: str,
) -> None:
    method, path, body, need, permission, success, setup = route
    org = await fresh_org(client, cast)
    path = path.format(x=await setup(client, org, cast), target=cast.target.id)
    if body == "spare":
        body = {"user_id": cast.spare.id, "role": "member"}
    who = await cast.who_in(client, actor, org, permission)
    response = await call(client, method, f"/orgs/{org}{path}", who, body)
    assert response.status_code == expected(actor, need, permission, success), response.text


@pytest.mark.parametrize("actor", ACTORS)
async def test_unscoped_route_matrix(client: httpx.AsyncClient, cast: Cast, actor: str) -> None:
    org = await fresh_org(client, cast)
    who = await cast.who_in(client, actor, org, "org:read")
    listed = await call(client, "GET", "/orgs", who)
    assert listed.status_code == {"anon": 401, "wrong_key": 403}.get(actor, 200)
    slug = f"m-{actor.replace('_', '-')}-{cast.spare.id[:8]}"
    body: dict[str, Any] = {"name": "M", "slug": slug}
    if actor == "service":
        body["owner_id"] = cast.outsider.id
    created = await call(client, "POST", "/orgs", who, body)
    assert created.status_code == (401 if actor == "anon" else 403 if actor in KEYS else 201)
    # Accept an invitation to a fresh org, addressed to this actor.
    email = who.email if isinstance(who, User) else "nobody@example.com"
    token = await _token(client, org, email)
    accepted = await call(client, "POST", "/invitations/accept", who, {"token": token})
    want = {"anon": 401, "service": 403, "outsider": 200}.get(actor, 409)  # members: 409
    want = 403 if actor in KEYS else want
    assert accepted.status_code == want, accepted.text


async def _token(client: httpx.AsyncClient, org: str, email: str) -> str:
    await ok(await call(client, "POST", f"/orgs/{org}/invitations", SERVICE, {"email": email}), 201)
    link = (await mailbox(client, email))[0]["link"]
    return parse_qs(urlsplit(link).query)["token"][0]


async def test_idor_every_path_id_of_another_tenant_is_404(client: httpx.AsyncClient) -> None:
    alice, bob, carol = [await new_user(client) for _ in range(3)]
    org_a = await make_org(client, alice, {carol.id: "member"})
    org_b = await make_org(client, bob)
    project_a = await _project(client, org_a, None)  # type: ignore[arg-type]
    invitation_a = await _invitation(client, org_a, None)  # type: ignore[arg-type]
    key_a = await make_key(client, org_a)
    account_a, keys_a = key_a.account_id, f"{key_a.account_id}/keys"
    role_a = await _role(client, org_a, None)  # type: ignore[arg-type]
    swaps: list[tuple[str, str, Any]] = []
    for org in (org_a, alice.id):  # alice's shared and personal orgs
        swaps += [
            ("GET", f"/orgs/{org}", None), ("PATCH", f"/orgs/{org}", {"name": "x"}),
            ("DELETE", f"/orgs/{org}", None), ("GET", f"/orgs/{org}/members", None),
            ("POST", f"/orgs/{org}/members", {"user_id": bob.id}),
            ("PATCH", f"/orgs/{org}/members/{alice.id}", {"role": "viewer"}),
            ("DELETE", f"/orgs/{org}/members/{alice.id}", None),
            ("GET", f"/orgs/{org}/invitations", None),
            ("POST", f"/orgs/{org}/invitations", {"email": "x@example.com"}),
            ("DELETE", f"/orgs/{org}/invitations/{invitation_a}", None),
            ("GET", f"/orgs/{org}/projects", None),
            ("POST", f"/orgs/{org}/projects", {"name": "x", "slug": "x"}),
            ("GET", f"/orgs/{org}/projects/{project_a}", None),
            ("PATCH", f"/orgs/{org}/projects/{project_a}", {"name": "x"}),
            ("DELETE", f"/orgs/{org}/projects/{project_a}", None),
            ("GET", f"/orgs/{org}/audit", None),
            ("GET", f"/orgs/{org}/roles", None),
            ("POST", f"/orgs/{org}/roles", {"name": "x", "base": "member", "permissions": []}),
            ("PATCH", f"/orgs/{org}/roles/{role_a}", {"permissions": []}),
            ("DELETE", f"/orgs/{org}/roles/{role_a}", None),
            ("GET", f"/orgs/{org}/service-accounts", None),
            ("POST", f"/orgs/{org}/service-accounts", {"name": "x"}),
            ("GET", f"/orgs/{org}/service-accounts/{account_a}", None),
            ("DELETE", f"/orgs/{org}/service-accounts/{account_a}", None),
            ("GET", f"/orgs/{org}/service-accounts/{keys_a}", None),
            ("POST", f"/orgs/{org}/service-accounts/{keys_a}", {"permissions": []}),
            ("DELETE", f"/orgs/{org}/service-accounts/{keys_a}/{key_a.id}", None),
        ]  # fmt: skip
    # Bob's own org with alice's member, project and invitation ids.
    swaps += [
        ("PATCH", f"/orgs/{org_b}/members/{carol.id}", {"role": "viewer"}),
        ("DELETE", f"/orgs/{org_b}/members/{carol.id}", None),
        ("DELETE", f"/orgs/{org_b}/invitations/{invitation_a}", None),
        ("GET", f"/orgs/{org_b}/projects/{project_a}", None),
        ("PATCH", f"/orgs/{org_b}/projects/{project_a}", {"name": "x"}),
        ("DELETE", f"/orgs/{org_b}/projects/{project_a}", None),
        ("GET", "/orgs/not-a-uuid", None),
    ]
    bob_key = await make_key(client, org_b)
    for method, path, body in swaps:
        for who in (bob, bob_key):
            if who is bob_key and path.startswith(f"/orgs/{org_b}/service-accounts"):
                continue  # in its own org a key is refused these routes (403, the matrix)
            response = await call(client, method, path, who, body)
            assert response.status_code == 404, (method, path, response.text)
    # Bob's own org with alice's role name, service account and key ids.
    for method, path, body in [
        ("PATCH", f"/orgs/{org_b}/roles/{role_a}", {"permissions": []}),
        ("DELETE", f"/orgs/{org_b}/roles/{role_a}", None),
        ("GET", f"/orgs/{org_b}/service-accounts/{account_a}", None),
        ("DELETE", f"/orgs/{org_b}/service-accounts/{account_a}", None),
        ("GET", f"/orgs/{org_b}/service-accounts/{keys_a}", None),
        ("POST", f"/orgs/{org_b}/service-accounts/{keys_a}", {"permissions": []}),
        ("DELETE", f"/orgs/{org_b}/service-accounts/{keys_a}/{key_a.id}", None),
        ("DELETE", f"/orgs/{org_b}/service-accounts/{bob_key.account_id}/keys/{key_a.id}", None),
    ]:
        response = await call(client, method, path, bob, body)
        assert response.status_code == 404, (method, path, response.text)
    assert (await call(client, "GET", f"/orgs/{org_a}", key_a)).status_code == 200
    # Nothing of alice's changed.
    assert (await ok(await call(client, "GET", f"/orgs/{org_a}/projects/{project_a}", alice)))[
        "name"
    ] == "P"
    members = await ok(await call(client, "GET", f"/orgs/{org_a}/members", alice))
    assert {m["user_id"]: m["role"] for m in members} == {alice.id: "owner", carol.id: "member"}
    invitations = await ok(await call(client, "GET", f"/orgs/{org_a}/invitations", alice))
    assert invitations[0]["revoked_at"] is None
