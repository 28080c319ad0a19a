"""The runtime Protocol: what every sandbox runtime (local bubblewrap, Docker; Kubernetes
later) implements, and the plain values that cross it.

A runtime knows nothing of owners, quotas or the database: it turns a `SandboxSpec` into a
running, isolated environment with a workspace, runs commands in it (through the in-sandbox
agent, or cold one-shot), and tears it down. File operations are done host-side on the
directory `files_root` returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol


class AgentUnavailable(RuntimeError):
    """The sandbox's agent does not answer (the sandbox is not running)."""


class PortUnavailable(RuntimeError):
    """Nothing accepts connections on that port inside the sandbox; the message says why."""


class StartFailed(RuntimeError):
    """The runtime could not start a sandbox; the message says why."""


@dataclass(frozen=True)
class Limits:
    """Resources of one sandbox."""

    cpus: float
    memory_mb: int
    disk_mb: int
    pids: int


@dataclass(frozen=True)
class NetworkPolicy:
    """Egress: `deny` (only the sandbox's own loopback), or `allow`: the hosts listed (rules of
    `egress.py`) through the host-side filtering proxy, still without a route out."""

    mode: Literal["deny", "allow"] = "deny"
    allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class SandboxSpec:
    """What a runtime needs to create and start one sandbox."""

    id: str
    slot: int  # small integer unique among live sandboxes (host uid, names)
    limits: Limits
    env: Mapping[str, str] = field(default_factory=dict)
    network: NetworkPolicy = NetworkPolicy()


@dataclass(frozen=True)
class ExecRequest:
    """One command: run by `/bin/sh -c` in `cwd` (relative to the workspace) with `env`."""

    command: str
    cwd: str = "."
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 60.0


@dataclass(frozen=True)
class PtyRequest:
    """An interactive terminal: `command` by `/bin/sh -c` (a login shell when empty)."""

    command: str = ""
    cwd: str = "."
    env: Mapping[str, str] = field(default_factory=dict)
    cols: int = 80
    rows: int = 24


class Terminal(Protocol):
    """A running terminal: output in, input and size out."""

    pid: int

    async def read(self) -> bytes | int:
        """The next output bytes, or the exit code once the terminal's command has ended."""
        ...

    async def write(self, data: bytes) -> None:
        """Type `data` into the terminal."""
        ...

    async def resize(self, cols: int, rows: int) -> None:
        """Change the terminal's size."""
        ...

    async def close(self) -> None:
        """Hang up: the terminal's processes are killed."""
        ...


@dataclass(frozen=True)
class ExecEvent:
    """A piece of a running command's output, or its end (`kind == "exit"`)."""

    kind: Literal["stdout", "stderr", "exit"]
    data: str = ""
    exit_code: int | None = None
    timed_out: bool = False


@dataclass
class ExecResult:
    """A finished command, its output collected (and cut at a limit)."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    truncated: bool = False


@dataclass(frozen=True)
class Usage:
    """What a sandbox uses now, as the runtime can tell."""

    running: bool
    memory_bytes: int | None = None
    pids: int | None = None


class Runtime(Protocol):
    """A sandbox runtime."""

    name: str
    root: Path  # the host directory of its sandboxes (one directory each, named by id)

    async def create(self, spec: SandboxSpec) -> None:
        """Prepare the sandbox (workspace, limits); idempotent."""
        ...

    async def start(self, spec: SandboxSpec) -> None:
        """Start the sandbox's agent; ready for `exec` when this returns."""
        ...

    async def stop(self, sandbox_id: str) -> None:
        """Kill every process of the sandbox; the workspace stays."""
        ...

    async def delete(self, sandbox_id: str) -> None:
        """Stop, then remove the workspace and every trace of the sandbox."""
        ...

    def exec(self, sandbox_id: str, request: ExecRequest) -> AsyncIterator[ExecEvent]:
        """Run a command through the running sandbox's agent, streaming its output."""
        ...

    async def open_pty(self, sandbox_id: str, request: PtyRequest) -> Terminal:
        """Start an interactive terminal through the running sandbox's agent."""
        ...

    async def agent_request(self, sandbox_id: str, body: Mapping[str, object]) -> dict[str, Any]:
        """One request and its JSON answer from the running sandbox's agent."""
        ...

    async def connect_port(
        self, sandbox_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A byte stream to a TCP port on the running sandbox's own loopback."""
        ...

    async def run_once(self, spec: SandboxSpec, request: ExecRequest) -> ExecResult:
        """Run a command cold, in a fresh isolated process tree (no agent)."""
        ...

    def files_root(self, sandbox_id: str) -> Path:
        """The host directory holding the sandbox's workspace."""
        ...

    def owner_uid(self, spec: SandboxSpec) -> int:
        """The host uid that owns the workspace's files."""
        ...

    async def usage(self, sandbox_id: str) -> Usage:
        """Whether the sandbox runs, and what it uses."""
        ...

    def host_pids(self, sandbox_id: str) -> list[int]:
        """Host pids of the sandbox's processes (empty when it is not running)."""
        ...

    async def reap(self, keep: set[str]) -> list[str]:
        """Kill and remove leftovers (processes, cgroups) of sandboxes not in `keep`."""
        ...

    async def close(self) -> list[str]:
        """Stop every sandbox this process started (the app is shutting down); their ids."""
        ...
