"""`/sandbox/v1` through the real app on the `kubernetes` runtime, against the fake API server
(`k8s_apiserver.py`): create, exec, background commands, the file API's clear refusal, quota
refusals from the cluster, stop and delete.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from neo.sandbox.runtimes.kubernetes import KubernetesRuntime
from neo.sandbox.runtimes.kubernetes_manifests import pod_name
from neo.settings import Settings
from tests.sandbox.k8s_apiserver import FakeCluster, fake_cluster, write_kubeconfig
from tests.sandbox.test_api import SERVICE, create

API = "/sandbox/v1"
pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def cluster() -> Iterator[FakeCluster]:
    """The module's fake API server."""
    with fake_cluster() as fake:
        yield fake


@pytest.fixture(scope="module")
def sandbox_app_settings(
    make_settings: Callable[..., Settings], sandbox_root: Path, cluster: FakeCluster
) -> Settings:
    """App settings with the kubernetes runtime on the fake cluster."""
    config = write_kubeconfig(cluster, sandbox_root / "kubeconfig")
    sandbox = {
        "runtime": "kubernetes",
        "root": str(sandbox_root),
        "kubernetes": {"kubeconfig": str(config), "python": sys.executable},
        "defaults": {"cpus": 1.0, "memory_mb": 128, "disk_mb": 8, "pids": 64},
    }
    return make_settings(sandbox=sandbox)


async def test_create_exec_files_refused_stop_delete(
    app: FastAPI, client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    assert isinstance(app.state.sandbox.runtime, KubernetesRuntime)
    box = await create(client, SERVICE, name="pod", env={"GREETING": "hi"})
    assert box["state"] == "started"
    url = f"{API}/sandboxes/{box['id']}"
    assert pod_name(box["id"]) in cluster.pods

    ran = await client.post(
        f"{url}/exec", json={"command": "echo $GREETING; echo err >&2; exit 3"}, headers=SERVICE
    )
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert (body["exit_code"], body["stdout"], body["stderr"]) == (3, "hi\n", "err\n")

    files = await client.get(f"{url}/files", params={"path": "."}, headers=SERVICE)
    assert files.status_code == 409
    assert files.json()["code"] == "files_unsupported"

    stopped = await client.post(f"{url}/stop", headers=SERVICE)
    assert stopped.status_code == 200, stopped.text
    assert pod_name(box["id"]) not in cluster.pods
    deleted = await client.delete(url, headers=SERVICE)
    assert deleted.status_code in (200, 204), deleted.text
    assert (await client.get(url, headers=SERVICE)).status_code == 404


async def test_a_cluster_quota_refusal_is_a_403(
    client: httpx.AsyncClient, cluster: FakeCluster
) -> None:
    message = 'pods "x" is forbidden: exceeded quota: compute, requested: limits.memory=128Mi'
    cluster.fail("POST", "/pods", 403, "Forbidden", message)
    refused = await client.post(f"{API}/sandboxes", json={"name": "over"}, headers=SERVICE)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "sandbox_quota_exceeded"
    listed = await client.get(f"{API}/sandboxes", headers=SERVICE)
    assert [s for s in listed.json() if s["name"] == "over"] == []  # rolled back
