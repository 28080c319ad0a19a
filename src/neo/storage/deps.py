"""FastAPI dependencies of storage's routes: its state, the caller, the x-upsert flag.

All are `async def`: FastAPI runs plain `def` dependencies in a thread pool, a hop that
cost milliseconds per request here.

Storage has no apikey requirement (Kong does not key-auth it, spec §0.3): with strict mode
on, a request with neither key nor bearer is still served, as `anon`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from neo.core.actor import Actor
from neo.core.deps import get_core, request_context
from neo.core.errors import MissingApiKey
from neo.storage.caller import Caller
from neo.storage.state import StorageState


async def get_state(request: Request) -> StorageState:
    """Storage's state for this app."""
    state: StorageState = request.app.state.storage
    return state


async def get_caller(request: Request) -> Caller:
    """The request's caller; anonymous when no credentials were sent, even in strict mode."""
    core = get_core(request)
    try:
        actor = core.gateway.resolve(request.headers, request.query_params)
    except MissingApiKey:
        actor = Actor.anonymous()
    return Caller(db=core.db, actor=actor, request=request_context(request))


async def upsert_flag(request: Request) -> bool:
    """The `x-upsert` header."""
    return request.headers.get("x-upsert", "").strip().lower() == "true"


StateDep = Annotated[StorageState, Depends(get_state)]
CallerDep = Annotated[Caller, Depends(get_caller)]
Upsert = Annotated[bool, Depends(upsert_flag)]
