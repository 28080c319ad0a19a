"""The settings tree: every section of every capability, read once from env, `.env` and flags.

Variables use the `NEO_` prefix and `__` between levels (`NEO_API__PORT=8000`); a few
Supabase-style names are accepted as they are (`DATABASE_URL`, `JWT_SECRET`). Unknown `NEO_*`
variables or keys are rejected with a message naming them, so a typo never silently does
nothing. The tree is built once by the CLI or the app factory and passed down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from neo.auth import AuthSettings
from neo.core.settings import (
    ApiSettings,
    CoreSettings,
    DatabaseSettings,
    GatewaySettings,
    KeySettings,
    LogSettings,
)
from neo.data import DataSettings
from neo.sandbox import SandboxSettings
from neo.storage import StorageSettings

ENV_PREFIX = "NEO_"
# Variables with the prefix that are not settings (read by tests and scripts, not by NEO).
NOT_SETTINGS = frozenset({"NEO_TEST_DATABASE_URL"})


class ConfigError(ValueError):
    """The configuration is invalid; the message says which key and why."""


class Settings(BaseSettings):
    """Root of the settings tree."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
        frozen=True,
        populate_by_name=True,
    )

    data_dir: Path = Path(".neo")
    api: ApiSettings = ApiSettings()
    db: DatabaseSettings = DatabaseSettings()
    keys: KeySettings = KeySettings()
    gateway: GatewaySettings = GatewaySettings()
    log: LogSettings = LogSettings()
    data: DataSettings = DataSettings()
    auth: AuthSettings = AuthSettings()
    storage: StorageSettings = StorageSettings()
    sandbox: SandboxSettings = SandboxSettings()
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("DATABASE_URL", "NEO_DATABASE_URL"), exclude=True
    )
    jwt_secret: str | None = Field(
        None, validation_alias=AliasChoices("JWT_SECRET", "NEO_JWT_SECRET"), exclude=True
    )

    def core(self) -> CoreSettings:
        """The core's view of the tree, with the Supabase-style aliases folded in."""
        db, keys = self.db, self.keys
        if self.database_url and db.url is None:
            db = db.model_copy(update={"url": self.database_url})
        if self.jwt_secret and keys.jwt_secret is None:
            keys = keys.model_copy(update={"jwt_secret": self.jwt_secret})
        return CoreSettings(
            data_dir=self.data_dir.expanduser().absolute(),
            api=self.api,
            db=DatabaseSettings.model_validate(db.model_dump() | {"url": _secret(db.url)}),
            keys=KeySettings.model_validate(
                keys.model_dump() | {"jwt_secret": _secret(keys.jwt_secret)}
            ),
            gateway=self.gateway,
            log=self.log,
            token_ttl=self.auth.jwt_exp,
        )


def _secret(value: SecretStr | str | None) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def unknown_env_keys(environ: Mapping[str, str]) -> list[str]:
    """`NEO_*` variables that match no setting; nested keys are then checked by validation."""
    sections = {
        name.upper()
        for name, info in Settings.model_fields.items()
        if isinstance(info.default, BaseModel)
    }
    scalars = {name.upper() for name in Settings.model_fields} - sections
    unknown = []
    for name in environ:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NOT_SETTINGS:
            continue
        top, nested, _ = upper.removeprefix(ENV_PREFIX).partition("__")
        if (nested and top not in sections) or (not nested and top not in scalars):
            unknown.append(name)
    return sorted(unknown)


def load_settings(**overrides: Any) -> Settings:
    """Build the tree from env, `.env` and explicit overrides (CLI flags); raise ConfigError."""
    unknown = unknown_env_keys(os.environ)
    if unknown:
        raise ConfigError(f"unknown setting(s) in the environment: {', '.join(unknown)}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        lines.append(f"{where}: {err['msg']}")
    return "invalid configuration: " + "; ".join(lines)
