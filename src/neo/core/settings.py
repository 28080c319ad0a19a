"""Settings sections owned by the core: API server, database, keys, gateway and logging.

Each section is a plain pydantic model; the root tree (`neo.settings.Settings`) composes them
with the capability sections and reads them from `NEO_*` variables, `.env` and flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Section(BaseModel):
    """Base for every settings section: unknown keys are an error, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiSettings(Section):
    """Where the HTTP API listens and how many processes serve it."""

    host: str = "127.0.0.1"
    port: int = Field(54321, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    public_url: str | None = None  # as clients reach it (behind a proxy); default http://host:port
    cors_origins: list[str] = ["*"]


class DatabaseSettings(Section):
    """The PostgreSQL NEO uses: embedded (default) or an external server via `url`."""

    url: SecretStr | None = None  # also read from DATABASE_URL
    api_url: SecretStr | None = None  # connection as `authenticator`; derived from `url` if unset
    host: str = "127.0.0.1"  # embedded server: TCP address for other tools
    port: int = Field(54322, ge=1, le=65535)
    password: SecretStr | None = None  # embedded server: password of `postgres` over TCP
    pool_max: int = Field(20, ge=2, le=500)
    pool_min: int = Field(1, ge=0, le=100)
    exposed_search_path: list[str] = ["public", "extensions"]
    start_timeout: float = Field(30.0, gt=0)


class KeySettings(Section):
    """JWT signing and API keys.

    `jwt_secret` is Supabase's legacy HS256 secret (JWT_SECRET); unset, NEO generates one per
    key set. `jwt_keys` takes a JSON list of JWKs like GoTrue's GOTRUE_JWT_KEYS: the key with
    `key_ops` containing `sign` (or the first private key) signs, the others only verify.
    Keys from the database are reloaded every `refresh_interval` seconds by each process, and
    a rotated-out key retires itself once the tokens it signed have expired (`auto_retire`,
    `neo.core.key_refresh`); configured keys are neither reloaded nor retired.
    """

    keyset: str = Field("default", pattern=r"^[a-z0-9_-]{1,40}$")
    jwt_secret: SecretStr | None = None  # also read from JWT_SECRET
    jwt_keys: list[dict[str, object]] | None = None
    issuer: str | None = None  # default: {public_url}/auth/v1
    accepted_issuers: list[str] = ["supabase", "supabase-demo"]
    accepted_audiences: list[str] = ["authenticated", "anon", "service_role"]
    # Supabase's legacy JWT secret verifies kid-less HS256 tokens (the legacy anon and
    # service_role keys among them). False: only keys with a `kid` verify (auth-security D2).
    legacy_hs256: bool = True
    # Retire a previous key once the longest access token it could have signed has expired
    # (auth's jwt_exp + refresh_interval + 60 s after the rotation that replaced it).
    auto_retire: bool = True
    refresh_interval: float = Field(60.0, gt=0, le=3600)  # seconds between key-set reloads
    api_key_ttl_days: int = Field(3650, ge=1)


class GatewaySettings(Section):
    """How requests are resolved to an Actor."""

    require_api_key: bool = False  # strict mode: no key and no bearer -> 401
    jwt_cache_size: int = Field(4096, ge=0)


class LogSettings(Section):
    """Logging: level and format (`auto` = pretty on a TTY, JSON otherwise)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    access_log: bool = True


class CoreSettings(Section):
    """Everything the core needs, as one object handed to `neo.core` at start."""

    data_dir: Path
    api: ApiSettings
    db: DatabaseSettings
    keys: KeySettings
    gateway: GatewaySettings
    log: LogSettings
    # The longest access-token lifetime the keys sign (auth's jwt_exp, filled in by the
    # settings tree): how long a rotated-out key must keep verifying.
    token_ttl: int = Field(3600, ge=1)
