"""The `/sandbox/v1` API through the real app: lifecycle, exec, files, ownership, quota."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import DEMO_ANON_KEY, DEMO_SERVICE_KEY

API = "/sandbox/v1"


def user_headers(app: FastAPI, user_id: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": user_id, "role": "authenticated", "aud": "authenticated", "iat": now}
    token = app.state.core.keys.sign(claims | {"exp": now + 600})
    return {"apikey": DEMO_ANON_KEY, "authorization": f"Bearer {token}"}


SERVICE = {"apikey": DEMO_SERVICE_KEY, "authorization": f"Bearer {DEMO_SERVICE_KEY}"}


@pytest.fixture
def alice(app: FastAPI) -> dict[str, str]:
    return user_headers(app, str(uuid.uuid4()))


@pytest.fixture
def bob(app: FastAPI) -> dict[str, str]:
    return user_headers(app, str(uuid.uuid4()))


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post(f"{API}/sandboxes", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_exec_files_stop_start_delete(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    box = await create(client, alice, name="work", labels={"team": "a"}, env={"GREETING": "hi"})
    assert box["state"] == "started"
    url = f"{API}/sandboxes/{box['id']}"

    ran = await client.post(
        f"{url}/exec", json={"command": "echo $GREETING; echo err >&2; exit 3"}, headers=alice
    )
    assert ran.json() | {"truncated": False} == {
        "exit_code": 3, "stdout": "hi\n", "stderr": "err\n", "timed_out": False, "truncated": False
    }  # fmt: skip

    put = await client.put(
        f"{url}/files", params={"path": "src/app.py"}, content=b"print(42)\n", headers=alice
    )
    assert put.status_code == 404  # parent missing
    assert (
        await client.post(f"{url}/files/mkdir", json={"path": "src"}, headers=alice)
    ).status_code == 201
    put = await client.put(
        f"{url}/files", params={"path": "src/app.py"}, content=b"print(42)\n", headers=alice
    )
    assert put.status_code == 201, put.text
    assert put.json()["size"] == 10
    ran = await client.post(
        f"{url}/exec", json={"command": "python3 app.py", "cwd": "src"}, headers=alice
    )
    assert ran.json()["stdout"] == "42\n"

    listing = await client.get(f"{url}/files", params={"path": "/workspace/src"}, headers=alice)
    assert [e["name"] for e in listing.json()["entries"]] == ["app.py"]
    download = await client.get(f"{url}/files", params={"path": "src/app.py"}, headers=alice)
    assert download.content == b"print(42)\n"
    moved = await client.post(
        f"{url}/files/move", json={"source": "src/app.py", "destination": "main.py"}, headers=alice
    )
    assert moved.json()["type"] == "file"
    assert (
        await client.delete(f"{url}/files", params={"path": "src"}, headers=alice)
    ).status_code == 204
    owned = await client.post(
        f"{url}/exec", json={"command": "stat -c %u main.py && rm main.py"}, headers=alice
    )
    assert owned.json()["stdout"] == "1000\n"  # uploaded files belong to the sandbox's user
    assert owned.json()["exit_code"] == 0

    stopped = await client.post(f"{url}/stop", headers=alice)
    assert stopped.json()["state"] == "stopped"
    refused = await client.post(f"{url}/exec", json={"command": "true"}, headers=alice)
    assert refused.status_code == 409
    assert refused.json()["code"] == "sandbox_not_running"
    assert set(refused.json()) == {"code", "message", "request_id"}
    assert (await client.post(f"{url}/start", headers=alice)).json()["state"] == "started"
    assert (await client.post(f"{url}/exec", json={"command": "echo back"}, headers=alice)).json()[
        "stdout"
    ] == "back\n"

    assert (await client.delete(url, headers=alice)).status_code == 204
    assert (await client.get(url, headers=alice)).status_code == 404


async def test_exec_streams_ndjson(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    box = await create(client, alice)
    body = {"command": "for i in 1 2 3; do echo $i; sleep 0.05; done; echo oops >&2"}
    events = []
    async with client.stream(
        "POST", f"{API}/sandboxes/{box['id']}/exec/stream", json=body, headers=alice
    ) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        async for line in response.aiter_lines():
            if line:
                events.append(json.loads(line))
    assert "".join(e.get("stdout", "") for e in events) == "1\n2\n3\n"
    assert {"stderr": "oops\n"} in events
    assert events[-1] == {"exit_code": 0, "timed_out": False}
    await client.delete(f"{API}/sandboxes/{box['id']}", headers=alice)


async def test_exec_timeout_and_oneshot(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    box = await create(client, alice)
    url = f"{API}/sandboxes/{box['id']}/exec"
    slow = await client.post(url, json={"command": "sleep 30", "timeout": 0.5}, headers=alice)
    assert slow.json()["timed_out"] is True
    cold = await client.post(
        url, json={"command": "echo cold; pwd", "mode": "oneshot"}, headers=alice
    )
    assert cold.json()["stdout"] == "cold\n/workspace\n"
    await client.delete(f"{API}/sandboxes/{box['id']}", headers=alice)


async def test_sandboxes_of_others_are_not_found(
    client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    box = await create(client, alice)
    url = f"{API}/sandboxes/{box['id']}"
    for method, path, body in [
        ("GET", "", None), ("POST", "/stop", None), ("POST", "/start", None), ("DELETE", "", None),
        ("POST", "/exec", {"command": "true"}), ("GET", "/files", None),
        ("POST", "/files/mkdir", {"path": "x"}),
    ]:  # fmt: skip
        response = await client.request(method, url + path, json=body, headers=bob)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "sandbox_not_found"
    assert (await client.get(f"{API}/sandboxes", headers=bob)).json() == []
    seen = await client.get(f"{API}/sandboxes", headers=SERVICE)
    assert box["id"] in [s["id"] for s in seen.json()]  # the service role sees every sandbox
    assert (await client.delete(url, headers=SERVICE)).status_code == 204


@pytest.mark.parametrize(
    "headers", [{}, {"apikey": DEMO_ANON_KEY}], ids=["no credentials", "anon key"]
)
async def test_anonymous_callers_get_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for method, path in [
        ("GET", "/sandboxes"),
        ("POST", "/sandboxes"),
        ("GET", f"/sandboxes/{uuid.uuid4()}"),
    ]:
        response = await client.request(method, API + path, headers=headers, json={})
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "auth_required"


async def test_quota_limits_and_policies_are_enforced(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    too_big = await client.post(f"{API}/sandboxes", json={"memory_mb": 1 << 19}, headers=alice)
    assert too_big.status_code == 422
    assert too_big.json()["code"] == "invalid_limits"
    allow = await client.post(
        f"{API}/sandboxes", json={"network": {"mode": "allow", "allow": ["x .org"]}}, headers=alice
    )
    assert allow.status_code == 400  # a malformed allow-list (served ones: test_egress*.py)
    unknown = await client.post(f"{API}/sandboxes", json={"image": "ubuntu"}, headers=alice)
    assert unknown.status_code == 400  # unknown fields are refused, not ignored
    made = [await create(client, alice) for _ in range(3)]
    over = await client.post(f"{API}/sandboxes", json={}, headers=alice)
    assert over.status_code == 403
    assert over.json()["code"] == "sandbox_quota_exceeded"
    for box in made:
        await client.delete(f"{API}/sandboxes/{box['id']}", headers=alice)
    dup_name = await create(client, alice, name="twin")
    twin = await client.post(f"{API}/sandboxes", json={"name": "twin"}, headers=alice)
    assert twin.status_code == 409
    await client.delete(f"{API}/sandboxes/{dup_name['id']}", headers=alice)


async def test_labels_filter_the_list(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    a = await create(client, alice, labels={"kind": "a"})
    b = await create(client, alice, labels={"kind": "b"})
    found = await client.get(f"{API}/sandboxes", params={"label.kind": "b"}, headers=alice)
    assert [s["id"] for s in found.json()] == [b["id"]]
    for box in (a, b):
        await client.delete(f"{API}/sandboxes/{box['id']}", headers=alice)


async def test_bad_input_gets_a_clear_4xx(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    for body in [{"memory_mb": 0}, {"cpus": -1}, {"env": {"A=B": "x"}}, {"name": "../x"}]:
        response = await client.post(f"{API}/sandboxes", json=body, headers=alice)
        assert response.status_code == 400, body
        assert response.json()["code"] == "validation_failed"
    box = await create(client, alice)
    url = f"{API}/sandboxes/{box['id']}/exec"
    for body in [{"command": "echo a\u0000b"}, {"command": ""}, {"command": "x", "timeout": 0}]:
        assert (await client.post(url, json=body, headers=alice)).status_code == 400, body
    missing_dir = await client.post(url, json={"command": "pwd", "cwd": "nowhere"}, headers=alice)
    assert missing_dir.json()["exit_code"] == 127
    assert "nowhere" in missing_dir.json()["stderr"]
    assert (await client.get(f"{API}/sandboxes/not-a-uuid", headers=alice)).status_code == 404
    await client.delete(f"{API}/sandboxes/{box['id']}", headers=alice)
