"""The hasher on its own: bcrypt as the configured algorithm, rehash decisions, length rules,
and hashing that leaves the event loop and the default thread pool free."""

from __future__ import annotations

import asyncio
import time

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


async def test_a_burst_of_hashes_blocks_neither_the_loop_nor_other_threads() -> None:
    hasher = Hasher(AuthSettings(argon2_memory_kib=19456, argon2_time_cost=2, hash_workers=1))
    try:
        started = time.perf_counter()
        # one worker, ~20 ms a hash: the burst lasts several times the ~60 ms probed below
        # (6 hashes were too few on a quiet machine: the probe took half the burst)
        burst = [asyncio.ensure_future(hasher.hash(f"password {i}")) for i in range(24)]
        await asyncio.sleep(0.01)
        gaps = []
        for _ in range(5):  # the loop keeps its timers while the hashes run
            tick = time.perf_counter()
            await asyncio.sleep(0.01)
            gaps.append(time.perf_counter() - tick)
        await asyncio.to_thread(int)  # the default pool is not queued behind the hashes
        other_work_done = time.perf_counter() - started
        hashes = await asyncio.gather(*burst)
        all_done = time.perf_counter() - started
    finally:
        hasher.close()
    assert max(gaps) < 0.15
    assert other_work_done < all_done / 2
    assert all(h.startswith("$argon2id$") for h in hashes)


def test_policy_is_length_only() -> None:
    check_password_strength("aaaaaaaa", ARGON)  # no composition rules
    with pytest.raises(AuthError) as error:
        check_password_strength("short", ARGON)
    assert error.value.code == "weak_password"
    with pytest.raises(AuthError):
        check_password_length("x" * 1025, ARGON)


def test_minimum_length_is_8_by_default_and_configurable() -> None:
    assert AuthSettings().password_min_length == 8  # GoTrue: 6 (docs/deviations.md)
    stricter = AuthSettings(password_min_length=12)
    check_password_strength("a" * 12, stricter)
    with pytest.raises(AuthError) as error:
        check_password_strength("a" * 11, stricter)
    assert error.value.code == "weak_password"
