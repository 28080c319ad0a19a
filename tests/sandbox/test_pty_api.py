"""Through a real uvicorn: the whole life of a sandbox (create, exec, files, terminal,
preview, stop, delete) and the terminal WebSocket (`/sandbox/v1/sandboxes/{id}/pty`) with the
`websockets` client: typing, resizing, the exit message, browser-style query credentials,
and refusals in the API's error shape before the upgrade."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from neo.settings import Settings
from tests.conftest import DEMO_ANON_KEY, DEMO_SERVICE_KEY
from tests.sandbox.conftest import app_sandbox, wait_for_port

SERVICE = {"apikey": DEMO_SERVICE_KEY, "authorization": f"Bearer {DEMO_SERVICE_KEY}"}


@pytest.fixture(scope="module")
def sandbox_app_settings(make_settings: Callable[..., Settings], sandbox_root: Path) -> Settings:
    """Sandboxes on the local runtime that may serve ports (for the preview)."""
    sandbox = app_sandbox(sandbox_root, loopback_ports=True)
    return make_settings(sandbox=sandbox)


@pytest_asyncio.fixture(loop_scope="session")
async def sandbox(server: str) -> AsyncIterator[str]:
    """A started sandbox (service role), deleted afterwards."""
    async with httpx.AsyncClient(base_url=server, headers=SERVICE) as client:
        created = await client.post("/sandbox/v1/sandboxes", json={})
        assert created.status_code == 201, created.text
        yield created.json()["id"]
        await client.delete(f"/sandbox/v1/sandboxes/{created.json()['id']}")


def ws_url(server: str, sandbox_id: str, query: str = "") -> str:
    return server.replace("http://", "ws://") + f"/sandbox/v1/sandboxes/{sandbox_id}/pty{query}"


async def read_until(ws: ClientConnection, needle: bytes) -> bytes:
    seen = b""
    while needle not in seen:
        message = await ws.recv()
        assert isinstance(message, bytes), message
        seen += message
    return seen


async def test_create_exec_files_terminal_preview_stop_delete(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, headers=SERVICE) as client:
        created = await client.post("/sandbox/v1/sandboxes", json={"env": {"WHO": "neo"}})
        assert created.status_code == 201, created.text
        box = created.json()["id"]
        url = f"/sandbox/v1/sandboxes/{box}"
        ran = await client.post(f"{url}/exec", json={"command": "echo $WHO > index.html"})
        assert ran.json()["exit_code"] == 0
        listed = await client.get(f"{url}/files", params={"path": "."})
        assert [e["name"] for e in listed.json()["entries"]] == ["index.html"]
        async with connect(ws_url(server, box), additional_headers=SERVICE) as ws:
            await ws.send(b"python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 &\n")
            await ws.send(wait_for_port(8000).encode() + b"\n")
            await ws.send(b"echo serving$((1+1))\n")
            assert b"listening" in await read_until(ws, b"serving2")
            issued = (await client.get(f"{url}/ports/8000/preview-url")).json()
            async with httpx.AsyncClient() as browser:  # no NEO credentials at all
                page = await browser.get(issued["url"])
                assert (page.status_code, page.text) == (200, "neo\n")
        stopped = await client.post(f"{url}/stop")
        assert stopped.json()["state"] == "stopped"
        async with httpx.AsyncClient() as browser:
            assert (await browser.get(issued["url"])).status_code == 409
        assert (await client.delete(url)).status_code == 204
        assert (await client.get(url)).status_code == 404


async def test_typing_resizing_and_the_exit_message(server: str, sandbox: str) -> None:
    async with connect(
        ws_url(server, sandbox, "?cols=70&rows=25"), additional_headers=SERVICE
    ) as ws:
        await ws.send(b"stty size; echo $((2+3))z\n")
        assert b"25 70" in await read_until(ws, b"5z")
        await ws.send(json.dumps({"type": "resize", "cols": 90, "rows": 33}))
        await ws.send(json.dumps({"type": "input", "data": "stty size; echo ok$((0+1))\n"}))
        assert b"33 90" in await read_until(ws, b"ok1")
        await ws.send(json.dumps({"type": "resize", "cols": "wide"}))  # ignored, not fatal
        await ws.send(b"exit 4\n")
        rest = [message async for message in ws]  # until the server closes
        assert json.loads(rest[-1]) == {"type": "exit", "exit_code": 4}
        assert ws.close_code == 1000


async def test_a_browser_passes_credentials_in_the_query(server: str, sandbox: str) -> None:
    query = f"?apikey={DEMO_ANON_KEY}&access_token={DEMO_SERVICE_KEY}&command=echo%20hi%3Bexit"
    async with connect(ws_url(server, sandbox, query)) as ws:
        assert b"hi" in await read_until(ws, b"hi")


async def refusal(url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url, additional_headers=headers):
            pass
    response = caught.value.response
    return response.status_code, json.loads(response.body or b"{}")


async def test_refusals_are_http_answers_in_the_api_shape(server: str, sandbox: str) -> None:
    anon = {"apikey": DEMO_ANON_KEY}
    status, body = await refusal(ws_url(server, sandbox), anon)
    assert (status, body["code"]) == (401, "auth_required")
    assert set(body) == {"code", "message", "request_id"}
    unknown = ws_url(server, "00000000-0000-0000-0000-000000000000")
    assert (await refusal(unknown, SERVICE))[0] == 404
    status, body = await refusal(ws_url(server, sandbox, "?cols=0"), SERVICE)
    assert (status, body["code"]) == (422, "invalid_terminal")
    async with httpx.AsyncClient(base_url=server, headers=SERVICE) as client:
        assert (await client.post(f"/sandbox/v1/sandboxes/{sandbox}/stop")).status_code == 200
    status, body = await refusal(ws_url(server, sandbox), SERVICE)
    assert (status, body["code"]) == (409, "sandbox_not_running")


ECHO_SERVER = Path(__file__).with_name("ws_echo.py")


async def test_a_websocket_inside_is_reached_through_its_preview_url(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, headers=SERVICE) as client:
        box = (await client.post("/sandbox/v1/sandboxes", json={})).json()["id"]
        url = f"/sandbox/v1/sandboxes/{box}"
        echo = await asyncio.to_thread(ECHO_SERVER.read_bytes)
        await client.put(f"{url}/files", params={"path": "echo.py"}, content=echo)
        await client.post(f"{url}/commands", json={"command": "python3 echo.py 8001"})
        waited = await client.post(f"{url}/exec", json={"command": wait_for_port(8001)})
        assert waited.json()["stdout"] == "listening\n"
        issued = (await client.get(f"{url}/ports/8001/preview-url")).json()
        preview = issued["url"].replace("http://", "ws://")
        async with connect(preview) as ws:  # the token in the URL is the only credential
            await ws.send("hello")
            assert await ws.recv() == "echo:hello"
            await ws.send("again")
            assert await ws.recv() == "echo:again"
        base = preview.split("?")[0]
        status, body = await refusal(base + "?neo_preview_token=1.x", {})
        assert (status, body["code"]) == (403, "preview_denied")
        await client.delete(url)
