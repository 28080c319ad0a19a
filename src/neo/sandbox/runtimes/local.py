"""The `local` runtime: bubblewrap sandboxes on this host.

Each sandbox runs as its own unprivileged host uid (`uid_base + slot`, mapped to 1000 inside)
in fresh user, pid, net (loopback only), ipc, uts and mount namespaces, with read-only system
directories, a tmpfs workspace of the sandbox's disk size, a tmpfs /tmp, no capabilities,
no-new-privileges, the seccomp filter, and cgroup limits joined before any sandbox code runs.
The agent is its long-lived process: the native one (`agent_c/`, built by the probe) as the
pid namespace's init with no bwrap reaper beside it, else `agent.py`; `run_once` spawns a cold
one-shot instead. With the native binary, its `--launch` mode replaces `sh` + `setpriv` as the
root-side prefix (one exec fewer on every start). The create path does each host step once per
sandbox (`_created`) and uses no subprocess but the sandbox's own.
A sandbox with an egress allow-list keeps its namespace without a route out: NEO serves the
filtering proxy on its loopback (`egress_proxy.py`), and its filter allows IP sockets (which
reach that loopback only); cold one-shots of such a sandbox get no egress.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import socket
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import structlog

from neo.kit.ids import is_uuid
from neo.sandbox.runtimes import agent_client, bwrap, seccomp
from neo.sandbox.runtimes.agent_build import NativeAgent
from neo.sandbox.runtimes.base import (
    ExecEvent,
    ExecRequest,
    ExecResult,
    PtyRequest,
    SandboxSpec,
    StartFailed,
    Terminal,
    Usage,
)
from neo.sandbox.runtimes.cgroups import Cgroups
from neo.sandbox.runtimes.egress_proxy import EgressProxy, proxy_env
from neo.sandbox.runtimes.output import run_command

AGENT_SOURCE = Path(__file__).with_name("agent.py")
_log = structlog.get_logger("neo.sandbox")
START_TIMEOUT = 10.0  # seconds for a new agent to answer its first ping


class LocalRuntime:
    """Sandboxes as bubblewrap process trees on this host."""

    name = "local"

    def __init__(
        self,
        root: Path,
        *,
        bwrap_path: str,
        setpriv: str,
        cgroups: Cgroups | None,
        seccomp_bpf: bytes | None,
        uid_base: int,
        tmp_mb: int,
        agent: NativeAgent | None = None,
        agent_pending: Future[tuple[NativeAgent | None, str]] | None = None,
    ) -> None:
        self.root = root
        self.agent = agent  # None: the Python agent
        self._agent_pending = agent_pending  # the native agent still compiling (probe, later)
        self.base = bwrap.prepare_base(root, AGENT_SOURCE)
        self._bwrap, self._setpriv = bwrap_path, setpriv
        self.cgroups = cgroups
        self._bpf = seccomp_bpf
        self._uid_base, self._tmp_bytes = uid_base, tmp_mb << 20
        self._agents: dict[str, asyncio.subprocess.Process] = {}
        self._created: set[str] = set()  # workspace mounted and cgroup made by this process
        self.egress = EgressProxy()
        self._ip_bpf: bytes | None = None  # the filter variant allowing IP sockets (egress)

    def files_root(self, sandbox_id: str) -> Path:
        """The host directory of the sandbox's workspace."""
        return self.root / sandbox_id / "workspace"

    def owner_uid(self, spec: SandboxSpec) -> int:
        """The sandbox's host uid."""
        return self._uid_base + spec.slot

    def _socket(self, sandbox_id: str) -> Path:
        return self.root / sandbox_id / "agent.sock"

    async def create(self, spec: SandboxSpec) -> None:
        """Workspace tmpfs and cgroup; idempotent (done once per sandbox by this process)."""
        if spec.id in self._created:
            return
        home = self.root / spec.id
        home.mkdir(exist_ok=True)
        home.chmod(0o711)
        bwrap.mount_workspace(
            self.files_root(spec.id), size_mb=spec.limits.disk_mb, uid=self.owner_uid(spec)
        )
        if self.cgroups is not None:
            self.cgroups.create(spec.id, spec.limits)
        self._created.add(spec.id)

    async def settle_agent(self) -> None:
        """Wait for a native agent still compiling (the first sandbox after a start-up that
        found none compiled), then run it; a failed build means the Python agent."""
        pending = self._agent_pending
        if pending is None:
            return
        agent, why = await asyncio.wrap_future(pending)
        if self._agent_pending is pending:
            self._agent_pending, self.agent = None, agent
            (_log.info if agent else _log.warning)("sandbox.agent_selected", agent=why)

    async def start(self, spec: SandboxSpec) -> None:
        """Start the agent on a listening socket the host created."""
        await self.settle_agent()
        if self._socket(spec.id).exists() and await self._answers(spec.id):
            if spec.network.mode == "allow" and not self.egress.serving(spec.id):
                agent = self._agents.get(spec.id)
                await self._open_egress(
                    spec, [*self.host_pids(spec.id), *([agent.pid] if agent else [])]
                )
            return
        await self.create(spec)
        path = self._socket(spec.id)
        path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
            path.chmod(0o600)  # only root (NEO) may connect
            listener.listen(128)
            fd = listener.fileno()
            command = self._agent_command(fd)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
            log = os.open(self._log(spec.id), flags, 0o600)  # bwrap's and the agent's errors
            try:
                agent = await self._spawn(
                    spec, command, extra_fds=(fd,), stderr=log, as_pid_1=self.agent is not None
                )
            finally:
                os.close(log)
        finally:
            listener.close()  # the agent holds it now; if it dies, connecting is refused
        self._agents[spec.id] = agent
        if not await self._answers(spec.id, wait=START_TIMEOUT):
            await self.stop(spec.id)
            reason = self._log(spec.id).read_text(errors="replace").strip()[-500:]
            raise StartFailed(f"sandbox {spec.id} did not start: {reason or 'no answer'}")
        if spec.network.mode == "allow":
            await self._open_egress(spec, [agent.pid])

    async def _open_egress(self, spec: SandboxSpec, pids: list[int]) -> None:
        try:
            await self.egress.open(spec.id, pids, spec.network.allow)
        except (OSError, ValueError) as exc:
            await self.stop(spec.id)
            raise StartFailed(f"sandbox {spec.id}: egress proxy: {exc}") from None

    def _agent_command(self, fd: int) -> list[str]:
        if self.agent is not None:
            return [bwrap.NATIVE_AGENT_PATH, str(fd)]
        return ["/usr/bin/python3", "-I", "-S", bwrap.AGENT_PATH, str(fd)]

    def _log(self, sandbox_id: str) -> Path:
        return self.root / sandbox_id / "agent.log"

    async def _spawn(
        self,
        spec: SandboxSpec,
        command: list[str],
        *,
        extra_fds: tuple[int, ...] = (),
        chdir: str = bwrap.WORKSPACE,
        stderr: int = asyncio.subprocess.PIPE,
        as_pid_1: bool = False,
    ) -> asyncio.subprocess.Process:
        env = dict(spec.env)
        bpf = self._bpf
        if spec.network.mode == "allow":
            env = proxy_env() | env
            if bpf is not None:
                self._ip_bpf = self._ip_bpf or seccomp.export_bpf(loopback_ports=True)
                bpf = self._ip_bpf
        seccomp_fd = bwrap.memfd_with(bpf, "neo-seccomp") if bpf else None
        try:
            argv = bwrap.launcher(
                self.cgroups.procs_files(spec.id) if self.cgroups else [],
                self.owner_uid(spec),
                self._setpriv,
                self.agent.path if self.agent else None,
            ) + bwrap.bwrap_args(
                bwrap=self._bwrap,
                base=self.base,
                workspace=self.files_root(spec.id),
                tmp_bytes=self._tmp_bytes,
                env=env,
                seccomp_fd=seccomp_fd,
                chdir=chdir,
                native_agent=self.agent.path if self.agent else None,
                as_pid_1=as_pid_1,
            )
            fds = (*extra_fds, *([seccomp_fd] if seccomp_fd is not None else []))
            return await asyncio.create_subprocess_exec(
                *argv,
                "--",
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if stderr == asyncio.subprocess.PIPE else stderr,
                stderr=stderr,
                pass_fds=fds,
                env={"PATH": bwrap.BASE_PATH},
            )
        finally:
            if seccomp_fd is not None:
                os.close(seccomp_fd)

    async def adopt(self, pooled: SandboxSpec, spec: SandboxSpec) -> None:
        """Give a started sandbox of the warm pool `spec`'s identity: its id (directory,
        socket, cgroup) and limits. Its uid is its slot's, so the slots must match; its env is
        fixed at start, so `spec` has none."""
        if pooled.slot != spec.slot or spec.env or spec.network.mode != "deny":
            raise ValueError(f"sandbox {pooled.id} cannot become {spec.id}")
        os.rename(self.root / pooled.id, self.root / spec.id)  # the workspace mount moves too
        if self.cgroups is not None:
            self.cgroups.rename(pooled.id, spec.id)
            self.cgroups.create(spec.id, spec.limits)
        self._agents[spec.id] = self._agents.pop(pooled.id)
        self._created.discard(pooled.id)
        self._created.add(spec.id)

    async def answers(self, sandbox_id: str) -> bool:
        """Whether the sandbox's agent answers a ping."""
        return await self._answers(sandbox_id)

    async def _answers(self, sandbox_id: str, wait: float = 2.0) -> bool:
        return await agent_client.answers(self._socket(sandbox_id), wait=wait)

    async def stop(self, sandbox_id: str) -> None:
        """Kill every process of the sandbox."""
        await self.egress.close(sandbox_id)
        agent = self._agents.pop(sandbox_id, None)
        if agent is not None and agent.returncode is None:
            agent.kill()  # bwrap dies, and its pid namespace with it
        if self.cgroups is not None:
            await asyncio.to_thread(self.cgroups.kill, sandbox_id)
        if agent is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(agent.wait(), 5)
        self._socket(sandbox_id).unlink(missing_ok=True)

    async def delete(self, sandbox_id: str) -> None:
        """Stop, remove the cgroup, unmount and remove the workspace."""
        await self.stop(sandbox_id)
        self._created.discard(sandbox_id)
        if self.cgroups is not None:
            await asyncio.to_thread(self.cgroups.remove, sandbox_id)
        await asyncio.to_thread(bwrap.remove_tree, self.root / sandbox_id)

    def exec(self, sandbox_id: str, request: ExecRequest) -> AsyncIterator[ExecEvent]:
        """Run `request` through the agent, yielding output as it comes."""
        return agent_client.exec_events(self._socket(sandbox_id), sandbox_id, request)

    async def open_pty(self, sandbox_id: str, request: PtyRequest) -> Terminal:
        """An interactive terminal through the sandbox's agent."""
        path = self._socket(sandbox_id)
        return await agent_client.open_terminal(path, sandbox_id, request)

    async def agent_request(self, sandbox_id: str, body: Mapping[str, object]) -> dict[str, Any]:
        """One request and its JSON answer from the sandbox's agent."""
        return await agent_client.call(self._socket(sandbox_id), sandbox_id, body)

    async def connect_port(
        self, sandbox_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A byte stream to a port on the sandbox's loopback, through its agent."""
        return await agent_client.open_tunnel(self._socket(sandbox_id), sandbox_id, port)

    async def run_once(self, spec: SandboxSpec, request: ExecRequest) -> ExecResult:
        """A cold one-shot: a fresh bwrap process tree for one command."""
        await self.settle_agent()  # the launcher is the agent's binary
        await self.create(spec)
        cwd = posixpath.normpath(posixpath.join(bwrap.WORKSPACE, request.cwd))
        env_spec = SandboxSpec(spec.id, spec.slot, spec.limits, dict(spec.env) | dict(request.env))
        proc = await self._spawn(env_spec, ["/bin/sh", "-c", request.command], chdir=cwd)
        return await run_command(proc, seconds=request.timeout)

    async def usage(self, sandbox_id: str) -> Usage:
        """Running state, memory and process count."""
        running = await self._answers(sandbox_id)
        if self.cgroups is None:
            return Usage(running)
        pids = len(self.cgroups.pids(sandbox_id))
        return Usage(running, self.cgroups.memory_bytes(sandbox_id), pids)

    def host_pids(self, sandbox_id: str) -> list[int]:
        """Host pids of the sandbox's processes, from its cgroup."""
        return self.cgroups.pids(sandbox_id) if self.cgroups else []

    async def reap(self, keep: set[str]) -> list[str]:
        """Remove cgroups and directories of sandboxes not in `keep`."""
        names = set(self.cgroups.names() if self.cgroups else [])
        names |= {p.name for p in self.root.iterdir() if p.is_dir() and is_uuid(p.name)}
        gone = sorted(names - keep)
        for name in gone:
            await self.delete(name)
        return gone

    async def close(self) -> list[str]:
        """Stop every sandbox this process started; their ids."""
        stopped = list(self._agents)
        for sandbox_id in stopped:
            await self.stop(sandbox_id)
        await self.egress.close_all()
        return stopped
