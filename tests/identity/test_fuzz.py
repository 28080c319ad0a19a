"""Hypothesis throws random requests at a live NEO's `/identity/v1`, as another tenant would:
every route, against the victim's organization and its project, service account and key,
the attacker's own and made-up ids, with random JSON bodies of any type (names, slugs,
roles, permissions, expiries, emails) and callers (the attacker signed in, anon, a forged
token, a made-up `neo_sk_` key).

Whatever comes in: never a 5xx; an error is JSON with a message; the victim's names never
show up in an answer to anyone else; at the end the victim's organization, project and key
are as they were.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neo.settings import Settings
from tests.auth.conftest import ANON, SERVICE, V2, auth_settings, random_email
from tests.support import fuzz
from tests.support.servers import live_server

API = "/identity/v1"
MARK = "victim-corp-5d1e"
ROUTES = [
    ("GET", "/orgs"), ("POST", "/orgs"), ("GET", "/orgs/{org}"), ("PATCH", "/orgs/{org}"),
    ("DELETE", "/orgs/{org}"), ("GET", "/orgs/{org}/projects"),
    ("POST", "/orgs/{org}/projects"), ("GET", "/orgs/{org}/projects/{project}"),
    ("PATCH", "/orgs/{org}/projects/{project}"), ("DELETE", "/orgs/{org}/projects/{project}"),
    ("GET", "/orgs/{org}/audit"), ("GET", "/orgs/{org}/members"),
    ("POST", "/orgs/{org}/members"), ("PATCH", "/orgs/{org}/members/{user}"),
    ("DELETE", "/orgs/{org}/members/{user}"), ("GET", "/orgs/{org}/invitations"),
    ("POST", "/orgs/{org}/invitations"), ("DELETE", "/orgs/{org}/invitations/{x}"),
    ("POST", "/invitations/accept"), ("GET", "/orgs/{org}/service-accounts"),
    ("POST", "/orgs/{org}/service-accounts"), ("GET", "/orgs/{org}/service-accounts/{account}"),
    ("DELETE", "/orgs/{org}/service-accounts/{account}"),
    ("GET", "/orgs/{org}/service-accounts/{account}/keys"),
    ("POST", "/orgs/{org}/service-accounts/{account}/keys"),
    ("DELETE", "/orgs/{org}/service-accounts/{account}/keys/{key}"),
    ("GET", "/orgs/{org}/roles"), ("POST", "/orgs/{org}/roles"),
    ("PATCH", "/orgs/{org}/roles/{x}"), ("DELETE", "/orgs/{org}/roles/{x}"),
]  # fmt: skip
FIELDS = ["name", "slug", "role", "user_id", "email", "token", "permissions", "expires_at",
          "expires_in", "description", "org_id", "project_id", "settings", "metadata",
          "cursor", "limit", "scopes"]  # fmt: skip
bodies = fuzz.bodies(FIELDS, [
    "owner", "admin", "member", "viewer", "org:read", "projects:write", "*", "a\x00b", "x" * 300,
    "2999-01-01T00:00:00Z", "1970-01-01", "-1", str(uuid.uuid4()), "' or 1=1 --", "neo_sk_x",
])  # fmt: skip
FORGED = jwt.encode({"sub": str(uuid.uuid4()), "role": "authenticated",
                     "exp": int(time.time()) + 3600}, "forged-secret-" * 4)  # fmt: skip


def signed_up(http: httpx.Client) -> tuple[str, dict[str, str]]:
    """A new user's id and the headers that act as them."""
    res = http.post("/auth/v1/signup", headers=ANON | V2,
                    json={"email": random_email(), "password": "correct horse 1"})  # fmt: skip
    assert res.status_code == 200, res.text
    session = res.json()
    return session["user"]["id"], ANON | {"Authorization": f"Bearer {session['access_token']}"}


@pytest.fixture(scope="module")
def world(make_settings: Callable[..., Settings]) -> Iterator[tuple[httpx.Client, dict[str, Any]]]:
    """A client of a live server; the victim's org (a project, a service account with a key)
    and the attacker's own org."""
    with (
        live_server(make_settings(auth=auth_settings())) as url,
        httpx.Client(base_url=url, timeout=30, limits=fuzz.FRESH) as http,
    ):
        victim_id, victim = signed_up(http)
        attacker_id, attacker = signed_up(http)

        def make(path: str, who: dict[str, str], body: dict[str, Any]) -> str:
            res = http.post(API + path, headers=who | V2, json=body)
            assert res.status_code == 201, res.text
            return str(res.json()["id"])

        org = make("/orgs", victim, {"name": MARK, "slug": MARK})
        project = make(f"/orgs/{org}/projects", victim, {"name": f"{MARK}-app", "slug": "app"})
        account = make(f"/orgs/{org}/service-accounts", victim, {"name": f"{MARK}-bot"})
        key = make(f"/orgs/{org}/service-accounts/{account}/keys", victim,
                   {"name": f"{MARK}-key", "permissions": ["org:read"]})  # fmt: skip
        own = make("/orgs", attacker, {"name": "attacker corp", "slug": "attacker-corp"})
        yield http, {
            "victim": victim, "victim_id": victim_id, "attacker": attacker,
            "attacker_id": attacker_id, "org": org, "project": project,
            "account": account, "key": key, "own_org": own,
        }  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    route=st.sampled_from(ROUTES),
    org=st.sampled_from(["victim", "own", "made-up", "x", "%00"]),
    sub_id=st.sampled_from(["real", "made-up", "x", "%00", "-1"]),
    body=bodies,
    caller=st.sampled_from(["attacker", "attacker", "anon", "forged", "key"]),
)
def test_random_requests_never_fail_nor_reach_the_victim(
    world: tuple[httpx.Client, dict[str, Any]],
    route: tuple[str, str],
    org: str,
    sub_id: str,
    body: bytes,
    caller: str,
) -> None:
    http, ids = world
    method, template = route
    org_id = {"victim": ids["org"], "own": ids["own_org"]}.get(org, str(uuid.uuid4()))
    if org in ("x", "%00"):
        org_id = org

    def sub(real: str) -> str:
        return {"real": real, "made-up": str(uuid.uuid4())}.get(sub_id, sub_id)

    path = (
        template.replace("{org}", org_id).replace("{project}", sub(ids["project"]))
        .replace("{account}", sub(ids["account"])).replace("{key}", sub(ids["key"]))
        .replace("{user}", sub(ids["victim_id"])).replace("{x}", sub("viewer"))
    )  # fmt: skip
    headers = {
        "attacker": ids["attacker"],
        "anon": ANON,
        "forged": ANON | {"Authorization": f"Bearer {FORGED}"},
        "key": {"apikey": "neo_sk_" + "x" * 40, "Authorization": "Bearer neo_sk_" + "x" * 40},
    }[caller] | V2
    content = body if method in ("POST", "PATCH") else None
    res = http.request(method, API + path, headers=headers, content=content)
    assert res.status_code < 500, (method, path, res.status_code, res.text)
    if res.status_code >= 400 and res.content and res.request.url.path.startswith(API):
        error = res.json()
        assert {"message", "msg"} & set(error), res.text
    assert MARK not in res.text, (method, path)


def test_the_victims_organization_is_as_it_was(world: tuple[httpx.Client, dict[str, Any]]) -> None:
    http, ids = world
    base = f"{API}/orgs/{ids['org']}"
    org = http.get(base, headers=ids["victim"] | V2)
    assert org.status_code == 200, org.text
    assert org.json()["name"] == MARK
    project = http.get(f"{base}/projects/{ids['project']}", headers=ids["victim"] | V2)
    assert project.json()["name"] == f"{MARK}-app"
    members = http.get(f"{base}/members", headers=SERVICE | V2).json()
    assert [m["user_id"] for m in members] == [ids["victim_id"]]
    keys = http.get(f"{base}/service-accounts/{ids['account']}/keys", headers=ids["victim"] | V2)
    assert [k["id"] for k in keys.json() if not k.get("revoked_at")] == [ids["key"]]
