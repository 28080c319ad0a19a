"""The Kubernetes objects of the `kubernetes` runtime, as plain API bodies: one hardened Pod per
sandbox (and per cold one-shot command) and one NetworkPolicy per sandbox root denying every
ingress and egress of its pods.

The pod runs the in-sandbox agent (`agent.py`, passed as `python3 -c` source: no ConfigMap, no
host path) as a non-root uid with no capabilities, no privilege escalation, a read-only root,
the runtime's default (or a node-local) seccomp profile, no service-account token, no service
links, CPU/memory/ephemeral-storage limits equal to its requests, a size-limited emptyDir
workspace, a memory-backed /tmp and a tiny memory-backed /run/neo for the agent's socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neo.sandbox.runtimes import bwrap
from neo.sandbox.runtimes.base import Limits

RUN_DIR = "/run/neo"
AGENT_SOCKET = f"{RUN_DIR}/agent.sock"
LABEL_MANAGED = "app.kubernetes.io/managed-by"
LABEL_ROOT, LABEL_ID = "neo.sandbox/root", "neo.sandbox/id"
LABEL_ONCE = "neo.sandbox/once"
# The in-pod end of an exec bridge: one connection to the agent's socket, relayed to and from
# the exec stream's stdin/stdout (standard library only; argv[1] is the socket).
RELAY = """\
import os, socket, sys, threading
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def up():
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=up, daemon=True).start()
while True:
    data = s.recv(65536)
    if not data:
        break
    os.write(1, data)
"""


def pod_name(sandbox_id: str) -> str:
    """The pod of a sandbox."""
    return f"neo-sandbox-{sandbox_id}"


def policy_name(digest: str) -> str:
    """The NetworkPolicy isolating a sandbox root's pods."""
    return f"neo-sandbox-deny-{digest}"


def labels(digest: str, sandbox_id: str) -> dict[str, str]:
    """Labels every pod of a sandbox carries (reaping selects on the root's digest)."""
    return {LABEL_MANAGED: "neo", LABEL_ROOT: digest, LABEL_ID: sandbox_id}


def quantities(limits: Limits, tmp_mb: int) -> dict[str, str]:
    """CPU, memory and ephemeral storage (workspace, /tmp and the agent's socket directory)."""
    return {
        "cpu": f"{round(limits.cpus * 1000)}m",
        "memory": f"{limits.memory_mb}Mi",
        "ephemeral-storage": f"{limits.disk_mb + tmp_mb + 1}Mi",
    }


def seccomp(profile: str | None) -> dict[str, str]:
    """The pod's seccomp profile: a node-local one when configured, the runtime's default."""
    if profile:
        return {"type": "Localhost", "localhostProfile": profile}
    return {"type": "RuntimeDefault"}


def pod(
    *,
    name: str,
    namespace: str,
    pod_labels: Mapping[str, str],
    image: str,
    command: list[str],
    env: Mapping[str, str],
    uid: int,
    limits: Limits,
    tmp_mb: int,
    seccomp_profile: str | None,
    runtime_class: str | None,
    workdir: str = bwrap.WORKSPACE,
) -> dict[str, Any]:
    """A hardened sandbox pod (a v1 Pod body)."""
    resources = quantities(limits, tmp_mb)
    container: dict[str, Any] = {
        "name": "sandbox",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "workingDir": workdir,
        "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
        "resources": {"limits": resources, "requests": dict(resources)},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": seccomp(seccomp_profile),
        },
        "volumeMounts": [
            {"name": "workspace", "mountPath": bwrap.WORKSPACE},
            {"name": "tmp", "mountPath": bwrap.TMP},
            {"name": "run", "mountPath": RUN_DIR},
        ],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "hostNetwork": False,
        "hostPID": False,
        "hostIPC": False,
        "shareProcessNamespace": False,
        "hostname": "sandbox",
        "terminationGracePeriodSeconds": 0,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "fsGroup": uid,
            "seccompProfile": seccomp(seccomp_profile),
        },
        "containers": [container],
        "volumes": [
            {"name": "workspace", "emptyDir": {"sizeLimit": f"{limits.disk_mb}Mi"}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": f"{tmp_mb}Mi"}},
            {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        ],
    }
    if runtime_class:
        spec["runtimeClassName"] = runtime_class
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(pod_labels)},
        "spec": spec,
    }


def deny_all_policy(namespace: str, digest: str) -> dict[str, Any]:
    """A NetworkPolicy selecting the root's pods with no rule: no ingress, no egress (enforced
    by the cluster's network plugin)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": policy_name(digest),
            "namespace": namespace,
            "labels": {LABEL_MANAGED: "neo", LABEL_ROOT: digest},
        },
        "spec": {
            "podSelector": {"matchLabels": {LABEL_ROOT: digest}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [],
        },
    }
