"""Breached-password check for new passwords (auth-security B3), on sign-up and on change.

Two sources: a short offline list of the most used passwords (on by default, no network),
and, when `password_hibp_enabled`, Have I Been Pwned's k-anonymity range API: only the
first five hex digits of the password's SHA-1 leave the process. An unreachable API lets
the password through unless `password_hibp_fail_closed` (then 503), as GoTrue's
`PASSWORD_HIBP_FAIL_CLOSED`.
"""

from __future__ import annotations

import hashlib

import httpx

from neo.auth.errors import PasswordCheckUnavailable, WeakPassword
from neo.auth.settings import AuthSettings

PWNED_MESSAGE = "Password is known to be weak and easy to guess, please choose a different one."
# The most common passwords of 8+ characters in public breach corpora (the policy's minimum
# keeps shorter ones out already).
COMMON = frozenset(
    {
        "password",
        "password1",
        "password123",
        "password!",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "12345678",
        "123456789",
        "1234567890",
        "12345678910",
        "87654321",
        "11111111",
        "00000000",
        "88888888",
        "qwertyuiop",
        "qwerty123",
        "qwerty12",
        "1q2w3e4r",
        "1q2w3e4r5t",
        "1qaz2wsx",
        "zaq12wsx",
        "asdfghjkl",
        "iloveyou",
        "iloveyou1",
        "sunshine",
        "princess1",
        "football",
        "baseball",
        "superman",
        "starwars",
        "trustno1",
        "welcome1",
        "welcome123",
        "letmein1",
        "letmein123",
        "abc12345",
        "abcd1234",
        "admin123",
        "administrator",
        "changeme",
        "changeme123",
        "computer",
        "whatever",
        "michelle",
        "jennifer",
        "dragon123",
        "monkey123",
        "1234qwer",
        "qwer1234",
        "aa123456",
        "secret123",
        "default1",
        "test1234",
        "testtest",
        "internet",
    }
)


async def check_not_breached(password: str, settings: AuthSettings) -> None:
    """422 `weak_password` (reason `pwned`) for a common or breached password."""
    if settings.password_common_list and password.lower() in COMMON:
        raise WeakPassword(PWNED_MESSAGE, ["pwned"])
    if settings.password_hibp_enabled and await _pwned_count(password, settings) > 0:
        raise WeakPassword(PWNED_MESSAGE, ["pwned"])


async def _pwned_count(password: str, settings: AuthSettings) -> int:
    digest = hashlib.sha1(password.encode(), usedforsecurity=False).hexdigest().upper()
    prefix, suffix = digest[:5], digest[5:]
    url = f"{settings.password_hibp_url.rstrip('/')}/range/{prefix}"
    try:
        async with httpx.AsyncClient(timeout=settings.password_hibp_timeout) as http:
            response = await http.get(url, headers={"Add-Padding": "true"})
            response.raise_for_status()
    except httpx.HTTPError:
        if settings.password_hibp_fail_closed:
            raise PasswordCheckUnavailable() from None
        return 0
    for line in response.text.splitlines():
        candidate, _, count = line.strip().partition(":")
        if candidate.upper() == suffix:
            return int(count) if count.isdigit() else 1
    return 0
