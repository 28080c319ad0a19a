"""Storage's running state and start hook: the byte backend, settings, and the orphan sweep.

`start(core, settings)` opens the configured backend (local under `<data_dir>/storage` unless
`root` is set, or S3), sweeps orphans once, and yields the `StorageState` the routes use.
The sweep deletes bytes that no `storage.objects` row points at and unfinished writes, both
only when older than `sweep_grace_seconds` so uploads in flight elsewhere are left alone.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from neo.core.runtime import Core
from neo.storage import store
from neo.storage.backends import Backend, Location
from neo.storage.backends.local import LocalBackend
from neo.storage.settings import StorageSettings
from neo.storage.tus import UploadFiles

log = structlog.get_logger("neo.storage")
SWEEP_BATCH = 500


@dataclass
class StorageState:
    """What storage's routes need for the app's lifetime."""

    core: Core
    settings: StorageSettings
    backend: Backend
    resumable_dir: Path  # unfinished TUS uploads (on local disk whatever the backend)


def make_backend(core: Core, settings: StorageSettings) -> Backend:
    """The configured backend (not started)."""
    if settings.backend == "s3":
        from neo.storage.backends.s3 import S3Backend  # only S3 deployments need aioboto3

        return S3Backend(settings.s3)
    root = settings.root or core.settings.data_dir / "storage"
    return LocalBackend(root, fsync=settings.fsync, etag=settings.etag_algorithm)


@asynccontextmanager
async def start(core: Core, settings: StorageSettings | None) -> AsyncIterator[StorageState]:
    """Open the backend, sweep orphans, and yield storage's state."""
    settings = settings or StorageSettings()
    backend = make_backend(core, settings)
    await backend.start()
    try:
        tus_dir = settings.resumable_dir or core.settings.data_dir / "storage-tus"
        tus_dir.mkdir(parents=True, exist_ok=True)
        state = StorageState(core, settings, backend, resumable_dir=tus_dir)
        if settings.sweep_on_start:
            await sweep(state)
        yield state
    finally:
        await backend.close()


async def discard(state: StorageState, locs: list[Location]) -> None:
    """Delete bytes whose rows are gone; a failure only leaves orphans for the next sweep."""
    if not locs:
        return
    try:
        await state.backend.delete(locs)
    except Exception as exc:  # the rows are committed: the request has succeeded
        log.warning("storage.bytes_not_deleted", count=len(locs), error=type(exc).__name__)


async def sweep(state: StorageState) -> int:
    """Remove orphaned bytes and unfinished writes older than the grace period, and expired
    resumable uploads; how many."""
    older_than = time.time() - state.settings.sweep_grace_seconds
    removed = await state.backend.abort_incomplete(older_than=older_than)
    removed += await asyncio.to_thread(UploadFiles(state.resumable_dir).remove_expired, time.time())
    stale = time.time() - state.settings.resumable_expires
    removed += await asyncio.to_thread(_remove_stale_multipart, state.resumable_dir / "s3", stale)
    batch: list[Location] = []
    async for loc in state.backend.scan(older_than=older_than):
        batch.append(loc)
        if len(batch) >= SWEEP_BATCH:
            removed += await _remove_orphans(state, batch)
            batch = []
    removed += await _remove_orphans(state, batch)
    if removed:
        log.info("storage.orphans_removed", count=removed)
    return removed


async def _remove_orphans(state: StorageState, batch: list[Location]) -> int:
    by_bucket: dict[str, list[Location]] = {}
    for loc in batch:
        by_bucket.setdefault(loc.bucket, []).append(loc)
    orphans: list[Location] = []
    async with state.core.db.transaction() as conn:
        for bucket, locs in by_bucket.items():
            known = await store.select_known_versions(conn, bucket, [x.version for x in locs])
            orphans += [loc for loc in locs if loc.version not in known]
    await state.backend.delete(orphans)
    return len(orphans)


def _remove_stale_multipart(folder: Path, older_than: float) -> int:
    """Remove S3 multipart uploads (`s3_multipart`) untouched since `older_than`; how many."""
    removed = 0
    for upload in folder.iterdir() if folder.is_dir() else []:
        newest = max([p.stat().st_mtime for p in upload.iterdir()] + [upload.stat().st_mtime])
        if newest < older_than:
            shutil.rmtree(upload, ignore_errors=True)
            removed += 1
    return removed
