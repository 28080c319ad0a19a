"""Operational routes: liveness, readiness, metrics, and `whoami` for checking credentials."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from neo import __version__
from neo.core import store
from neo.core.deps import ActorDep, CoreDep, Tx
from neo.core.errors import BadRequest

router = APIRouter()


@router.get("/health", tags=["ops"])
async def health() -> dict[str, str]:
    """Liveness: the process serves HTTP."""
    return {"status": "ok", "version": __version__}


@router.get("/ready", tags=["ops"])
async def ready(core: CoreDep) -> JSONResponse:
    """Readiness: the database answers and every migration is applied."""
    problems = await core.ready()
    body = {"status": "ready" if not problems else "not_ready", "problems": problems}
    return JSONResponse(body, status_code=200 if not problems else 503)


@router.get("/metrics", tags=["ops"])
async def metrics(core: CoreDep) -> Response:
    """Prometheus exposition."""
    return Response(core.metrics.render(), media_type="text/plain; version=0.0.4")


@router.get("/neo/v1/whoami", tags=["ops"])
async def whoami(actor: ActorDep, tx: Tx) -> dict[str, Any]:
    """The caller as the database sees it: role, `auth.uid()`, `auth.role()`, claims.

    A validly signed token whose `sub` is not a UUID is the caller's mistake: `auth.uid()`
    cannot cast it, and the answer is a 400 saying so (as PostgREST answers 22P02), not a 500.
    """
    try:
        caller = await store.select_caller(tx)
    except asyncpg.DataError as exc:
        raise BadRequest(f"the token's claims do not fit auth.uid() and co: {exc}") from None
    return {"credential": actor.credential, "claims": actor.claims} | caller
