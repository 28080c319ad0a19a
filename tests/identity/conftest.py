"""Fixtures for identity tests: the app with cheap hashing, users signed up through
/auth/v1/signup, service-account keys minted through the API, calls to /identity/v1 as each
kind of caller, and SQL as a given user."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from fastapi import FastAPI

from neo.settings import Settings
from tests.auth.conftest import ANON, SERVICE, V2, auth_settings, bearer, random_email, sign_up
from tests.support.servers import asgi_client, running_app

API = "/identity/v1"


@dataclass(frozen=True)
class User:
    """A signed-up user and the headers that act as them."""

    id: str
    email: str
    headers: dict[str, str]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[FastAPI]:
    """The app with cheap password hashing and no mail throttles."""
    async with running_app(make_settings(auth=auth_settings())) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def module_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client shared by a module's fixtures."""
    async with asgi_client(app) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """An owner connection to the module's database."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def new_user(client: httpx.AsyncClient, email: str | None = None) -> User:
    """Sign a user up through /auth/v1/signup (autoconfirm is on)."""
    session = await sign_up(client, email or random_email())
    return User(session["user"]["id"], session["user"]["email"], bearer(session))


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    who: User | Key | dict[str, str],
    body: Any = None,
    **params: Any,
) -> httpx.Response:
    """Call /identity/v1 as `who` (a user, or headers such as ANON / SERVICE)."""
    headers = who.headers if isinstance(who, User | Key) else who | V2
    return await client.request(
        method, API + path, headers=headers, json=body, params=params or None
    )


async def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of a response that must have `status`."""
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def make_org(
    client: httpx.AsyncClient, owner: User, members: dict[str, str] | None = None
) -> str:
    """An org owned by `owner` with `members` (user id -> role) added by the service role."""
    slug = "org-" + random_email().split("@")[0].removeprefix("user-")
    org = await ok(await call(client, "POST", "/orgs", owner, {"name": slug, "slug": slug}), 201)
    for user_id, role in (members or {}).items():
        body = {"user_id": user_id, "role": role}
        await ok(await call(client, "POST", f"/orgs/{org['id']}/members", SERVICE, body), 201)
    return str(org["id"])


@dataclass(frozen=True)
class Key:
    """A minted `neo_sk_` key, its ids, and the headers that act as it (supabase-js style)."""

    id: str
    account_id: str
    org_id: str
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"apikey": self.secret, "Authorization": f"Bearer {self.secret}"}


ALL_PERMISSIONS = [
    "org:read", "org:write", "members:read", "members:write", "invitations:read",
    "invitations:write", "projects:read", "projects:write", "audit:read",
]  # fmt: skip


async def make_key(
    client: httpx.AsyncClient,
    org: str,
    permissions: list[str] | None = None,
    *,
    role: str = "admin",
    project_id: str | None = None,
    admin: User | dict[str, str] = SERVICE,
) -> Key:
    """A service account of `org` with `role` and one key holding `permissions` (all of
    identity's by default), created by `admin` through the API."""
    body: dict[str, Any] = {"name": "robot", "role": role, "project_id": project_id}
    account = await ok(
        await call(client, "POST", f"/orgs/{org}/service-accounts", admin, body), 201
    )
    grant = {"permissions": ALL_PERMISSIONS if permissions is None else permissions}
    path = f"/orgs/{org}/service-accounts/{account['id']}/keys"
    key = await ok(await call(client, "POST", path, admin, grant), 201)
    return Key(key["id"], account["id"], org, key["key"])


@asynccontextmanager
async def as_user(conn: asyncpg.Connection, user_id: str | None) -> AsyncIterator[None]:
    """A transaction acting as a user (as the data API would), rolled back at the end."""
    tx = conn.transaction()
    await tx.start()
    try:
        role = "authenticated" if user_id else "anon"
        claims = {"sub": user_id, "role": role} if user_id else {"role": "anon"}
        await conn.execute(
            "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
            role,
            json.dumps(claims),
        )
        yield
    finally:
        await tx.rollback()


@asynccontextmanager
async def as_claims(conn: asyncpg.Connection, claims: dict[str, Any]) -> AsyncIterator[None]:
    """A transaction with the role and claims an actor gets from the gateway, rolled back."""
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(
            "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
            claims["role"],
            json.dumps(claims),
        )
        yield
    finally:
        await tx.rollback()


__all__ = [
    "ALL_PERMISSIONS", "ANON", "API", "SERVICE", "Key", "User", "as_claims", "as_user", "call",
    "make_key", "make_org", "new_user", "ok",
]  # fmt: skip
