"""The in-sandbox agent's behaviour, for both agents (native and Python): timeouts and hang-ups
kill whole process groups, output is streamed as it comes and cut at the limit, and bytes that
are not UTF-8 survive."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from neo.sandbox.runtimes.base import ExecRequest, SandboxSpec, StartFailed
from neo.sandbox.runtimes.local import LocalRuntime
from neo.sandbox.runtimes.output import collect
from tests.sandbox.conftest import SLOTS, SMALL, MakeSandbox, run


@pytest.fixture(scope="module", params=["native", "python"])
def runtime(request: pytest.FixtureRequest) -> LocalRuntime:
    """Each test runs once per agent."""
    name = "local_runtime" if request.param == "native" else "python_runtime"
    chosen: LocalRuntime = request.getfixturevalue(name)
    return chosen


async def test_timeout_kills_the_command_and_its_children(
    runtime: LocalRuntime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    started = time.monotonic()
    result = await run(runtime, spec, "sleep 60 & sleep 60; echo never", seconds=0.5)
    assert result.timed_out
    assert time.monotonic() - started < 5
    left = await run(runtime, spec, "cat /proc/[0-9]*/comm | grep -c '^sleep$' || true")
    assert left.stdout.strip() == "0"


async def test_a_client_hanging_up_kills_its_command(
    runtime: LocalRuntime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    events = runtime.exec(spec.id, ExecRequest("echo go; sleep 30; touch /workspace/late"))
    first = await anext(events)
    assert first.data == "go\n"
    count = "cat /proc/[0-9]*/comm | grep -c '^sleep$' || true"
    for _ in range(50):  # `echo go` ran; the shell starts `sleep` right after
        if (during := await run(runtime, spec, count)).stdout.strip() == "1":
            break
        await asyncio.sleep(0.02)
    assert during.stdout.strip() == "1"
    await events.aclose()  # type: ignore[attr-defined]
    await asyncio.sleep(0.3)
    left = await run(runtime, spec, count)
    assert left.stdout.strip() == "0"


async def test_output_streams_and_is_cut_at_the_limit(
    runtime: LocalRuntime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    request = ExecRequest("head -c 3000000 /dev/zero | tr '\\0' a; printf '\\377\\n' >&2")
    result = await collect(runtime.exec(spec.id, request), 1 << 20)
    assert result.truncated
    assert len(result.stdout) == 1 << 20
    assert result.stderr == "\ufffd\n"  # invalid UTF-8 replaced, not an error
    assert result.exit_code == 0


async def test_cold_one_shot_runs_in_the_same_workspace_and_limits(
    runtime: LocalRuntime, make_sandbox: MakeSandbox
) -> None:
    spec = await make_sandbox()
    await run(runtime, spec, "echo shared > note")
    cold = await runtime.run_once(
        spec, ExecRequest("cat note; cat /proc/self/status | grep Seccomp:")
    )
    assert cold.stdout.startswith("shared\n")
    assert "Seccomp:\t2" in cold.stdout
    slow = await runtime.run_once(spec, ExecRequest("sleep 30", timeout=0.3))
    assert slow.timed_out


async def test_a_sandbox_that_cannot_start_says_why_and_leaves_nothing_running(
    runtime: LocalRuntime,
) -> None:
    spec = SandboxSpec(str(uuid.uuid4()), next(SLOTS), SMALL, env={"BAD=NAME": "x"})
    with pytest.raises(StartFailed, match="setenv"):
        await runtime.start(spec)
    assert runtime.cgroups is not None
    assert runtime.cgroups.pids(spec.id) == []
    await runtime.delete(spec.id)
