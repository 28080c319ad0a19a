"""Scanner-safe links (auth-security F2): with `link_interstitial`, GET and HEAD on a mailed
link only show a button; the POST it makes consumes the token, once."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.auth.conftest import ANON, V2, mailbox, random_email, sign_up


@pytest.fixture(scope="module")
def auth_overrides() -> dict[str, Any]:
    return {"link_interstitial": True}


async def test_only_the_post_consumes_the_link(client: httpx.AsyncClient) -> None:
    email = random_email()
    await sign_up(client, email)
    await client.post("/auth/v1/recover", json={"email": email}, headers=ANON | V2)
    [mail] = await mailbox(client, email)
    parts = urlsplit(mail["link"])
    url = f"{parts.path}?{parts.query}"
    assert (await client.head(url)).status_code == 200
    page = await client.get(url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    form = {k: html.unescape(v) for k, v in fields.items()}
    assert form["type"] == "recovery"
    first = await client.post("/auth/v1/verify", data=form)
    assert first.status_code == 303
    fragment = parse_qs(urlsplit(first.headers["location"]).fragment)
    assert fragment["type"] == ["recovery"]
    assert fragment["access_token"]
    second = await client.post("/auth/v1/verify", data=form)
    assert "error_code=otp_expired" in second.headers["location"]
