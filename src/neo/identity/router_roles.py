"""HTTP routes of `/identity/v1` for custom roles, on the router of `router.py`. A member is
given a custom role by name through the member routes (`{"role": "<name>"}`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from neo.core.deps import Tx
from neo.identity import service_roles as service
from neo.identity.deps import CallerDep, body_doc, parse_body
from neo.identity.models import CreateRole, UpdateRole
from neo.identity.router import ORG, router

ROLE = ORG + "/roles/{name}"


@router.get(ORG + "/roles")
async def list_roles(org_id: str, conn: Tx, caller: CallerDep) -> list[dict[str, Any]]:
    """The organization's custom roles (any member)."""
    return await service.list_roles(conn, caller, org_id)


@router.post(ORG + "/roles", status_code=201, openapi_extra=body_doc(CreateRole))
async def create_role(org_id: str, request: Request, conn: Tx, caller: CallerDep) -> dict[str, Any]:
    """Create a custom role: a base role (viewer, member, admin) and the permissions it keeps."""
    body = await parse_body(request, CreateRole)
    return await service.create_role(conn, caller, org_id, body)


@router.patch(ROLE, openapi_extra=body_doc(UpdateRole))
async def update_role(
    org_id: str, name: str, request: Request, conn: Tx, caller: CallerDep
) -> dict[str, Any]:
    """Replace a custom role's permissions (admins)."""
    body = await parse_body(request, UpdateRole)
    return await service.update_role(conn, caller, org_id, name, body)


@router.delete(ROLE, status_code=204)
async def delete_role(org_id: str, name: str, conn: Tx, caller: CallerDep) -> Response:
    """Delete a custom role no member holds (admins; 409 while in use)."""
    await service.delete_role(conn, caller, org_id, name)
    return Response(status_code=204)
