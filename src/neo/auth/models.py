"""GoTrue's JSON objects: User, Identity, Factor and the Session (token response).

Field names, order and omission rules follow GoTrue's Go structs (spec §1.2): optional
timestamps are left out when null, `email`/`phone` are "" when absent, `factors` only when
the user has some, and timestamps are RFC 3339 in UTC with fractional seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Row = dict[str, Any]


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, as Go's time.Time marshals."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def user_json(user: Row, identities: list[Row], factors: list[Row] | None = None) -> Row:
    """The User object."""
    body: Row = {"id": str(user["id"]), "aud": user["aud"] or "", "role": user["role"] or ""}
    body["email"] = user["email"] or ""
    _put_time(body, user, "email_confirmed_at")
    body["phone"] = user["phone"] or ""
    for key in ("phone_confirmed_at", "confirmation_sent_at", "confirmed_at", "recovery_sent_at"):
        _put_time(body, user, key)
    if user.get("email_change"):
        body["new_email"] = user["email_change"]
    _put_time(body, user, "email_change_sent_at")
    if user.get("phone_change"):
        body["new_phone"] = user["phone_change"]
    for key in ("phone_change_sent_at", "reauthentication_sent_at", "invited_at"):
        _put_time(body, user, key)
    _put_time(body, user, "last_sign_in_at")
    body["app_metadata"] = user["raw_app_meta_data"] or {}
    body["user_metadata"] = user["raw_user_meta_data"] or {}
    if factors:
        body["factors"] = [factor_json(f) for f in factors]
    body["identities"] = [identity_json(i) for i in identities]
    body["created_at"] = timestamp(user["created_at"])
    body["updated_at"] = timestamp(user["updated_at"])
    _put_time(body, user, "banned_until")
    _put_time(body, user, "deleted_at")
    body["is_anonymous"] = bool(user["is_anonymous"])
    return body


def _put_time(body: Row, row: Row, key: str) -> None:
    value = row.get(key)
    if value is not None:
        body[key] = timestamp(value)


def identity_json(identity: Row) -> Row:
    """The Identity object (note GoTrue's names: `identity_id` is the row, `id` the provider's)."""
    return {
        "identity_id": str(identity["id"]),
        "id": identity["provider_id"],
        "user_id": str(identity["user_id"]),
        "identity_data": identity["identity_data"] or {},
        "provider": identity["provider"],
        "last_sign_in_at": timestamp(identity["last_sign_in_at"]),
        "created_at": timestamp(identity["created_at"]),
        "updated_at": timestamp(identity["updated_at"]),
        "email": identity.get("email") or "",
    }


def factor_json(factor: Row) -> Row:
    """The Factor object."""
    body: Row = {
        "id": str(factor["id"]),
        "friendly_name": factor["friendly_name"] or "",
        "factor_type": factor["factor_type"],
        "status": factor["status"],
        "created_at": timestamp(factor["created_at"]),
        "updated_at": timestamp(factor["updated_at"]),
    }
    if factor.get("phone"):
        body["phone"] = factor["phone"]
    if factor.get("last_challenged_at") is not None:
        body["last_challenged_at"] = timestamp(factor["last_challenged_at"])
    return body


def session_json(
    *, access_token: str, refresh_token: str, expires_in: int, expires_at: int, user: Row
) -> Row:
    """The AccessTokenResponse every successful grant returns."""
    return {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": expires_in,
        "expires_at": expires_at,
        "refresh_token": refresh_token,
        "user": user,
    }
