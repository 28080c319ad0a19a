"""Auth: the GoTrue-compatible service under `/auth/v1`.

So far it serves the key documents (`/.well-known/jwks.json`, `/.well-known/openid-configuration`)
and `/health`; sign-up, tokens, users and the `auth` tables come with the auth issue.
Errors use GoTrue's body shapes (`errors.render_gotrue_error`).
"""

from neo.auth.errors import render_gotrue_error
from neo.auth.router import PREFIX, router

__all__ = ["PREFIX", "render_gotrue_error", "router"]
