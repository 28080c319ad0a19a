"""OAuth routes: GET /authorize (to the provider) and GET|POST /callback (back to the app)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.responses import Response

from neo.auth.deps import ClientDep, StateDep, UserDep
from neo.auth.errors import AuthError
from neo.auth.oauth import service
from neo.auth.params import PkceParams
from neo.auth.service import current_user

router = APIRouter()


@router.get("/authorize")
async def authorize(
    state: StateDep,
    provider: str = "",
    redirect_to: str | None = None,
    scopes: str | None = None,
    code_challenge: str | None = None,
    code_challenge_method: str | None = None,
) -> RedirectResponse:
    """Send the browser to the provider (302)."""
    pkce = PkceParams(code_challenge=code_challenge, code_challenge_method=code_challenge_method)
    url = await service.authorize(
        state, provider, redirect_to=redirect_to, scopes=scopes, pkce=pkce
    )
    return RedirectResponse(url, status_code=302)


@router.get("/user/identities/authorize")
async def link_identity(
    state: StateDep,
    actor: UserDep,
    provider: str = "",
    redirect_to: str | None = None,
    scopes: str | None = None,
    code_challenge: str | None = None,
    code_challenge_method: str | None = None,
    skip_http_redirect: bool = False,
) -> Response:
    """Start linking a provider account to the caller (`{"url"}` with skip_http_redirect)."""
    async with state.transaction() as conn:
        user = await current_user(conn, actor)
    pkce = PkceParams(code_challenge=code_challenge, code_challenge_method=code_challenge_method)
    url = await service.authorize(
        state, provider, redirect_to=redirect_to, scopes=scopes, pkce=pkce,
        link_user_id=user["id"],
    )  # fmt: skip
    if skip_http_redirect:
        return JSONResponse({"url": url})
    return RedirectResponse(url, status_code=302)


@router.delete("/user/identities/{identity_id}")
async def unlink_identity(identity_id: str, state: StateDep, actor: UserDep) -> dict[str, Any]:
    """Unlink one of the caller's identities."""
    async with state.transaction() as conn:
        user = await current_user(conn, actor)
    await service.unlink(state, user, identity_id)
    return {}


@router.api_route("/callback", methods=["GET", "POST"])
async def callback(request: Request, state: StateDep, client: ClientDep) -> RedirectResponse:
    """The provider's redirect: sign in and send the browser on to the app (303)."""
    params = dict(request.query_params)
    if request.method == "POST":  # response_mode=form_post
        params |= dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    target = state.settings.site_url
    try:
        pending = await service.take_state(state, params.get("state", ""))
        target = pending["redirect_to"]
        if params.get("error"):
            url = service.error_redirect(
                target, None, code=params["error"],
                description=params.get("error_description", ""),
            )  # fmt: skip
            return RedirectResponse(url, status_code=303)
        signed_in = await service.finish(state, pending, params.get("code", ""), client)
    except AuthError as exc:
        url = service.error_redirect(target, exc, code="server_error", description=exc.message)
        return RedirectResponse(url, status_code=303)
    if signed_in.auth_code is not None:
        sep = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{sep}code={signed_in.auth_code}", status_code=303)
    session = signed_in.session or {}
    fragment: dict[str, str] = {
        k: str(session[k])
        for k in ("access_token", "expires_at", "expires_in", "provider_token",
                  "provider_refresh_token", "refresh_token", "token_type")
        if k in session
    }  # fmt: skip
    return RedirectResponse(f"{target}#{urlencode(fragment)}", status_code=303)
