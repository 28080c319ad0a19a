"""Fixtures of the sandbox tests: a real local runtime (bubblewrap, cgroups, seccomp) on this
host, sandboxes made by a factory, and the app with sandboxes enabled on a searchable root.

bubblewrap is required: without it these tests fail with a message (CI installs it through
`scripts/ci-setup`), they are never skipped.
"""

from __future__ import annotations

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
from neo.sandbox.runtimes.base import ExecRequest, ExecResult, Limits, SandboxSpec
from neo.sandbox.runtimes.local import LocalRuntime
from neo.sandbox.runtimes.output import collect
from neo.sandbox.runtimes.probe import probe
from neo.sandbox.settings import SandboxSettings
from neo.settings import Settings
from tests.support.servers import running_app

SMALL = Limits(cpus=1.0, memory_mb=128, disk_mb=16, pids=64)
SLOTS = itertools.count(40000)  # host uids apart from the app's sandboxes (slots from 0)


@pytest.fixture(scope="session", autouse=True)
def bwrap_installed() -> None:
    """Fail, loudly, on a machine without bubblewrap."""
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap (bwrap) is not installed: run scripts/ci-setup", pytrace=False)


@pytest.fixture(scope="module")
def sandbox_root() -> Iterator[Path]:
    """A sandbox root every sandbox uid can traverse (pytest's tmp dirs are 0700)."""
    root = Path(tempfile.mkdtemp(prefix="neo-sbx-", dir="/tmp"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def sandbox_settings(sandbox_root: Path) -> SandboxSettings:
    """Settings of the module's runtime (a cgroup parent of its own)."""
    return SandboxSettings(root=sandbox_root, cgroup_parent=f"neo-test-{uuid.uuid4().hex[:8]}")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def runtime(sandbox_settings: SandboxSettings) -> AsyncIterator[LocalRuntime]:
    """The local runtime, as the app builds it; every sandbox is removed afterwards."""
    report = probe(sandbox_settings, Path("/nonexistent"))
    assert report.ok, "host isolation missing: " + "; ".join(report.missing)
    built = build_runtime(sandbox_settings, report)
    assert isinstance(built, LocalRuntime)
    yield built
    await built.reap(set())
    remove_parents(built)


MakeSandbox = Callable[..., Awaitable[SandboxSpec]]


@pytest_asyncio.fixture(loop_scope="session")
async def make_sandbox(runtime: LocalRuntime) -> AsyncIterator[MakeSandbox]:
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


async def run(
    runtime: LocalRuntime, spec: SandboxSpec, command: str, seconds: float = 10
) -> ExecResult:
    """Run a command in a sandbox through its agent."""
    events = runtime.exec(spec.id, ExecRequest(command, timeout=seconds))
    return await collect(events, 1 << 20)


@pytest.fixture(scope="module")
def sandbox_app_settings(make_settings: Callable[..., Settings], sandbox_root: Path) -> Settings:
    """App settings with sandboxes on the module's root, small limits and a quota of 3."""
    sandbox = {
        "root": str(sandbox_root),
        "cgroup_parent": f"neo-test-{uuid.uuid4().hex[:8]}",
        "max_per_owner": 3,
        "max_upload_mb": 6,
        "defaults": {"cpus": 1.0, "memory_mb": 128, "disk_mb": 8, "pids": 64},
    }
    return make_settings(sandbox=sandbox)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(sandbox_app_settings: Settings) -> AsyncIterator[FastAPI]:
    """The real app with the sandbox capability running on this host."""
    async with running_app(sandbox_app_settings) as app:
        yield app
        runtime = app.state.sandbox.runtime
        await runtime.reap(set())  # the app only stops sandboxes at exit; tests remove them
        remove_parents(runtime)


def remove_parents(runtime: LocalRuntime) -> None:
    """Remove the (empty) cgroup parents a test runtime created."""
    if runtime.cgroups is not None:
        for path in runtime.cgroups._dirs(""):
            if path.is_dir():
                path.rmdir()
