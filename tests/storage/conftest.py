"""Storage test fixtures: official clients against a live NEO on both byte backends (local
disk, and S3 served by moto on loopback), user tokens, RLS policies.

Policies mirror the idioms Supabase apps use (spec §3.4): bucket `open` readable by anon,
bucket `shared` fully usable by any signed-in user, bucket `private` owner-only folders
(`(storage.foldername(name))[1] = auth.uid()::text`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import jwt
import pytest
import pytest_asyncio
from fastapi import FastAPI
from supabase import Client, ClientOptions, create_client

from neo.kit.net import free_port
from neo.settings import Settings
from tests.conftest import DEMO_ANON_KEY, DEMO_JWT_SECRET, DEMO_SERVICE_KEY
from tests.support.databases import clone_database, drop_database
from tests.support.servers import live_server, running_app

POLICIES = """
create policy open_read on storage.objects for select to anon, authenticated
    using (bucket_id = 'open');
create policy shared_all on storage.objects for all to authenticated
    using (bucket_id = 'shared') with check (bucket_id = 'shared');
create policy private_own on storage.objects for all to authenticated
    using (bucket_id = 'private' and (storage.foldername(name))[1] = auth.uid()::text)
    with check (bucket_id = 'private' and (storage.foldername(name))[1] = auth.uid()::text);
create policy buckets_read on storage.buckets for select to authenticated using (true);
"""


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """The S3 server the S3 backend is tested against: `endpoint`, `access_key`,
    `secret_key`. `NEO_TEST_S3_URL` (with `NEO_TEST_S3_ACCESS_KEY` / `NEO_TEST_S3_SECRET_KEY`)
    names a running one (`scripts/radosgw-tests` starts Ceph's radosgw for it); otherwise moto
    in server mode on loopback (it accepts any credentials)."""
    if url := os.environ.get("NEO_TEST_S3_URL"):
        access, secret = os.environ["NEO_TEST_S3_ACCESS_KEY"], os.environ["NEO_TEST_S3_SECRET_KEY"]
        yield {"endpoint": url, "access_key": access, "secret_key": secret}
        return
    with moto_server() as url:
        yield {"endpoint": url, "access_key": "test", "secret_key": "test"}


@contextmanager
def moto_server() -> Iterator[str]:
    """A real S3 API on loopback: moto's server mode, in a child process."""
    port = free_port()
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module", params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every storage test module runs on both byte backends."""
    return str(request.param)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def database_url(owner_url: str, template_db: str, backend: str) -> AsyncIterator[str]:
    """A fresh migrated database per module and backend."""
    url = await clone_database(owner_url, template_db)
    yield url
    await drop_database(owner_url, urlsplit(url).path.lstrip("/"))


@pytest.fixture(scope="module")
def storage_section(backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The `storage` settings for this module's backend (a fresh S3 bucket for S3)."""
    if backend == "local":
        return {}
    server = request.getfixturevalue("s3_server")
    s3 = {"bucket": f"neo-{uuid.uuid4().hex[:10]}", "part_size": 5 << 20}
    return {"backend": "s3", "s3": s3 | server}


@pytest.fixture(scope="module")
def server_url(
    make_settings: Callable[..., Settings], storage_section: dict[str, Any]
) -> Iterator[str]:
    """A real uvicorn for the module's database and backend."""
    with live_server(make_settings(storage=storage_section)) as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(
    make_settings: Callable[..., Settings], storage_section: dict[str, Any]
) -> AsyncIterator[FastAPI]:
    """The app in-process, for the module's database and backend."""
    async with running_app(make_settings(storage=storage_section)) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def bucket(client: httpx.AsyncClient) -> str:
    """A new bucket with no limits, made by the service role through the in-process app
    (modules driving the official clients define their own)."""
    name = uuid.uuid4().hex[:10]
    auth = {"authorization": f"Bearer {DEMO_SERVICE_KEY}"}
    res = await client.post("/storage/v1/bucket", json={"name": name}, headers=auth)
    assert res.status_code == 200, res.text
    return name


def user_token(sub: str, *, expires_in: int = 3600) -> str:
    """An access token like GoTrue's for user `sub`."""
    now = int(time.time())
    claims = {
        "sub": sub,
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + expires_in,
        "email": f"{sub[:8]}@example.com",
    }
    return jwt.encode(claims, DEMO_JWT_SECRET, algorithm="HS256")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def policies(database_url: str) -> AsyncIterator[None]:
    """The module's database with the test RLS policies."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(POLICIES)
    finally:
        await conn.close()
    yield


MakeClient = Callable[..., Client]


@pytest.fixture(scope="module")
def client_for(server_url: str) -> Iterator[MakeClient]:
    """Factory: supabase-py for `key`, optionally signed in with `token`.

    Each gets its own httpx client (storage3 warns, an error here, when given only a
    timeout), closed at the end of the module."""
    opened: list[httpx.Client] = []

    def make(key: str, token: str | None = None) -> Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        http = httpx.Client(timeout=60)
        opened.append(http)
        return create_client(server_url, key, ClientOptions(headers=headers, httpx_client=http))

    yield make
    for http in opened:
        http.close()


@pytest.fixture(scope="module")
def service(client_for: MakeClient) -> Client:
    """supabase-py with the service key (bypasses RLS)."""
    return client_for(DEMO_SERVICE_KEY)


@pytest.fixture(scope="module")
def anon(client_for: MakeClient) -> Client:
    """supabase-py with the anon key."""
    return client_for(DEMO_ANON_KEY)


@pytest.fixture(scope="module")
def as_user(client_for: MakeClient) -> Callable[[str], Client]:
    """Factory: supabase-py signed in as user `sub`."""
    return lambda sub: client_for(DEMO_ANON_KEY, user_token(sub))


@pytest.fixture
def new_id() -> Callable[[], str]:
    """Factory of fresh names (buckets, users)."""
    return lambda: uuid.uuid4().hex[:12]
