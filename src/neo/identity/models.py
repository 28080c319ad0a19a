"""The `/identity/v1` contract: request bodies (validated into 422 `invalid_input`, see
`deps.body`) and the row shapes the API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["owner", "admin", "member", "viewer"]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
ROLES: tuple[Role, ...] = ("viewer", "member", "admin", "owner")  # lowest first


class Body(BaseModel):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class CreateOrg(Body):
    name: Name
    slug: Slug
    owner_id: str | None = None  # service role only: who becomes the owner


class UpdateOrg(Body):
    name: Name | None = None
    slug: Slug | None = None


# A built-in role, or the name of one of the org's custom roles.
RoleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]


class AddMember(Body):
    user_id: str
    role: RoleName = "member"


class ChangeRole(Body):
    role: RoleName


class CreateInvitation(Body):
    email: Email
    role: Role = "member"
    expires_in_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 24 * 7


class AcceptInvitation(Body):
    token: Annotated[str, Field(min_length=16, max_length=200)]


# A permission a key may hold: identity's own (`PERMISSIONS`) or an app's, for `neo.has_scope`.
Permission = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,40}(:[a-z0-9_.*-]{1,40})?$")]
# Identity's own permissions, one per route; `service_accounts:write` is for people only.
PERMISSIONS = (
    "org:read", "org:write", "members:read", "members:write", "invitations:read",
    "invitations:write", "projects:read", "projects:write", "audit:read",
    "service_accounts:write",
)  # fmt: skip


class CreateServiceAccount(Body):
    name: Name
    role: Literal["admin", "member", "viewer"] = "member"
    project_id: str | None = None  # limits the account (and its keys) to one project


class CreateApiKey(Body):
    name: Annotated[str, Field(max_length=200)] = ""
    permissions: Annotated[list[Permission], Field(max_length=64)]
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class CreateRole(Body):
    name: RoleName
    base: Literal["admin", "member", "viewer"]
    permissions: Annotated[list[Permission], Field(max_length=64)]


class UpdateRole(Body):
    permissions: Annotated[list[Permission], Field(max_length=64)]


class CreateProject(Body):
    name: Name
    slug: Slug


class UpdateProject(Body):
    name: Name | None = None
    slug: Slug | None = None


def public(row: Any, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A row as JSON-ready data (uuids and datetimes as strings), minus `drop` columns."""
    out: dict[str, Any] = {}
    for key, value in dict(row).items():
        if key in drop:
            continue
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif value is not None and not isinstance(value, str | int | bool | float | dict | list):
            out[key] = str(value)
        else:
            out[key] = value
    return out
