"""The `kubernetes` runtime, the scale-out path: one hardened Pod per sandbox, through the
official client (`kubernetes` on PyPI), in a configured namespace.

The pod (`kubernetes_manifests.pod`) runs the same in-sandbox agent as every runtime; the host
reaches it through the exec API (`kubernetes_bridge`). A NetworkPolicy per sandbox root denies
all ingress and egress of its pods. Pods are labelled with the root's digest and the sandbox
id, so a start-up reap deletes only this root's leftovers.

What differs from the host runtimes (docs/deviations.md): the workspace is an emptyDir inside
the pod, so `stop` (which deletes the pod: pods cannot be paused and resumed) loses it, and
the host-side file API answers `files_unsupported` (409); Kubernetes has no per-pod process
limit (the kubelet's `podPidsLimit` is node-wide); a cold one-shot's stderr comes back merged
into stdout (pod logs are one stream); usage reports no memory figure (no metrics API call).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from kubernetes.stream.ws_client import _IgnoredIO as IgnoredIO
from urllib3.exceptions import HTTPError

from neo.kit.ids import is_uuid
from neo.sandbox.errors import IsolationUnavailable, QuotaExceeded, SandboxError
from neo.sandbox.runtimes import agent_client, bwrap
from neo.sandbox.runtimes import kubernetes_manifests as manifests
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
from neo.sandbox.runtimes.kubernetes_bridge import ExecBridge
from neo.sandbox.runtimes.output import DEFAULT_MAX_BYTES
from neo.sandbox.settings import KubernetesSettings

T = TypeVar("T")
REQUEST_TIMEOUT = 30.0  # seconds for one API call (a hung API server must not hang NEO)
# Container waiting reasons that will not resolve by themselves: fail the start at once.
FATAL_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


class FilesUnsupported(SandboxError):
    """The workspace lives in the pod; the host-side file API cannot reach it."""

    status, code = 409, "files_unsupported"
    message = "The kubernetes runtime does not serve the file API; use exec"


def root_digest(root: Path) -> str:
    """The label value naming a sandbox root (reaping never touches another root's pods)."""
    return hashlib.sha256(str(root).encode()).hexdigest()[:12]


def refusal(exc: ApiException, what: str) -> Exception:
    """A clear NEO error for an API server refusal (`what`: the attempted action)."""
    reason = _message(exc)
    if exc.status == 403 and "exceeded quota" in reason:
        return QuotaExceeded(f"the cluster's resource quota refused {what}: {reason}")
    if exc.status in (401, 403):
        return IsolationUnavailable(f"kubernetes denied {what} (check RBAC): {reason}")
    if exc.status == 404:
        return IsolationUnavailable(f"kubernetes: {what}: not found ({reason})")
    return StartFailed(f"kubernetes refused {what}: {exc.status} {reason}")


def _message(exc: ApiException) -> str:
    """The `message` of a Status body, else the HTTP reason."""
    with contextlib.suppress(ValueError, TypeError):
        body = json.loads(exc.body or "")
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    return str(exc.reason or "")


class KubernetesRuntime:
    """Sandboxes as hardened pods."""

    name = "kubernetes"

    def __init__(
        self,
        root: Path,
        *,
        api: k8s.ApiClient,
        settings: KubernetesSettings,
        uid_base: int,
        tmp_mb: int,
    ) -> None:
        self.root = root
        self.api = api
        self.core = k8s.CoreV1Api(api)
        self.net = k8s.NetworkingV1Api(api)
        self.settings, self.namespace = settings, settings.namespace
        self._uid_base, self._tmp_mb = uid_base, tmp_mb
        self.digest = root_digest(root)
        self._agent = (Path(__file__).with_name("agent.py")).read_text("utf-8")
        self._bridges: dict[str, ExecBridge] = {}
        self._started: set[str] = set()
        self._policy_ready = False
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="neo-k8s")

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        try:
            return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        except HTTPError as exc:
            raise IsolationUnavailable(
                f"kubernetes API unreachable ({type(exc).__name__})"
            ) from None

    def files_root(self, sandbox_id: str) -> Path:
        """Refused: the workspace is inside the pod (see the module's docstring)."""
        raise FilesUnsupported()

    def owner_uid(self, spec: SandboxSpec) -> int:
        """The uid the pod runs as."""
        return self._uid_base + spec.slot

    def _socket(self, sandbox_id: str) -> Path:
        return self.root / sandbox_id / "agent.sock"

    def _pod(self, spec: SandboxSpec, name: str, command: list[str], **extra: Any) -> Any:
        return manifests.pod(
            name=name,
            namespace=self.namespace,
            pod_labels=manifests.labels(self.digest, spec.id) | extra.pop("labels", {}),
            image=self.settings.image,
            command=command,
            env=bwrap.sandbox_env(spec.env),
            uid=self.owner_uid(spec),
            limits=spec.limits,
            tmp_mb=self._tmp_mb,
            seccomp_profile=self.settings.seccomp_profile,
            runtime_class=self.settings.runtime_class,
            **extra,
        )

    async def create(self, spec: SandboxSpec) -> None:
        """The sandbox's host directory and the root's deny-all NetworkPolicy; idempotent."""
        home = self.root / spec.id
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)
        if self._policy_ready:
            return
        body = manifests.deny_all_policy(self.namespace, self.digest)
        try:
            await self._call(self.net.create_namespaced_network_policy, self.namespace, body)
        except ApiException as exc:
            if exc.status != 409:  # AlreadyExists: made by an earlier run
                raise refusal(exc, "creating the sandboxes' NetworkPolicy") from None
        self._policy_ready = True

    async def _read_pod(self, name: str) -> Any | None:
        try:
            return await self._call(self.core.read_namespaced_pod, name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise refusal(exc, f"reading pod {name}") from None

    async def _create_pod(self, body: dict[str, Any]) -> None:
        try:
            await self._call(self.core.create_namespaced_pod, self.namespace, body)
        except ApiException as exc:
            if exc.status != 409:  # AlreadyExists: reused (a start after a NEO restart)
                raise refusal(exc, "creating the sandbox's pod") from None

    async def start(self, spec: SandboxSpec) -> None:
        """Create the pod (unless it runs), wait for Running, then for the agent's answer."""
        await self.create(spec)
        name = manifests.pod_name(spec.id)
        command = [self.settings.python, "-I", "-S", "-c", self._agent, manifests.AGENT_SOCKET]
        await self._create_pod(self._pod(spec, name, command))
        self._started.add(spec.id)
        deadline = time.monotonic() + self.settings.start_timeout
        try:
            await self._wait_running(name, deadline)
            bridge = await self._bridge(spec.id)
            ready = await agent_client.wait_ready(
                bridge.path, peer_uid=None, seconds=max(deadline - time.monotonic(), 0.1)
            )
            if not ready:
                raise StartFailed(f"sandbox {spec.id}: the agent in its pod does not answer")
        except BaseException:
            with contextlib.suppress(Exception):  # the start's own error is the one to report
                await self.stop(spec.id)
            raise

    async def _wait_running(self, name: str, deadline: float) -> None:
        delay = 0.05
        while True:
            pod = await self._read_pod(name)
            if pod is None:
                raise StartFailed(f"pod {name} disappeared while starting")
            phase = pod.status.phase if pod.status else None
            if phase == "Running":
                return
            if phase in ("Succeeded", "Failed"):
                raise StartFailed(f"pod {name} ended ({phase}): {_why(pod)}")
            waiting = _waiting(pod)
            if waiting and waiting[0] in FATAL_WAITING:
                raise StartFailed(f"pod {name} cannot start: {waiting[0]}: {waiting[1]}")
            if time.monotonic() >= deadline:
                raise StartFailed(f"pod {name} not running after the start timeout ({phase})")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _bridge(self, sandbox_id: str) -> ExecBridge:
        bridge = self._bridges.get(sandbox_id)
        if bridge is None:
            name = manifests.pod_name(sandbox_id)
            (self.root / sandbox_id).mkdir(parents=True, exist_ok=True, mode=0o700)
            opener = functools.partial(self._open_relay, name)
            bridge = ExecBridge(self._socket(sandbox_id), opener, self._pool)
            await bridge.start()
            self._bridges[sandbox_id] = bridge
        return bridge

    def _open_relay(self, name: str) -> Any:
        """A binary exec stream running the relay in the pod (a client of its own: `stream`
        swaps its client's request method while it connects)."""
        api = k8s.ApiClient(self.api.configuration)
        command = [self.settings.python, "-I", "-S", "-c", manifests.RELAY]
        ws = stream(
            k8s.CoreV1Api(api).connect_get_namespaced_pod_exec,
            name,
            self.namespace,
            container="sandbox",
            command=[*command, manifests.AGENT_SOCKET],
            stdin=True,
            stdout=True,
            stderr=True,
            tty=False,
            binary=True,
            _preload_content=False,
        )
        # The client keeps a copy of all output for `read_all()` unless told not to, which
        # `stream()` cannot pass: a long terminal or tunnel would grow it without bound.
        ws._all = IgnoredIO()
        return ws

    async def stop(self, sandbox_id: str) -> None:
        """Delete the pod (Kubernetes cannot pause one): its workspace goes with it."""
        self._started.discard(sandbox_id)
        bridge = self._bridges.pop(sandbox_id, None)
        if bridge is not None:
            await bridge.close()
        await self._delete_pod(manifests.pod_name(sandbox_id))

    async def _delete_pod(self, name: str) -> None:
        try:
            await self._call(
                self.core.delete_namespaced_pod,
                name,
                self.namespace,
                grace_period_seconds=0,
                propagation_policy="Background",
            )
        except ApiException as exc:
            if exc.status != 404:
                raise refusal(exc, f"deleting pod {name}") from None

    async def delete(self, sandbox_id: str) -> None:
        """Delete the pod and the sandbox's host directory."""
        await self.stop(sandbox_id)
        await asyncio.to_thread(bwrap.remove_tree, self.root / sandbox_id)

    async def _socket_for(self, sandbox_id: str) -> Path:
        return (await self._bridge(sandbox_id)).path

    async def exec(self, sandbox_id: str, request: ExecRequest) -> AsyncIterator[ExecEvent]:
        """Run `request` through the pod's agent, yielding output as it comes."""
        path = await self._socket_for(sandbox_id)
        async for event in agent_client.exec_events(path, sandbox_id, request):
            yield event

    async def open_pty(self, sandbox_id: str, request: PtyRequest) -> Terminal:
        """An interactive terminal through the pod's agent."""
        path = await self._socket_for(sandbox_id)
        return await agent_client.open_terminal(path, sandbox_id, request)

    async def agent_request(self, sandbox_id: str, body: Mapping[str, object]) -> dict[str, Any]:
        """One request and its JSON answer from the pod's agent."""
        return await agent_client.call(await self._socket_for(sandbox_id), sandbox_id, body)

    async def connect_port(
        self, sandbox_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A byte stream to a port on the pod's loopback, through its agent."""
        path = await self._socket_for(sandbox_id)
        return await agent_client.open_tunnel(path, sandbox_id, port)

    async def run_once(self, spec: SandboxSpec, request: ExecRequest) -> ExecResult:
        """A cold one-shot: a fresh pod (same hardening) for one command; its log is the
        output (stdout and stderr merged)."""
        await self.create(spec)
        cwd = bwrap.WORKSPACE + "/" + request.cwd.lstrip("/")
        env = dict(spec.env) | dict(request.env)
        once = SandboxSpec(spec.id, spec.slot, spec.limits, env)
        name = f"{manifests.pod_name(spec.id)}-once-{uuid.uuid4().hex[:8]}"
        body = self._pod(
            once,
            name,
            ["/bin/sh", "-c", request.command],
            labels={manifests.LABEL_ONCE: "true"},
            workdir=cwd,
        )
        await self._create_pod(body)
        try:
            code, timed_out = await self._wait_done(name, time.monotonic() + request.timeout)
            out = await self._logs(name) if code is not None else ""
        finally:
            await self._delete_pod(name)
        output = out[:DEFAULT_MAX_BYTES]
        result = ExecResult(137 if code is None else code, output, "", timed_out)
        result.truncated = len(out) > DEFAULT_MAX_BYTES
        return result

    async def _wait_done(self, name: str, deadline: float) -> tuple[int | None, bool]:
        delay = 0.05
        while time.monotonic() < deadline:
            pod = await self._read_pod(name)
            if pod is None:
                _gone(name)
            waiting = _waiting(pod)
            if waiting and waiting[0] in FATAL_WAITING:
                raise StartFailed(f"pod {name} cannot start: {waiting[0]}: {waiting[1]}")
            terminated = _terminated(pod)
            if terminated is not None:
                return int(terminated.exit_code), False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        return None, True

    async def _logs(self, name: str) -> str:
        try:
            text: str = await self._call(
                self.core.read_namespaced_pod_log,
                name,
                self.namespace,
                container="sandbox",
                limit_bytes=DEFAULT_MAX_BYTES + 1,
            )
        except ApiException as exc:
            raise refusal(exc, f"reading the log of pod {name}") from None
        return text

    async def usage(self, sandbox_id: str) -> Usage:
        """Running when the pod's phase is Running (no metrics API call)."""
        pod = await self._read_pod(manifests.pod_name(sandbox_id))
        return Usage(bool(pod and pod.status and pod.status.phase == "Running"))

    def host_pids(self, sandbox_id: str) -> list[int]:
        """None: the sandbox's processes run on a cluster node, not on this host."""
        return []

    async def _list_ids(self, selector: str) -> set[str]:
        try:
            pods = await self._call(
                self.core.list_namespaced_pod, self.namespace, label_selector=selector
            )
        except ApiException as exc:
            raise refusal(exc, "listing the sandboxes' pods") from None
        return {(p.metadata.labels or {}).get(manifests.LABEL_ID, "") for p in pods.items} - {""}

    async def reap(self, keep: set[str]) -> list[str]:
        """Delete the pods and host directories of this root's sandboxes not in `keep`, and
        every leftover one-shot pod."""
        root = f"{manifests.LABEL_ROOT}={self.digest}"
        await self._delete_collection(f"{root},{manifests.LABEL_ONCE}=true")
        gone = await self._list_ids(f"{root},!{manifests.LABEL_ONCE}") - keep
        if self.root.is_dir():
            gone |= {p.name for p in self.root.iterdir() if p.is_dir() and is_uuid(p.name)}
            gone -= keep
        for sandbox_id in gone:
            await self.delete(sandbox_id)
        return sorted(gone)

    async def _delete_collection(self, selector: str) -> None:
        try:
            await self._call(
                self.core.delete_collection_namespaced_pod,
                self.namespace,
                label_selector=selector,
                grace_period_seconds=0,
            )
        except ApiException as exc:
            raise refusal(exc, "deleting leftover pods") from None

    async def close(self) -> list[str]:
        """Delete every running pod of this root (also those a crashed NEO left); their ids."""
        ids = await self._list_ids(f"{manifests.LABEL_ROOT}={self.digest},!{manifests.LABEL_ONCE}")
        stopped = sorted(self._started | ids)
        for sandbox_id in stopped:
            await self.stop(sandbox_id)
        for bridge in list(self._bridges.values()):
            await bridge.close()
        self._bridges.clear()
        self.api.rest_client.pool_manager.clear()  # pooled connections (reopened if used again)
        return stopped


def _container_state(pod: Any) -> Any | None:
    statuses = (pod.status.container_statuses if pod.status else None) or []
    return statuses[0].state if statuses else None


def _waiting(pod: Any) -> tuple[str, str] | None:
    state = _container_state(pod)
    if state is None or state.waiting is None:
        return None
    return str(state.waiting.reason or ""), str(state.waiting.message or "")[:300]


def _terminated(pod: Any) -> Any | None:
    state = _container_state(pod)
    return state.terminated if state is not None else None


def _why(pod: Any) -> str:
    terminated = _terminated(pod)
    if terminated is not None:
        return f"exit {terminated.exit_code}: {(terminated.message or '')[:300]}"
    return str((pod.status.message if pod.status else None) or "no reason given")


def _gone(name: str) -> NoReturn:
    raise StartFailed(f"pod {name} disappeared while running")
