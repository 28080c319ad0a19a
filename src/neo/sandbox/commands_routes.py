"""HTTP routes of a sandbox's background commands (`/sandbox/v1/sandboxes/{id}/commands`):
start, list, status, output from offsets, kill (`commands.py` does the work)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from neo.sandbox import commands
from neo.sandbox.audit import command_facts
from neo.sandbox.deps import AuditDep, SandboxDep, StateDep, WritableSandboxDep
from neo.sandbox.models import CommandBody

router = APIRouter()
COMMANDS = "/sandboxes/{sandbox_id}/commands"
Offset = Annotated[int, Query(ge=0)]


@router.post(COMMANDS, status_code=201)
async def start(
    body: CommandBody, sandbox: WritableSandboxDep, state: StateDep, audit: AuditDep
) -> dict[str, Any]:
    """Start a command in the background."""
    started = await commands.start_command(state, sandbox, body)
    audit(
        "sandbox.command_started", sandbox, command_id=started["id"], **command_facts(body.command)
    )
    return started


@router.get(COMMANDS)
async def list_all(sandbox: SandboxDep, state: StateDep) -> list[dict[str, Any]]:
    """The sandbox's background commands."""
    return await commands.list_commands(state, sandbox)


@router.get(COMMANDS + "/{command_id}")
async def get_one(command_id: str, sandbox: SandboxDep, state: StateDep) -> dict[str, Any]:
    """A command's status."""
    return await commands.get_command(state, sandbox, command_id)


@router.get(COMMANDS + "/{command_id}/logs")
async def logs(
    command_id: str,
    sandbox: SandboxDep,
    state: StateDep,
    stdout_offset: Offset = 0,
    stderr_offset: Offset = 0,
) -> dict[str, Any]:
    """Status and output from byte offsets."""
    return await commands.command_logs(
        state, sandbox, command_id, stdout_offset=stdout_offset, stderr_offset=stderr_offset
    )


@router.post(COMMANDS + "/{command_id}/kill")
async def kill(
    command_id: str, sandbox: WritableSandboxDep, state: StateDep, audit: AuditDep
) -> dict[str, Any]:
    """Kill a command and everything it started."""
    killed = await commands.kill_command(state, sandbox, command_id)
    audit("sandbox.command_killed", sandbox, command_id=command_id)
    return killed
