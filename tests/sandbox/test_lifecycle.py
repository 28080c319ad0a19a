"""Sandbox lifecycle on the real app: idle auto-stop, auto-delete after stop, and recovery
after a crash (leftover processes and cgroups reaped, dead sandboxes marked stopped)."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from neo.sandbox.lifecycle import recover, sweep
from neo.sandbox.runtimes.base import Limits, SandboxSpec
from neo.sandbox.runtimes.local import LocalRuntime
from tests.conftest import DEMO_ANON_KEY

API = "/sandbox/v1"


@pytest.fixture
def headers(app: FastAPI) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "role": "authenticated", "aud": "authenticated"}
    token = app.state.core.keys.sign(claims | {"iat": now, "exp": now + 600})
    return {"apikey": DEMO_ANON_KEY, "authorization": f"Bearer {token}"}


async def age(database_url: str, sandbox_id: str, minutes: int) -> None:
    """Move a sandbox's activity and update times into the past."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "update neo_sandbox.sandboxes set last_activity_at = now() - make_interval(mins => $2),"
            " updated_at = now() - make_interval(mins => $2) where id = $1",
            uuid.UUID(sandbox_id),
            minutes,
        )
    finally:
        await conn.close()


async def test_idle_sandboxes_are_stopped_and_expired_ones_deleted(
    app: FastAPI, client: httpx.AsyncClient, headers: dict[str, str], database_url: str
) -> None:
    body = {"auto_stop_minutes": 5, "auto_delete_minutes": 60}
    box = (await client.post(f"{API}/sandboxes", json=body, headers=headers)).json()
    busy = (await client.post(f"{API}/sandboxes", json=body, headers=headers)).json()
    runtime: LocalRuntime = app.state.sandbox.runtime
    await age(database_url, box["id"], 6)
    await sweep(app.state.core, runtime)
    assert (await client.get(f"{API}/sandboxes/{box['id']}", headers=headers)).json()[
        "state"
    ] == "stopped"
    assert not (await runtime.usage(box["id"])).running
    assert (await client.get(f"{API}/sandboxes/{busy['id']}", headers=headers)).json()[
        "state"
    ] == "started"

    await age(database_url, box["id"], 61)
    await sweep(app.state.core, runtime)
    assert (await client.get(f"{API}/sandboxes/{box['id']}", headers=headers)).status_code == 404
    assert not runtime.files_root(box["id"]).exists()
    await client.delete(f"{API}/sandboxes/{busy['id']}", headers=headers)


async def test_recovery_reaps_leftovers_and_marks_dead_sandboxes_stopped(
    app: FastAPI, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    runtime: LocalRuntime = app.state.sandbox.runtime
    assert runtime.cgroups is not None
    stray = SandboxSpec(str(uuid.uuid4()), 60000, Limits(1.0, 64, 4, 32))
    await runtime.start(stray)  # a sandbox no row knows of: what a crash leaves behind
    assert runtime.cgroups.pids(stray.id)
    box = (await client.post(f"{API}/sandboxes", json={}, headers=headers)).json()
    runtime.cgroups.kill(box["id"])  # its processes died with the previous NEO process

    await recover(app.state.core, runtime)
    assert runtime.cgroups.pids(stray.id) == []
    assert stray.id not in runtime.cgroups.names()
    assert not (runtime.root / stray.id).exists()
    after = (await client.get(f"{API}/sandboxes/{box['id']}", headers=headers)).json()
    assert after["state"] == "stopped"
    assert (await client.post(f"{API}/sandboxes/{box['id']}/start", headers=headers)).json()[
        "state"
    ] == "started"
    ran = await client.post(
        f"{API}/sandboxes/{box['id']}/exec", json={"command": "echo ok"}, headers=headers
    )
    assert ran.json()["stdout"] == "ok\n"
    await client.delete(f"{API}/sandboxes/{box['id']}", headers=headers)


async def test_with_several_workers_recovery_keeps_what_another_worker_is_creating(
    app: FastAPI,
) -> None:
    runtime: LocalRuntime = app.state.sandbox.runtime
    core = app.state.core
    api = core.settings.api.model_copy(update={"workers": 2})
    several = dataclasses.replace(core, settings=core.settings.model_copy(update={"api": api}))
    creating = SandboxSpec(str(uuid.uuid4()), 60001, Limits(1.0, 64, 4, 32))
    crashed = SandboxSpec(str(uuid.uuid4()), 60002, Limits(1.0, 64, 4, 32))
    await runtime.create(creating)  # no row yet: another worker's creation in flight
    await runtime.create(crashed)  # no row, and old: what a crash left
    past = time.time() - 3600
    os.utime(runtime.root / crashed.id, (past, past))
    try:
        await recover(several, runtime)
        assert (runtime.root / creating.id).exists()
        assert not (runtime.root / crashed.id).exists()
        await recover(core, runtime)  # one worker: nothing else can be creating
        assert not (runtime.root / creating.id).exists()
    finally:
        await runtime.delete(creating.id)
        await runtime.delete(crashed.id)
