"""Admin routes (service role): /admin/users, /admin/generate_link, /invite, /admin/mailbox.

`GET /admin/users` paginates like GoTrue: `X-Total-Count`, and a `Link` header whose URLs put
`page=` first and whose `rel` values are double-quoted (supabase-js parses it that way).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from neo.auth import service_admin
from neo.auth.deps import AdminDep, ClientDep, StateDep, read_body
from neo.auth.errors import ValidationFailed
from neo.auth.params import AdminUser, DeleteUser, GenerateLinkParams, InviteParams
from neo.core.deps import require_apikey

router = APIRouter(dependencies=[Depends(require_apikey)])  # Kong's key-auth


@router.post("/admin/users")
async def create_user(
    request: Request, state: StateDep, _: AdminDep, client: ClientDep
) -> dict[str, Any]:
    """Create a user."""
    return await service_admin.create_user(state, await read_body(request, AdminUser), client)


@router.get("/admin/users")
async def list_users(
    response: Response,
    state: StateDep,
    _: AdminDep,
    page: str = "1",
    per_page: str = "50",
    filter: str | None = None,
) -> dict[str, Any]:
    """One page of users, with X-Total-Count and Link headers."""
    try:
        page_no = max(1, int(page or "1"))  # supabase-py sends `page=` when unset
        size = min(1000, max(1, int(per_page or "50")))
    except ValueError:
        raise ValidationFailed("Bad Pagination Parameters") from None
    users, total = await service_admin.list_users(state, page=page_no, per_page=size, email=filter)
    response.headers["X-Total-Count"] = str(total)
    last = max(1, -(-total // size))
    links = []
    if page_no < last:
        links.append(f'</admin/users?page={page_no + 1}&per_page={size}>; rel="next"')
    links.append(f'</admin/users?page={last}&per_page={size}>; rel="last"')
    response.headers["Link"] = ", ".join(links)
    return {"users": users, "aud": state.settings.jwt_aud}


@router.get("/admin/users/{user_id}")
async def get_user(user_id: str, state: StateDep, _: AdminDep) -> dict[str, Any]:
    """One user."""
    return await service_admin.get_user(state, user_id)


@router.put("/admin/users/{user_id}")
async def update_user(
    user_id: str, request: Request, state: StateDep, _: AdminDep, client: ClientDep
) -> dict[str, Any]:
    """Change a user's attributes."""
    params = await read_body(request, AdminUser)
    return await service_admin.update_user(state, user_id, params, client)


@router.delete("/admin/users/{user_id}")
async def delete_user(
    user_id: str, request: Request, state: StateDep, _: AdminDep, client: ClientDep
) -> dict[str, Any]:
    """Delete (or soft-delete) a user."""
    params = await read_body(request, DeleteUser)
    await service_admin.delete_user(state, user_id, soft=params.should_soft_delete, client=client)
    return {}


@router.delete("/admin/users/{user_id}/sessions", status_code=204)
async def revoke_user_sessions(
    user_id: str, state: StateDep, _: AdminDep, client: ClientDep
) -> Response:
    """End every session of one user (NEO extension)."""
    await service_admin.revoke_sessions(state, user_id, client)
    return Response(status_code=204)


@router.delete("/admin/sessions", status_code=204)
async def revoke_all_sessions(state: StateDep, _: AdminDep, client: ClientDep) -> Response:
    """End every session of every user (NEO extension)."""
    await service_admin.revoke_sessions(state, None, client)
    return Response(status_code=204)


@router.post("/invite")
async def invite(
    request: Request, state: StateDep, _: AdminDep, client: ClientDep,
    redirect_to: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Invite a user by email."""
    params = await read_body(request, InviteParams)
    return await service_admin.invite(state, params, client, redirect_to)


@router.post("/admin/generate_link")
async def generate_link(
    request: Request, state: StateDep, _: AdminDep, client: ClientDep,
    redirect_to: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A signup / invite / magic link / recovery / email-change link, without sending it."""
    params = await read_body(request, GenerateLinkParams)
    return await service_admin.generate_link(state, params, client, redirect_to)


@router.get("/admin/mailbox")
async def read_mailbox(
    state: StateDep, _: AdminDep, email: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """The dev mailbox (mail kept when no SMTP server is configured), newest first."""
    messages = await service_admin.read_mailbox(state, email, min(max(limit, 1), 500))
    return {"messages": messages}


@router.delete("/admin/mailbox", status_code=204)
async def clear_mailbox(state: StateDep, _: AdminDep, email: str | None = None) -> Response:
    """Empty the dev mailbox (for one address, or all)."""
    await service_admin.clear_mailbox(state, email)
    return Response(status_code=204)
