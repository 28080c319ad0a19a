"""Routes for email flows: /otp, /magiclink, /recover, /resend and /verify (POST and GET).

GET /verify is what mailed links open: it redirects (303) to `redirect_to` with the session in
the fragment (implicit flow) or `?code=` (PKCE), or with GoTrue's error parameters.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from neo.auth import links, service_email
from neo.auth.deps import ClientDep, StateDep, read_body
from neo.auth.errors import AuthError
from neo.auth.params import EmailParams, OtpParams, ResendParams, VerifyParams
from neo.auth.sessions import Client
from neo.auth.state import AuthState
from neo.core.deps import require_apikey

router = APIRouter()
# Kong's key-auth; /verify stays open (email links carry no apikey).
KEY_AUTH = [Depends(require_apikey)]


@router.post("/otp", dependencies=KEY_AUTH)
async def otp(
    request: Request, state: StateDep, client: ClientDep, redirect_to: str | None = None
) -> dict[str, Any]:
    """Magic link and email code (signs the user up unless `create_user` is false)."""
    params = await read_body(request, OtpParams)
    await service_email.send_otp(state, params, client, redirect_to)
    return {}


@router.post("/magiclink", dependencies=KEY_AUTH)
async def magiclink(
    request: Request, state: StateDep, client: ClientDep, redirect_to: str | None = None
) -> dict[str, Any]:
    """The legacy magic-link endpoint (clients now use /otp)."""
    params = await read_body(request, OtpParams)
    await service_email.send_otp(state, params, client, redirect_to)
    return {}


@router.post("/recover", dependencies=KEY_AUTH)
async def recover(
    request: Request, state: StateDep, client: ClientDep, redirect_to: str | None = None
) -> dict[str, Any]:
    """Password reset mail."""
    params = await read_body(request, EmailParams)
    await service_email.recover(state, params, client, redirect_to)
    return {}


@router.post("/resend", dependencies=KEY_AUTH)
async def resend(
    request: Request, state: StateDep, client: ClientDep, redirect_to: str | None = None
) -> dict[str, Any]:
    """Resend a signup confirmation or email-change mail."""
    params = await read_body(request, ResendParams)
    await service_email.resend(state, params, client, redirect_to)
    return {}


@router.post("/verify", response_model=None)
async def verify(
    request: Request, state: StateDep, client: ClientDep
) -> dict[str, Any] | RedirectResponse:
    """Verify a code (with email) or a token hash: a Session. A form post (the link page's
    button) verifies the link's token and redirects like GET /verify."""
    params = await read_body(request, VerifyParams)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return await _follow_link(state, client, params)
    verified = await service_email.verify(state, params, client, link=False)
    if verified.message is not None:
        return {"msg": verified.message, "code": "200"}
    assert verified.session is not None
    return verified.session


@router.get("/verify", response_model=None)
async def verify_link(
    request: Request,
    state: StateDep,
    client: ClientDep,
    token: str = "",
    type: str = "",
    redirect_to: str | None = None,
) -> Response:
    """Follow a mailed link: redirect with the session or a PKCE code. HEAD never consumes
    the token; with `link_interstitial` neither does GET (it shows a confirm button)."""
    params = VerifyParams(type=type, token=token, redirect_to=redirect_to)
    if request.method == "HEAD":
        return Response(status_code=200, media_type="text/html")
    if state.settings.link_interstitial:
        return HTMLResponse(_interstitial(params))
    return await _follow_link(state, client, params)


async def _follow_link(state: AuthState, client: Client, params: VerifyParams) -> RedirectResponse:
    target = links.safe_redirect(state, params.redirect_to)
    try:
        verified = await service_email.verify(state, params, client, link=True)
    except AuthError as exc:
        error = {"error": "access_denied" if exc.status == 403 else "server_error"}
        error |= {"error_code": exc.code, "error_description": exc.message}
        query = urlencode(error)
        return RedirectResponse(f"{_with_query(target, query)}#{query}", status_code=303)
    if verified.message is not None:
        return RedirectResponse(f"{target}#{urlencode({'message': verified.message})}", 303)
    if verified.auth_code is not None:
        return RedirectResponse(_with_query(target, f"code={verified.auth_code}"), status_code=303)
    session = verified.session or {}
    fragment = urlencode(
        {
            "access_token": session.get("access_token", ""),
            "expires_at": session.get("expires_at", ""),
            "expires_in": session.get("expires_in", ""),
            "refresh_token": session.get("refresh_token", ""),
            "token_type": "bearer",
            "type": verified.purpose,
        }
    )
    return RedirectResponse(f"{target}#{fragment}", status_code=303)


def _interstitial(params: VerifyParams) -> str:
    fields = {"token": params.token or "", "type": params.type or ""}
    fields["redirect_to"] = params.redirect_to or ""
    inputs = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in fields.items()
    )
    return (
        "<!doctype html><meta charset=utf-8><title>Continue</title>"
        '<form method="post" action="/auth/v1/verify">'
        f'{inputs}<button type="submit">Continue</button></form>'
    )


def _with_query(url: str, query: str) -> str:
    base, _, fragment = url.partition("#")
    joined = f"{base}{'&' if '?' in base else '?'}{query}"
    return f"{joined}#{fragment}" if fragment else joined


# Link scanners probe with HEAD; same handler, kept out of the OpenAPI document (one id).
router.add_api_route(
    "/verify", verify_link, methods=["HEAD"], response_model=None, include_in_schema=False
)
