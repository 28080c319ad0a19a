"""Interactive terminals through the agent, on both runtimes: a real pseudo-terminal inside
the sandbox, input, output, resize, the exit code, and hang-up killing what runs on it."""

from __future__ import annotations

import asyncio

import pytest

from neo.sandbox.runtimes.base import PtyRequest, Runtime, Terminal
from tests.sandbox.conftest import MakeSandbox, run


@pytest.fixture(scope="module", params=["local", "python", "docker"])
def runtime(request: pytest.FixtureRequest) -> Runtime:
    """Each test runs once per runtime (the local one with each agent)."""
    chosen: Runtime = request.getfixturevalue(f"{request.param}_runtime")
    return chosen


async def read_until(terminal: Terminal, needle: bytes, seconds: float = 10) -> bytes:
    """Terminal output up to and including `needle` (fails on exit or after `seconds`)."""
    seen = b""

    async def loop() -> bytes:
        nonlocal seen
        while needle not in seen:
            chunk = await terminal.read()
            assert isinstance(chunk, bytes), f"the terminal ended ({chunk}): {seen!r}"
            seen += chunk
        return seen

    return await asyncio.wait_for(loop(), seconds)


async def test_a_shell_on_a_real_terminal_with_its_size(
    runtime: Runtime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    terminal = await runtime.open_pty(spec.id, PtyRequest(cols=100, rows=30))
    try:
        await terminal.write(b"tty; stty size; echo $((6*7))x\n")
        out = await read_until(terminal, b"42x")
        assert b"/dev/pts/" in out
        assert b"30 100" in out
        await terminal.resize(120, 40)
        await terminal.write(b"stty size; echo done$((1+1))\n")
        assert b"40 120" in await read_until(terminal, b"done2")
        await terminal.write(b"exit 3\n")
        code = None
        while not isinstance(code, int):
            code = await asyncio.wait_for(terminal.read(), 10)
        assert code == 3
    finally:
        await terminal.close()


async def test_a_command_terminal_ends_with_its_exit_code(
    runtime: Runtime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    terminal = await runtime.open_pty(spec.id, PtyRequest(command="echo hello; exit 5"))
    try:
        assert b"hello" in await read_until(terminal, b"hello")
        code = await asyncio.wait_for(terminal.read(), 10)
        while isinstance(code, bytes):
            code = await asyncio.wait_for(terminal.read(), 10)
        assert code == 5
    finally:
        await terminal.close()


async def test_hanging_up_kills_what_runs_on_the_terminal(
    runtime: Runtime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    terminal = await runtime.open_pty(spec.id, PtyRequest(command="sleep 100 & sleep 100"))
    count = "cat /proc/[0-9]*/comm | grep -c '^sleep$' || true"
    for _ in range(100):
        if (await run(runtime, spec, count)).stdout.strip() == "2":
            break
        await asyncio.sleep(0.02)
    assert (await run(runtime, spec, count)).stdout.strip() == "2"
    await terminal.close()
    for _ in range(100):
        if (await run(runtime, spec, count)).stdout.strip() == "0":
            break
        await asyncio.sleep(0.02)
    assert (await run(runtime, spec, count)).stdout.strip() == "0"
