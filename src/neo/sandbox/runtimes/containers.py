"""The `docker` runtime: one hardened container per sandbox, through the Docker SDK.

Each container runs the in-sandbox agent bound read-only: the native one when it is statically
linked (`agent_c/`, no interpreter needed), else `agent.py` under the image's python3, as the
sandbox's own host uid (`uid_base + slot`), with no capabilities, no-new-privileges, NEO's
seccomp filter (`seccomp.docker_profile`; Docker's default profile when `seccomp` is off), a
read-only root, a tmpfs /tmp, no network (`none`: only its own loopback), memory (swap equal),
CPU and process limits, an init process and a bounded log. The workspace is a tmpfs of the
sandbox's disk size mounted on the host (`<root>/<id>/workspace`, the same layout as the local
runtime, so the host-side file API works unchanged) and bound in; the agent's socket lives in a
tiny per-sandbox tmpfs bound at /run/neo, and every connection checks the listener's uid.
Containers are labelled with the sandbox root's digest so a start-up reap removes only this
root's leftovers; a stopped sandbox keeps its container, and starting it again reuses it. A
sandbox with an egress allow-list gets the filtering proxy (`egress_proxy.py`) on its loopback,
made by NEO inside the container's namespace (so the daemon must run on this host), and the
filter allowing IP sockets; its network stays `none`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import posixpath
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container
from docker.types import LogConfig, Mount

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
from neo.sandbox.runtimes.egress_proxy import EgressProxy, proxy_env
from neo.sandbox.runtimes.output import DEFAULT_MAX_BYTES

AGENT_SOURCE = Path(__file__).with_name("agent.py")
AGENT_PATH = "/opt/neo/agent.py"
NATIVE_AGENT_PATH = "/opt/neo/agent"
RUN_DIR = "/run/neo"
LABEL_ROOT, LABEL_ID = "neo.sandbox.root", "neo.sandbox.id"
T = TypeVar("T")


def root_digest(root: Path) -> str:
    """The label value naming a sandbox root (reaping never touches another root's)."""
    return hashlib.sha256(str(root).encode()).hexdigest()[:12]


class DockerRuntime:
    """Sandboxes as hardened Docker containers."""

    name = "docker"

    def __init__(
        self,
        root: Path,
        *,
        client: docker.DockerClient,
        image: str,
        python: str,
        uid_base: int,
        tmp_mb: int,
        start_timeout: float,
        seccomp_profile: str | None,
        agent: NativeAgent | None = None,
    ) -> None:
        self.root = root
        self.agent = agent if agent is not None and agent.static else None  # None: agent.py
        self.base = bwrap.prepare_base(root, AGENT_SOURCE)
        self.client, self.image, self._python = client, image, python
        self._uid_base, self._tmp_mb = uid_base, tmp_mb
        self._start_timeout = start_timeout
        # NEO's filter (the local runtime's rules) instead of Docker's default profile
        self._seccomp = [f"seccomp={seccomp_profile}"] if seccomp_profile else []
        self.digest = root_digest(root)
        self._started: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="neo-docker")
        self.egress = EgressProxy()

    def files_root(self, sandbox_id: str) -> Path:
        """The host directory of the sandbox's workspace (bound at /workspace)."""
        return self.root / sandbox_id / "workspace"

    def owner_uid(self, spec: SandboxSpec) -> int:
        """The host uid the container runs as."""
        return self._uid_base + spec.slot

    def container_name(self, sandbox_id: str) -> str:
        """The container of a sandbox."""
        return f"neo-sandbox-{sandbox_id}"

    def _run_dir(self, sandbox_id: str) -> Path:
        return self.root / sandbox_id / "run"

    def _socket(self, sandbox_id: str) -> Path:
        return self._run_dir(sandbox_id) / "agent.sock"

    def _peer_uid(self, sandbox_id: str) -> int:
        """The uid the agent must run as: the owner of the sandbox's run directory (the
        sandbox can change its mode but not its owner)."""
        try:
            uid = os.stat(self._run_dir(sandbox_id)).st_uid
        except OSError:
            return -1
        return uid if uid >= self._uid_base else -1

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A blocking SDK call on the runtime's own threads (waits may last a command's
        timeout; they must not starve the default executor)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def _config(self, spec: SandboxSpec, command: list[str], workdir: str) -> dict[str, Any]:
        """The container's configuration: the hardening every sandbox container gets."""
        uid, limits = self.owner_uid(spec), spec.limits
        env, security = dict(spec.env), self._seccomp
        if spec.network.mode == "allow":
            env = proxy_env() | env
            if security:
                security = [f"seccomp={seccomp.docker_profile(loopback_ports=True)}"]
        mounts = [
            Mount(bwrap.WORKSPACE, str(self.files_root(spec.id)), type="bind"),
            Mount(RUN_DIR, str(self._run_dir(spec.id)), type="bind"),
            Mount(AGENT_PATH, str(self.base / "agent.py"), type="bind", read_only=True),
        ]
        if self.agent is not None:
            mounts.append(
                Mount(NATIVE_AGENT_PATH, str(self.agent.path), type="bind", read_only=True)
            )
        return {
            "image": self.image,
            "command": command,
            "hostname": "sandbox",
            "user": f"{uid}:{uid}",
            "working_dir": workdir,
            "environment": bwrap.sandbox_env(env),
            "labels": {LABEL_ROOT: self.digest, LABEL_ID: spec.id},
            "network_mode": "none",
            "ipc_mode": "private",
            "security_opt": ["no-new-privileges", *security],
            "cap_drop": ["ALL"],
            "read_only": True,
            "tmpfs": {bwrap.TMP: f"rw,nosuid,nodev,size={self._tmp_mb}m,mode=1777"},
            "mem_limit": limits.memory_mb << 20,
            "memswap_limit": limits.memory_mb << 20,
            "nano_cpus": int(limits.cpus * 1e9),
            "pids_limit": limits.pids,
            "init": True,
            "mounts": mounts,
            "log_config": LogConfig(type="json-file", config={"max-size": "1m", "max-file": "1"}),
        }

    async def create(self, spec: SandboxSpec) -> None:
        """Workspace and run tmpfs, and the container (reused when it exists); idempotent."""
        home = self.root / spec.id
        home.mkdir(exist_ok=True)
        home.chmod(0o711)
        uid = self.owner_uid(spec)
        bwrap.mount_workspace(self.files_root(spec.id), size_mb=spec.limits.disk_mb, uid=uid)
        bwrap.mount_workspace(self._run_dir(spec.id), size_mb=1, uid=uid)
        if await self._container(spec.id) is not None:
            return
        command = [self._python, "-I", "-S", AGENT_PATH, f"{RUN_DIR}/agent.sock"]
        if self.agent is not None:
            command = [NATIVE_AGENT_PATH, f"{RUN_DIR}/agent.sock"]
        config = self._config(spec, command, bwrap.WORKSPACE)
        try:
            await self._call(
                self.client.containers.create, name=self.container_name(spec.id), **config
            )
        except docker.errors.ImageNotFound:
            raise StartFailed(f"image {self.image} not found on the Docker daemon") from None
        except docker.errors.APIError as exc:
            raise StartFailed(f"docker refused the container: {exc.explanation}") from None

    async def _container(self, sandbox_id: str) -> Container | None:
        try:
            return await self._call(self.client.containers.get, self.container_name(sandbox_id))
        except docker.errors.NotFound:
            return None

    async def start(self, spec: SandboxSpec) -> None:
        """Start the container; ready when its agent answers."""
        uid = self.owner_uid(spec)
        if await agent_client.answers(self._socket(spec.id), peer_uid=uid):
            if spec.network.mode == "allow" and not self.egress.serving(spec.id):
                await self._open_egress(spec)
            return
        await self.create(spec)
        name = self.container_name(spec.id)
        try:
            await self._call(self.client.api.start, name)
        except docker.errors.APIError as exc:
            raise StartFailed(f"sandbox {spec.id} did not start: {exc.explanation}") from None
        self._started.add(spec.id)
        path = self._socket(spec.id)
        if not await agent_client.wait_ready(path, peer_uid=uid, seconds=self._start_timeout):
            reason = await self._logs_tail(name)
            await self.stop(spec.id)
            raise StartFailed(f"sandbox {spec.id} did not start: {reason or 'no answer'}")
        if spec.network.mode == "allow":
            await self._open_egress(spec)

    async def _open_egress(self, spec: SandboxSpec) -> None:
        """The proxy in the container's network namespace, found through its init's pid
        (checked against the daemon's own handle of that namespace)."""
        try:
            info = await self._call(self.client.api.inspect_container, self.container_name(spec.id))
            pid = int(info["State"]["Pid"])
            key = info.get("NetworkSettings", {}).get("SandboxKey") or ""
            if not key or os.stat(key).st_ino != os.stat(f"/proc/{pid}/ns/net").st_ino:
                raise OSError("the Docker daemon does not run on this host")
            await self.egress.open(spec.id, [pid], spec.network.allow)
        except (OSError, ValueError, KeyError, docker.errors.APIError) as exc:
            await self.stop(spec.id)
            raise StartFailed(f"sandbox {spec.id}: egress proxy: {exc}") from None

    async def _logs_tail(self, name: str) -> str:
        with contextlib.suppress(docker.errors.APIError):
            raw: bytes = await self._call(self.client.api.logs, name, tail=20)
            return raw.decode(errors="replace").strip()[-500:]
        return ""

    async def stop(self, sandbox_id: str) -> None:
        """Kill the container's processes (it stays, with its workspace, for a restart)."""
        self._started.discard(sandbox_id)
        await self.egress.close(sandbox_id)
        with contextlib.suppress(docker.errors.NotFound):
            await self._call(self.client.api.stop, self.container_name(sandbox_id), timeout=0)
        self._socket(sandbox_id).unlink(missing_ok=True)

    async def delete(self, sandbox_id: str) -> None:
        """Remove the container (killing it), the tmpfs mounts and the sandbox's directory."""
        self._started.discard(sandbox_id)
        await self.egress.close(sandbox_id)
        with contextlib.suppress(docker.errors.NotFound):
            await self._call(
                self.client.api.remove_container, self.container_name(sandbox_id), force=True
            )
        home = self.root / sandbox_id
        await asyncio.to_thread(bwrap.unmount_workspace, home / "run")
        await asyncio.to_thread(bwrap.remove_tree, home)

    def exec(self, sandbox_id: str, request: ExecRequest) -> AsyncIterator[ExecEvent]:
        """Run `request` through the container's agent, yielding output as it comes."""
        path, uid = self._socket(sandbox_id), self._peer_uid(sandbox_id)
        return agent_client.exec_events(path, sandbox_id, request, peer_uid=uid)

    async def open_pty(self, sandbox_id: str, request: PtyRequest) -> Terminal:
        """An interactive terminal through the sandbox's agent."""
        path = self._socket(sandbox_id)
        return await agent_client.open_terminal(
            path, sandbox_id, request, peer_uid=self._peer_uid(sandbox_id)
        )

    async def agent_request(self, sandbox_id: str, body: Mapping[str, object]) -> dict[str, Any]:
        """One request and its JSON answer from the sandbox's agent."""
        return await agent_client.call(
            self._socket(sandbox_id), sandbox_id, body, peer_uid=self._peer_uid(sandbox_id)
        )

    async def connect_port(
        self, sandbox_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A byte stream to a port on the sandbox's loopback, through its agent."""
        return await agent_client.open_tunnel(
            self._socket(sandbox_id), sandbox_id, port, peer_uid=self._peer_uid(sandbox_id)
        )

    async def run_once(self, spec: SandboxSpec, request: ExecRequest) -> ExecResult:
        """A cold one-shot: a fresh container (same hardening) for one command."""
        await self.create(spec)
        cwd = posixpath.normpath(posixpath.join(bwrap.WORKSPACE, request.cwd))
        env_spec = SandboxSpec(spec.id, spec.slot, spec.limits, dict(spec.env) | dict(request.env))
        config = self._config(env_spec, ["/bin/sh", "-c", request.command], cwd)
        name = f"{self.container_name(spec.id)}-once-{uuid.uuid4().hex[:8]}"
        container = await self._call(self.client.containers.create, name=name, **config)
        try:
            await self._call(container.start)
            timed_out = False
            try:
                status = await self._call(container.wait, timeout=request.timeout)
                code = int(status.get("StatusCode", -1))
            except requests.exceptions.RequestException:  # the wait timed out
                timed_out, code = True, 137
                with contextlib.suppress(docker.errors.APIError):
                    await self._call(container.kill)
            out = await self._output(container, stdout=True)
            err = await self._output(container, stdout=False)
        finally:
            await self._call(container.remove, force=True)
        truncated = len(out) > DEFAULT_MAX_BYTES or len(err) > DEFAULT_MAX_BYTES
        result = ExecResult(code, out[:DEFAULT_MAX_BYTES], err[:DEFAULT_MAX_BYTES], timed_out)
        result.truncated = truncated
        return result

    async def _output(self, container: Container, *, stdout: bool) -> str:
        raw: bytes = await self._call(container.logs, stdout=stdout, stderr=not stdout)
        return raw.decode(errors="replace")

    async def usage(self, sandbox_id: str) -> Usage:
        """Running state (the agent answers), memory and process count from Docker's stats."""
        path = self._socket(sandbox_id)
        ping = agent_client.answers(path, peer_uid=self._peer_uid(sandbox_id))
        running, stats = await asyncio.gather(ping, self._stats(sandbox_id))
        memory = stats.get("memory_stats", {}).get("usage")
        pids = stats.get("pids_stats", {}).get("current")
        return Usage(running, memory, pids)

    async def _stats(self, sandbox_id: str) -> dict[str, Any]:
        name = self.container_name(sandbox_id)
        try:
            stats: dict[str, Any] = await self._call(
                self.client.api.stats, name, stream=False, one_shot=True
            )
        except docker.errors.APIError:
            return {}
        return stats

    def host_pids(self, sandbox_id: str) -> list[int]:
        """Host pids of the sandbox's processes (empty when it is not running)."""
        try:
            top = self.client.api.top(self.container_name(sandbox_id), ps_args="-o pid")
        except docker.errors.APIError:
            return []
        return [int(row[0]) for row in top.get("Processes") or []]

    async def reap(self, keep: set[str]) -> list[str]:
        """Remove containers and directories of this root's sandboxes not in `keep`."""
        listed = await self._call(
            self.client.containers.list, all=True, filters={"label": f"{LABEL_ROOT}={self.digest}"}
        )
        gone: set[str] = set()
        for container in listed:
            sandbox_id = container.labels.get(LABEL_ID, "")
            if sandbox_id not in keep:
                with contextlib.suppress(docker.errors.NotFound):
                    await self._call(container.remove, force=True)
                gone.add(sandbox_id)
        gone |= {p.name for p in self.root.iterdir() if p.is_dir() and is_uuid(p.name)} - keep
        for sandbox_id in gone:
            await self.delete(sandbox_id)
        return sorted(gone)

    async def close(self) -> list[str]:
        """Stop every running sandbox of this root (also those a crashed NEO left running,
        which the start-up recovery kept); their ids."""
        running = await self._call(
            self.client.containers.list,
            filters={"label": f"{LABEL_ROOT}={self.digest}", "status": "running"},
        )
        ids = {c.labels.get(LABEL_ID, "") for c in running} - {""}
        stopped = sorted(self._started | ids)
        for sandbox_id in stopped:
            await self.stop(sandbox_id)
        await self.egress.close_all()
        await self._call(self.client.close)  # its pooled connections (reopened if used again)
        return stopped
