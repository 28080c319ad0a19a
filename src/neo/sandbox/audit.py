"""The sandbox audit trail: one row in identity's `neo_identity.audit_log` per action
(`sandbox.<verb>`), queued in memory by the request and written in batches by a background
task on the owner pool, so a warm exec pays no database round trip for its audit row.

The same writer records sandboxes' activity (`last_activity_at`, which the idle sweep reads)
for execs, in one statement per batch instead of one transaction per exec; the sweep writes
the queue before it looks for idle sandboxes.

The queue is bounded (`MAX_QUEUED`): past it the oldest rows are dropped and counted in a
`sandbox.audit_dropped` log event. A batch that fails to write is kept and retried on the
next tick. The task flushes every `interval` seconds and once more at shutdown; a crash of
the process loses at most the rows of the last interval (decision 0011).

Rows never hold secrets or output: a command is recorded as its length, its SHA-256 and its
program name (the first word, when it is a plain name), never its text.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from neo.core.actor import Actor
from neo.core.runtime import Core
from neo.sandbox import store
from neo.sandbox.models import Sandbox

log = structlog.get_logger("neo.sandbox")

MAX_QUEUED = 10_000
BATCH = 500
PROGRAM = re.compile(r"^[A-Za-z0-9_./+-]{1,64}$")


@dataclass(frozen=True)
class Caller:
    """Who acts, as the audit log names them, and the request's facts (never secrets)."""

    actor_id: str | None
    actor_role: str
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""

    @classmethod
    def of(cls, actor: Actor, ip: str, user_agent: str, request_id: str) -> Caller:
        """The caller of a request: a user, a service account's key, or the service role."""
        if actor.is_service:
            role = "service_role"
        elif actor.credential == "api_key":
            role = "service_account"
        else:
            role = actor.role
        return cls(_uuid_or_none(actor.user_id), role, ip, user_agent[:512], request_id)


SYSTEM = Caller(None, "system")


def _uuid_or_none(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(value)) if value else None
    except ValueError:
        return None  # a token whose `sub` is not a uuid: the role still says who


def command_facts(command: str) -> dict[str, Any]:
    """What the log keeps of a command: never its text (it may carry secrets)."""
    first = command.strip().split(maxsplit=1)[0] if command.strip() else ""
    return {
        "command_length": len(command),
        "command_sha256": hashlib.sha256(command.encode()).hexdigest(),
        "program": first if PROGRAM.match(first) else None,
    }


class AuditTrail:
    """The queue of audit rows and the task that writes them."""

    def __init__(self, core: Core, interval: float) -> None:
        self.core = core
        self.interval = interval
        self.queue: deque[dict[str, Any]] = deque()
        self.dropped = 0
        self.touched: set[str] = set()
        self._lock = asyncio.Lock()

    def touch(self, sandbox_id: str) -> None:
        """Note that a sandbox was used (written with the next batch)."""
        self.touched.add(sandbox_id)

    def record(
        self, caller: Caller, action: str, sandbox: Sandbox, details: dict[str, Any] | None = None
    ) -> None:
        """Queue one row (no I/O: the request does not wait for the database)."""
        if len(self.queue) >= MAX_QUEUED:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(
            {
                "at": datetime.now(UTC).isoformat(),
                "actor_id": caller.actor_id,
                "actor_role": caller.actor_role,
                "action": action,
                "sandbox_id": sandbox.id,
                "org_id": sandbox.org_id,
                "personal": _uuid_or_none(sandbox.owner) if sandbox.org_id is None else None,
                "ip": caller.ip or None,
                "user_agent": caller.user_agent or None,
                "request_id": caller.request_id or None,
                "details": details or {},
            }
        )

    async def flush(self) -> int:
        """Write every queued row (and activity) now; how many rows were written."""
        written = 0
        async with self._lock:
            if self.dropped:
                log.warning("sandbox.audit_dropped", count=self.dropped)
                self.dropped = 0
            touched, self.touched = self.touched, set()
            if touched:
                try:
                    async with self.core.db.transaction() as conn:
                        await store.touch_sandboxes(conn, sorted(touched))
                except BaseException:
                    self.touched |= touched
                    raise
            while self.queue:
                batch = [self.queue.popleft() for _ in range(min(BATCH, len(self.queue)))]
                try:
                    async with self.core.db.transaction() as conn:
                        written += await store.write_audit(conn, batch)
                except BaseException:
                    self.queue.extendleft(reversed(batch))  # kept for the next attempt
                    raise
        return written

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.queue and not self.dropped and not self.touched:
                continue
            try:
                await self.flush()
            except Exception:
                log.exception("sandbox.audit_write_failed", queued=len(self.queue))


@asynccontextmanager
async def running(core: Core, interval: float) -> AsyncIterator[AuditTrail]:
    """The audit trail with its writer task; the last rows are written at exit."""
    trail = AuditTrail(core, interval)
    task = asyncio.create_task(trail._run())
    try:
        yield trail
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            await trail.flush()
        except Exception:
            log.exception("sandbox.audit_write_failed", queued=len(trail.queue))
