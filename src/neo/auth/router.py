"""HTTP routes of `/auth/v1` served so far: health and the public key documents."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from neo import __version__
from neo.core.deps import CoreDep

PREFIX = "/auth/v1"
router = APIRouter(prefix=PREFIX, tags=["auth"])


@router.get("/health")
async def health() -> dict[str, str]:
    """GoTrue's health document."""
    return {"version": __version__, "name": "NEO Auth", "description": "GoTrue-compatible auth"}


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
