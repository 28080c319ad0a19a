"""Fixtures shared by every test: the PostgreSQL server, template clones, settings, the app."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from hypothesis import settings as hypothesis_settings

from neo.settings import Settings
from tests.support.databases import clone_database, create_template, drop_database, test_server
from tests.support.servers import asgi_client, live_server, running_app

# The fuzz tests (`test_fuzz*.py`) try the same examples on every run, so that a green run
# stays green; `NEO_FUZZ=explore` draws new ones each time (run it in a loop to hunt).
hypothesis_settings.register_profile("gate", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, print_blob=True)
hypothesis_settings.load_profile("explore" if os.environ.get("NEO_FUZZ") == "explore" else "gate")

# Supabase's local-dev secret: the demo anon/service keys every client test suite uses verify
# with it (spec §0.3).
DEMO_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
DEMO_ANON_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJl"
    "eHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
)
DEMO_SERVICE_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vf"
    "cm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
)


@pytest.fixture(scope="session")
def owner_url() -> Iterator[str]:
    """Owner URL of the session's PostgreSQL server."""
    with test_server() as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def template_db(owner_url: str) -> AsyncIterator[str]:
    """Name of a fully migrated template database."""
    name = await create_template(owner_url)
    yield name
    await drop_database(owner_url, name)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def database_url(owner_url: str, template_db: str) -> AsyncIterator[str]:
    """A fresh migrated database for one test module."""
    url = await clone_database(owner_url, template_db)
    yield url
    await drop_database(owner_url, urlsplit(url).path.lstrip("/"))


@pytest.fixture(scope="module")
def make_settings(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Settings]:
    """Factory of settings for the module's database; keyword overrides per section."""
    data_dir = tmp_path_factory.mktemp("data")

    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "data_dir": Path(data_dir),
            "db": {"url": database_url},
            "keys": {"jwt_secret": DEMO_JWT_SECRET},
            "log": {"format": "json", "access_log": False, "level": "warning"},
        }
        for key, value in overrides.items():
            base[key] = base.get(key, {}) | value if isinstance(value, dict) else value
        return Settings(**base)

    return make


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[FastAPI]:
    """The real app with its lifespan entered, on the module's database."""
    async with running_app(make_settings()) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling the app in-process."""
    async with asgi_client(app) as client:
        yield client


@pytest.fixture(scope="module")
def server_url(make_settings: Callable[..., Settings]) -> Iterator[str]:
    """A real uvicorn serving the module's database on a free loopback port."""
    with live_server(make_settings()) as url:
        yield url
