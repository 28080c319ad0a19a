"""The warm pool (`NEO_SANDBOX__WARM_POOL=N`, local runtime): N started sandboxes of the
default limits, with no env, labels or owner, waiting on this host. A creation that fits
(default limits, no env, no egress allow-list) adopts one instead of starting its own, and the
pool refills in the background.

A pooled sandbox already runs as the uid of a slot the next creations will get (the N smallest
slots no sandbox holds, `taken` says which are held), so adopting one changes its id (directory,
socket, cgroup) and applies the new sandbox's limits, never its uid: a creation whose slot the
pool does not hold starts its own sandbox as before; a creation that takes a pooled slot but
does not fit deletes the pooled sandbox first, so no two sandboxes share a uid. Pooled
sandboxes are not rows: they live in this process's memory only, and a restart's reap
removes any left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Awaitable, Callable

import structlog

from neo.sandbox.runtimes.base import Limits, SandboxSpec, StartFailed
from neo.sandbox.runtimes.local import LocalRuntime

log = structlog.get_logger("neo.sandbox")
REFILL_DELAY = 0.1  # seconds between a claim and the refill it starts


class WarmPool:
    """Ready sandboxes by slot, refilled in the background."""

    def __init__(
        self,
        runtime: LocalRuntime,
        *,
        size: int,
        limits: Limits,
        slots: int,
        taken: Callable[[], Awaitable[set[int]]],
    ) -> None:
        self.runtime, self.size, self.limits, self.slots = runtime, size, limits, slots
        self.ready: dict[int, SandboxSpec] = {}
        self._taken = taken
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def fits(self, spec: SandboxSpec) -> bool:
        """Whether a pooled sandbox can become `spec` (its env is fixed at start)."""
        return spec.limits == self.limits and not spec.env and spec.network.mode == "deny"

    async def claim(self, spec: SandboxSpec) -> bool:
        """Turn the pooled sandbox of `spec`'s slot into `spec`; False when there is none."""
        pooled = self.ready.pop(spec.slot, None)
        self.refill_soon(REFILL_DELAY)  # after the claimer's request, not during it
        if pooled is None:
            return False
        # A creation that does not fit takes the slot's uid all the same: the pooled
        # sandbox goes now rather than share that uid until the refill.
        if not self.fits(spec) or not await self.runtime.answers(pooled.id):
            await self.runtime.delete(pooled.id)
            return False
        await self.runtime.adopt(pooled, spec)
        log.debug("sandbox.pool_claimed", sandbox=spec.id, slot=spec.slot)
        return True

    def refill_soon(self, delay: float = 0.0) -> None:
        """Refill in the background (again, when a refill is running already)."""
        self._again = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._refill_until_settled(delay))

    async def settled(self) -> None:
        """Wait for the background refill, if one is running."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _refill_until_settled(self, delay: float) -> None:
        await asyncio.sleep(delay)
        while self._again:
            self._again = False
            try:
                await self.refill()
            except Exception:
                log.exception("sandbox.pool_refill_failed")
                return

    async def refill(self) -> None:
        """Hold sandboxes for the `size` smallest free slots, and only those."""
        taken = await self._taken()
        wanted = list(itertools.islice((s for s in range(self.slots) if s not in taken), self.size))
        for slot in [s for s in list(self.ready) if s not in wanted]:
            await self.runtime.delete(self.ready.pop(slot).id)
        for slot in wanted:
            if slot not in self.ready:
                await self._add(slot)

    async def _add(self, slot: int) -> None:
        spec = SandboxSpec(str(uuid.uuid4()), slot, self.limits)
        try:
            await self.runtime.create(spec)
            await self.runtime.start(spec)
        except (StartFailed, OSError) as exc:
            log.warning("sandbox.pool_start_failed", slot=slot, error=str(exc))
            await self.runtime.delete(spec.id)
            return
        except asyncio.CancelledError:  # closing: nothing half-made is left behind
            await asyncio.shield(self.runtime.delete(spec.id))
            raise
        self.ready[slot] = spec

    async def close(self) -> None:
        """Stop refilling and delete every pooled sandbox."""
        self._again = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self.ready:
            await self.runtime.delete(self.ready.popitem()[1].id)
