"""Background commands of a running sandbox: started through its agent, which keeps them
(and their output, up to 1 MiB per stream) after the request ends; listed, polled for status
and output from byte offsets, and killed with everything they started.

They live as long as the sandbox's agent: stopping the sandbox ends them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from neo.sandbox.errors import CommandFailed, CommandNotFound, SandboxNotRunning
from neo.sandbox.models import CommandBody, Sandbox
from neo.sandbox.runtimes.base import AgentUnavailable
from neo.sandbox.service import Sandboxes

PUBLIC = ("id", "command", "pid", "running", "exit_code", "stdout_bytes", "stderr_bytes")


async def _ask(state: Sandboxes, sandbox: Sandbox, body: dict[str, object]) -> dict[str, Any]:
    if sandbox.state != "started":
        raise SandboxNotRunning(f"sandbox {sandbox.id} is {sandbox.state}")
    try:
        answer = await state.runtime.agent_request(sandbox.id, body)
    except AgentUnavailable:
        raise SandboxNotRunning(f"sandbox {sandbox.id} does not answer (stopped?)") from None
    if answer.get("error") == "not_found":
        raise CommandNotFound()
    if answer.get("error"):
        raise CommandFailed(str(answer.get("message") or answer["error"]))
    return answer


def _public(answer: dict[str, Any]) -> dict[str, Any]:
    view = {key: answer.get(key) for key in PUBLIC}
    started = answer.get("started_at")
    view["started_at"] = (
        datetime.fromtimestamp(float(started), UTC).isoformat() if started is not None else None
    )
    return view


async def start_command(state: Sandboxes, sandbox: Sandbox, body: CommandBody) -> dict[str, Any]:
    """Start a background command; its status."""
    started = await _ask(
        state,
        sandbox,
        {"op": "start", "command": body.command, "cwd": body.cwd, "env": dict(body.env)},
    )
    return await get_command(state, sandbox, str(started["id"]))


async def list_commands(state: Sandboxes, sandbox: Sandbox) -> list[dict[str, Any]]:
    """The sandbox's background commands (the agent remembers the latest 64)."""
    answer = await _ask(state, sandbox, {"op": "list"})
    return [_public(c) for c in answer.get("commands", [])]


async def get_command(state: Sandboxes, sandbox: Sandbox, command_id: str) -> dict[str, Any]:
    """One command's status."""
    return _public(await _ask(state, sandbox, {"op": "status", "id": command_id}))


async def command_logs(
    state: Sandboxes, sandbox: Sandbox, command_id: str, *, stdout_offset: int, stderr_offset: int
) -> dict[str, Any]:
    """Status and output from the given byte offsets (poll with the `*_bytes` seen last)."""
    body: dict[str, object] = {"op": "logs", "id": command_id}
    body |= {"stdout_offset": stdout_offset, "stderr_offset": stderr_offset}
    answer = await _ask(state, sandbox, body)
    return _public(answer) | {
        "stdout": answer.get("stdout", ""),
        "stderr": answer.get("stderr", ""),
    }


async def kill_command(state: Sandboxes, sandbox: Sandbox, command_id: str) -> dict[str, Any]:
    """Kill a command and its process group."""
    return _public(await _ask(state, sandbox, {"op": "kill", "id": command_id}))
