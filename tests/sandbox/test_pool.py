"""The warm pool: ready sandboxes for the smallest free slots, adopted by creations that fit
with their identity reset (id, directory, socket, cgroup and its limits; the uid is the slot's
own), refilled afterwards; and through the app, a created sandbox that came from the pool."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from neo.sandbox.pool import WarmPool
from neo.sandbox.runtimes.base import Limits, SandboxSpec
from neo.sandbox.runtimes.local import LocalRuntime
from neo.settings import Settings
from tests.conftest import DEMO_SERVICE_KEY
from tests.sandbox.conftest import SMALL, app_sandbox, run

FIRST = 41000  # slots apart from the other modules' (conftest.SLOTS) and the app's
SERVICE = {"apikey": DEMO_SERVICE_KEY, "authorization": f"Bearer {DEMO_SERVICE_KEY}"}


@pytest_asyncio.fixture(loop_scope="session")
async def pool(local_runtime: LocalRuntime) -> AsyncIterator[tuple[WarmPool, set[int]]]:
    """A pool of two on the module's runtime, and the set of slots it sees as taken."""
    taken = set(range(FIRST))

    async def held() -> set[int]:
        return set(taken)

    made = WarmPool(local_runtime, size=2, limits=SMALL, slots=FIRST + 100, taken=held)
    await made.refill()
    yield made, taken
    await made.close()


async def test_a_claimed_sandbox_takes_the_new_identity_and_the_pool_refills(
    local_runtime: LocalRuntime, pool: tuple[WarmPool, set[int]]
) -> None:
    warm, taken = pool
    assert sorted(warm.ready) == [FIRST, FIRST + 1]
    pooled = warm.ready[FIRST]
    spec = SandboxSpec(str(uuid.uuid4()), FIRST, SMALL)
    taken.add(FIRST)
    try:
        assert await warm.claim(spec)
        assert not (local_runtime.root / pooled.id).exists()
        assert (await run(local_runtime, spec, "echo hi > note; id -u")).stdout == "1000\n"
        workspace = local_runtime.files_root(spec.id)
        assert workspace.stat().st_uid == local_runtime.owner_uid(spec)
        assert (workspace / "note").read_text() == "hi\n"
        cgroups = local_runtime.cgroups
        assert cgroups is not None
        host_uids = {_uid(pid) for pid in cgroups.pids(spec.id)}
        assert host_uids == {local_runtime.owner_uid(spec)}
        assert cgroups.pids(pooled.id) == []
        assert _memory_limit(local_runtime, spec.id) == SMALL.memory_mb << 20
        for _ in range(200):  # the refill runs in the background
            if sorted(warm.ready) == [FIRST + 1, FIRST + 2]:
                break
            await asyncio.sleep(0.02)
        assert sorted(warm.ready) == [FIRST + 1, FIRST + 2]
    finally:
        await local_runtime.delete(spec.id)


@pytest.mark.parametrize(
    ("env", "limits"),
    [({"TOKEN": "x"}, SMALL), ({}, Limits(cpus=2.0, memory_mb=128, disk_mb=16, pids=64))],
    ids=["with-env", "other-limits"],
)
async def test_a_creation_that_does_not_fit_takes_its_slot_from_the_pool(
    local_runtime: LocalRuntime,
    pool: tuple[WarmPool, set[int]],
    env: dict[str, str],
    limits: Limits,
) -> None:
    warm, _ = pool
    await warm.settled()
    slot = min(warm.ready)
    pooled = warm.ready[slot]
    assert not await warm.claim(SandboxSpec(str(uuid.uuid4()), slot, limits, env=env))
    # the new sandbox gets the slot's uid, so the pooled one is gone (never two on one uid)
    assert not (local_runtime.root / pooled.id).exists()
    assert warm.ready.get(slot) is None or warm.ready[slot].id != pooled.id
    await warm.settled()


async def test_a_creation_on_a_slot_the_pool_does_not_hold_leaves_it_alone(
    pool: tuple[WarmPool, set[int]],
) -> None:
    warm, _ = pool
    await warm.settled()
    before = dict(warm.ready)
    assert not await warm.claim(SandboxSpec(str(uuid.uuid4()), FIRST + 90, SMALL))
    assert warm.ready == before


def _uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:")))


def _memory_limit(runtime: LocalRuntime, sandbox_id: str) -> int:
    assert runtime.cgroups is not None
    if runtime.cgroups.version == 2:
        path = runtime.cgroups.root / runtime.cgroups.parent / sandbox_id / "memory.max"
    else:
        path = runtime.cgroups.root / "memory" / runtime.cgroups.parent / sandbox_id
        path /= "memory.limit_in_bytes"
    return int(path.read_text())


@pytest.fixture(scope="module")
def sandbox_app_settings(make_settings: Callable[..., Settings], sandbox_root: Path) -> Settings:
    """The app with a warm pool of two."""
    return make_settings(sandbox=app_sandbox(sandbox_root, warm_pool=2))


async def test_the_app_creates_sandboxes_from_its_pool(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    warm: WarmPool = app.state.sandbox.pool
    for _ in range(300):
        if len(warm.ready) == 2:
            break
        await asyncio.sleep(0.02)
    pooled = {spec.id for spec in warm.ready.values()}
    assert len(pooled) == 2
    created = await client.post("/sandbox/v1/sandboxes", json={}, headers=SERVICE)
    assert created.status_code == 201, created.text
    box = created.json()
    assert box["id"] not in pooled
    runtime: LocalRuntime = app.state.sandbox.runtime
    assert len(pooled & {p.name for p in runtime.root.iterdir()}) == 1  # one was adopted
    url = f"/sandbox/v1/sandboxes/{box['id']}"
    ran = await client.post(f"{url}/exec", json={"command": "echo warm"}, headers=SERVICE)
    assert ran.json()["stdout"] == "warm\n"
    with_env = await client.post("/sandbox/v1/sandboxes", json={"env": {"A": "b"}}, headers=SERVICE)
    env_url = f"/sandbox/v1/sandboxes/{with_env.json()['id']}"
    echoed = await client.post(f"{env_url}/exec", json={"command": "echo $A"}, headers=SERVICE)
    assert echoed.json()["stdout"] == "b\n"  # started its own: the pool's env is fixed
    for sandbox in (url, env_url):
        assert (await client.delete(sandbox, headers=SERVICE)).status_code in (200, 204)
