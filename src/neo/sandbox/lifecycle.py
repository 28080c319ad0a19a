"""The capability's life in the app: the start hook (probe, runtime, recovery after a crash,
the warm pool) and the background sweep that stops idle sandboxes and deletes expired ones.

Sweeps and recovery are NEO's own bookkeeping, so they run on the owner pool; the audit
trail's writer (`audit.py`) runs beside the sweep and is flushed last.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog

from neo.core.db import Connection
from neo.core.runtime import Core
from neo.sandbox import audit, store
from neo.sandbox.audit import SYSTEM, AuditTrail
from neo.sandbox.models import Sandbox
from neo.sandbox.pool import WarmPool
from neo.sandbox.runtimes import seccomp
from neo.sandbox.runtimes.base import Limits, Runtime, StartFailed
from neo.sandbox.runtimes.local import LocalRuntime
from neo.sandbox.runtimes.probe import ProbeReport, probe, sandbox_root
from neo.sandbox.service import Sandboxes
from neo.sandbox.settings import SandboxSettings

log = structlog.get_logger("neo.sandbox")
YOUNG_SECONDS = 300.0  # see `recover`: longer than any creation takes, pods included


def resolve(settings: SandboxSettings, core: Core) -> SandboxSettings:
    """Settings with the cgroup parent made unique to this sandbox root (reaping is per root)."""
    if settings.cgroup_parent:
        return settings
    root = sandbox_root(settings, core.settings.data_dir)
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    return settings.model_copy(update={"cgroup_parent": f"neo-{digest}"})


def build_runtime(settings: SandboxSettings, report: ProbeReport) -> Runtime | None:
    """The configured runtime, when the host offers what the settings require."""
    if not settings.enabled or not report.ok:
        return None
    if settings.runtime == "kubernetes":
        # Imported here too: the kubernetes client is only loaded when configured.
        from neo.sandbox.runtimes.kubernetes import KubernetesRuntime

        assert report.kubernetes is not None
        return KubernetesRuntime(
            report.root,
            api=report.kubernetes,
            settings=settings.kubernetes,
            uid_base=settings.uid_base,
            tmp_mb=settings.tmp_mb,
        )
    if settings.runtime == "docker":
        # Imported here: the Docker SDK costs ~0.1 s of start-up when the runtime is local.
        from neo.sandbox.runtimes.containers import DockerRuntime

        assert report.docker is not None
        return DockerRuntime(
            report.root,
            client=report.docker,
            image=settings.docker.image,
            python=settings.docker.python,
            uid_base=settings.uid_base,
            tmp_mb=settings.tmp_mb,
            start_timeout=settings.docker.start_timeout,
            seccomp_profile=seccomp.docker_profile(loopback_ports=settings.loopback_ports)
            if settings.seccomp
            else None,
            agent=report.agent,
        )
    assert report.bwrap
    assert report.setpriv
    return LocalRuntime(
        report.root,
        bwrap_path=report.bwrap,
        setpriv=report.setpriv,
        cgroups=report.cgroups,
        seccomp_bpf=seccomp.export_bpf(loopback_ports=settings.loopback_ports)
        if settings.seccomp
        else None,
        uid_base=settings.uid_base,
        tmp_mb=settings.tmp_mb,
        agent=report.agent,
        agent_pending=report.agent_pending,
    )


async def recover(core: Core, runtime: Runtime) -> None:
    """Reap leftovers of sandboxes that no longer exist; mark dead ones stopped. With several
    API workers, a sandbox directory younger than `YOUNG_SECONDS` is kept: another worker
    may be creating it, and its row is not committed yet (the next start reaps it if not)."""
    async with core.db.transaction() as conn:
        sandboxes = await store.select_all(conn)
        keep = {s.id for s in sandboxes}
        if core.settings.api.workers > 1:
            keep |= await asyncio.to_thread(_young, runtime.root, YOUNG_SECONDS)
        reaped = await runtime.reap(keep)
        for sandbox in sandboxes:
            if sandbox.state == "started" and not (await runtime.usage(sandbox.id)).running:
                await store.update_state(conn, sandbox.id, "stopped")
                log.info("sandbox.sandbox_recovered", sandbox=sandbox.id, state="stopped")
            elif sandbox.state == "started" and sandbox.network.mode == "allow":
                await _serve_egress(conn, runtime, sandbox)
    if reaped:
        log.warning("sandbox.leftovers_reaped", count=len(reaped))


def _young(root: Path, seconds: float) -> set[str]:
    """Names of the directories under `root` changed less than `seconds` ago."""
    cutoff = time.time() - seconds
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return set()
    return {
        e.name
        for e in entries
        if e.is_dir(follow_symlinks=False) and e.stat(follow_symlinks=False).st_mtime > cutoff
    }


async def _serve_egress(conn: Connection, runtime: Runtime, sandbox: Sandbox) -> None:
    """A running allow-mode sandbox lost its egress proxy with the last NEO: start serves it
    again (until then its connections are refused); one that cannot is stopped."""
    try:
        await runtime.start(sandbox.spec())
    except StartFailed:
        await runtime.stop(sandbox.id)
        await store.update_state(conn, sandbox.id, "stopped")
        log.warning("sandbox.egress_not_recovered", sandbox=sandbox.id)


async def sweep(core: Core, runtime: Runtime, trail: AuditTrail | None = None) -> None:
    """Stop idle sandboxes; delete stopped ones past their auto-delete interval (audited as
    the `system` actor when a trail is given, whose queued activity is written first)."""
    if trail is not None:
        await trail.flush()
    async with core.db.transaction() as conn:
        for sandbox in await store.select_idle(conn):
            await runtime.stop(sandbox.id)
            await store.update_state(conn, sandbox.id, "stopped")
            log.info("sandbox.sandbox_auto_stopped", sandbox=sandbox.id)
            if trail is not None:
                trail.record(SYSTEM, "sandbox.auto_stopped", sandbox)
        for sandbox in await store.select_expired(conn):
            await runtime.delete(sandbox.id)
            await store.delete_sandbox(conn, sandbox.id)
            log.info("sandbox.sandbox_auto_deleted", sandbox=sandbox.id)
            if trail is not None:
                trail.record(SYSTEM, "sandbox.auto_deleted", sandbox)


async def _sweep_forever(
    core: Core, runtime: Runtime, every: float, trail: AuditTrail, pool: WarmPool | None
) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await sweep(core, runtime, trail)
        except Exception:
            log.exception("sandbox.sweep_failed")
        if pool is not None:
            pool.refill_soon()  # deletions free smaller slots: the pool follows them


@asynccontextmanager
async def start(core: Core, settings: SandboxSettings) -> AsyncIterator[Sandboxes]:
    """Probe the host, start the runtime and the sweep; stop every sandbox at exit."""
    settings = resolve(settings, core)
    # a fresh data dir compiles the native agent meanwhile, not before the API answers
    report = await asyncio.to_thread(probe, settings, core.settings.data_dir, later=True)
    runtime = build_runtime(settings, report)
    if settings.enabled and runtime is None:
        log.error("sandbox.isolation_unavailable", missing=report.missing)
    if runtime is None:
        yield Sandboxes(settings, report, runtime)
        return
    if settings.runtime in ("local", "docker") and report.agent_pending is None:
        fallback = report.agent is None and settings.agent == "auto"
        (log.warning if fallback else log.info)(
            "sandbox.agent_selected", agent=report.facts["agent"]
        )
    await recover(core, runtime)
    pool = warm_pool(core, settings, runtime)
    async with audit.running(core, settings.audit_flush_seconds) as trail:
        state = Sandboxes(settings, report, runtime, trail, pool)
        every = settings.sweep_seconds
        task = asyncio.create_task(_sweep_forever(core, runtime, every, trail, pool))
        try:
            yield state
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if pool is not None:
                await pool.close()
            await _stop_all(core, runtime)


def warm_pool(core: Core, settings: SandboxSettings, runtime: Runtime) -> WarmPool | None:
    """The warm pool, when configured and possible (the local runtime, one API worker: the
    pool lives in one process's memory), its first fill started."""
    if not settings.warm_pool:
        return None
    if not isinstance(runtime, LocalRuntime) or core.settings.api.workers > 1:
        log.warning("sandbox.pool_unavailable", runtime=runtime.name,
                    workers=core.settings.api.workers)  # fmt: skip
        return None
    d = settings.defaults
    pool = WarmPool(
        runtime,
        size=settings.warm_pool,
        limits=Limits(cpus=d.cpus, memory_mb=d.memory_mb, disk_mb=d.disk_mb, pids=d.pids),
        slots=settings.slots,
        taken=lambda: _taken_slots(core),
    )
    pool.refill_soon()
    return pool


async def _taken_slots(core: Core) -> set[int]:
    async with core.db.transaction() as conn:
        return {s.slot for s in await store.select_all(conn)}


async def _stop_all(core: Core, runtime: Runtime) -> None:
    stopped = await runtime.close()
    async with core.db.transaction() as conn:
        for sandbox_id in stopped:
            await store.update_state(conn, sandbox_id, "stopped")
