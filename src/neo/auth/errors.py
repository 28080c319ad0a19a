"""GoTrue's error bodies (spec §1.12).

With `X-Supabase-Api-Version: 2024-01-01` (both official clients send it) the body is
`{code, message}` and the header is echoed with `x-sb-error-code`; without it, the legacy
`{code: <status>, error_code, msg, error_id}`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from neo.core.errors import InvalidToken, NeoError, request_id_of

API_VERSION_HEADER = "x-supabase-api-version"
API_VERSION = "2024-01-01"


def render_gotrue_error(error: NeoError, request: Request) -> JSONResponse:
    """Render `error` as GoTrue does for this request's API version."""
    status, code, message = error.status, error.code, error.message
    if isinstance(error, InvalidToken):
        status, code = 403, "bad_jwt"
        message = f"invalid JWT: unable to parse or verify signature, {error.reason}"
    headers = dict(error.headers) | {"x-sb-error-code": code}
    if request.headers.get(API_VERSION_HEADER, "") >= API_VERSION:
        headers[API_VERSION_HEADER] = API_VERSION
        return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)
    body = {"code": status, "error_code": code, "msg": message, "error_id": request_id_of(request)}
    return JSONResponse(body, status_code=status, headers=headers)
