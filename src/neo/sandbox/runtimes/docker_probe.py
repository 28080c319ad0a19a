"""The start-up probe of the `docker` runtime: the daemon answers, enforces what the hardening
relies on (memory, swap, pids and CPU limits, seccomp), and the image is there (built from this
host when allowed). Anything missing is named; sandboxes are then refused, never weakened.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import requests.exceptions

from neo.sandbox.runtimes.image import ImageUnavailable, ensure_image
from neo.sandbox.settings import SandboxSettings

if TYPE_CHECKING:
    from neo.sandbox.runtimes.probe import ProbeReport

DEFAULT_HOST = "unix:///var/run/docker.sock"
# `docker info` flags the container limits depend on, and what each one enforces.
REQUIRED_FEATURES = {
    "MemoryLimit": "memory limits",
    "SwapLimit": "swap limits (memory-swap equal to memory)",
    "PidsLimit": "process limits",
    "CpuCfsQuota": "CPU quotas",
}


def daemon_url(settings: SandboxSettings) -> str:
    """The configured daemon (DOCKER_HOST and the default socket otherwise)."""
    return settings.docker.host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def connect(settings: SandboxSettings) -> docker.DockerClient:
    """A client of the configured daemon."""
    return docker.DockerClient(base_url=daemon_url(settings), timeout=120)


def _refused(url: str) -> str | None:
    """Why a `unix://` daemon socket refuses connections, None when it accepts (checked with a
    socket of our own: the SDK leaves the socket of a refused connection open)."""
    if not url.startswith("unix://"):
        return None
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(url.removeprefix("unix://"))
    except OSError as exc:
        return f"{url}: {exc.strerror or exc}"
    return None


def probe_docker(report: ProbeReport, settings: SandboxSettings) -> None:
    """Fill `report` for the docker runtime: `report.docker` is set when usable."""
    if os.geteuid() != 0:
        report.missing.append("root: the docker runtime mounts each sandbox's workspace tmpfs")
    refused = _refused(daemon_url(settings))
    if refused:
        report.missing.append(f"docker: the daemon does not answer ({refused})")
        return
    try:
        client = connect(settings)
        info: dict[str, Any] = client.info()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        report.missing.append(f"docker: the daemon does not answer ({exc})")
        return
    report.facts["docker"] = (
        f"{info.get('ServerVersion')}, storage {info.get('Driver')}, "
        f"cgroup v{info.get('CgroupVersion', '1')} ({info.get('CgroupDriver')})"
    )
    for flag, what in REQUIRED_FEATURES.items():
        if not info.get(flag):
            report.missing.append(f"docker: the daemon cannot enforce {what} ({flag} is off)")
    security = " ".join(info.get("SecurityOptions") or [])
    if "seccomp" not in security:
        report.missing.append("docker: the daemon runs containers without seccomp")
    if report.missing:
        return
    try:
        image_id = ensure_image(client, settings.docker.image, build=settings.docker.build_image)
    except (ImageUnavailable, docker.errors.DockerException) as exc:
        report.missing.append(f"docker image: {exc}")
        return
    report.facts["docker image"] = f"{settings.docker.image} ({image_id[:19]})"
    report.docker = client
