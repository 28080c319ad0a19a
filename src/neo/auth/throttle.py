"""Throttles kept in Postgres (`neo_auth.throttles`), so every worker and instance shares them.

* per client IP, per endpoint family (GoTrue's token / otp / anonymous limiters), keyed on
  the address the trusted-proxy chain yields (`deps.get_client`);
* per account: after `login_failures` wrong passwords within `login_window` the account
  answers 429 with Retry-After, whatever the password, until the window passes (a back-off,
  not a lockout);
* mail: a global hourly cap (429 `over_email_send_rate_limit`) and per-recipient caps that
  silently drop extra mails, so that answers never tell whether an account exists.
"""

from __future__ import annotations

import hashlib
from typing import Any

from neo.auth import store
from neo.auth.errors import OverEmailSendRateLimit, OverRequestRateLimit, retry_after
from neo.auth.sessions import Client
from neo.auth.state import AuthState
from neo.core.db import Connection


def _key(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]}"


async def limit_ip(conn: Connection, state: AuthState, family: str, client: Client) -> None:
    """Count a request of `family` (token, otp, anonymous, mfa) from the client's IP."""
    limits = state.settings.rate_limits
    limit, window = {
        "token": (limits.token_per_ip, limits.token_window),
        "otp": (limits.otp_per_ip, limits.otp_window),
        "anonymous": (limits.anonymous_per_ip, limits.anonymous_window),
        "mfa": (limits.mfa_per_ip, limits.mfa_window),
    }[family]
    if not limit or not client.ip:
        return
    hits, left = await store.hit_throttle(conn, _key(f"ip:{family}", client.ip), window)
    if hits > limit:
        raise retry_after(OverRequestRateLimit(), left)


def login_keys(
    state: AuthState, client: Client, account: str
) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
    """The password grant's throttles as (key, window): the client IP's token limit and the
    account's wrong passwords, None for a limit that is off (`store.find_login` reads both
    with the user)."""
    limits = state.settings.rate_limits
    ip = (_key("ip:token", client.ip), limits.token_window)
    login = (login_key(account), limits.login_window)
    return (ip if limits.token_per_ip and client.ip else None,
            login if limits.login_failures else None)  # fmt: skip


def judge_login(state: AuthState, found: dict[str, Any]) -> int:
    """For `store.find_login`'s counts: 429 with Retry-After when the client IP is over its
    token limit or the account is backing off; else the account's recent wrong passwords."""
    limits = state.settings.rate_limits
    hits = found["ip_hits"]
    if hits is not None and hits > limits.token_per_ip:
        raise retry_after(OverRequestRateLimit(), found["ip_retry_after"])
    failures: int = found["login_failures"]
    if limits.login_failures and failures >= limits.login_failures:
        raise retry_after(OverRequestRateLimit(), limits.login_window)
    return failures


def login_key(account: str) -> str:
    """The throttle key of an account's wrong passwords."""
    return _key("login", account)


async def email_allowed(conn: Connection, state: AuthState, address: str) -> bool:
    """Count a mail to `address`; False when it must be dropped, 429 over the global cap."""
    limits = state.settings.rate_limits
    if limits.email_sent:
        hits, left = await store.hit_throttle(conn, "email:all", 3600)
        if hits > limits.email_sent:
            raise retry_after(OverEmailSendRateLimit(), left)
    if limits.email_min_interval:
        last = _key("email:last", address)
        if await store.peek_throttle(conn, last, limits.email_min_interval):
            return False
        await store.hit_throttle(conn, last, limits.email_min_interval)
    if limits.email_per_recipient:
        hits, _ = await store.hit_throttle(conn, _key("email:to", address), 3600)
        if hits > limits.email_per_recipient:
            return False
    return True
