"""The runtime Protocol: what every sandbox runtime (local bubblewrap today; Docker and
Kubernetes later) implements, and the plain values that cross it.

A runtime knows nothing of owners, quotas or the database: it turns a `SandboxSpec` into a
running, isolated environment with a workspace, runs commands in it (through the in-sandbox
agent, or cold one-shot), and tears it down. File operations are done host-side on the
directory `files_root` returns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol


class AgentUnavailable(RuntimeError):
    """The sandbox's agent does not answer (the sandbox is not running)."""


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
    """Egress: `deny` (only the sandbox's own loopback) is the one mode served so far."""

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

    async def reap(self, keep: set[str]) -> list[str]:
        """Kill and remove leftovers (processes, cgroups) of sandboxes not in `keep`."""
        ...

    async def close(self) -> list[str]:
        """Stop every sandbox this process started (the app is shutting down); their ids."""
        ...
