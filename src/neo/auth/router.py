"""HTTP routes of `/auth/v1`: the public documents here, the rest in the `router_*` modules.

Every route of the capability is listed by the `include_router` calls below.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from neo import __version__
from neo.auth import mfa, router_admin, router_email, router_token, router_user
from neo.auth.deps import StateDep
from neo.auth.oauth import router as oauth
from neo.core.deps import CoreDep

PREFIX = "/auth/v1"
router = APIRouter(prefix=PREFIX, tags=["auth"])


@router.get("/health")
async def health() -> dict[str, str]:
    """GoTrue's health document."""
    return {"version": __version__, "name": "NEO Auth", "description": "GoTrue-compatible auth"}


@router.get("/settings")
async def settings(state: StateDep) -> dict[str, Any]:
    """GoTrue's settings document (which providers and sign-ups are on)."""
    s = state.settings
    external = {name: False for name in ("apple", "azure", "bitbucket", "discord", "facebook",
                "figma", "github", "gitlab", "google", "keycloak", "kakao", "linkedin",
                "linkedin_oidc", "notion", "slack", "slack_oidc", "spotify", "twitch",
                "twitter", "workos", "zoom", "phone")}  # fmt: skip
    external |= {"anonymous_users": s.anonymous_users, "email": s.email_enabled}
    return {
        "external": external,
        "disable_signup": s.disable_signup,
        "mailer_autoconfirm": s.autoconfirm,
        "phone_autoconfirm": False,
        "sms_provider": "",
        "saml_enabled": False,
        "saml_private_key_next_configured": False,
        "passkeys_enabled": False,
    }


@router.get("/.well-known/jwks.json")
async def jwks(core: CoreDep) -> dict[str, Any]:
    """Public keys that verify NEO's access tokens."""
    return core.keys.jwks()


@router.get("/.well-known/openid-configuration")
async def openid_configuration(core: CoreDep) -> dict[str, Any]:
    """Discovery document pointing at the JWKS."""
    issuer = core.keys.issuer
    return {
        "issuer": issuer,
        "jwks_uri": f"{core.public_url}/auth/v1/.well-known/jwks.json",
        "authorization_endpoint": f"{core.public_url}/auth/v1/authorize",
        "token_endpoint": f"{core.public_url}/auth/v1/token",
        "userinfo_endpoint": f"{core.public_url}/auth/v1/user",
        "id_token_signing_alg_values_supported": ["ES256", "RS256", "HS256"],
        "response_types_supported": ["code", "token"],
        "subject_types_supported": ["public"],
    }


# A plain Starlette route carries its full path (the prefix applies to `api_route` only).
router.add_route(f"{PREFIX}/token", router_token.token, methods=["POST"])
router.include_router(router_token.router)
router.include_router(router_user.router)
router.include_router(router_email.router)
router.include_router(router_admin.router)
router.include_router(mfa.router)
router.include_router(oauth.router)
