"""Request bodies of `/auth/v1`, as the official clients send them (spec §1.3-§1.9).

Unknown fields are ignored (clients add `gotrue_meta_security` and the like); wrong types
are a 400 `bad_json` (see `deps.read_body`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    """Base: ignore what NEO does not use."""

    model_config = ConfigDict(extra="ignore")


class PkceParams(Params):
    code_challenge: str | None = None
    code_challenge_method: str | None = None


class SignupParams(PkceParams):
    email: str | None = None
    phone: str | None = None
    password: str | None = None
    data: dict[str, Any] | None = None
    channel: str | None = None


class PasswordGrant(Params):
    email: str | None = None
    phone: str | None = None
    password: str | None = None


class PkceGrant(Params):
    auth_code: str | None = None
    code_verifier: str | None = None


class UserUpdate(PkceParams):
    email: str | None = None
    phone: str | None = None
    password: str | None = None
    current_password: str | None = None
    nonce: str | None = None
    data: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None


class AdminUser(Params):
    id: str | None = None
    email: str | None = None
    phone: str | None = None
    password: str | None = None
    password_hash: str | None = None
    email_confirm: bool | None = None
    phone_confirm: bool | None = None
    user_metadata: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None
    role: str | None = None
    ban_duration: str | None = None


class DeleteUser(Params):
    should_soft_delete: bool = False


class OtpParams(PkceParams):
    email: str | None = None
    phone: str | None = None
    data: dict[str, Any] | None = None
    create_user: bool = True
    channel: str | None = None


class EmailParams(PkceParams):
    email: str | None = None


class ResendParams(PkceParams):
    type: str | None = None
    email: str | None = None
    phone: str | None = None


class VerifyParams(Params):
    type: str | None = None
    token: str | None = None
    token_hash: str | None = None
    email: str | None = None
    phone: str | None = None
    redirect_to: str | None = None


class InviteParams(Params):
    email: str | None = None
    data: dict[str, Any] | None = None


class GenerateLinkParams(Params):
    type: str | None = None
    email: str | None = None
    password: str | None = None
    new_email: str | None = None
    data: dict[str, Any] | None = None
    redirect_to: str | None = None
