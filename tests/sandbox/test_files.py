"""The files API against a hostile workspace: symlinks to host paths, `..`, FIFOs, swapped
directories and uploads past the disk quota are all contained."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import DEMO_ANON_KEY

API = "/sandbox/v1"


@pytest.fixture
def headers(app: FastAPI) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "role": "authenticated", "aud": "authenticated"}
    token = app.state.core.keys.sign(claims | {"iat": now, "exp": now + 600})
    return {"apikey": DEMO_ANON_KEY, "authorization": f"Bearer {token}"}


async def hostile_sandbox(
    client: httpx.AsyncClient, headers: dict[str, str], disk_mb: int = 4
) -> str:
    """A sandbox whose workspace is full of traps laid from inside."""
    created = await client.post(f"{API}/sandboxes", json={"disk_mb": disk_mb}, headers=headers)
    url = f"{API}/sandboxes/{created.json()['id']}"
    traps = (
        "ln -s /etc etc-link && ln -s /etc/passwd passwd-link && ln -s / root-link && "
        "mkfifo pipe && mkdir real && echo ok > real/file && ln -s real/file good-link"
    )
    ran = await client.post(f"{url}/exec", json={"command": traps}, headers=headers)
    assert ran.json()["exit_code"] == 0, ran.text
    return url


async def test_symlinks_are_never_followed(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    url = await hostile_sandbox(client, headers)
    for path in [
        "passwd-link",
        "etc-link/passwd",
        "etc-link/shadow",
        "root-link/etc/hostname",
        "good-link",
    ]:
        response = await client.get(f"{url}/files", params={"path": path}, headers=headers)
        assert response.status_code in (400, 404), (path, response.status_code)
        assert b"root:" not in response.content
    listing = await client.get(f"{url}/files", params={"path": "etc-link"}, headers=headers)
    assert listing.status_code == 400
    assert listing.json()["code"] == "invalid_path"
    assert (await _info(client, url, "etc-link", headers))["type"] == "symlink"  # described only
    write = await client.put(
        f"{url}/files", params={"path": "etc-link/evil"}, content=b"x", headers=headers
    )
    assert write.status_code == 400
    over = await client.put(
        f"{url}/files", params={"path": "passwd-link"}, content=b"x", headers=headers
    )
    assert over.status_code == 400
    mkdir = await client.post(
        f"{url}/files/mkdir", json={"path": "root-link/tmp/x", "parents": True}, headers=headers
    )
    assert mkdir.status_code == 400
    move = await client.post(
        f"{url}/files/move",
        json={"source": "real/file", "destination": "etc-link/file"},
        headers=headers,
    )
    assert move.status_code == 400
    gone = await client.delete(f"{url}/files", params={"path": "etc-link"}, headers=headers)
    assert gone.status_code == 204  # removes the link itself
    assert (
        await client.get(f"{url}/files", params={"path": "real/file"}, headers=headers)
    ).content == b"ok\n"


async def _info(
    client: httpx.AsyncClient, url: str, path: str, headers: dict[str, str]
) -> dict[str, object]:
    response = await client.get(
        f"{url}/files", params={"path": path, "info": "true"}, headers=headers
    )
    return dict(response.json())


@pytest.mark.parametrize("path", ["../../etc/passwd", "real/../../x", "/workspace/../etc", "a\0b"])
async def test_dot_dot_and_nul_are_refused(
    client: httpx.AsyncClient, headers: dict[str, str], path: str
) -> None:
    url = await hostile_sandbox(client, headers)
    response = await client.get(f"{url}/files", params={"path": path}, headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_path"


async def test_a_fifo_does_not_stall_the_server(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    url = await hostile_sandbox(client, headers)
    read = await client.get(f"{url}/files", params={"path": "pipe"}, headers=headers)
    assert read.status_code == 400
    write = await client.put(f"{url}/files", params={"path": "pipe"}, content=b"x", headers=headers)
    assert write.status_code == 400


async def test_uploads_stop_at_the_disk_quota(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    url = await hostile_sandbox(client, headers)
    response = await client.put(
        f"{url}/files", params={"path": "big"}, content=b"\0" * (5 << 20), headers=headers
    )
    assert response.status_code == 413
    assert response.json()["code"] == "workspace_full"
    missing = await client.get(f"{url}/files", params={"path": "big"}, headers=headers)
    assert missing.status_code == 404  # the partial file is removed


async def test_uploads_over_the_size_limit_are_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    url = await hostile_sandbox(client, headers, disk_mb=16)
    declared = await client.put(
        f"{url}/files", params={"path": "huge"}, content=b"\0" * (7 << 20), headers=headers
    )
    assert declared.status_code == 413
    assert declared.json()["code"] == "file_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"\0" * (1 << 20)

    streamed = await client.put(
        f"{url}/files", params={"path": "huge"}, content=chunks(), headers=headers
    )
    assert streamed.status_code == 413  # no content-length: counted as it arrives
    assert streamed.json()["code"] == "file_too_large"
    assert (
        await client.get(f"{url}/files", params={"path": "huge"}, headers=headers)
    ).status_code == 404
