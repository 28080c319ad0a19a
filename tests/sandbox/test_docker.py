"""The docker runtime on a real, private dockerd: the hardening its containers get, container
reuse across stop and start, bad images and unreachable daemons refused with a reason,
one-shot timeouts, the agent socket's peer check, reaping scoped to one root, and the
`/sandbox/v1` API driven through the app with `runtime = docker`; terminals are in
`test_pty.py`.

The escape suite (`test_escape.py`) runs against this runtime too."""

from __future__ import annotations

import asyncio
import shutil
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from neo.sandbox.lifecycle import build_runtime
from neo.sandbox.runtimes.base import (
    AgentUnavailable,
    ExecRequest,
    PortUnavailable,
    SandboxSpec,
    StartFailed,
)
from neo.sandbox.runtimes.containers import DockerRuntime
from neo.sandbox.runtimes.probe import probe
from neo.sandbox.settings import SandboxSettings
from neo.settings import Settings
from tests.sandbox.conftest import SLOTS, SMALL, MakeSandbox, run
from tests.sandbox.test_api import API, create, user_headers


@pytest.fixture(scope="module")
def runtime(docker_runtime: DockerRuntime) -> DockerRuntime:
    """This module's tests run on the docker runtime."""
    return docker_runtime


async def test_containers_get_the_full_hardening(
    runtime: DockerRuntime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox(cpus=0.5, memory_mb=96, pids=40)
    attrs = runtime.client.api.inspect_container(runtime.container_name(spec.id))
    host = attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"]
    assert host["ReadonlyRootfs"] is True
    assert host["NetworkMode"] == "none"
    assert host["Privileged"] is False
    assert "no-new-privileges" in host["SecurityOpt"]
    assert any(opt.startswith("seccomp=") for opt in host["SecurityOpt"])
    assert (host["Memory"], host["MemorySwap"]) == (96 << 20, 96 << 20)
    assert (host["NanoCpus"], host["PidsLimit"]) == (500_000_000, 40)
    assert host["Init"] is True
    assert host["LogConfig"]["Config"]["max-size"] == "1m"
    assert attrs["Config"]["User"] == f"{runtime.owner_uid(spec)}:{runtime.owner_uid(spec)}"
    assert attrs["Config"]["Labels"]["neo.sandbox.id"] == spec.id
    mounts = {m["Destination"]: m["RW"] for m in attrs["Mounts"]}
    agents = {"/opt/neo/agent.py": False} | ({"/opt/neo/agent": False} if runtime.agent else {})
    assert mounts == {"/workspace": True, "/run/neo": True} | agents
    assert runtime.agent is not None, "the docker runtime runs the native agent here"
    assert attrs["Config"]["Cmd"][0] == "/opt/neo/agent"


async def test_stop_and_start_reuse_the_container_and_keep_the_workspace(
    runtime: DockerRuntime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    name = runtime.container_name(spec.id)
    first = runtime.client.api.inspect_container(name)["Id"]
    await run(runtime, spec, "echo kept > notes.txt; sleep 100 >/dev/null 2>&1 &")
    await runtime.stop(spec.id)
    assert runtime.host_pids(spec.id) == []
    assert not (await runtime.usage(spec.id)).running
    with pytest.raises(AgentUnavailable):
        await run(runtime, spec, "true")
    await runtime.start(spec)
    assert runtime.client.api.inspect_container(name)["Id"] == first
    assert (await run(runtime, spec, "cat notes.txt; pgrep sleep || echo none")).stdout == (
        "kept\nnone\n"
    )
    usage = await runtime.usage(spec.id)
    assert usage.running
    assert usage.memory_bytes is not None
    assert usage.memory_bytes > 0


async def test_background_commands_run_through_the_containers_agent(
    runtime: DockerRuntime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    started = await runtime.agent_request(spec.id, {"op": "start", "command": "echo bg; exit 2"})
    status: dict[str, object] = {"running": True}
    for _ in range(250):
        status = await runtime.agent_request(spec.id, {"op": "logs", "id": started["id"]})
        if not status["running"]:
            break
        await asyncio.sleep(0.02)
    assert (status["exit_code"], status["stdout"]) == (2, "bg\n")


async def test_a_port_inside_a_container_is_reached_through_its_agent(
    docker_settings: SandboxSettings,
) -> None:
    settings = docker_settings.model_copy(update={"loopback_ports": True})
    serving = build_runtime(settings, await asyncio.to_thread(probe, settings, Path("/x")))
    assert isinstance(serving, DockerRuntime)
    spec = SandboxSpec(str(uuid.uuid4()), next(SLOTS), SMALL)
    try:
        await serving.start(spec)
        await run(serving, spec, "echo hi > index.html")
        server = "python3 -m http.server 8000 --bind 127.0.0.1"
        await serving.agent_request(spec.id, {"op": "start", "command": server})
        answer, why = b"", ""
        for _ in range(100):
            try:
                reader, writer = await serving.connect_port(spec.id, 8000)
            except PortUnavailable as exc:
                why = str(exc)
                await asyncio.sleep(0.05)
                continue
            writer.write(b"GET /index.html HTTP/1.0\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            break
        assert answer.startswith(b"HTTP/1.0 200"), why
        assert answer.endswith(b"\r\n\r\nhi\n")
    finally:
        await serving.delete(spec.id)
        await serving.close()


async def test_a_missing_image_is_refused_with_its_name(
    docker_settings: SandboxSettings, runtime: DockerRuntime
) -> None:
    broken = DockerRuntime(
        runtime.root,
        client=runtime.client,
        image="neo/no-such-image:1",
        python="/usr/bin/python3",
        uid_base=docker_settings.uid_base,
        tmp_mb=8,
        start_timeout=5,
        seccomp_profile=None,
    )
    spec = SandboxSpec(str(uuid.uuid4()), next(SLOTS), SMALL)
    with pytest.raises(StartFailed, match="neo/no-such-image:1 not found"):
        await broken.create(spec)
    await broken.delete(spec.id)
    assert not (runtime.root / spec.id).exists()


async def test_an_image_without_the_agents_interpreter_fails_to_start_with_a_reason(
    docker_settings: SandboxSettings, runtime: DockerRuntime
) -> None:
    broken = DockerRuntime(
        runtime.root,
        client=runtime.client,
        image=docker_settings.docker.image,
        python="/usr/bin/no-python",
        uid_base=docker_settings.uid_base,
        tmp_mb=8,
        start_timeout=5,
        seccomp_profile=None,
    )
    spec = SandboxSpec(str(uuid.uuid4()), next(SLOTS), SMALL)
    try:
        with pytest.raises(StartFailed, match="no-python"):
            await broken.start(spec)
        assert broken.host_pids(spec.id) == []
    finally:
        await broken.delete(spec.id)


async def test_one_shot_runs_in_a_fresh_container_and_times_out(
    runtime: DockerRuntime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    await run(runtime, spec, "echo shared > shared.txt")
    done = await runtime.run_once(spec, ExecRequest("cat shared.txt; echo oops >&2; exit 4"))
    assert (done.exit_code, done.stdout, done.stderr) == (4, "shared\n", "oops\n")
    slow = await runtime.run_once(spec, ExecRequest("sleep 30", timeout=1))
    assert slow.timed_out
    listed = runtime.client.containers.list(
        all=True, filters={"label": f"neo.sandbox.id={spec.id}"}
    )
    assert [c.name for c in listed] == [runtime.container_name(spec.id)]  # one-shots removed


async def test_a_socket_planted_in_place_of_the_agent_is_never_talked_to(
    runtime: DockerRuntime, make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    spec = await make_sandbox()
    decoy_path = tmp_path / "host-service.sock"
    decoy = socket.socket(socket.AF_UNIX)
    decoy.bind(str(decoy_path))
    decoy.listen(1)
    decoy.setblocking(False)
    agent_socket = runtime.files_root(spec.id).parent / "run" / "agent.sock"
    try:
        # what a sandbox could do in its run directory: replace its socket by a symlink
        await run(runtime, spec, f"rm /run/neo/agent.sock; ln -s {decoy_path} /run/neo/agent.sock")
        assert agent_socket.is_symlink()
        with pytest.raises(AgentUnavailable):
            await run(runtime, spec, "echo hi")
        conn, _ = await asyncio.wait_for(asyncio.get_running_loop().sock_accept(decoy), 2)
        with conn:
            conn.setblocking(True)
            conn.settimeout(1)
            assert conn.recv(100) == b""  # connected, checked, closed: nothing was sent
    finally:
        decoy.close()


async def test_a_restarted_neo_finds_its_running_containers_and_stops_them_at_exit(
    docker_settings: SandboxSettings, runtime: DockerRuntime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    report = await asyncio.to_thread(probe, docker_settings, Path("/x"))
    successor = build_runtime(docker_settings, report)  # as after a crash of this process
    assert isinstance(successor, DockerRuntime)
    assert (await successor.usage(spec.id)).running
    assert (await run(successor, spec, "echo still here")).stdout == "still here\n"
    assert await successor.close() == [spec.id]
    assert not (await runtime.usage(spec.id)).running


async def test_reap_removes_only_this_roots_leftovers(
    docker_settings: SandboxSettings, runtime: DockerRuntime, make_sandbox: MakeSandbox
) -> None:
    kept, orphan = await make_sandbox(), await make_sandbox()
    other_root = Path(str(runtime.root) + "-other")
    await asyncio.to_thread(other_root.mkdir, mode=0o711)
    settings = docker_settings.model_copy(update={"root": other_root})
    other = build_runtime(settings, await asyncio.to_thread(probe, settings, Path("/x")))
    assert isinstance(other, DockerRuntime)
    foreign = SandboxSpec(str(uuid.uuid4()), next(SLOTS), SMALL)
    try:
        await other.start(foreign)
        gone = await runtime.reap({kept.id})
        assert orphan.id in gone
        assert kept.id not in gone
        assert foreign.id not in gone
        assert runtime.host_pids(orphan.id) == []
        assert (await run(other, foreign, "echo alive")).stdout == "alive\n"
        assert (await run(runtime, kept, "echo alive")).stdout == "alive\n"
    finally:
        await other.delete(foreign.id)
        await other.close()
        shutil.rmtree(other_root)


def test_an_unreachable_daemon_is_reported_missing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    host = f"unix://{tmp_path}/no-daemon.sock"
    settings = SandboxSettings(runtime="docker", root=root, docker={"host": host})
    report = probe(settings, tmp_path)
    assert report.docker is None
    assert not report.ok
    assert any("docker: the daemon does not answer" in m for m in report.missing)
    assert build_runtime(settings, report) is None


@pytest.fixture(scope="module")
def sandbox_app_settings(
    make_settings: Callable[..., Settings], docker_settings: SandboxSettings
) -> Settings:
    """The app on the docker runtime (small limits)."""
    sandbox = {
        "runtime": "docker",
        "root": str(docker_settings.root),
        "docker": {"host": docker_settings.docker.host},
        "defaults": {"cpus": 1.0, "memory_mb": 128, "disk_mb": 8, "pids": 64},
    }
    return make_settings(sandbox=sandbox)


async def test_the_api_drives_a_docker_sandbox(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = user_headers(app, str(uuid.uuid4()))
    box = await create(client, alice, env={"GREETING": "hi"})
    url = f"{API}/sandboxes/{box['id']}"
    ran = await client.post(f"{url}/exec", json={"command": "echo $GREETING; id -u"}, headers=alice)
    assert ran.json()["stdout"].splitlines()[0] == "hi"
    put = await client.put(f"{url}/files", params={"path": "a.txt"}, content=b"x", headers=alice)
    assert put.status_code == 201, put.text
    cat = await client.post(f"{url}/exec", json={"command": "cat a.txt"}, headers=alice)
    assert cat.json()["stdout"] == "x"
    made = await client.post(f"{url}/sessions", json={"id": "s"}, headers=alice)
    assert made.status_code == 201, made.text
    step = {"command": "mkdir -p d && cd d && export K='v w'"}
    await client.post(f"{url}/sessions/s/exec", json=step, headers=alice)
    state = await client.post(
        f"{url}/sessions/s/exec", json={"command": 'pwd; echo "$K"'}, headers=alice
    )
    assert state.json()["stdout"] == "/workspace/d\nv w\n"  # busybox ash keeps state too
    assert (await client.post(f"{url}/stop", headers=alice)).json()["state"] == "stopped"
    assert (await client.post(f"{url}/start", headers=alice)).json()["state"] == "started"
    again = await client.get(f"{url}/files", params={"path": "a.txt"}, headers=alice)
    assert again.content == b"x"
    assert (await client.delete(url, headers=alice)).status_code == 204
    runtime = app.state.sandbox.runtime
    assert isinstance(runtime, DockerRuntime)
    assert not runtime.client.containers.list(all=True, filters={"name": box["id"]})
