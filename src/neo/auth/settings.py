"""Auth settings (`NEO_AUTH__*`): GoTrue's knobs, with defaults like the Supabase CLI's.

Names follow GoTrue's environment variables where one exists (`site_url`, `uri_allow_list`,
`jwt_exp`, `mailer_autoconfirm` as `autoconfirm`, ...). Hashing, refresh-token reuse, OTP
lifetime and throttling are NEO's hardened defaults; every one can be set back.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from neo.core.settings import Section


class SmtpSettings(Section):
    """Outgoing mail; without `host` mail goes to the dev mailbox (`neo_auth.mailbox`)."""

    host: str | None = None
    port: int = Field(587, ge=1, le=65535)
    user: str | None = None
    password: SecretStr | None = None
    sender: str = "NEO <noreply@localhost>"
    use_tls: bool = False  # implicit TLS (465); STARTTLS is used when the server offers it
    timeout: float = Field(10.0, gt=0)


class OAuthProvider(Section):
    """One external sign-in provider (`NEO_AUTH__EXTERNAL__<NAME>__CLIENT_ID=...`).

    `kind=oidc` reads the endpoints from `{issuer}/.well-known/openid-configuration` and
    verifies the ID token (signature, iss, aud, exp, nonce); `kind=github` uses GitHub's API.
    The names `google` and `github` come with their endpoints preset.
    """

    enabled: bool = True
    kind: Literal["oidc", "github"] = "oidc"
    client_id: str = ""
    secret: SecretStr | None = None
    issuer: str | None = None
    authorize_url: str | None = None
    token_url: str | None = None
    userinfo_url: str | None = None
    scopes: list[str] = []
    redirect_uri: str | None = None  # default: {public_url}/auth/v1/callback
    trust_email_verified: bool = True  # link to an existing account on a verified email


class RateLimitSettings(Section):
    """Throttles kept in Postgres (shared by every worker). Counts per window, 0 = off.

    Per-IP limits key on the connecting peer; behind a reverse proxy set
    `AuthSettings.trusted_proxies`, or every client counts as the proxy's address.
    """

    login_failures: int = Field(5, ge=0)  # per account, then back off
    login_window: int = Field(900, ge=1)  # seconds
    token_per_ip: int = Field(150, ge=0)  # every /token grant, per client IP
    token_window: int = Field(300, ge=1)
    otp_per_ip: int = Field(30, ge=0)  # signup, otp, recover, resend, verify
    otp_window: int = Field(300, ge=1)
    anonymous_per_ip: int = Field(30, ge=0)
    anonymous_window: int = Field(3600, ge=1)
    mfa_per_ip: int = Field(15, ge=0)  # challenge and verify
    mfa_window: int = Field(60, ge=1)
    email_sent: int = Field(30, ge=0)  # per hour, every recipient together
    email_per_recipient: int = Field(5, ge=0)  # per hour; more are silently dropped
    email_min_interval: int = Field(60, ge=0)  # seconds between two mails to one address


class AuthSettings(Section):
    """Everything the auth capability reads from configuration."""

    site_url: str = "http://localhost:3000"
    uri_allow_list: list[str] = []
    jwt_exp: int = Field(3600, ge=30, le=7 * 24 * 3600)
    jwt_aud: str = "authenticated"
    admin_roles: list[str] = ["service_role", "supabase_admin"]
    disable_signup: bool = False
    autoconfirm: bool = True  # mailer_autoconfirm: sign-up logs in at once (Supabase CLI default)
    anonymous_users: bool = True
    email_enabled: bool = True
    password_min_length: int = Field(8, ge=6, le=256)
    password_max_bytes: int = Field(1024, ge=72, le=4096)
    password_common_list: bool = True  # refuse the most used passwords (offline list)
    password_hibp_enabled: bool = False  # also ask HIBP's range API (k-anonymity)
    password_hibp_url: str = "https://api.pwnedpasswords.com"  # noqa: S105 (a URL)
    password_hibp_fail_closed: bool = False  # API unreachable -> 503 instead of accepting
    password_hibp_timeout: float = Field(3.0, gt=0)
    hash_algorithm: Literal["argon2id", "bcrypt"] = "argon2id"
    argon2_memory_kib: int = Field(19456, ge=8)  # OWASP: >= 19 MiB, t >= 2, p = 1
    argon2_time_cost: int = Field(2, ge=1)
    argon2_parallelism: int = Field(1, ge=1)
    bcrypt_cost: int = Field(10, ge=4, le=16)
    hash_workers: int = Field(0, ge=0, le=256)  # hashing threads; 0 = one per core
    refresh_token_rotation: bool = True
    # GoTrue's switch (SECURITY_REFRESH_TOKEN_ALGORITHM_VERSION): 2 signs new sessions' refresh
    # tokens with a per-session key and a counter in the session row (decision 0012); 1 stores
    # a hashed row per token (decision 0005). Existing sessions keep the kind they began with.
    refresh_token_algorithm_version: int = Field(2, ge=1, le=2)
    refresh_token_reuse_interval: float = Field(10.0, ge=0)  # seconds; also bounds "one behind"
    # A rotation commits without waiting for the WAL flush (synchronous_commit off for that
    # one transaction): a PostgreSQL crash right after it can undo it, which only signs that
    # client out. True waits, like every other write.
    refresh_durable_commit: bool = False
    # GoTrue has both off; NEO ends a session 30 days after its last refresh and 90 days
    # after sign-in, so no refresh token lives forever (ASVS 7.3.1/7.3.2). 0 = off.
    sessions_timebox: int = Field(90 * 24 * 3600, ge=0)  # seconds from sign-in
    sessions_inactivity_timeout: int = Field(30 * 24 * 3600, ge=0)  # since the last refresh
    otp_expiry: int = Field(600, ge=30)  # seconds, email links and codes
    otp_length: int = Field(6, ge=6, le=10)
    otp_max_attempts: int = Field(5, ge=1)
    flow_state_expiry: int = Field(600, ge=30)  # PKCE auth codes
    pkce_allow_plain: bool = False  # `code_challenge_method=plain` only when set
    link_interstitial: bool = False  # GET on a mailed link shows a button that POSTs (F2)
    secure_password_change: bool = False  # a password change needs a /reauthenticate nonce
    # ...also needed, whatever the flag, once the session's last sign-in is older than this
    # (GoTrue's 24 h rule, on by default in NEO: ASVS 6.2.3); 0 = never.
    password_change_reauth_after: int = Field(24 * 3600, ge=0)
    secure_email_change: bool = True  # confirm on the old and the new address (GoTrue's default)
    trusted_proxies: list[str] = []  # addresses/CIDRs whose X-Forwarded-For is believed
    smtp: SmtpSettings = SmtpSettings()
    external: dict[str, OAuthProvider] = {}
    rate_limits: RateLimitSettings = RateLimitSettings()
