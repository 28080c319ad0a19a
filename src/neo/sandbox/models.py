"""The sandbox API's values: request bodies (pydantic, validated at the edge) and the
`Sandbox` record as the store returns it and the API shows it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from neo.sandbox.runtimes.base import Limits, NetworkPolicy, SandboxSpec
from neo.sandbox.runtimes.egress import MAX_RULES, RuleError, parse_rules

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
ENV_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class Body(BaseModel):
    """Base of request bodies: unknown fields are an error, and so is NUL in any text."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _no_nul(self) -> Self:
        if _has_nul(self.model_dump()):
            raise ValueError("text cannot contain NUL characters")
        return self


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


EnvKey = Annotated[str, StringConstraints(pattern=ENV_KEY_PATTERN)]
Env = dict[EnvKey, str]


class Network(Body):
    """Egress policy: `deny` (no network but the sandbox's own loopback), or `allow` with the
    hosts (`name`, `*.domain`, IP; optional `:port`, else 80 and 443) reachable through the
    host-side filtering proxy."""

    mode: Literal["deny", "allow"] = "deny"
    allow: list[Annotated[str, StringConstraints(min_length=1, max_length=300)]] = Field(
        [], max_length=MAX_RULES
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.mode == "deny" and self.allow:
            raise ValueError("an allow-list needs mode 'allow'")
        if self.mode == "allow" and not self.allow:
            raise ValueError("mode 'allow' needs at least one host in 'allow'")
        try:
            parse_rules(self.allow)
        except RuleError as exc:
            raise ValueError(str(exc)) from None
        return self

    def policy(self) -> NetworkPolicy:
        """The runtime's value."""
        return NetworkPolicy(self.mode, tuple(self.allow))


class CreateSandbox(Body):
    """POST /sandboxes."""

    name: str | None = Field(None, pattern=NAME_PATTERN)
    labels: dict[str, str] = {}
    env: Env = {}
    cpus: float | None = Field(None, gt=0)
    memory_mb: int | None = Field(None, gt=0)
    disk_mb: int | None = Field(None, gt=0)
    pids: int | None = Field(None, gt=0)
    network: Network = Network()
    auto_stop_minutes: int | None = Field(None, ge=0)
    auto_delete_minutes: int | None = Field(None, ge=0)
    org_id: uuid.UUID | None = None  # default: a key's org; a user's own sandbox without it


class ExecBody(Body):
    """POST /sandboxes/{id}/exec."""

    command: str = Field(min_length=1, max_length=1 << 16)
    cwd: str = Field(".", max_length=4096)
    env: Env = {}
    timeout: float | None = Field(None, gt=0)
    mode: Literal["agent", "oneshot"] = "agent"


class CommandBody(Body):
    """POST /sandboxes/{id}/commands: a command run in the background."""

    command: str = Field(min_length=1, max_length=1 << 16)
    cwd: str = Field(".", max_length=4096)
    env: Env = {}


SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class SessionBody(Body):
    """POST /sandboxes/{id}/sessions: a shell session (id chosen or generated)."""

    id: str | None = Field(None, pattern=SESSION_ID_PATTERN)
    cwd: str = Field("/workspace", min_length=1, max_length=4096)


class SessionExecBody(Body):
    """POST /sandboxes/{id}/sessions/{sid}/exec."""

    command: str = Field(min_length=1, max_length=(1 << 16) - 1024)  # room for the wrapping
    timeout: float | None = Field(None, gt=0)
    background: bool = False


class PtyParams(Body):
    """GET /sandboxes/{id}/pty (WebSocket) query: the terminal's command, directory, size."""

    command: str = Field("", max_length=1 << 16)
    cwd: str = Field(".", max_length=4096)
    cols: int = Field(80, ge=1, le=1000)
    rows: int = Field(24, ge=1, le=1000)


class MoveBody(Body):
    """POST /sandboxes/{id}/files/move."""

    source: str = Field(min_length=1, max_length=4096)
    destination: str = Field(min_length=1, max_length=4096)
    overwrite: bool = False


class MkdirBody(Body):
    """POST /sandboxes/{id}/files/mkdir."""

    path: str = Field(min_length=1, max_length=4096)
    parents: bool = False


@dataclass(frozen=True)
class Sandbox:
    """One sandbox's row."""

    id: str
    owner: str | None
    name: str
    labels: dict[str, str]
    state: str
    slot: int
    limits: Limits
    env: dict[str, str]
    network: NetworkPolicy
    auto_stop_minutes: int
    auto_delete_minutes: int | None
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    org_id: str | None = None
    created_by: str | None = None
    writable: bool = True  # the caller's right to act on it (read-only callers: False)

    @classmethod
    def from_row(cls, row: Any) -> Sandbox:
        """Build from a store row."""
        network = json.loads(row["network"])
        return cls(
            id=str(row["id"]),
            owner=row["owner"],
            name=row["name"],
            labels=json.loads(row["labels"]),
            state=row["state"],
            slot=row["slot"],
            limits=Limits(float(row["cpus"]), row["memory_mb"], row["disk_mb"], row["pids"]),
            env=json.loads(row["env"]),
            network=NetworkPolicy(network["mode"], tuple(network.get("allow", ()))),
            auto_stop_minutes=row["auto_stop_minutes"],
            auto_delete_minutes=row["auto_delete_minutes"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            last_activity_at=row["last_activity_at"],
            org_id=str(row["org_id"]) if row["org_id"] else None,
            created_by=row["created_by"],
            writable=bool(row.get("writable", True)),
        )

    def spec(self) -> SandboxSpec:
        """What the runtime needs."""
        return SandboxSpec(self.id, self.slot, self.limits, self.env, self.network)

    def public(self) -> dict[str, Any]:
        """The API's view."""
        return {
            "id": self.id,
            "name": self.name,
            "owner": self.owner,
            "org_id": self.org_id,
            "created_by": self.created_by,
            "state": self.state,
            "labels": self.labels,
            "env": self.env,
            "cpus": self.limits.cpus,
            "memory_mb": self.limits.memory_mb,
            "disk_mb": self.limits.disk_mb,
            "pids": self.limits.pids,
            "network": {"mode": self.network.mode, "allow": list(self.network.allow)},
            "auto_stop_minutes": self.auto_stop_minutes,
            "auto_delete_minutes": self.auto_delete_minutes,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "last_activity_at": self.last_activity_at.isoformat(),
        }
