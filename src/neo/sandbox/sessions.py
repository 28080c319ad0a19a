"""Shell sessions of a running sandbox: commands run one after another in a session keep its
working directory and exported variables, like lines typed in one shell.

A session is a directory inside the sandbox (`/tmp/.neo/sessions/<id>`, on the sandbox's own
tmpfs) holding the state its last command left (`cwd`, and `env` as `export -p` wrote it).
Each command is wrapped to restore that state first and save it on exit (`trap … EXIT`, so
`exit` and errors save it too); it then runs through the agent like any exec, or in the
background (polled with the commands API). Variables set without `export`, functions and
aliases do not carry over.
"""

from __future__ import annotations

import shlex
import uuid
from dataclasses import asdict
from typing import Any

from neo.sandbox import commands
from neo.sandbox.errors import SessionExists, SessionNotFound
from neo.sandbox.models import CommandBody, Sandbox, SessionBody, SessionExecBody
from neo.sandbox.runtimes.base import ExecRequest, ExecResult
from neo.sandbox.runtimes.output import collect
from neo.sandbox.service import Sandboxes, exec_events

ROOT = "/tmp/.neo/sessions"  # noqa: S108 - inside the sandbox, its own tmpfs
SAVE = 'pwd > "$__neo_s/cwd"; export -p > "$__neo_s/env"'


def _dir(session_id: str) -> str:
    return f"{ROOT}/{session_id}"


def wrap(session_id: str, command: str) -> str:
    """`command` run in the session's state, which it leaves for the next one."""
    restore = (
        f'__neo_s={shlex.quote(_dir(session_id))}; . "$__neo_s/env"; cd "$(cat "$__neo_s/cwd")"'
    )
    return f"{restore}; trap {shlex.quote(SAVE)} EXIT\n{command}\n"


async def _run(state: Sandboxes, sandbox: Sandbox, command: str, seconds: float) -> ExecResult:
    events = exec_events(state, sandbox, ExecRequest(command, "/", {}, seconds))
    return await collect(events, state.settings.max_output_bytes)


async def _cwd(state: Sandboxes, sandbox: Sandbox, session_id: str) -> str:
    found = await _run(state, sandbox, f"cat {shlex.quote(_dir(session_id))}/cwd", 10)
    if found.exit_code != 0:
        raise SessionNotFound()
    return found.stdout.strip()


async def create_session(state: Sandboxes, sandbox: Sandbox, body: SessionBody) -> dict[str, Any]:
    """A new session starting in `cwd`."""
    session_id = body.id or uuid.uuid4().hex[:12]
    where = shlex.quote(_dir(session_id))
    script = (
        f"mkdir -p {shlex.quote(ROOT)} && mkdir {where} || exit 3\n"
        f"cd {shlex.quote(body.cwd)} && pwd > {where}/cwd && export -p > {where}/env"
    )
    made = await _run(state, sandbox, script, 10)
    if made.exit_code == 3:
        raise SessionExists()
    if made.exit_code != 0:
        await _run(state, sandbox, f"rm -rf {where}", 10)
        raise SessionNotFound(f"cannot start a session in {body.cwd}: {made.stderr.strip()}")
    return {"id": session_id, "cwd": await _cwd(state, sandbox, session_id)}


async def get_session(state: Sandboxes, sandbox: Sandbox, session_id: str) -> dict[str, Any]:
    """A session and its current directory."""
    return {"id": session_id, "cwd": await _cwd(state, sandbox, session_id)}


async def list_sessions(state: Sandboxes, sandbox: Sandbox) -> list[dict[str, Any]]:
    """The sandbox's sessions."""
    listed = await _run(state, sandbox, f"ls {shlex.quote(ROOT)} 2>/dev/null", 10)
    names = sorted(listed.stdout.split())
    return [{"id": n, "cwd": await _cwd(state, sandbox, n)} for n in names]


async def delete_session(state: Sandboxes, sandbox: Sandbox, session_id: str) -> None:
    """Forget a session (commands it started in the background go on)."""
    await _cwd(state, sandbox, session_id)
    await _run(state, sandbox, f"rm -rf {shlex.quote(_dir(session_id))}", 10)


async def exec_in_session(
    state: Sandboxes, sandbox: Sandbox, session_id: str, body: SessionExecBody
) -> dict[str, Any]:
    """Run a command in the session: its result, or its background command's status."""
    await _cwd(state, sandbox, session_id)
    command = wrap(session_id, body.command)
    if body.background:
        return await commands.start_command(state, sandbox, CommandBody(command=command))
    timeout = min(body.timeout or state.settings.exec_timeout, state.settings.max_exec_timeout)
    result = await _run(state, sandbox, command, timeout)
    return asdict(result)  # exit_code, stdout, stderr, timed_out, truncated
