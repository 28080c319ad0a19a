"""The `kubernetes` runtime against the API contract: a loopback fake API server
(`k8s_apiserver.py`) checks the bodies the official client sends, records requests, injects
refusals, and its fake kubelet runs the real agent so exec goes through the exec websocket.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kubernetes import client as k8s

from neo.sandbox.errors import IsolationUnavailable, QuotaExceeded
from neo.sandbox.lifecycle import build_runtime
from neo.sandbox.runtimes.base import ExecRequest, Limits, PtyRequest, SandboxSpec, StartFailed
from neo.sandbox.runtimes.kubernetes import FilesUnsupported, KubernetesRuntime
from neo.sandbox.runtimes.kubernetes_manifests import LABEL_ID, LABEL_ROOT, pod_name
from neo.sandbox.runtimes.output import collect
from neo.sandbox.runtimes.probe import probe
from neo.sandbox.settings import KubernetesSettings, SandboxSettings
from tests.sandbox.k8s_apiserver import (
    NAMESPACE,
    TOKEN,
    FakeCluster,
    fake_cluster,
    write_kubeconfig,
)

LIMITS = Limits(cpus=0.5, memory_mb=256, disk_mb=64, pids=128)
pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def cluster() -> Iterator[FakeCluster]:
    """The module's fake API server."""
    with fake_cluster() as fake:
        yield fake


def api_client(cluster: FakeCluster) -> k8s.ApiClient:
    """An official client of the fake server, with a bearer token."""
    configuration = k8s.Configuration(host=cluster.url)
    configuration.api_key = {"authorization": f"Bearer {TOKEN}"}
    return k8s.ApiClient(configuration)


@pytest_asyncio.fixture
async def runtime(cluster: FakeCluster) -> AsyncIterator[KubernetesRuntime]:
    """A runtime on a fresh root; every pod it left is deleted afterwards."""
    cluster.failures.clear()
    cluster.waiting = None
    settings = KubernetesSettings(python=sys.executable, start_timeout=20)
    root = Path(tempfile.mkdtemp(prefix="neo-k8s-root-"))
    rt = KubernetesRuntime(
        root, api=api_client(cluster), settings=settings, uid_base=1_500_000, tmp_mb=64
    )
    yield rt
    await rt.reap(set())
    await rt.close()
    assert cluster.invalid == []  # every body sent was valid for the API server


def spec(slot: int = 7) -> SandboxSpec:
    """A sandbox to start."""
    return SandboxSpec(str(uuid.uuid4()), slot, LIMITS, {"GREETING": "hi"})


async def test_pod_is_hardened_and_exec_goes_through_the_exec_api(
    cluster: FakeCluster, runtime: KubernetesRuntime
) -> None:
    sandbox = spec()
    await runtime.start(sandbox)
    body: dict[str, Any] = cluster.pods[pod_name(sandbox.id)].body
    pod_spec = body["spec"]
    container = pod_spec["containers"][0]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 1_500_007
    assert security["allowPrivilegeEscalation"] is False
    assert security["privileged"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["enableServiceLinks"] is False
    assert not pod_spec["hostNetwork"]
    assert not pod_spec["hostPID"]
    assert not pod_spec["hostIPC"]
    assert pod_spec["restartPolicy"] == "Never"
    limits = container["resources"]["limits"]
    assert limits == {"cpu": "500m", "memory": "256Mi", "ephemeral-storage": "129Mi"}
    assert container["resources"]["requests"] == limits
    volumes = {v["name"]: v["emptyDir"] for v in pod_spec["volumes"]}
    assert volumes["workspace"] == {"sizeLimit": "64Mi"}
    assert volumes["tmp"] == {"medium": "Memory", "sizeLimit": "64Mi"}
    assert body["metadata"]["labels"][LABEL_ROOT] == runtime.digest
    assert body["metadata"]["labels"][LABEL_ID] == sandbox.id
    assert {"name": "GREETING", "value": "hi"} in container["env"]
    (policy,) = cluster.policies.values()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["egress"] == []
    assert policy["spec"]["ingress"] == []
    assert policy["spec"]["podSelector"] == {"matchLabels": {LABEL_ROOT: runtime.digest}}

    result = await collect(
        runtime.exec(sandbox.id, ExecRequest("echo out $GREETING; echo err >&2; exit 3")), 1 << 16
    )
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out hi\n", "err\n")
    assert ("EXEC", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod_name(sandbox.id)}/exec") in (
        cluster.requests
    )
    started = await runtime.agent_request(sandbox.id, {"op": "start", "command": "sleep 5"})
    answer = await runtime.agent_request(sandbox.id, {"op": "list"})
    assert [c["id"] for c in answer["commands"]] == [started["id"]]
    assert (await runtime.usage(sandbox.id)).running

    await runtime.stop(sandbox.id)
    assert pod_name(sandbox.id) not in cluster.pods
    assert not (await runtime.usage(sandbox.id)).running


async def test_terminals_go_through_the_exec_bridge(runtime: KubernetesRuntime) -> None:
    sandbox = spec()
    await runtime.start(sandbox)
    terminal = await runtime.open_pty(sandbox.id, PtyRequest("read line; echo got-$line"))
    await terminal.write(b"typed\n")
    output = b""
    while isinstance(chunk := await terminal.read(), bytes):
        output += chunk
    assert chunk == 0
    assert b"got-typed" in output
    await terminal.close()


async def test_ports_and_long_streams_through_the_bridge(runtime: KubernetesRuntime) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    # the fake kubelet runs pods on this host, so "the pod's loopback" is this host's
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sandbox = spec()
    await runtime.start(sandbox)
    reader, writer = await runtime.connect_port(sandbox.id, port)
    writer.write(b"through the tunnel\n")
    assert await asyncio.wait_for(reader.readline(), 10) == b"through the tunnel\n"
    writer.close()
    server.close()
    # an exec stream keeps no copy of what it relays (tunnels and terminals last long)
    ws = await asyncio.to_thread(runtime._open_relay, pod_name(sandbox.id))
    try:
        with pytest.raises(TypeError):
            ws.read_all()
    finally:
        ws.close()
        ws.sock.shutdown()


async def test_start_reuses_an_existing_pod_and_reap_goes_by_label(
    cluster: FakeCluster, runtime: KubernetesRuntime
) -> None:
    kept, orphan = spec(1), spec(2)
    await runtime.start(kept)
    await runtime.start(orphan)
    await runtime.start(kept)  # 409 AlreadyExists: the running pod is reused
    stranger = runtime._pod(spec(3), "other-root-pod", ["/bin/true"])
    stranger["metadata"]["labels"][LABEL_ROOT] = "another-root"
    k8s.CoreV1Api(runtime.api).create_namespaced_pod(NAMESPACE, stranger)

    assert await runtime.reap({kept.id}) == [orphan.id]
    assert pod_name(kept.id) in cluster.pods
    assert pod_name(orphan.id) not in cluster.pods
    assert "other-root-pod" in cluster.pods  # another root's pod is never touched
    assert await runtime.close() == [kept.id]
    assert pod_name(kept.id) not in cluster.pods
    k8s.CoreV1Api(runtime.api).delete_namespaced_pod("other-root-pod", NAMESPACE)


@pytest.mark.parametrize(
    ("code", "reason", "message", "expected"),
    [
        (403, "Forbidden", 'pods "x" is forbidden: exceeded quota: q, requested: 1', QuotaExceeded),
        (403, "Forbidden", 'pods is forbidden: User "neo" cannot create', IsolationUnavailable),
        (404, "NotFound", 'namespaces "neo-sandboxes" not found', IsolationUnavailable),
        (422, "Invalid", "Pod is invalid", StartFailed),
    ],
)  # fmt: skip
async def test_refusals_become_clear_errors(
    cluster: FakeCluster,
    runtime: KubernetesRuntime,
    code: int,
    reason: str,
    message: str,
    expected: type[Exception],
) -> None:
    cluster.fail("POST", "/pods", code, reason, message)
    sandbox = spec()
    with pytest.raises(expected) as raised:
        await runtime.start(sandbox)
    assert message.split(":")[0] in str(raised.value)
    assert pod_name(sandbox.id) not in cluster.pods


async def test_quota_refusal_is_a_403_with_the_native_shape(
    cluster: FakeCluster, runtime: KubernetesRuntime
) -> None:
    cluster.fail("POST", "/pods", 403, "Forbidden", "forbidden: exceeded quota: q")
    with pytest.raises(QuotaExceeded) as raised:
        await runtime.start(spec())
    assert raised.value.status == 403
    assert raised.value.code == "sandbox_quota_exceeded"


async def test_an_image_that_cannot_be_pulled_fails_the_start(
    cluster: FakeCluster, runtime: KubernetesRuntime
) -> None:
    cluster.waiting = ("ImagePullBackOff", 'Back-off pulling image "nope"')
    sandbox = spec()
    with pytest.raises(StartFailed, match="ImagePullBackOff"):
        await runtime.start(sandbox)
    assert pod_name(sandbox.id) not in cluster.pods  # the failed pod is deleted


async def test_run_once_runs_a_fresh_pod_and_times_out(
    cluster: FakeCluster, runtime: KubernetesRuntime
) -> None:
    sandbox = spec()
    result = await runtime.run_once(sandbox, ExecRequest("echo once; exit 4"))
    assert (result.exit_code, result.stdout, result.timed_out) == (4, "once\n", False)
    slow = await runtime.run_once(sandbox, ExecRequest("sleep 30", timeout=0.5))
    assert slow.timed_out
    assert slow.exit_code == 137
    assert not [name for name in cluster.pods if "-once-" in name]


async def test_files_are_refused_with_a_409(runtime: KubernetesRuntime) -> None:
    with pytest.raises(FilesUnsupported) as raised:
        runtime.files_root(str(uuid.uuid4()))
    assert raised.value.status == 409
    assert raised.value.code == "files_unsupported"


def test_probe_and_build_the_runtime_from_a_kubeconfig(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    config = write_kubeconfig(cluster, tmp_path / "config")
    settings = SandboxSettings(runtime="kubernetes", kubernetes={"kubeconfig": config})
    report = probe(settings, tmp_path)
    assert report.ok, report.missing
    assert "v1.31.0-fake" in report.facts["kubernetes"]
    built = build_runtime(settings, report)
    assert isinstance(built, KubernetesRuntime)
    built.api.rest_client.pool_manager.clear()

    elsewhere = settings.model_copy(
        update={"kubernetes": settings.kubernetes.model_copy(update={"namespace": "missing"})}
    )
    cluster.fail("GET", "/namespaces/missing/pods", 403, "Forbidden", "cannot list pods")
    assert any(
        "cannot list pods in namespace missing" in m for m in probe(elsewhere, tmp_path).missing
    )
    dead = write_kubeconfig(cluster, tmp_path / "dead", "http://127.0.0.1:9")
    unreachable = SandboxSettings(runtime="kubernetes", kubernetes={"kubeconfig": dead})
    report = probe(unreachable, tmp_path)
    assert not report.ok
    assert build_runtime(unreachable, report) is None
    assert "does not answer" in report.missing[0]


def test_the_local_runtime_never_imports_the_kubernetes_client() -> None:
    code = "import sys, neo.app, neo.sandbox.lifecycle; print('kubernetes' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
