"""Fixtures of the sandbox tests: a real local runtime (bubblewrap, cgroups, seccomp) on this
host with the native agent (and one with the Python agent, for tests run against both), a real
docker runtime on a private `dockerd` (`dockerd.py`), sandboxes made by a factory,
and the app with sandboxes enabled on a searchable root.

bubblewrap and dockerd are required: without them these tests fail with a message (CI
installs both through `scripts/ci-setup`). The docker tests skip, with dockerd's own error,
only when the daemon is installed but cannot run on the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fastapi import FastAPI

from neo.sandbox.lifecycle import build_runtime
from neo.sandbox.runtimes.base import ExecRequest, ExecResult, Limits, Runtime, SandboxSpec
from neo.sandbox.runtimes.containers import DockerRuntime
from neo.sandbox.runtimes.local import LocalRuntime
from neo.sandbox.runtimes.output import collect
from neo.sandbox.runtimes.probe import probe
from neo.sandbox.settings import SandboxSettings
from neo.settings import Settings
from tests.sandbox.dockerd import DaemonUnavailable, running_dockerd
from tests.support.servers import live_server, running_app

SMALL = Limits(cpus=1.0, memory_mb=128, disk_mb=16, pids=64)
SLOTS = itertools.count(40000)  # host uids apart from the app's sandboxes (slots from 0)


@pytest.fixture(scope="session", autouse=True)
def bwrap_installed() -> None:
    """Fail, loudly, on a machine without bubblewrap."""
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap (bwrap) is not installed: run scripts/ci-setup", pytrace=False)


def searchable_root() -> Path:
    """A new sandbox root every sandbox uid can traverse (pytest's tmp dirs are 0700)."""
    root = Path(tempfile.mkdtemp(prefix="neo-sbx-", dir="/tmp"))
    root.chmod(0o711)
    return root


@pytest.fixture(scope="module")
def sandbox_root() -> Iterator[Path]:
    """The module's sandbox root."""
    root = searchable_root()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def sandbox_settings(sandbox_root: Path) -> SandboxSettings:
    """Settings of the module's runtime (a cgroup parent of its own)."""
    return SandboxSettings(root=sandbox_root, cgroup_parent=f"neo-test-{uuid.uuid4().hex[:8]}")


@contextlib.asynccontextmanager
async def built_local_runtime(settings: SandboxSettings) -> AsyncIterator[LocalRuntime]:
    """A local runtime built as the app builds it; every sandbox is removed afterwards."""
    report = probe(settings, Path("/nonexistent"))
    assert report.ok, "host isolation missing: " + "; ".join(report.missing)
    built = build_runtime(settings, report)
    assert isinstance(built, LocalRuntime)
    try:
        yield built
    finally:
        await built.reap(set())
        remove_parents(built)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def local_runtime(sandbox_settings: SandboxSettings) -> AsyncIterator[LocalRuntime]:
    """The local runtime, as the app builds it, with the default (native) agent."""
    async with built_local_runtime(sandbox_settings) as built:
        assert built.agent is not None, "the native agent did not build on this host"
        yield built


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def python_runtime() -> AsyncIterator[LocalRuntime]:
    """The local runtime with the Python agent (agent.py), on a root of its own."""
    root = searchable_root()
    settings = SandboxSettings(
        root=root, cgroup_parent=f"neo-test-{uuid.uuid4().hex[:8]}", agent="python"
    )
    async with built_local_runtime(settings) as built:
        assert built.agent is None
        yield built
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def runtime(local_runtime: LocalRuntime) -> LocalRuntime:
    """The runtime of the module's tests (the local one unless a module parametrizes it)."""
    return local_runtime


@pytest.fixture(scope="session")
def docker_host() -> Iterator[str]:
    """A private Docker daemon (`unix://` URL), started for the session."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        pytest.fail("dockerd is not installed: run scripts/ci-setup", pytrace=False)
    try:
        with running_dockerd(dockerd) as host:
            yield host
    except DaemonUnavailable as exc:
        pytest.skip(f"the Docker daemon cannot run on this host: {exc}")


@pytest.fixture(scope="module")
def docker_settings(docker_host: str) -> Iterator[SandboxSettings]:
    """Settings of a docker runtime on its own root (reaps never cross runtimes)."""
    root = searchable_root()
    yield SandboxSettings(runtime="docker", root=root, docker={"host": docker_host})
    shutil.rmtree(root, ignore_errors=True)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def docker_runtime(docker_settings: SandboxSettings) -> AsyncIterator[DockerRuntime]:
    """The docker runtime, as the app builds it (the base image built on first use)."""
    report = await asyncio.to_thread(probe, docker_settings, Path("/nonexistent"))
    assert report.ok, "docker runtime unavailable: " + "; ".join(report.missing)
    built = build_runtime(docker_settings, report)
    assert isinstance(built, DockerRuntime)
    yield built
    await built.reap(set())
    await built.close()


MakeSandbox = Callable[..., Awaitable[SandboxSpec]]


@pytest_asyncio.fixture(loop_scope="session")
async def make_sandbox(runtime: Runtime) -> AsyncIterator[MakeSandbox]:
    """Factory of started sandboxes (limits overridable); deleted after the test."""
    made: list[str] = []

    async def make(**limits: Any) -> SandboxSpec:
        fields = {
            k: limits.get(k, getattr(SMALL, k)) for k in ("cpus", "memory_mb", "disk_mb", "pids")
        }
        spec = SandboxSpec(str(uuid.uuid4()), next(SLOTS), Limits(**fields))
        made.append(spec.id)
        await runtime.create(spec)
        await runtime.start(spec)
        return spec

    yield make
    for sandbox_id in made:
        await runtime.delete(sandbox_id)


async def run(runtime: Runtime, spec: SandboxSpec, command: str, seconds: float = 10) -> ExecResult:
    """Run a command in a sandbox through its agent."""
    events = runtime.exec(spec.id, ExecRequest(command, timeout=seconds))
    return await collect(events, 1 << 20)


def wait_for_port(port: int, seconds: int = 30) -> str:
    """A command that returns once something listens on `port` inside (one process polling,
    for at most `seconds`), printing `listening` or `nothing`."""
    loop = (
        "import socket, time\n"
        f"end = time.time() + {seconds}\n"
        "while time.time() < end:\n"
        f"    try: socket.create_connection(('127.0.0.1', {port})).close()\n"
        "    except OSError: time.sleep(0.05); continue\n"
        "    print('listening'); break\n"
        "else: print('nothing')"
    )
    return f'python3 -c "{loop}"'


SMALL_LIMITS = {"cpus": 1.0, "memory_mb": 128, "disk_mb": 8, "pids": 64}


def app_sandbox(root: Path, **extra: Any) -> dict[str, Any]:
    """The `sandbox` settings section of a test app on the local runtime: the module's root,
    a cgroup parent of its own, small default limits; `extra` adds or overrides keys."""
    return {
        "root": str(root),
        "cgroup_parent": f"neo-test-{uuid.uuid4().hex[:8]}",
        "defaults": SMALL_LIMITS,
    } | extra


@pytest.fixture(scope="module")
def sandbox_app_settings(make_settings: Callable[..., Settings], sandbox_root: Path) -> Settings:
    """App settings with sandboxes on the module's root, small limits and a quota of 3."""
    return make_settings(sandbox=app_sandbox(sandbox_root, max_per_owner=3, max_upload_mb=6))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(sandbox_app_settings: Settings) -> AsyncIterator[FastAPI]:
    """The real app with the sandbox capability running on this host."""
    async with running_app(sandbox_app_settings) as app:
        yield app
        if app.state.sandbox.pool is not None:  # no refill may race the reap below
            await app.state.sandbox.pool.close()
        runtime = app.state.sandbox.runtime
        await runtime.reap(set())  # the app only stops sandboxes at exit; tests remove them
        remove_parents(runtime)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server(sandbox_app_settings: Settings) -> AsyncIterator[str]:
    """NEO on a loopback port with the module's sandbox settings; what the module's tests
    left (the server only stops sandboxes at exit) is reaped afterwards."""
    with live_server(sandbox_app_settings) as url:
        yield url
    settings = sandbox_app_settings.sandbox
    runtime = build_runtime(settings, probe(settings, sandbox_app_settings.data_dir))
    assert runtime is not None
    await runtime.reap(set())
    remove_parents(runtime)


def remove_parents(runtime: Runtime) -> None:
    """Remove the (empty) cgroup parents a local test runtime created."""
    if isinstance(runtime, LocalRuntime) and runtime.cgroups is not None:
        for path in runtime.cgroups._dirs(""):
            if path.is_dir():
                path.rmdir()
