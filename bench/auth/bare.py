"""The bare refresh baseline of bench/auth: Starlette + asyncpg, no NEO request path.

Run by the bench as `python bench/auth/bare.py PORT DATABASE_URL JWT_SECRET`. `POST /token`
does what NEO's refresh_token grant must do at the least: parse the JSON body; for a
session-signed token (NEO's own `neo.auth.refresh_tokens`, decision 0012) check it and run
NEO's own statement `rotate_session`; for a hashed-row token (decision 0005, the bench's
`--refresh-tokens 1`) derive its three successors and run `refresh_session`; both from
`neo/auth/queries.sql`, same parameters, fast commit. Then sign an ES256 access token with
the same claims and answer JSON with the next token and a small user object (NEO builds
GoTrue's full User object). One pool of single-statement connections (no reset query), one
uvicorn worker, no middleware.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from neo.auth.refresh_tokens import encode, parse, verify
from neo.kit.sqlfile import load_named_queries

QUERIES = load_named_queries(Path(__file__).resolve().parents[2] / "src/neo/auth/queries.sql")
KEY = ec.generate_private_key(ec.SECP256R1())


class Statement(asyncpg.Connection):
    """Single statements only: nothing to reset between uses."""

    def get_reset_query(self) -> str:
        return ""


def successor(token: str) -> str:
    digest = hmac.new(SECRET, b"rt:" + token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def hashed(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def rotate(conn: asyncpg.Connection, token: str) -> tuple[asyncpg.Record | None, str]:
    """The grant's one statement for `token`: (its row, the token to answer with)."""
    parsed = parse(token)
    if parsed is not None:
        if not verify(SECRET, parsed):
            return None, ""
        row = await conn.fetchrow(
            QUERIES["rotate_session"], parsed.session_id, parsed.counter, True, 10.0, 0.0, 0.0,
            "127.0.0.1", True,
        )  # fmt: skip
        return row, encode(SECRET, row["session_id"], row["counter"]) if row else ""
    chain = [successor(token)]
    for _ in range(2):
        chain.append(successor(chain[-1]))
    row = await conn.fetchrow(
        QUERIES["refresh_session"], hashed(token), [hashed(t) for t in chain], True, 10.0, 0.0,
        0.0, False, "127.0.0.1", True,
    )  # fmt: skip
    return row, chain[0]


async def token(request: Request) -> Response:
    body = json.loads(await request.body())
    async with request.app.state.pool.acquire() as conn:
        row, refresh = await rotate(conn, body["refresh_token"])
    if row is None or row["outcome"] != "rotate":
        return JSONResponse({"code": "refresh_token_not_found"}, status_code=400)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "http://127.0.0.1/auth/v1", "sub": str(row["id"]), "aud": "authenticated",
        "exp": now + 3600, "iat": now, "email": row["email"], "phone": "",
        "app_metadata": json.loads(row["raw_app_meta_data"] or "{}"),
        "user_metadata": json.loads(row["raw_user_meta_data"] or "{}"), "role": row["role"],
        "aal": row["session_aal"], "amr": json.loads(row["amr_json"]),
        "session_id": str(row["session_id"]), "is_anonymous": row["is_anonymous"],
    }  # fmt: skip
    access = jwt.encode(claims, KEY, algorithm="ES256", headers={"kid": "bare"})
    user = {"id": claims["sub"], "email": row["email"], "created_at": str(row["created_at"])}
    return JSONResponse(
        {"access_token": access, "token_type": "bearer", "expires_in": 3600, "expires_at":
         now + 3600, "refresh_token": refresh, "user": user}
    )  # fmt: skip


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with asyncpg.create_pool(URL, max_size=10, connection_class=Statement) as pool:
        app.state.pool = pool
        yield


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


if __name__ == "__main__":
    PORT, URL = int(sys.argv[1]), sys.argv[2]
    SECRET = hashlib.sha256(b"neo.auth:" + sys.argv[3].encode()).digest()
    routes = [Route("/token", token, methods=["POST"]), Route("/health", health)]
    app = Starlette(routes=routes, lifespan=lifespan)
    uvicorn.run(app, port=PORT, log_level="warning", access_log=False)
