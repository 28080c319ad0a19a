"""Settings of the sandbox capability (`NEO_SANDBOX__*`): runtime, isolation, limits, quotas.

Isolation switches say what the operator requires; the start-up probe compares them with what
the host offers, and sandboxes are refused (never silently weakened) when something is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from neo.core.settings import Section


class SandboxLimits(Section):
    """Resources of one sandbox: CPUs, memory (swap equal), workspace disk, processes."""

    cpus: float = Field(1.0, gt=0, le=64)
    memory_mb: int = Field(512, ge=16, le=1 << 20)
    disk_mb: int = Field(1024, ge=1, le=1 << 20)
    pids: int = Field(256, ge=8, le=1 << 16)


class DockerSettings(Section):
    """The `docker` runtime: which daemon, which image, how the agent starts in it."""

    host: str | None = None  # e.g. unix:///run/docker.sock; default: DOCKER_HOST or the usual
    image: str = Field("neo/sandbox-base:local", min_length=1)
    build_image: bool = True  # build `image` from this host's python3 + busybox when missing
    python: str = Field("/usr/bin/python3", pattern=r"^/\S+$")  # the agent's interpreter
    start_timeout: float = Field(20.0, gt=0)


class KubernetesSettings(Section):
    """The `kubernetes` runtime: which cluster and namespace, which image, how pods run."""

    kubeconfig: Path | None = None  # default: in-cluster service account, then ~/.kube/config
    context: str | None = None
    namespace: str = Field("neo-sandboxes", pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    image: str = Field("python:3.12-slim", min_length=1)  # must hold python3 and /bin/sh
    python: str = Field("/usr/local/bin/python3", pattern=r"^/\S+$")  # the agent's interpreter
    runtime_class: str | None = None  # e.g. gvisor or kata, when the cluster offers one
    seccomp_profile: str | None = None  # a Localhost profile on the nodes; default RuntimeDefault
    start_timeout: float = Field(120.0, gt=0)  # image pulls and scheduling included


class SandboxSettings(Section):
    """How sandboxes run on this host."""

    enabled: bool = True
    runtime: Literal["local", "docker", "kubernetes"] = "local"
    # the in-sandbox agent of the local and docker runtimes: `native` (C, compiled on first use;
    # docker needs it static), `python` (agent.py), or `auto`: native when a C compiler builds
    # it, else python (said by `neo check` and in the logs)
    agent: Literal["auto", "native", "python"] = "auto"
    docker: DockerSettings = DockerSettings()
    kubernetes: KubernetesSettings = KubernetesSettings()
    root: Path | None = None  # default: <data_dir>/sandboxes; every ancestor must be o+x
    defaults: SandboxLimits = SandboxLimits()
    maximum: SandboxLimits = SandboxLimits(cpus=4, memory_mb=8192, disk_mb=16384, pids=4096)
    max_per_owner: int = Field(10, ge=0)  # sandboxes of one user (their own, no org)
    max_per_org: int = Field(50, ge=0)  # sandboxes of one organization, all members together
    # started sandboxes of the default limits kept ready for creations that fit (local runtime,
    # one API worker): pool.py
    warm_pool: int = Field(0, ge=0, le=64)
    tmp_mb: int = Field(64, ge=1)  # tmpfs /tmp inside each sandbox (memory-backed)
    uid_base: int = Field(1_500_000, ge=1000)  # host uid of a sandbox = uid_base + slot
    slots: int = Field(65536, ge=1, le=1 << 20)
    cgroups: bool = True  # require memory, pids and CPU limits through cgroups
    seccomp: bool = True  # require the seccomp filter
    # let sandboxed code open IP sockets, which reach only the sandbox's own loopback (no route
    # out either way): needed for servers behind preview URLs; off = the filter refuses them
    loopback_ports: bool = False
    preview_ttl_seconds: int = Field(3600, ge=60, le=7 * 86400)
    # default: neo-<hash of the root>, so a start-up reap touches only this root's sandboxes
    cgroup_parent: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
    exec_timeout: float = Field(60.0, gt=0)
    max_exec_timeout: float = Field(3600.0, gt=0)
    max_output_bytes: int = Field(1 << 20, ge=1024)  # per stream, for the JSON exec answer
    max_upload_mb: int = Field(512, ge=1)
    auto_stop_minutes: int = Field(15, ge=0)  # default per sandbox; 0 = never
    sweep_seconds: float = Field(30.0, gt=0)
    # how often queued audit rows are written (one batch; a crash loses at most this much)
    audit_flush_seconds: float = Field(
        0.15, gt=0, le=10
    )  # how often idle and expired sandboxes are swept
