"""Background commands through the real app (`/sandbox/v1/sandboxes/{id}/commands`): they
outlive their request, their output is read from offsets, kill ends their process group, and
bad ids, offsets and stopped sandboxes get the API's errors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.sandbox.test_api import API, SERVICE, create


async def wait_done(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """Poll a command until it ends (10 s at most)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = (await client.get(url, headers=SERVICE)).json()
        if not status["running"]:
            return dict(status)
        await asyncio.sleep(0.05)
    pytest.fail(f"{url} still running")


async def test_a_background_command_runs_on_and_its_output_is_read_from_offsets(
    client: httpx.AsyncClient,
) -> None:
    box = await create(client, SERVICE)
    url = f"{API}/sandboxes/{box['id']}/commands"
    command = "echo one; sleep 0.3; echo two >&2; echo three; exit 6"
    started = await client.post(url, json={"command": command}, headers=SERVICE)
    assert started.status_code == 201, started.text
    status = started.json()
    assert status["running"] is True
    assert status["exit_code"] is None
    assert status["pid"] > 1
    done = await wait_done(client, f"{url}/{status['id']}")
    assert done["exit_code"] == 6
    assert (done["stdout_bytes"], done["stderr_bytes"]) == (10, 4)
    logs = await client.get(f"{url}/{status['id']}/logs", headers=SERVICE)
    assert (logs.json()["stdout"], logs.json()["stderr"]) == ("one\nthree\n", "two\n")
    tail = await client.get(
        f"{url}/{status['id']}/logs",
        params={"stdout_offset": 4, "stderr_offset": 4},
        headers=SERVICE,
    )
    assert (tail.json()["stdout"], tail.json()["stderr"]) == ("three\n", "")
    listed = await client.get(url, headers=SERVICE)
    assert [c["id"] for c in listed.json()] == [status["id"]]
    await client.delete(f"{API}/sandboxes/{box['id']}", headers=SERVICE)


async def test_kill_ends_the_command_and_what_it_started(client: httpx.AsyncClient) -> None:
    box = await create(client, SERVICE)
    url = f"{API}/sandboxes/{box['id']}/commands"
    started = await client.post(url, json={"command": "sleep 60 & sleep 60"}, headers=SERVICE)
    command_id = started.json()["id"]
    killed = await client.post(f"{url}/{command_id}/kill", headers=SERVICE)
    assert killed.status_code == 200
    done = await wait_done(client, f"{url}/{command_id}")
    assert done["exit_code"] == 137
    count = "cat /proc/[0-9]*/comm | grep -c '^sleep$' || true"
    left = await client.post(
        f"{API}/sandboxes/{box['id']}/exec", json={"command": count}, headers=SERVICE
    )
    assert left.json()["stdout"] == "0\n"
    await client.delete(f"{API}/sandboxes/{box['id']}", headers=SERVICE)


async def test_bad_ids_offsets_and_stopped_sandboxes_are_refused(
    client: httpx.AsyncClient,
) -> None:
    box = await create(client, SERVICE)
    url = f"{API}/sandboxes/{box['id']}/commands"
    missing = await client.get(f"{url}/cmd-999", headers=SERVICE)
    assert missing.status_code == 404
    assert missing.json()["code"] == "command_not_found"
    assert set(missing.json()) == {"code", "message", "request_id"}
    started = await client.post(url, json={"command": "sleep 30"}, headers=SERVICE)
    bad = await client.get(
        f"{url}/{started.json()['id']}/logs", params={"stdout_offset": -1}, headers=SERVICE
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_failed")
    empty = await client.post(url, json={"command": ""}, headers=SERVICE)
    assert (empty.status_code, empty.json()["code"]) == (400, "validation_failed")
    await client.post(f"{API}/sandboxes/{box['id']}/stop", headers=SERVICE)
    stopped = await client.get(url, headers=SERVICE)
    assert stopped.status_code == 409
    assert stopped.json()["code"] == "sandbox_not_running"
    await client.post(f"{API}/sandboxes/{box['id']}/start", headers=SERVICE)
    assert (await client.get(url, headers=SERVICE)).json() == []  # they ended with the sandbox
    await client.delete(f"{API}/sandboxes/{box['id']}", headers=SERVICE)


async def test_preview_urls_need_sandboxes_that_may_serve_ports(client: httpx.AsyncClient) -> None:
    box = await create(client, SERVICE)
    refused = await client.get(
        f"{API}/sandboxes/{box['id']}/ports/8000/preview-url", headers=SERVICE
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "ports_disabled")
    bad_port = await client.get(f"{API}/sandboxes/{box['id']}/ports/0/preview-url", headers=SERVICE)
    assert bad_port.status_code == 400
    await client.delete(f"{API}/sandboxes/{box['id']}", headers=SERVICE)
