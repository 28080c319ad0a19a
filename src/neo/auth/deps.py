"""FastAPI dependencies of `/auth/v1`: the auth state, the client, request bodies, the caller.

Bodies are parsed here rather than by FastAPI so that every failure is GoTrue-shaped: bad
JSON -> 400 `bad_json`, a wrong type -> 400 `bad_json`, an oversized body -> 413. The
caller checks mirror GoTrue's `requireAuthentication` / `requireAdmin`.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from neo.auth.errors import (
    BadJson,
    NoAuthorization,
    NotAdmin,
    RequestTooLarge,
)
from neo.auth.sessions import Client
from neo.auth.state import AuthState
from neo.core.actor import Actor
from neo.core.deps import get_actor

MAX_BODY = 1024 * 1024  # GoTrue caps bodies at 1 MB
M = TypeVar("M", bound=BaseModel)


def get_state(request: Request) -> AuthState:
    """The auth state of this app."""
    state: AuthState = request.app.state.auth
    return state


def get_client(request: Request) -> Client:
    """The caller's IP (X-Forwarded-For only through trusted proxies) and user agent."""
    proxies = get_state(request).settings.trusted_proxies
    peer = request.client.host if request.client else ""
    ip = peer
    if proxies and _trusted(peer, proxies):
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
        for hop in reversed([h for h in hops if h]):
            ip = hop
            if not _trusted(hop, proxies):
                break
    user_agent = request.headers.get("user-agent", "")[:512]
    request_id = str(request.scope.get("state", {}).get("request_id", ""))
    return Client(ip=ip, user_agent=user_agent, request_id=request_id)


def _trusted(address: str, proxies: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(p, strict=False) for p in proxies)


async def read_body(request: Request, model: type[M]) -> M:
    """The JSON (or, for /token, form) body as `model`; GoTrue's errors otherwise."""
    data = await read_fields(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise BadJson(f"Could not parse request body as JSON: invalid value for {where}") from None


async def read_fields(request: Request) -> dict[str, Any]:
    """The JSON (or, for /token, form) body as an object, unvalidated; GoTrue's errors for
    anything else (what `read_body` validates against a model)."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise RequestTooLarge()
    data: Any = {}
    if raw.strip():
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            data = dict(parse_qsl(raw.decode("utf-8", "replace")))
        else:
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise BadJson(f"Could not parse request body as JSON: {exc}") from None
            if b"\\u0000" in raw.lower():  # PostgreSQL text and jsonb cannot hold NUL
                raise BadJson("Could not parse request body as JSON: NUL character")
    if not isinstance(data, dict):
        raise BadJson("Could not parse request body as JSON: expected an object")
    return data


def text_field(data: dict[str, Any], name: str) -> str | None:
    """A string field of a body `read_fields` returned (None when absent or null); a 400
    `bad_json` for another type, as `read_body` answers for a `str | None` model field."""
    value = data.get(name)
    if value is None or isinstance(value, str):
        return value
    raise BadJson(f"Could not parse request body as JSON: invalid value for {name}")


def require_user(request: Request) -> Actor:
    """A caller with a user access token (sub + session_id)."""
    actor = get_actor(request)
    if actor.credential != "jwt" or not actor.user_id:
        raise NoAuthorization()
    return actor


def require_admin(request: Request) -> Actor:
    """A caller whose role is an admin role (service_role by default)."""
    authorization = request.headers.get("authorization")
    actor = get_actor(request)
    if not authorization and actor.credential == "none":
        raise NoAuthorization()
    if actor.role not in get_state(request).settings.admin_roles:
        raise NotAdmin()
    return actor


# FastAPI runs plain `def` dependencies in its thread pool (a thread hop each, which showed as
# ~9% of a refresh under load); these async wrappers keep resolution on the event loop.
async def _state(request: Request) -> AuthState:
    return get_state(request)


async def _client(request: Request) -> Client:
    return get_client(request)


async def _user(request: Request) -> Actor:
    return require_user(request)


async def _admin(request: Request) -> Actor:
    return require_admin(request)


StateDep = Annotated[AuthState, Depends(_state)]
ClientDep = Annotated[Client, Depends(_client)]
UserDep = Annotated[Actor, Depends(_user)]
AdminDep = Annotated[Actor, Depends(_admin)]
