"""Hypothesis throws random requests at a live NEO's `/sandbox/v1`, as another tenant would:
every route, against the victim's sandbox, the attacker's own and made-up ids, with random
paths (traversal, NUL, very long, absolute), random JSON bodies of any type (limits,
commands, working directories, timeouts, environments) and callers (the attacker signed in,
anon, a forged token).

Whatever comes in: never a 5xx; an error is JSON with a `message`; the victim's file never
shows up in an answer to anyone else, and is unchanged at the end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neo.settings import Settings
from tests.conftest import DEMO_ANON_KEY, DEMO_JWT_SECRET
from tests.sandbox.conftest import app_sandbox
from tests.support import fuzz

API = "/sandbox/v1"
SECRET = "the victim's secret 7f3a"
VICTIM, ATTACKER = str(uuid.uuid4()), str(uuid.uuid4())
ROUTES = [
    ("POST", "/sandboxes"), ("GET", "/sandboxes"), ("GET", "/sandboxes/{id}"),
    ("POST", "/sandboxes/{id}/start"), ("POST", "/sandboxes/{id}/stop"),
    ("POST", "/sandboxes/{id}/exec"), ("POST", "/sandboxes/{id}/exec/stream"),
    ("GET", "/sandboxes/{id}/files"), ("PUT", "/sandboxes/{id}/files"),
    ("DELETE", "/sandboxes/{id}/files"), ("POST", "/sandboxes/{id}/files/move"),
    ("POST", "/sandboxes/{id}/files/mkdir"), ("POST", "/sandboxes/{id}/sessions"),
    ("GET", "/sandboxes/{id}/sessions"), ("GET", "/sandboxes/{id}/sessions/{x}"),
    ("POST", "/sandboxes/{id}/sessions/{x}/exec"), ("DELETE", "/sandboxes/{id}/sessions/{x}"),
    ("POST", "/sandboxes/{id}/commands"), ("GET", "/sandboxes/{id}/commands"),
    ("GET", "/sandboxes/{id}/commands/{x}"), ("GET", "/sandboxes/{id}/commands/{x}/logs"),
    ("POST", "/sandboxes/{id}/commands/{x}/kill"),
    ("GET", "/sandboxes/{id}/ports/{x}/preview-url"),
]  # fmt: skip
PATHS = ["secret.txt", "../secret.txt", "/workspace/secret.txt", "/etc/passwd", "a\x00b", ".",
         "..", "", "x" * 5000, "dir/../../..", "~", "%2e%2e/x", "new/file.txt", "ü"]  # fmt: skip
FIELDS = ["command", "cwd", "timeout", "env", "name", "labels", "cpus", "memory_mb", "disk_mb",
          "pids", "auto_stop_minutes", "auto_delete_minutes", "network", "source",
          "destination", "overwrite", "path", "parents", "id", "background", "cols", "rows",
          "image", "snapshot", "allow", "mode"]  # fmt: skip
COMMANDS = ["true", "ls", "cat secret.txt", "echo hi > f.txt", "exit 3", "sleep 0.1", "\x00"]
bodies = fuzz.bodies(FIELDS, PATHS + COMMANDS)


def token(sub: str) -> str:
    now = int(time.time())
    claims = {"sub": sub, "role": "authenticated", "aud": "authenticated"}
    return jwt.encode(claims | {"iat": now, "exp": now + 3600}, DEMO_JWT_SECRET)


def as_user(sub: str) -> dict[str, str]:
    return {"apikey": DEMO_ANON_KEY, "authorization": f"Bearer {token(sub)}"}


FORGED = jwt.encode({"sub": VICTIM, "role": "authenticated", "exp": int(time.time()) + 3600},
                    "forged-secret-" * 4)  # fmt: skip


@pytest.fixture(scope="module")
def sandbox_app_settings(make_settings: Callable[..., Settings], sandbox_root: Path) -> Settings:
    return make_settings(sandbox=app_sandbox(sandbox_root, max_per_owner=3, max_upload_mb=1))


@pytest.fixture(scope="module")
def boxes(server: str) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """A client, and the victim's and the attacker's sandboxes (the victim's holds a file)."""
    with httpx.Client(base_url=server + API, timeout=60, limits=fuzz.FRESH) as http:
        ids = {}
        for name, sub in (("victim", VICTIM), ("attacker", ATTACKER)):
            made = http.post("/sandboxes", json={}, headers=as_user(sub))
            assert made.status_code == 201, made.text
            ids[name] = made.json()["id"]
        put = http.put(f"/sandboxes/{ids['victim']}/files", params={"path": "secret.txt"},
                       content=SECRET.encode(), headers=as_user(VICTIM))  # fmt: skip
        assert put.status_code == 201, put.text
        yield http, ids


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    route=st.sampled_from(ROUTES),
    target=st.sampled_from(["victim", "attacker", "attacker", "made-up", "%00", "x" * 300]),
    filler=st.sampled_from(["x", str(uuid.uuid4()), "8080", "0", "99999", "-1", "%00"]),
    path=st.sampled_from(PATHS) | fuzz.TEXT,
    body=bodies,
    caller=st.sampled_from(["attacker", "attacker", "anon", "forged"]),
)
def test_random_requests_never_fail_nor_reach_the_victim(
    boxes: tuple[httpx.Client, dict[str, str]],
    route: tuple[str, str],
    target: str,
    filler: str,
    path: str,
    body: bytes,
    caller: str,
) -> None:
    http, ids = boxes
    method, template = route
    box = ids.get(target, str(uuid.uuid4()) if target == "made-up" else target)
    url = template.replace("{id}", box).replace("{x}", filler)
    headers = {
        "attacker": as_user(ATTACKER),
        "anon": {"apikey": DEMO_ANON_KEY},
        "forged": {"apikey": DEMO_ANON_KEY, "authorization": f"Bearer {FORGED}"},
    }[caller]
    content = body if method in ("POST", "PUT") else None
    res = http.request(method, url, params={"path": path}, headers=headers, content=content)
    assert res.status_code < 500, (method, url, res.status_code, res.text)
    if res.status_code >= 400 and res.request.url.path.startswith(API):
        assert "message" in res.json(), res.text
    assert SECRET not in res.text, (method, url, path)


def test_the_victims_file_is_unchanged(boxes: tuple[httpx.Client, dict[str, str]]) -> None:
    http, ids = boxes
    res = http.get(f"/sandboxes/{ids['victim']}/files", params={"path": "secret.txt"},
                   headers=as_user(VICTIM))  # fmt: skip
    assert res.status_code == 200, res.text
    assert res.text == SECRET
