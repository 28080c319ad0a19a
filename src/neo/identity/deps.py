"""FastAPI dependencies of `/identity/v1`: the caller with what the audit log records of the
request (`CallerDep`), request bodies validated into 422 errors (`body`), and auth's mailer.

Bodies are parsed here rather than by FastAPI so that malformed input answers 422
`invalid_input` in NEO's native shape; `body_doc` keeps the models in the OpenAPI document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from neo.auth import AuthState
from neo.core.actor import Actor
from neo.core.deps import ActorDep
from neo.core.errors import request_id_of
from neo.identity.errors import AuthRequired, ForeignSubject, InvalidInput
from neo.kit.ids import is_uuid

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Caller:
    """Who calls, and the request facts every audit row carries (never secrets)."""

    actor: Actor
    ip: str
    user_agent: str
    request_id: str

    @property
    def user_id(self) -> str | None:
        """The caller's user id (None for the service role and API keys)."""
        if self.actor.is_service or self.key is not None:
            return None
        return self.actor.user_id

    @property
    def key(self) -> dict[str, Any] | None:
        """An API key caller's `neo` claim (org, project, permissions); None for others."""
        if self.actor.credential != "api_key":
            return None
        claim: dict[str, Any] = self.actor.claims["neo"]
        return claim


async def _caller(request: Request, actor: ActorDep) -> Caller:
    if not actor.is_service and (actor.role != "authenticated" or actor.user_id is None):
        raise AuthRequired()
    if not actor.is_service and not is_uuid(actor.user_id):
        raise ForeignSubject()  # a trusted issuer's own subject: no NEO user, no memberships
    return Caller(
        actor=actor,
        ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", "")[:512],
        request_id=request_id_of(request),
    )


CallerDep = Annotated[Caller, Depends(_caller)]


async def parse_body(request: Request, model: type[M]) -> M:
    """The request's JSON body as `model`; anything malformed is a 422."""
    try:
        raw: Any = json.loads(await request.body() or b"null")
    except ValueError:
        raise InvalidInput("Body is not valid JSON") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise InvalidInput(details=details) from None


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting `model` as the JSON request body."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def auth_state(request: Request) -> AuthState:
    """Auth's running state (its mailer sends invitations)."""
    state: AuthState = request.app.state.auth
    return state
