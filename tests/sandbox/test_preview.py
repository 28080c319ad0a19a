"""Preview URLs through the real app, sandboxes allowed to serve on their own loopback
(`loopback_ports`): a server started in the sandbox answers through the proxy for a valid
token (then its cookie), and nothing else gets through; the sandbox still reaches nothing
outside itself."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from neo.sandbox.preview import make_token
from neo.settings import Settings
from tests.sandbox.conftest import app_sandbox, wait_for_port
from tests.sandbox.test_api import API, SERVICE, create

SERVER = "cd site && exec python3 -m http.server 8000 --bind 127.0.0.1"


@pytest.fixture(scope="module")
def sandbox_app_settings(make_settings: Callable[..., Settings], sandbox_root: Path) -> Settings:
    """The app with sandboxes that may serve ports on their loopback."""
    sandbox = app_sandbox(sandbox_root, loopback_ports=True, max_upload_mb=1)
    return make_settings(sandbox=sandbox)


async def serving_sandbox(client: httpx.AsyncClient) -> dict[str, Any]:
    """A sandbox serving `site/` on 127.0.0.1:8000 inside."""
    box = await create(client, SERVICE)
    url = f"{API}/sandboxes/{box['id']}"
    await client.post(f"{url}/files/mkdir", json={"path": "site"}, headers=SERVICE)
    page = b"<h1>hello from the sandbox</h1>"
    await client.put(
        f"{url}/files", params={"path": "site/index.html"}, content=page, headers=SERVICE
    )
    await client.put(f"{url}/files", params={"path": "site/b.txt"}, content=b"bee", headers=SERVICE)
    started = await client.post(f"{url}/commands", json={"command": SERVER}, headers=SERVICE)
    assert started.status_code == 201, started.text
    waited = await client.post(
        f"{url}/exec", json={"command": wait_for_port(8000)}, headers=SERVICE
    )
    assert waited.json()["stdout"] == "listening\n", waited.text
    return box


def local(url: str) -> str:
    """Path and query of an absolute URL (the in-process client has its own base)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def test_a_preview_url_reaches_the_server_inside(client: httpx.AsyncClient) -> None:
    box = await serving_sandbox(client)
    issued = await client.get(
        f"{API}/sandboxes/{box['id']}/ports/8000/preview-url", headers=SERVICE
    )
    assert issued.status_code == 200, issued.text
    assert set(issued.json()) == {"url", "token", "expires_at"}
    page = await client.get(local(issued.json()["url"]))  # no apikey, no bearer: the token
    assert page.status_code == 200, page.text
    assert page.text == "<h1>hello from the sandbox</h1>"
    assert page.headers["content-type"] == "text/html"
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert f"Path={API}/preview/{box['id']}/8000/" in cookie
    base = f"{API}/preview/{box['id']}/8000"
    token = issued.json()["token"]
    by_cookie = await client.get(f"{base}/b.txt", headers={"cookie": f"a=1; neo_preview={token}"})
    assert by_cookie.text == "bee"
    by_header = await client.get(f"{base}/b.txt", headers={"x-neo-preview-token": token})
    assert by_header.text == "bee"
    missing = await client.get(f"{base}/nope.txt", headers={"x-neo-preview-token": token})
    assert missing.status_code == 404  # the server's own answer, passed through
    posted = await client.post(f"{base}/", content=b"x", headers={"x-neo-preview-token": token})
    assert posted.status_code == 501  # http.server has no POST: its answer, passed through

    async def big() -> AsyncIterator[bytes]:  # no content-length: refused while it streams
        for _ in range(3):
            yield b"x" * (1 << 19)

    too_big = await client.post(f"{base}/", content=big(), headers={"x-neo-preview-token": token})
    assert (too_big.status_code, too_big.json()["code"]) == (413, "request_too_large")
    await client.delete(f"{API}/sandboxes/{box['id']}", headers=SERVICE)


ECHO_HEADERS = b"""
import http.server, sys
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (str(self.headers) + self.path).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
"""


async def test_the_server_inside_sees_its_own_request_without_neo_credentials(
    client: httpx.AsyncClient,
) -> None:
    box = await serving_sandbox(client)
    url = f"{API}/sandboxes/{box['id']}"
    await client.put(
        f"{url}/files", params={"path": "echo.py"}, content=ECHO_HEADERS, headers=SERVICE
    )
    await client.post(f"{url}/commands", json={"command": "python3 echo.py 8002"}, headers=SERVICE)
    token = (await client.get(f"{url}/ports/8002/preview-url", headers=SERVICE)).json()["token"]
    headers = {
        "apikey": SERVICE["apikey"],
        "authorization": "Bearer the-apps-own",
        "cookie": f"theme=dark; neo_preview={token}",
    }
    waited = await client.post(
        f"{url}/exec", json={"command": wait_for_port(8002)}, headers=SERVICE
    )
    assert waited.json()["stdout"] == "listening\n"
    answer = await client.get(f"{API}/preview/{box['id']}/8002/x?a=1", headers=headers)
    assert answer.status_code == 200
    seen = answer.text.lower()
    assert "host: localhost:8002" in seen
    assert "authorization: bearer the-apps-own" in seen
    assert "cookie: theme=dark" in seen
    assert seen.endswith("/x?a=1")
    assert "apikey" not in seen
    assert token.lower() not in seen
    await client.delete(url, headers=SERVICE)


async def test_only_a_valid_token_for_that_sandbox_and_port_gets_through(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    box = await serving_sandbox(client)
    secret = app.state.core.keys.jwt_secret
    base = f"{API}/preview/{box['id']}/8000/"
    later = int(time.time()) + 600
    tokens = {
        "none": "",
        "other port": make_token(secret, box["id"], 8001, later),
        "other sandbox": make_token(secret, str(uuid.uuid4()), 8000, later),
        "expired": make_token(secret, box["id"], 8000, int(time.time()) - 1),
        "tampered": make_token(secret, box["id"], 8000, later)[:-2] + "AA",
        "other secret": make_token("not-the-secret", box["id"], 8000, later),
        "a service key": SERVICE["apikey"],
    }
    for name, token in tokens.items():
        refused = await client.get(base, headers={"x-neo-preview-token": token, **SERVICE})
        assert refused.status_code == 403, name
        assert refused.json()["code"] == "preview_denied"
    quiet = make_token(secret, box["id"], 8001, later)
    closed = await client.get(
        f"{API}/preview/{box['id']}/8001/", headers={"x-neo-preview-token": quiet}
    )
    assert (closed.status_code, closed.json()["code"]) == (502, "preview_unavailable")
    await client.post(f"{API}/sandboxes/{box['id']}/stop", headers=SERVICE)
    good = make_token(secret, box["id"], 8000, later)
    stopped = await client.get(base, headers={"x-neo-preview-token": good})
    assert stopped.status_code == 409
    await client.delete(f"{API}/sandboxes/{box['id']}", headers=SERVICE)
    gone = await client.get(base, headers={"x-neo-preview-token": good})
    assert gone.status_code == 404


async def test_serving_ports_still_reaches_nothing_outside(client: httpx.AsyncClient) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    box = await create(client, SERVICE)
    url = f"{API}/sandboxes/{box['id']}/exec"
    try:
        for target, error in [("127.0.0.1", "Connection refused"), ("192.0.2.1", "unreachable")]:
            connect = (
                'python3 -c "import socket; s = socket.socket(); s.settimeout(2); '
                f"s.connect(('{target}', {port})); print('connected')\""
            )
            result = (await client.post(url, json={"command": connect}, headers=SERVICE)).json()
            assert "connected" not in result["stdout"]
            assert error in result["stderr"], result["stderr"]
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            await asyncio.to_thread(server.accept)  # nothing ever reached the host's server
    finally:
        server.close()
        await client.delete(f"{API}/sandboxes/{box['id']}", headers=SERVICE)
