"""Auth: the GoTrue-compatible service under `/auth/v1`, hardened beyond it.

Owns the `auth` schema with GoTrue's tables (users, identities, sessions, refresh_tokens, mfa_*,
flow_state, one_time_tokens, audit_log_entries, sso/saml) so that apps' foreign keys and triggers
on `auth.users` work and Supabase dumps load, plus `neo_auth` (dev mailbox, throttles). Serves
sign-up (email, anonymous), the password / refresh_token / pkce grants, GET/PUT /user, logout
scopes, the session list (`/sessions`, a NEO extension), email flows (otp, recover, resend, verify,
reauthenticate), TOTP MFA (`mfa/`), OAuth/OIDC sign-in as a client (`oauth/`), the admin API with
the dev mailbox, settings, health and the key documents. New passwords are checked against common
and breached ones (`breached`). Errors use GoTrue's codes and both body formats
(`errors.render_gotrue_error`). Settings: `AuthSettings` (`NEO_AUTH__*`).
"""

from pathlib import Path

from neo.auth.errors import render_gotrue_error
from neo.auth.mail import Mail
from neo.auth.router import PREFIX, router
from neo.auth.settings import AuthSettings
from neo.auth.state import AuthState, start
from neo.core.migrations import MigrationSource

MIGRATIONS = MigrationSource("auth", Path(__file__).with_name("migrations"))

__all__ = [
    "MIGRATIONS",
    "PREFIX",
    "AuthSettings",
    "AuthState",
    "Mail",
    "render_gotrue_error",
    "router",
    "start",
]
