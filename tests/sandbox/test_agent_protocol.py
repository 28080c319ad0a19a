"""The agent protocol spoken by both agents (native and Python) at the socket: background
commands, the loopback relay, output bytes as JSON, and an agent's death ending its sandbox;
then what only the native agent promises: malformed and oversized requests get an error line
and the agent keeps serving, it is the sandbox's init (orphans reaped, no bwrap beside it) whose
memory code inside cannot reach, and an idle sandbox stays under 1 MiB."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from neo.sandbox.runtimes.base import PortUnavailable, SandboxSpec
from neo.sandbox.runtimes.local import LocalRuntime
from neo.sandbox.settings import SandboxSettings
from tests.sandbox.conftest import (
    SLOTS,
    SMALL,
    built_local_runtime,
    run,
    searchable_root,
    wait_for_port,
)


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["native", "python"])
async def runtime(request: pytest.FixtureRequest) -> AsyncIterator[LocalRuntime]:
    """A local runtime whose sandboxes may serve loopback ports, once per agent."""
    root = searchable_root()
    settings = SandboxSettings(
        root=root,
        cgroup_parent=f"neo-test-{uuid.uuid4().hex[:8]}",
        agent=request.param,
        loopback_ports=True,
    )
    async with built_local_runtime(settings) as built:
        yield built
    shutil.rmtree(root, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="session")
async def spec(runtime: LocalRuntime) -> AsyncIterator[SandboxSpec]:
    """A started sandbox, deleted after the test."""
    made = SandboxSpec(str(uuid.uuid4()), next(SLOTS), SMALL)
    await runtime.create(made)
    await runtime.start(made)
    yield made
    await runtime.delete(made.id)


def native_only(runtime: LocalRuntime) -> None:
    if runtime.agent is None:
        pytest.skip("a promise of the native agent only")


async def raw(runtime: LocalRuntime, sandbox_id: str, data: bytes) -> list[Any]:
    """Send `data` on a new connection to the agent; every JSON line it answers."""
    path = str(runtime.root / sandbox_id / "agent.sock")
    return [json.loads(line) for line in await asyncio.to_thread(exchange, path, data)]


def exchange(path: str, data: bytes, after: bytes = b"") -> list[bytes]:
    """Send `data` (then `after`, once the first answer came), read until the agent hangs up
    (a blocking socket: the answer is read even when the agent refused part of `data`)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(path)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
            if not data.endswith(b"\n"):
                sock.shutdown(socket.SHUT_WR)  # the end of the stream ends the request
        answer = sock.recv(65536)
        if after:
            sock.sendall(after)
        while chunk := sock.recv(65536):
            answer += chunk
    return answer.splitlines()


async def test_background_commands_are_started_listed_read_and_killed(
    runtime: LocalRuntime, spec: SandboxSpec
) -> None:
    body = {"op": "start", "command": "printf 'é\\377'; echo err >&2; exec sleep 30"}
    started = await runtime.agent_request(spec.id, body | {"cwd": ".", "env": {"A": "1"}})
    assert set(started) == {"id", "pid"}
    for _ in range(100):
        logs = await runtime.agent_request(spec.id, {"op": "logs", "id": started["id"]})
        if logs["stdout_bytes"] == 3 and logs["stderr_bytes"] == 4:
            break
        await asyncio.sleep(0.02)
    assert (logs["stdout"], logs["stderr"], logs["running"]) == ("é\ufffd", "err\n", True)
    offset = {"op": "logs", "id": started["id"], "stdout_offset": 1, "stderr_offset": 99}
    cut = await runtime.agent_request(spec.id, offset)
    assert (cut["stdout"], cut["stderr"]) == ("\ufffd\ufffd", "")  # a sequence cut in two
    listed = await runtime.agent_request(spec.id, {"op": "list"})
    assert [c["id"] for c in listed["commands"]] == [started["id"]]
    await runtime.agent_request(spec.id, {"op": "kill", "id": started["id"]})
    for _ in range(100):
        status = await runtime.agent_request(spec.id, {"op": "status", "id": started["id"]})
        if not status["running"]:
            break
        await asyncio.sleep(0.02)
    assert (status["running"], status["exit_code"]) == (False, 128 + signal.SIGKILL)
    missing = await runtime.agent_request(spec.id, {"op": "status", "id": "cmd-999"})
    assert missing == {"error": "not_found"}


async def test_every_byte_value_comes_back_as_python_decodes_it(
    runtime: LocalRuntime, spec: SandboxSpec
) -> None:
    octal = "".join(f"\\{b:03o}" for b in range(1, 256))
    result = await run(runtime, spec, f"printf '{octal}'; printf '\\342\\202'")
    expected = bytes(range(1, 256)).decode("utf-8", "replace") + "\ufffd"
    assert result.stdout == expected
    quoted = await run(runtime, spec, "printf '%s\\n' 'a\"b\\\\c 😀 \u00e9'")
    assert quoted.stdout == 'a"b\\\\c 😀 \u00e9\n'


async def test_a_loopback_port_is_relayed_both_ways(
    runtime: LocalRuntime, spec: SandboxSpec
) -> None:
    with pytest.raises(PortUnavailable, match="refused"):
        await runtime.connect_port(spec.id, 8123)
    server = (
        "import socket; s = socket.socket(); s.bind(('127.0.0.1', 8123)); s.listen()\n"
        "while True:\n"
        "    c, _ = s.accept(); data = b''\n"
        "    while chunk := c.recv(65536): data += chunk\n"
        "    c.sendall(data.upper()); c.close()"
    )
    await runtime.agent_request(spec.id, {"op": "start", "command": f'python3 -c "{server}"'})
    assert (await run(runtime, spec, wait_for_port(8123))).stdout.strip() == "listening"
    reader, writer = await runtime.connect_port(spec.id, 8123)
    writer.write(b"hello " * 50_000)
    writer.write_eof()  # half-closed: the answer still comes back
    assert await asyncio.wait_for(reader.read(), 10) == b"HELLO " * 50_000
    writer.close()


async def test_the_agent_dying_ends_every_process_of_its_sandbox(
    runtime: LocalRuntime, spec: SandboxSpec
) -> None:
    await runtime.agent_request(spec.id, {"op": "start", "command": "sleep 60"})
    assert runtime.cgroups is not None
    agent = [p for p in runtime.cgroups.pids(spec.id) if _comm(p) in ("agent", "python3")]
    assert len(agent) == 1
    os.kill(agent[0], signal.SIGKILL)
    for _ in range(200):
        if not runtime.cgroups.pids(spec.id):
            break
        await asyncio.sleep(0.01)
    assert runtime.cgroups.pids(spec.id) == []  # the pid namespace went with it


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


BAD_REQUESTS = [
    (b"garbage\n", "not a JSON object"),
    (b"[1, 2]\n", "not a JSON object"),
    (b'{"op": "exec", "command": "a\\u0000b"}\n', "NUL"),
    (b'{"op": "exec", "command": "\\ud800"}\n', "surrogate"),
    (b'{"op": "exec", "command": "x", "env": {"A": 1}}\n', "env values"),
    (b'{"op": "exec", "command": "x", "env": {"A=B": "1"}}\n', "env name"),
    (b'{"op": "exec", "command": "x", "timeout": "soon"}\n', "number"),
    (b'{"op": "exec"}\n', "needs a command"),
    (b'{"op": "teleport"}\n', "unknown op"),
    (b'{"op": "exec", "command": "x"} trailing\n', "trailing"),
    (b'{"op": "exec", "command": "x\n', "unterminated"),
    (b'{"x": ' + b"[" * 100 + b"]" * 100 + b"}\n", "too deep"),
    (b'{"op": "ping"', "expected"),  # no newline: the end of the stream ends the request
    (b'{"op": "connect", "port": 70000}\n', "port"),
    (b"x" * (5 << 20), "too long"),
]


@pytest.mark.parametrize(("data", "why"), BAD_REQUESTS, ids=[w for _, w in BAD_REQUESTS])
async def test_a_malformed_request_gets_an_error_line_and_the_agent_serves_on(
    runtime: LocalRuntime, spec: SandboxSpec, data: bytes, why: str
) -> None:
    native_only(runtime)
    answer = await raw(runtime, spec.id, data)
    assert len(answer) == 1
    assert answer[0]["error"] in ("bad_request", "connect_failed")
    assert why in answer[0]["message"]
    assert (await raw(runtime, spec.id, b'{"op": "ping"}\n'))[0]["pong"] == 1


async def test_an_oversized_terminal_frame_hangs_up_that_terminal_only(
    runtime: LocalRuntime, spec: SandboxSpec
) -> None:
    native_only(runtime)
    path = str(runtime.root / spec.id / "agent.sock")
    request = b'{"op": "pty", "command": "sleep 30"}\n'
    answer = await asyncio.to_thread(exchange, path, request, b"d\xff\xff\xff\xff")
    assert answer[0][:1] == b"o"  # opened, then hung up without an exit frame
    count = "cat /proc/[0-9]*/comm | grep -c '^sleep$' || true"
    for _ in range(50):  # killed at once; reaped a moment later
        if (left := await run(runtime, spec, count)).stdout.strip() == "0":
            break
        await asyncio.sleep(0.02)
    assert left.stdout.strip() == "0"


async def test_the_native_agent_is_init_reaps_orphans_and_hides_its_memory(
    runtime: LocalRuntime, spec: SandboxSpec
) -> None:
    native_only(runtime)
    assert runtime.cgroups is not None
    assert sorted(_comm(p) for p in runtime.cgroups.pids(spec.id)) == ["agent", "bwrap"]
    for _ in range(5):
        await run(runtime, spec, "(sleep 0.05 &) ; true")
    await asyncio.sleep(0.3)
    states = await run(runtime, spec, "cat /proc/1/comm; cut -d' ' -f3 /proc/[0-9]*/stat")
    first, *rest = states.stdout.split()
    assert first == "agent"
    assert "Z" not in rest
    peek = "cat /proc/1/environ >/dev/null 2>&1 && echo readable || echo refused"
    assert (await run(runtime, spec, peek)).stdout == "refused\n"  # not dumpable


async def test_an_idle_native_sandbox_costs_under_a_mebibyte(
    runtime: LocalRuntime, spec: SandboxSpec
) -> None:
    native_only(runtime)
    others = [SandboxSpec(str(uuid.uuid4()), next(SLOTS), SMALL) for _ in range(3)]
    try:
        for other in others:
            await runtime.start(other)
        assert runtime.cgroups is not None
        pids = [p for s in [spec, *others] for p in runtime.cgroups.pids(s.id)]
        assert len(pids) == 8  # bwrap's monitor and the agent, per sandbox
        pss = sum(_pss_kib(pid) for pid in pids)
        assert 0 < pss / 4 < 1024  # KiB per sandbox, shared pages split among the sandboxes
    finally:
        for other in others:
            await runtime.delete(other.id)


def _pss_kib(pid: int) -> int:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return sum(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
