"""One error base for every capability, and the single place errors become HTTP responses.

A `NeoError` carries an HTTP status, a stable code and a message. Each wire contract
(PostgREST, GoTrue, storage-api, NEO's native APIs) has its own body shape: a capability
registers a `Dialect` for its URL prefix in the composition root, and `render_error` picks
the dialect by path. Codes are never renamed or reused. 5xx bodies hide internals and carry
the request id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class NeoError(Exception):
    """Base of every domain error: status, stable code, message, optional detail."""

    status: int = 500
    code: str = "unexpected_failure"
    message: str = "Unexpected failure"
    # A 5xx body normally hides the message; an error whose message is meant for the caller
    # (e.g. "sandbox isolation unavailable: no cgroup memory controller") sets this.
    expose: bool = False

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        details: Any = None,
        hint: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).message
        self.status = status or type(self).status
        self.code = code or type(self).code
        self.details = details
        self.hint = hint
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequest(NeoError):
    status, code, message = 400, "bad_request", "Bad request"


class Unauthorized(NeoError):
    status, code, message = 401, "unauthorized", "Unauthorized"


class Forbidden(NeoError):
    status, code, message = 403, "forbidden", "Forbidden"


class NotFound(NeoError):
    status, code, message = 404, "not_found", "Not found"


class Conflict(NeoError):
    status, code, message = 409, "conflict", "Conflict"


class Unavailable(NeoError):
    status, code, message = 503, "unavailable", "Service unavailable"


class InvalidToken(Unauthorized):
    """A bearer token (JWT) did not verify; `reason` says why (expired, signature, ...)."""

    code = "invalid_token"

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


class UnknownRole(Unauthorized):
    """A verified token names a role the database does not have (PostgreSQL 22023)."""

    code = "unknown_role"

    def __init__(self, role: str) -> None:
        super().__init__(f'role "{role}" does not exist')
        self.role = role


class InvalidApiKey(Unauthorized):
    """The `apikey` matched no key of this instance."""

    code, message = "invalid_api_key", "Invalid API key"


class MissingApiKey(Unauthorized):
    """Strict mode and the request carried neither an apikey nor a bearer token."""

    code, message = "missing_api_key", "No API key found in request"


Renderer = Callable[[NeoError, Request], Response]


def request_id_of(request: Request) -> str:
    """The id the request middleware assigned."""
    return str(getattr(request.state, "request_id", "") or "-")


def native_body(error: NeoError, request: Request) -> JSONResponse:
    """NEO's own shape for native APIs: {code, message, details?, hint?, request_id}."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    if error.hint:
        body["hint"] = error.hint
    body["request_id"] = request_id_of(request)
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def _kong_body(error: NeoError) -> JSONResponse:
    hints = {
        "invalid_api_key": "Double check your Supabase `anon` or `service_role` API key.",
        "missing_api_key": "No `apikey` request header or url param was found.",
    }
    return JSONResponse(
        {"message": error.message, "hint": hints.get(error.code)}, status_code=error.status
    )


@dataclass
class Dialects:
    """Error renderers by URL prefix; the longest matching prefix wins."""

    by_prefix: dict[str, Renderer] = field(default_factory=dict)
    default: Renderer = native_body
    without_key_auth: set[str] = field(default_factory=set)

    def register(self, prefix: str, renderer: Renderer, *, key_auth: bool = True) -> None:
        """Render errors under `prefix` with `renderer`.

        `key_auth=False` marks a contract that Supabase serves without Kong's key check
        (storage, functions): apikey errors there use the contract's own shape.
        """
        self.by_prefix[prefix] = renderer
        if not key_auth:
            self.without_key_auth.add(prefix)

    def _prefix(self, path: str) -> str:
        best = ""
        for prefix in self.by_prefix:
            if path.startswith(prefix) and len(prefix) > len(best):
                best = prefix
        return best

    def for_path(self, path: str) -> Renderer:
        """The renderer for a request path."""
        best = self._prefix(path)
        return self.by_prefix[best] if best else self.default

    def render(self, error: NeoError, request: Request) -> Response:
        """Turn `error` into a response in the shape of the contract owning the path."""
        key_auth = self._prefix(request.url.path) not in self.without_key_auth
        if isinstance(error, InvalidApiKey | MissingApiKey) and key_auth:
            return _kong_body(error)  # the gateway's answer, as Kong gives it
        if error.status >= 500 and not error.expose:
            error = NeoError(
                f"Internal error (request id {request_id_of(request)})", status=error.status
            )
        return self.for_path(request.url.path)(error, request)
