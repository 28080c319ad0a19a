"""B3's offline list: zxcvbn's 30,000 most used passwords, deep entries included, refused at
sign-up and at a password change whatever their case; the list stays out of start-up."""

from __future__ import annotations

import secrets
import subprocess
import sys

import httpx
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from neo.auth.breached import common_passwords
from tests.auth.conftest import ANON, V2, bearer, random_email, sign_up

DEEP = "timberwolf"  # rank 20,283 of zxcvbn's password list


def test_the_offline_list_is_zxcvbns_whole_password_list() -> None:
    ranked = FREQUENCY_LISTS["passwords"]
    assert ranked.index(DEEP) + 1 > 10_000
    assert len(common_passwords()) == len(set(ranked)) > 29_000
    assert {"password", "iloveyou1", DEEP, ranked[-1]} <= common_passwords()


async def test_a_password_deep_in_the_list_is_pwned_at_sign_up(client: httpx.AsyncClient) -> None:
    refused = await client.post(
        "/auth/v1/signup", json={"email": random_email(), "password": "TimberWolf"},
        headers=ANON | V2,
    )  # fmt: skip
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "weak_password"
    assert refused.json()["weak_password"] == {"reasons": ["pwned"]}


async def test_a_password_deep_in_the_list_is_pwned_on_change(client: httpx.AsyncClient) -> None:
    session = await sign_up(client)
    refused = await client.put(
        "/auth/v1/user", json={"password": DEEP.upper()}, headers=bearer(session)
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "weak_password"
    assert refused.json()["weak_password"] == {"reasons": ["pwned"]}


async def test_a_random_strong_password_passes(client: httpx.AsyncClient) -> None:
    strong = secrets.token_urlsafe(18)
    session = await sign_up(client, password=strong)
    changed = await client.put(
        "/auth/v1/user", json={"password": secrets.token_urlsafe(18)}, headers=bearer(session)
    )
    assert changed.status_code == 200, changed.text


def test_start_up_does_not_load_the_list() -> None:
    """Importing the app and the CLI reads neither zxcvbn nor its lists (bench/startup)."""
    probe = "import sys, neo.app, neo.cli; print(sorted(m for m in sys.modules if 'zxcvbn' in m))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == "[]"
