"""Egress allow-lists through the API: a sandbox created with `network.mode = allow` reaches
the listed host (a real HTTP server on the host's loopback, listed by address and port) and
nothing else, and gets its proxy back when a new NEO recovers it; malformed policies are
refused at the edge."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi import FastAPI

from neo.sandbox.lifecycle import recover
from tests.sandbox.test_api import API, create, user_headers


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def carol(app: FastAPI) -> dict[str, str]:
    return user_headers(app, str(uuid.uuid4()))


async def test_allow_mode_reaches_the_listed_host_only_and_survives_recovery(
    app: FastAPI, client: httpx.AsyncClient, carol: dict[str, str], site_port: int
) -> None:
    network = {"mode": "allow", "allow": [f"127.0.0.1:{site_port}", "*.example.org"]}
    box = await create(client, carol, network=network)
    assert box["network"] == network
    url = f"{API}/sandboxes/{box['id']}"
    assert (await client.get(url, headers=carol)).json()["network"] == network
    fetch = "env -u NO_PROXY -u no_proxy curl -sS -m 5 -w ' %{http_code}' http://127.0.0.1:PORT/"
    command = fetch.replace("PORT", str(site_port))
    ran = await client.post(f"{url}/exec", json={"command": command}, headers=carol)
    assert ran.json()["stdout"] == "hello 200", ran.text
    other = await client.post(
        f"{url}/exec", json={"command": fetch.replace("PORT", str(site_port + 1))}, headers=carol
    )
    assert other.json()["stdout"].endswith(" 403"), other.text

    runtime = app.state.sandbox.runtime
    await runtime.egress.close_all()  # as after a crash of NEO while the sandbox ran on
    lost = await client.post(f"{url}/exec", json={"command": command}, headers=carol)
    assert lost.json()["stdout"] == " 000", lost.text  # refused: egress fails closed
    await recover(app.state.core, runtime)
    assert runtime.egress.serving(box["id"])
    back = await client.post(f"{url}/exec", json={"command": command}, headers=carol)
    assert back.json()["stdout"] == "hello 200", back.text
    await client.delete(url, headers=carol)


async def test_malformed_policies_are_refused(
    client: httpx.AsyncClient, carol: dict[str, str]
) -> None:
    for network in [
        {"mode": "allow"},
        {"mode": "allow", "allow": []},
        {"mode": "deny", "allow": ["example.org"]},
        {"mode": "allow", "allow": ["not a host"]},
        {"mode": "allow", "allow": ["example.org:99999"]},
        {"mode": "allow", "allow": [f"h{i}.example.org" for i in range(65)]},
        {"mode": "open"},
    ]:
        response = await client.post(f"{API}/sandboxes", json={"network": network}, headers=carol)
        assert response.status_code == 400, (network, response.text)
    assert (await client.get(f"{API}/sandboxes", headers=carol)).json() == []
