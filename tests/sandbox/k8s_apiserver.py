"""A loopback stand-in for the few Kubernetes API endpoints the `kubernetes` runtime uses, to
test it against the API contract (no cluster is reachable here): pods (create, read, list and
delete-collection by label selector, delete, log, exec over `v4.channel.k8s.io` websockets),
NetworkPolicies (create) and /version.

Bodies are checked against the schema facts the real API server enforces (apiVersion and kind,
DNS-1123 names, required container fields, namespace match) and answered with `Status` objects
(`AlreadyExists`, `NotFound`, `Forbidden`, `Invalid`) in the real shape. A fake kubelet runs a
pod's command on this host (its agent socket path mapped to a temp dir), so exec streams reach a
real agent. `fail` injects a refusal for the next matching request (quota, RBAC...).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from neo.kit.net import free_port

TOKEN = "k8s-test-token"
NAMESPACE = "neo-sandboxes"
AGENT_SOCKET = "/run/neo/agent.sock"
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def status(code: int, reason: str, message: str) -> JSONResponse:
    """A `Status` answer, the shape every API server error has."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    body |= {"message": message, "reason": reason, "code": code}
    return JSONResponse(body, status_code=code)


def matches(labels: dict[str, str], selector: str) -> bool:
    """Equality (`k=v`) and absence (`!k`) terms of a label selector, all of them."""
    for term in filter(None, selector.split(",")):
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        else:
            key, _, value = term.partition("=")
            if labels.get(key) != value:
                return False
    return True


@dataclass
class FakePod:
    """A pod and what the fake kubelet runs for it."""

    body: dict[str, Any]
    home: Path
    reads: int = 0
    process: asyncio.subprocess.Process | None = None
    exit_code: int | None = None
    log: bytes = b""
    waiting: tuple[str, str] | None = None  # a container waiting reason to report
    watch: asyncio.Task[None] | None = None


@dataclass
class FakeCluster:
    """The API server's state and its record of requests."""

    base: Path
    python: str = "/usr/bin/python3"
    pods: dict[str, FakePod] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, str, int, str, str]] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)  # schema violations seen (must stay [])
    pending_reads: int = 1  # reads answering Pending before a pod runs
    waiting: tuple[str, str] | None = None  # reported by every new pod instead of running
    url: str = ""
    loop: asyncio.AbstractEventLoop | None = None

    def fail(self, method: str, path_part: str, code: int, reason: str, message: str) -> None:
        """Refuse the next `method` request whose path contains `path_part`."""
        self.failures.append((method, path_part, code, reason, message))

    def injected(self, method: str, path: str) -> JSONResponse | None:
        for failure in self.failures:
            if failure[0] == method and failure[1] in path:
                self.failures.remove(failure)
                return status(*failure[2:])
        return None

    def socket_of(self, name: str) -> Path:
        return self.pods[name].home / "agent.sock"


def _check_pod(body: dict[str, Any], namespace: str) -> str | None:
    """Why the API server would answer 422 Invalid, None when the body is a valid Pod."""
    if body.get("apiVersion") != "v1" or body.get("kind") != "Pod":
        return "apiVersion/kind must be v1/Pod"
    meta = body.get("metadata") or {}
    name = meta.get("name", "")
    if not DNS_1123.match(name) or len(name) > 63:
        return f"metadata.name: Invalid value: {name!r}"
    if meta.get("namespace", namespace) != namespace:
        return "metadata.namespace does not match the request"
    for key, value in (meta.get("labels") or {}).items():
        if len(value) > 63 or not re.match(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]?$", value):
            return f"metadata.labels: Invalid value: {key}={value!r}"
    containers = (body.get("spec") or {}).get("containers") or []
    if not containers:
        return "spec.containers: Required value"
    volumes = {v["name"] for v in body["spec"].get("volumes") or []}
    for container in containers:
        if not container.get("name") or not container.get("image"):
            return "spec.containers[0].name/image: Required value"
        for mount in container.get("volumeMounts") or []:
            if mount["name"] not in volumes:
                return f"volumeMounts.name: Not found: {mount['name']!r}"
    return None


def _pod_answer(pod: FakePod, *, read: bool) -> dict[str, Any]:
    """The pod with a status as the kubelet reports it."""
    if read:
        pod.reads += 1
    state: dict[str, Any] = {"waiting": {"reason": "ContainerCreating"}}
    phase = "Pending"
    if pod.waiting:
        state = {"waiting": {"reason": pod.waiting[0], "message": pod.waiting[1]}}
    elif pod.exit_code is not None:
        phase = "Succeeded" if pod.exit_code == 0 else "Failed"
        state = {"terminated": {"exitCode": pod.exit_code, "reason": "Completed"}}
    elif pod.process is not None and pod.reads > 1:
        phase = "Running"
        state = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    container = {"name": "sandbox", "image": pod.body["spec"]["containers"][0]["image"]}
    container |= {"imageID": "", "ready": phase == "Running", "restartCount": 0, "state": state}
    return pod.body | {"status": {"phase": phase, "containerStatuses": [container]}}


def build_app(cluster: FakeCluster) -> FastAPI:
    """The fake API server."""
    app = FastAPI()

    @app.middleware("http")
    async def remember_loop(request: Request, call_next: Any) -> Response:
        cluster.loop = asyncio.get_running_loop()
        answer: Response = await call_next(request)
        return answer

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Response:
        cluster.requests.append((request.method, request.url.path))
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return status(401, "Unauthorized", "Unauthorized")
        refusal = cluster.injected(request.method, request.url.path)
        if refusal is not None:
            return refusal
        answer: Response = await call_next(request)
        return answer

    @app.get("/version")
    async def version() -> dict[str, str]:
        info = {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake", "gitCommit": "0"}
        info |= {"gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z"}
        return info | {"goVersion": "go1.22", "compiler": "gc", "platform": "linux/amd64"}

    @app.post("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies")
    async def create_policy(ns: str, request: Request) -> Response:
        body = await request.json()
        if ns != NAMESPACE:
            return status(404, "NotFound", f'namespaces "{ns}" not found')
        ok = body.get("apiVersion") == "networking.k8s.io/v1"
        ok = ok and body.get("kind") == "NetworkPolicy"
        if not ok or "podSelector" not in (body.get("spec") or {}):
            cluster.invalid.append("NetworkPolicy body")
            return status(422, "Invalid", "NetworkPolicy.networking.k8s.io is invalid")
        name = body["metadata"]["name"]
        if name in cluster.policies:
            return status(409, "AlreadyExists", f'networkpolicies "{name}" already exists')
        cluster.policies[name] = body
        return JSONResponse(body, status_code=201)

    @app.post("/api/v1/namespaces/{ns}/pods")
    async def create_pod(ns: str, request: Request) -> Response:
        body = await request.json()
        if ns != NAMESPACE:
            return status(404, "NotFound", f'namespaces "{ns}" not found')
        problem = _check_pod(body, ns)
        if problem:
            cluster.invalid.append(problem)
            return status(422, "Invalid", f"Pod is invalid: {problem}")
        name = body["metadata"]["name"]
        if name in cluster.pods:
            return status(409, "AlreadyExists", f'pods "{name}" already exists')
        home = Path(tempfile.mkdtemp(prefix="pod-", dir=cluster.base))
        (home / "workspace").mkdir()
        pod = FakePod(body, home, waiting=cluster.waiting)
        pod.reads = 1 - cluster.pending_reads
        cluster.pods[name] = pod
        if pod.waiting is None:
            await _kubelet_start(cluster, pod)
        return JSONResponse(_pod_answer(pod, read=False), status_code=201)

    @app.get("/api/v1/namespaces/{ns}/pods/{name}")
    async def read_pod(ns: str, name: str) -> Response:
        pod = cluster.pods.get(name)
        if ns != NAMESPACE or pod is None:
            return status(404, "NotFound", f'pods "{name}" not found')
        return JSONResponse(_pod_answer(pod, read=True))

    @app.get("/api/v1/namespaces/{ns}/pods/{name}/log")
    async def pod_log(ns: str, name: str) -> Response:
        pod = cluster.pods.get(name)
        if pod is None:
            return status(404, "NotFound", f'pods "{name}" not found')
        return PlainTextResponse(pod.log.decode(errors="replace"))

    @app.get("/api/v1/namespaces/{ns}/pods")
    async def list_pods(ns: str, labelSelector: str = "") -> Response:
        items = [
            _pod_answer(p, read=False)
            for p in cluster.pods.values()
            if matches(p.body["metadata"].get("labels") or {}, labelSelector)
        ]
        return JSONResponse({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items})

    @app.delete("/api/v1/namespaces/{ns}/pods")
    async def delete_pods(ns: str, labelSelector: str = "") -> Response:
        names = [
            name
            for name, pod in cluster.pods.items()
            if matches(pod.body["metadata"].get("labels") or {}, labelSelector)
        ]
        items = [_pod_answer(cluster.pods[name], read=False) for name in names]
        for name in names:
            await _kubelet_kill(cluster.pods.pop(name))
        return JSONResponse({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items})

    @app.delete("/api/v1/namespaces/{ns}/pods/{name}")
    async def delete_pod(ns: str, name: str) -> Response:
        pod = cluster.pods.pop(name, None)
        if pod is None:
            return status(404, "NotFound", f'pods "{name}" not found')
        await _kubelet_kill(pod)
        return JSONResponse(_pod_answer(pod, read=False))

    @app.websocket("/api/v1/namespaces/{ns}/pods/{name}/exec")
    async def exec_pod(ws: WebSocket, ns: str, name: str) -> None:
        cluster.requests.append(("EXEC", ws.url.path))
        pod = cluster.pods.get(name)
        authorized = ws.headers.get("authorization") == f"Bearer {TOKEN}"
        if not authorized or pod is None or pod.process is None or pod.exit_code is not None:
            await ws.close(code=1008)
            return
        await ws.accept(subprotocol="v4.channel.k8s.io")
        command = [str(pod.home / "agent.sock") if a == AGENT_SOCKET else a for a in _argv(ws)]
        await _relay(ws, pod, command)

    return app


def _argv(ws: WebSocket) -> list[str]:
    return ws.query_params.getlist("command")


async def _relay(ws: WebSocket, pod: FakePod, command: list[str]) -> None:
    """Run an exec command on this host and stream it over the channel protocol."""
    proc = await asyncio.create_subprocess_exec(
        *command,
        cwd=pod.home / "workspace",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin
    assert proc.stdout
    assert proc.stderr

    async def up() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes") or (message.get("text") or "").encode()
            if data[:1] == b"\x00" and proc.stdin is not None:
                proc.stdin.write(data[1:])
                await proc.stdin.drain()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()

    async def down(stream: asyncio.StreamReader, channel: int) -> None:
        while chunk := await stream.read(65536):
            await ws.send_bytes(bytes([channel]) + chunk)

    upward = asyncio.create_task(up())
    with contextlib.suppress(Exception):
        await asyncio.gather(down(proc.stdout, 1), down(proc.stderr, 2))
        code = await proc.wait()
        result = {"metadata": {}, "status": "Success" if code == 0 else "Failure"}
        await ws.send_bytes(b"\x03" + json.dumps(result).encode())
        await ws.close()
    upward.cancel()
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()


async def _kubelet_start(cluster: FakeCluster, pod: FakePod) -> None:
    """Run the pod's command here: the agent (socket mapped into the pod's temp dir) or a
    one-shot command whose output becomes the pod's log."""
    container = pod.body["spec"]["containers"][0]
    argv = [str(pod.home / "agent.sock") if a == AGENT_SOCKET else a for a in container["command"]]
    env = {e["name"]: e["value"] for e in container.get("env") or []}
    pod.process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=pod.home / "workspace",
        start_new_session=True,  # killed as a group, like a pod's containers
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    pod.watch = asyncio.get_running_loop().create_task(_kubelet_watch(pod))


async def _kubelet_watch(pod: FakePod) -> None:
    assert pod.process is not None
    assert pod.process.stdout is not None
    pod.log = await pod.process.stdout.read()
    pod.exit_code = await pod.process.wait()


async def _kubelet_kill(pod: FakePod) -> None:
    if pod.process is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pod.process.pid, signal.SIGKILL)
        await pod.process.wait()
    if pod.watch is not None:
        await pod.watch
    shutil.rmtree(pod.home, ignore_errors=True)


def write_kubeconfig(cluster: FakeCluster, path: Path, url: str | None = None) -> Path:
    """A kubeconfig file for the fake server (or `url`), with its bearer token."""
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
        f"clusters:\n- name: fake\n  cluster:\n    server: {url or cluster.url}\n"
        f"users:\n- name: neo\n  user:\n    token: {TOKEN}\n"
        "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: neo\n"
    )
    return path


async def _kill_all(pods: list[FakePod]) -> None:
    for pod in pods:
        await _kubelet_kill(pod)


@contextlib.contextmanager
def fake_cluster() -> Iterator[FakeCluster]:
    """The fake API server on a free loopback port, in a thread of its own."""
    base = Path(tempfile.mkdtemp(prefix="neo-k8s-"))
    cluster = FakeCluster(base)
    port = free_port()
    config = uvicorn.Config(build_app(cluster), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    cluster.url = f"http://127.0.0.1:{port}"
    try:
        yield cluster
    finally:
        if cluster.loop is not None:
            left = list(cluster.pods.values())
            cluster.pods.clear()
            done = asyncio.run_coroutine_threadsafe(_kill_all(left), cluster.loop)
            done.result(10)
        server.should_exit = True
        thread.join(10)
        shutil.rmtree(base, ignore_errors=True)
