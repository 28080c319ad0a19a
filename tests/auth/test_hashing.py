"""The hasher on its own: bcrypt as the configured algorithm, rehash decisions, length rules."""

from __future__ import annotations

import pytest

from neo.auth.errors import AuthError
from neo.auth.passwords import Hasher, check_password_length, check_password_strength
from neo.auth.settings import AuthSettings

BCRYPT = AuthSettings(hash_algorithm="bcrypt", bcrypt_cost=4)
ARGON = AuthSettings(argon2_memory_kib=1024, argon2_time_cost=1)


async def test_bcrypt_mode_hashes_verifies_and_rejects_long_passwords() -> None:
    hasher = Hasher(BCRYPT)
    await hasher.prepare()
    stored = await hasher.hash("correct horse 1")
    assert stored.startswith("$2b$04$")
    assert await hasher.verify(stored, "correct horse 1")
    assert not await hasher.verify(stored, "correct horse 2")
    assert not hasher.needs_rehash(stored)
    with pytest.raises(AuthError) as error:
        check_password_length("a" * 73, BCRYPT)
    assert error.value.code == "validation_failed"


async def test_argon_mode_upgrades_bcrypt_and_weaker_argon_hashes() -> None:
    bcrypt_hasher, argon = Hasher(BCRYPT), Hasher(ARGON)
    await argon.prepare()
    assert argon.needs_rehash(await bcrypt_hasher.hash("pw pw pw pw"))
    weaker = Hasher(AuthSettings(argon2_memory_kib=512, argon2_time_cost=1))
    assert argon.needs_rehash(await weaker.hash("pw pw pw pw"))
    assert not argon.needs_rehash(await argon.hash("pw pw pw pw"))


async def test_unknown_user_never_verifies() -> None:
    hasher = Hasher(ARGON)
    await hasher.prepare()
    assert not await hasher.verify(None, "anything at all")
    assert not await hasher.verify("plain-text-is-not-a-hash", "plain-text-is-not-a-hash")


def test_policy_is_length_only() -> None:
    check_password_strength("aaaaaaaa", ARGON)  # no composition rules
    with pytest.raises(AuthError) as error:
        check_password_strength("short", ARGON)
    assert error.value.code == "weak_password"
    with pytest.raises(AuthError):
        check_password_length("x" * 1025, ARGON)
