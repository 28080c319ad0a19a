"""Breached-password check for new passwords (auth-security B3), on sign-up and on change.

Two sources: an offline list of the 30,000 most used passwords (on by default, no network),
and, when `password_hibp_enabled`, Have I Been Pwned's k-anonymity range API: only the
first five hex digits of the password's SHA-1 leave the process. An unreachable API lets
the password through unless `password_hibp_fail_closed` (then 503), as GoTrue's
`PASSWORD_HIBP_FAIL_CLOSED`.

The offline list is zxcvbn's (the `zxcvbn` package, pinned): its frequency-ranked passwords
from public breach corpora, all lower case, compared with the password folded to lower case.
Only the list is used, never zxcvbn's scoring. It is read on the first check, in a thread,
not at import, so start-up does not pay for it: the data file alone is run (not the package,
which would also index its five other word lists), 10-40 ms of CPU once per process; the set
holds 3.6 MiB (the process grows by about 7 MiB). Entries shorter than
`password_min_length` are refused by the length check before this one.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib.util
from pathlib import Path

import httpx

from neo.auth.errors import PasswordCheckUnavailable, WeakPassword
from neo.auth.settings import AuthSettings

PWNED_MESSAGE = "Password is known to be weak and easy to guess, please choose a different one."


@functools.cache
def common_passwords() -> frozenset[str]:
    """zxcvbn's 30,000 most used passwords (lower case), read once per process."""
    spec = importlib.util.find_spec("zxcvbn")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the zxcvbn package is missing: it holds the common-password list")
    path = Path(next(iter(spec.submodule_search_locations))) / "frequency_lists.py"
    source = importlib.util.spec_from_file_location("_neo_zxcvbn_frequency_lists", path)
    if source is None or source.loader is None:
        raise RuntimeError(f"cannot read {path}")
    module = importlib.util.module_from_spec(source)
    source.loader.exec_module(module)  # a private copy, dropped with the other lists
    return frozenset(word.lower() for word in module.FREQUENCY_LISTS["passwords"])


async def _is_common(password: str) -> bool:
    if common_passwords.cache_info().currsize == 0:
        await asyncio.to_thread(common_passwords)  # the first check reads the list off-loop
    return password.lower() in common_passwords()


async def check_not_breached(password: str, settings: AuthSettings) -> None:
    """422 `weak_password` (reason `pwned`) for a common or breached password."""
    if settings.password_common_list and await _is_common(password):
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
