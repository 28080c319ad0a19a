"""Shell sessions through the real app (`/sandbox/v1/sandboxes/{id}/sessions`): the working
directory and exported variables carry from one command to the next (also after `exit` and
errors), sessions are independent, background commands run in their state, and bad ids,
unknown sessions and stopped sandboxes get the API's errors."""

from __future__ import annotations

import httpx

from tests.sandbox.test_api import API, SERVICE, create
from tests.sandbox.test_commands import wait_done


async def run_in(client: httpx.AsyncClient, url: str, command: str) -> dict[str, object]:
    answer = await client.post(f"{url}/exec", json={"command": command}, headers=SERVICE)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_directory_and_exported_variables_carry_over(client: httpx.AsyncClient) -> None:
    box = await create(client, SERVICE)
    sessions = f"{API}/sandboxes/{box['id']}/sessions"
    made = await client.post(sessions, json={"id": "build"}, headers=SERVICE)
    assert made.status_code == 201, made.text
    assert made.json() == {"id": "build", "cwd": "/workspace"}
    url = f"{sessions}/build"
    await run_in(client, url, "mkdir -p src/app && cd src/app && export STAGE=one && LOCAL=x")
    here = await run_in(client, url, 'pwd; echo "$STAGE/${LOCAL:-unset}"')
    assert here["stdout"] == "/workspace/src/app\none/unset\n"
    failed = await run_in(client, url, "cd .. && export STAGE='two words'; exit 7")
    assert failed["exit_code"] == 7
    after = await run_in(client, url, 'pwd; echo "$STAGE"')
    assert after["stdout"] == "/workspace/src\ntwo words\n"
    assert (await client.get(url, headers=SERVICE)).json()["cwd"] == "/workspace/src"

    other = await client.post(sessions, json={"cwd": "/tmp"}, headers=SERVICE)
    assert other.json()["cwd"] == "/tmp"
    elsewhere = await run_in(client, f"{sessions}/{other.json()['id']}", 'pwd; echo "${STAGE:-}"')
    assert elsewhere["stdout"] == "/tmp\n\n"  # sessions do not share state
    listed = await client.get(sessions, headers=SERVICE)
    assert sorted(s["id"] for s in listed.json()) == sorted(["build", other.json()["id"]])
    await client.delete(f"{API}/sandboxes/{box['id']}", headers=SERVICE)


async def test_background_commands_run_in_the_sessions_state(client: httpx.AsyncClient) -> None:
    box = await create(client, SERVICE)
    sessions = f"{API}/sandboxes/{box['id']}/sessions"
    await client.post(sessions, json={"id": "s1"}, headers=SERVICE)
    await run_in(client, f"{sessions}/s1", "mkdir -p out && cd out && export NAME=neo")
    started = await client.post(
        f"{sessions}/s1/exec",
        json={"command": "sleep 0.2; echo $NAME > result; pwd", "background": True},
        headers=SERVICE,
    )
    assert started.status_code == 200, started.text
    commands = f"{API}/sandboxes/{box['id']}/commands/{started.json()['id']}"
    done = await wait_done(client, commands)
    assert done["exit_code"] == 0
    logs = await client.get(f"{commands}/logs", headers=SERVICE)
    assert logs.json()["stdout"] == "/workspace/out\n"
    result = await client.get(
        f"{API}/sandboxes/{box['id']}/files", params={"path": "out/result"}, headers=SERVICE
    )
    assert result.content == b"neo\n"
    await client.delete(f"{API}/sandboxes/{box['id']}", headers=SERVICE)


async def test_bad_and_unknown_sessions_are_refused(client: httpx.AsyncClient) -> None:
    box = await create(client, SERVICE)
    sessions = f"{API}/sandboxes/{box['id']}/sessions"
    bad = await client.post(sessions, json={"id": "../x; rm -rf /"}, headers=SERVICE)
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_failed")
    missing = await client.post(f"{sessions}/nope/exec", json={"command": "id"}, headers=SERVICE)
    assert (missing.status_code, missing.json()["code"]) == (404, "session_not_found")
    assert set(missing.json()) == {"code", "message", "request_id"}
    bad_dir = await client.post(sessions, json={"cwd": "/no/such/dir"}, headers=SERVICE)
    assert bad_dir.status_code == 404
    await client.post(sessions, json={"id": "twice"}, headers=SERVICE)
    again = await client.post(sessions, json={"id": "twice"}, headers=SERVICE)
    assert (again.status_code, again.json()["code"]) == (409, "session_exists")
    assert (await client.delete(f"{sessions}/twice", headers=SERVICE)).status_code == 204
    assert (await client.get(f"{sessions}/twice", headers=SERVICE)).status_code == 404
    assert (await client.get(sessions, headers=SERVICE)).json() == []
    await client.post(f"{API}/sandboxes/{box['id']}/stop", headers=SERVICE)
    stopped = await client.get(sessions, headers=SERVICE)
    assert (stopped.status_code, stopped.json()["code"]) == (409, "sandbox_not_running")
    await client.delete(f"{API}/sandboxes/{box['id']}", headers=SERVICE)
