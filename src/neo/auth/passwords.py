"""Password policy and hashing, always off the event loop.

New hashes are argon2id at OWASP parameters (or bcrypt, as configured); bcrypt hashes from
Supabase (`$2a$`/`$2b$`/`$2y$`) and Firebase's scrypt hashes (`$fbscrypt$`, as GoTrue imports
them) verify and are rehashed on the next login. Nothing is ever
truncated: bcrypt's 72-byte limit makes longer passwords fail to verify (and, with bcrypt as
the algorithm, be rejected when set). Unknown users verify against a dummy hash, so a login
takes the same time whether or not the account exists.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import argon2
import bcrypt
from argon2.exceptions import InvalidHashError, VerificationError

from neo.auth import fbscrypt
from neo.auth.errors import ValidationFailed, WeakPassword
from neo.auth.settings import AuthSettings

BCRYPT_MAX_BYTES = 72
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
T = TypeVar("T")


class Hasher:
    """Hashes and verifies passwords with the configured algorithm.

    Hashing runs in a thread pool of its own, one thread per core by default (argon2 and
    bcrypt release the GIL): a burst of sign-ins queues there, never in the event loop nor in
    the default executor other requests' blocking calls use.
    """

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self.argon2 = argon2.PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=argon2.Type.ID,
        )
        self.dummy_hash = ""
        workers = settings.hash_workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="neo-hash")

    def close(self) -> None:
        """Stop the hashing threads (after the work queued so far)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _off_loop(self, work: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    async def prepare(self) -> None:
        """Compute the dummy hash unknown users are verified against."""
        self.dummy_hash = await self.hash(secrets.token_urlsafe(24))

    async def hash(self, password: str) -> str:
        """A new hash of `password` (in a worker thread)."""
        return await self._off_loop(self._hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches `stored`; a missing hash costs the same time."""
        return await self._off_loop(self._verify, stored or self.dummy_hash, password, stored)

    def needs_rehash(self, stored: str) -> bool:
        """True when `stored` is not a hash of the current algorithm and parameters."""
        if self.settings.hash_algorithm == "bcrypt":
            return not stored.startswith(_BCRYPT_PREFIXES) or _bcrypt_cost(stored) < (
                self.settings.bcrypt_cost
            )
        if not stored.startswith("$argon2id$"):
            return True
        try:
            return self.argon2.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True

    def _hash(self, password: str) -> str:
        if self.settings.hash_algorithm == "bcrypt":
            salt = bcrypt.gensalt(rounds=self.settings.bcrypt_cost)
            return bcrypt.hashpw(password.encode(), salt).decode()
        return self.argon2.hash(password)

    def _verify(self, stored: str, password: str, real: str | None) -> bool:
        ok = _check(self.argon2, stored, password)
        return ok and real is not None


def _check(hasher: argon2.PasswordHasher, stored: str, password: str) -> bool:
    raw = password.encode()
    if stored.startswith(_BCRYPT_PREFIXES):
        if len(raw) > BCRYPT_MAX_BYTES:
            return False  # bcrypt would compare only the first 72 bytes
        try:
            return bcrypt.checkpw(raw, stored.encode())
        except ValueError:
            return False
    if stored.startswith("$argon2"):
        try:
            return hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    if stored.startswith(fbscrypt.PREFIX):
        return fbscrypt.verify(stored, password)
    return False


def _bcrypt_cost(stored: str) -> int:
    try:
        return int(stored.split("$")[2])
    except (IndexError, ValueError):
        return 0


def check_password_length(password: str, settings: AuthSettings) -> None:
    """Reject oversized passwords before any hashing (a cheap 400, not a slow hash)."""
    limit = settings.password_max_bytes
    if settings.hash_algorithm == "bcrypt":
        limit = min(limit, BCRYPT_MAX_BYTES)
    if len(password.encode()) > limit:
        raise ValidationFailed(f"Password cannot be longer than {limit} characters")


def check_password_strength(password: str, settings: AuthSettings) -> None:
    """The policy for a new password: length only, no composition rules (ASVS 6.2)."""
    check_password_length(password, settings)
    if len(password) < settings.password_min_length:
        raise WeakPassword(
            f"Password should be at least {settings.password_min_length} characters.",
            ["length"],
        )
