"""Sandbox use cases: create, list, get, start, stop, delete, exec and terminals, for one
caller.

Functions take the caller's connection (RLS shows an authenticated user their own rows and
their orgs' by role, a key its org's by permission, the service role all of them) and the
capability's state; they never commit. The runtime's side effects happen inside the
transaction, so a failure rolls the row back and the runtime is cleaned up here. A creation
that fits the warm pool (`pool.py`) adopts a started sandbox instead of starting one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from neo.core.actor import Actor
from neo.core.db import Connection
from neo.kit.ids import is_uuid
from neo.sandbox import store
from neo.sandbox.audit import AuditTrail
from neo.sandbox.errors import (
    InvalidLimits,
    IsolationUnavailable,
    OrgNotFound,
    PolicyNotSupported,
    QuotaExceeded,
    SandboxAuthRequired,
    SandboxForbidden,
    SandboxNotFound,
    SandboxNotRunning,
    SandboxStartFailed,
)
from neo.sandbox.files import Workspace
from neo.sandbox.models import CreateSandbox, ExecBody, Sandbox
from neo.sandbox.pool import WarmPool
from neo.sandbox.runtimes.base import (
    AgentUnavailable,
    ExecEvent,
    ExecRequest,
    Limits,
    PtyRequest,
    Runtime,
    StartFailed,
    Terminal,
)
from neo.sandbox.runtimes.probe import ProbeReport
from neo.sandbox.settings import SandboxSettings

# Runtimes serving egress allow-lists (the filtering proxy); others refuse them with a 422.
EGRESS_RUNTIMES = frozenset({"local", "docker"})


@dataclass
class Sandboxes:
    """The capability's running state (on `app.state.sandbox`)."""

    settings: SandboxSettings
    report: ProbeReport
    backend: Runtime | None
    trail: AuditTrail | None = None  # None only when the runtime is unavailable
    pool: WarmPool | None = None  # NEO_SANDBOX__WARM_POOL on the local runtime

    @property
    def runtime(self) -> Runtime:
        """The runtime, or an explicit refusal naming what the host lacks."""
        if self.backend is None:
            missing = "; ".join(self.report.missing) or "sandboxes are disabled"
            raise IsolationUnavailable(f"sandbox isolation unavailable: {missing}")
        return self.backend

    def workspace(self, sandbox: Sandbox) -> Workspace:
        """Host-side access to a sandbox's files."""
        runtime = self.runtime
        return Workspace(runtime.files_root(sandbox.id), runtime.owner_uid(sandbox.spec()))


def owner_of(actor: Actor) -> str | None:
    """The owner recorded for the caller's own sandboxes: its user id, None for the service
    role (and for keys, whose sandboxes always belong to their org); refuses anyone else."""
    if actor.is_service:
        return None
    if actor.role != "authenticated" or actor.user_id is None:
        raise SandboxAuthRequired()
    return None if key_org(actor) is not None else actor.user_id


def key_org(actor: Actor) -> str | None:
    """The org of a `neo_sk_` key caller (None for everyone else); RLS checks it again from
    identity's tables, never trusting the claim."""
    if actor.credential != "api_key":
        return None
    neo = actor.claims.get("neo")
    return str(neo["org_id"]) if isinstance(neo, dict) and neo.get("org_id") else None


async def _owning_org(conn: Connection, actor: Actor, body: CreateSandbox) -> str | None:
    """The org a new sandbox belongs to (None: the user's own), checked for the caller."""
    org = str(body.org_id) if body.org_id else key_org(actor)
    if org is None:
        return None
    if not actor.is_service and not is_uuid(actor.user_id):
        raise OrgNotFound()  # a token of an external subject belongs to no org
    known, writable = await store.org_access(conn, org)
    if not known:
        raise OrgNotFound()
    if not writable:
        raise SandboxForbidden("creating sandboxes in this organization needs role member "
                               "and the permission sandboxes:write")  # fmt: skip
    return org


def _limits(body: CreateSandbox, settings: SandboxSettings) -> Limits:
    d, top = settings.defaults, settings.maximum
    limits = Limits(
        cpus=body.cpus or d.cpus,
        memory_mb=body.memory_mb or d.memory_mb,
        disk_mb=body.disk_mb or d.disk_mb,
        pids=body.pids or d.pids,
    )
    for field in ("cpus", "memory_mb", "disk_mb", "pids"):
        if getattr(limits, field) > getattr(top, field):
            raise InvalidLimits(f"{field} above this host's maximum ({getattr(top, field)})")
    return limits


async def create_sandbox(
    conn: Connection, state: Sandboxes, actor: Actor, body: CreateSandbox
) -> Sandbox:
    """Record and start a sandbox for the caller, within the owner's quota."""
    owner = owner_of(actor)
    org = await _owning_org(conn, actor, body)
    if org is not None:
        owner = None  # an org's sandbox: rights come from the org, not from who made it
    runtime = state.runtime
    if body.network.mode != "deny" and runtime.name not in EGRESS_RUNTIMES:
        raise PolicyNotSupported(f"egress allow-lists are not served by the {runtime.name} runtime")
    limits = _limits(body, state.settings)
    if org is not None or owner is not None:
        quota = state.settings.max_per_org if org is not None else state.settings.max_per_owner
        await store.lock_owner(conn, org or owner or "")
        if await store.count_owned(conn, org, owner) >= quota:
            kind = "organization" if org is not None else "owner"
            raise QuotaExceeded(f"at most {quota} sandboxes per {kind}")
    slot = await store.free_slot(conn, state.settings.slots)
    auto_stop = body.auto_stop_minutes
    sandbox = await store.insert_sandbox(
        conn,
        owner=owner,
        name=body.name or f"sandbox-{uuid.uuid4().hex[:8]}",
        labels=body.labels,
        slot=slot,
        limits=limits,
        env=body.env,
        network=body.network.policy(),
        auto_stop_minutes=state.settings.auto_stop_minutes if auto_stop is None else auto_stop,
        auto_delete_minutes=body.auto_delete_minutes,
        org_id=org,
        created_by=None if actor.is_service else actor.user_id,
    )
    try:
        if state.pool is None or not await state.pool.claim(sandbox.spec()):
            await _start(runtime, sandbox)
    except BaseException:
        await runtime.delete(sandbox.id)
        raise
    return sandbox


async def _start(runtime: Runtime, sandbox: Sandbox) -> None:
    try:
        await runtime.create(sandbox.spec())
        await runtime.start(sandbox.spec())
    except StartFailed as exc:
        raise SandboxStartFailed(str(exc)) from None


async def get_sandbox(conn: Connection, sandbox_id: str, *, write: bool = False) -> Sandbox:
    """A sandbox the caller may see (and act on, with `write`), else SandboxNotFound (or
    SandboxForbidden for a read-only caller)."""
    try:
        uuid.UUID(sandbox_id)
    except ValueError:
        raise SandboxNotFound() from None
    sandbox = await store.select_sandbox(conn, sandbox_id)
    if sandbox is None:
        raise SandboxNotFound()
    if write and not sandbox.writable:
        raise SandboxForbidden()
    return sandbox


async def list_sandboxes(conn: Connection, labels: dict[str, str] | None) -> list[Sandbox]:
    """The caller's sandboxes."""
    return await store.list_sandboxes(conn, labels)


async def start_sandbox(conn: Connection, state: Sandboxes, sandbox_id: str) -> Sandbox:
    """Start a stopped sandbox (a no-op for a running one)."""
    sandbox = await get_sandbox(conn, sandbox_id, write=True)
    await _start(state.runtime, sandbox)
    return await store.update_state(conn, sandbox.id, "started") or sandbox


async def stop_sandbox(conn: Connection, state: Sandboxes, sandbox_id: str) -> Sandbox:
    """Kill the sandbox's processes; its files stay."""
    sandbox = await get_sandbox(conn, sandbox_id, write=True)
    await state.runtime.stop(sandbox.id)
    return await store.update_state(conn, sandbox.id, "stopped") or sandbox


async def delete_sandbox(conn: Connection, state: Sandboxes, sandbox_id: str) -> Sandbox:
    """Remove the sandbox, its files and its row; the sandbox it was."""
    sandbox = await get_sandbox(conn, sandbox_id, write=True)
    await state.runtime.delete(sandbox.id)
    await store.delete_sandbox(conn, sandbox.id)
    return sandbox


def exec_request(sandbox: Sandbox, body: ExecBody, settings: SandboxSettings) -> ExecRequest:
    """The runtime's request for an exec body, its timeout bounded by the settings."""
    timeout = min(body.timeout or settings.exec_timeout, settings.max_exec_timeout)
    return ExecRequest(body.command, body.cwd, body.env, timeout)


def exec_events(
    state: Sandboxes, sandbox: Sandbox, request: ExecRequest
) -> AsyncGenerator[ExecEvent, None]:
    """A running sandbox's command output, through its agent."""
    if sandbox.state != "started":
        raise SandboxNotRunning(f"sandbox {sandbox.id} is {sandbox.state}")
    return _translated(state.runtime.exec(sandbox.id, request), sandbox.id)


async def _translated(
    events: AsyncIterator[ExecEvent], sandbox_id: str
) -> AsyncGenerator[ExecEvent, None]:
    try:
        async for event in events:
            yield event
    except AgentUnavailable:
        raise SandboxNotRunning(f"sandbox {sandbox_id} does not answer (stopped?)") from None


async def open_terminal(state: Sandboxes, sandbox: Sandbox, request: PtyRequest) -> Terminal:
    """An interactive terminal in a running sandbox, through its agent."""
    if sandbox.state != "started":
        raise SandboxNotRunning(f"sandbox {sandbox.id} is {sandbox.state}")
    try:
        return await state.runtime.open_pty(sandbox.id, request)
    except AgentUnavailable:
        raise SandboxNotRunning(f"sandbox {sandbox.id} does not answer (stopped?)") from None


async def record_activity(conn: Connection, sandbox_id: str) -> None:
    """Note that the sandbox was used (owner connection: bookkeeping, not the caller's)."""
    await store.touch_sandbox(conn, sandbox_id)
