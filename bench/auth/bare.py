"""The bare refresh baseline of bench/auth: Starlette + asyncpg, no NEO request path.

Run by the bench as `python bench/auth/bare.py PORT DATABASE_URL JWT_SECRET`. `POST /token`
does what NEO's refresh_token grant must do at the least: parse the JSON body, derive the
three successors of the token (HMAC, as NEO does), run NEO's own one statement
(`refresh_session` from `neo/auth/queries.sql`, same parameters, fast commit), sign an ES256
access token with the same claims and answer JSON with the new refresh token and a small
user object (NEO builds GoTrue's full User object). One pool of single-statement connections
(no reset query), one uvicorn worker, no middleware.
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

from neo.kit.sqlfile import load_named_queries

QUERY = load_named_queries(Path(__file__).resolve().parents[2] / "src/neo/auth/queries.sql")[
    "refresh_session"
]
KEY = ec.generate_private_key(ec.SECP256R1())


class Statement(asyncpg.Connection):
    """Single statements only: nothing to reset between uses."""

    def get_reset_query(self) -> str:
        return ""


def successor(secret: bytes, token: str) -> str:
    digest = hmac.new(secret, b"rt:" + token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def hashed(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def token(request: Request) -> Response:
    body = json.loads(await request.body())
    old: str = body["refresh_token"]
    chain = [successor(SECRET, old)]
    for _ in range(2):
        chain.append(successor(SECRET, chain[-1]))
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(
            QUERY, hashed(old), [hashed(t) for t in chain], True, 10.0, 0.0, 0.0, False,
            "127.0.0.1", True,
        )  # fmt: skip
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
         now + 3600, "refresh_token": chain[0], "user": user}
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
