"""Inviting, accepting (mail followed from the dev mailbox), demoting and removing, end to
end; every way an acceptance can fail leaves no membership."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx

from tests.auth.conftest import mailbox
from tests.identity.conftest import SERVICE, User, call, make_org, new_user, ok


async def invite(
    client: httpx.AsyncClient, admin: User, org: str, email: str, role: str = "member"
) -> str:
    """Invite `email` and return the token from the link in the mail it received."""
    body = {"email": email, "role": role}
    created = await ok(await call(client, "POST", f"/orgs/{org}/invitations", admin, body), 201)
    assert "token_hash" not in created
    mails = await mailbox(client, email)
    assert mails[0]["kind"] == "org_invite"
    assert mails[0]["subject"].startswith("You have been invited to join")
    link = mails[0]["link"]
    assert link.startswith("http://localhost:3000/accept-invitation?")
    return parse_qs(urlsplit(link).query)["token"][0]


async def memberships(db: asyncpg.Connection, org: str) -> dict[str, str]:
    rows = await db.fetch(
        "select user_id, role from neo_identity.memberships where org_id = $1", org
    )
    return {str(r["user_id"]): r["role"] for r in rows}


async def test_invite_accept_demote_remove_end_to_end(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner = await new_user(client)
    org = await make_org(client, owner)
    invitee = await new_user(client)
    token = await invite(client, owner, org, invitee.email, "admin")
    assert (
        await db.fetchval(
            "select count(*) from neo_identity.invitations where token_hash = $1", token
        )
        == 0
    )

    joined = await ok(await call(client, "POST", "/invitations/accept", invitee, {"token": token}))
    assert joined == {"org_id": org, "user_id": invitee.id, "role": "admin"}
    # As an admin the invitee may rename the org ...
    await ok(await call(client, "PATCH", f"/orgs/{org}", invitee, {"name": "Renamed"}))
    # ... until demoted: the same, still valid JWT is refused on the next call (G4).
    await ok(
        await call(client, "PATCH", f"/orgs/{org}/members/{invitee.id}", owner, {"role": "viewer"})
    )
    refused = await call(client, "PATCH", f"/orgs/{org}", invitee, {"name": "Again"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_role"
    await ok(await call(client, "GET", f"/orgs/{org}", invitee))
    # Removed: the org is gone from the invitee's view.
    await ok(await call(client, "DELETE", f"/orgs/{org}/members/{invitee.id}", owner), 204)
    assert (await call(client, "GET", f"/orgs/{org}", invitee)).status_code == 404
    assert await memberships(db, org) == {owner.id: "owner"}
    actions = [
        e["action"] for e in await ok(await call(client, "GET", f"/orgs/{org}/audit", owner))
    ]
    assert actions[:5] == [
        "member.removed", "member.role_changed", "org.updated", "invitation.accepted",
        "invitation.created",
    ]  # fmt: skip


async def test_accepting_twice_is_refused(client: httpx.AsyncClient) -> None:
    owner, invitee = await new_user(client), await new_user(client)
    org = await make_org(client, owner)
    token = await invite(client, owner, org, invitee.email)
    await ok(await call(client, "POST", "/invitations/accept", invitee, {"token": token}))
    again = await call(client, "POST", "/invitations/accept", invitee, {"token": token})
    assert (again.status_code, again.json()["code"]) == (409, "invitation_used")


async def test_failed_accepts_leave_no_membership(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner, invitee, other = [await new_user(client) for _ in range(3)]
    org = await make_org(client, owner)
    expired = await invite(client, owner, org, invitee.email)
    await db.execute(
        "update neo_identity.invitations set expires_at = now() - interval '1 minute'"
        " where email = $1",
        invitee.email,
    )
    revoked = await invite(client, owner, org, invitee.email)
    pending = await ok(await call(client, "GET", f"/orgs/{org}/invitations", owner))
    newest = next(i for i in pending if i["expires_at"] > pending[0]["expires_at"])
    await ok(await call(client, "DELETE", f"/orgs/{org}/invitations/{newest['id']}", owner))
    wrong_email = await invite(client, owner, org, invitee.email)
    cases = [
        (invitee, expired, 410, "invitation_expired"),
        (invitee, revoked, 410, "invitation_revoked"),
        (other, wrong_email, 403, "invitation_email_mismatch"),
        (invitee, "x" * 43, 404, "invitation_not_found"),
    ]
    for who, token, status, code in cases:
        response = await call(client, "POST", "/invitations/accept", who, {"token": token})
        assert (response.status_code, response.json()["code"]) == (status, code)
    assert await memberships(db, org) == {owner.id: "owner"}
    service = await call(client, "POST", "/invitations/accept", SERVICE, {"token": wrong_email})
    assert service.status_code == 403
    malformed = await call(client, "POST", "/invitations/accept", invitee, {"token": 1})
    assert malformed.status_code == 422


async def test_email_match_ignores_case(client: httpx.AsyncClient) -> None:
    owner, invitee = await new_user(client), await new_user(client)
    org = await make_org(client, owner)
    token = await invite(client, owner, org, invitee.email.upper())
    await ok(await call(client, "POST", "/invitations/accept", invitee, {"token": token}))


async def test_revoking_an_accepted_invitation_is_a_conflict(client: httpx.AsyncClient) -> None:
    owner, invitee = await new_user(client), await new_user(client)
    org = await make_org(client, owner)
    token = await invite(client, owner, org, invitee.email)
    await ok(await call(client, "POST", "/invitations/accept", invitee, {"token": token}))
    [inv] = await ok(await call(client, "GET", f"/orgs/{org}/invitations", owner))
    assert inv["accepted_by"] == invitee.id
    response = await call(client, "DELETE", f"/orgs/{org}/invitations/{inv['id']}", owner)
    assert response.status_code == 409


async def test_the_last_owner_cannot_leave_or_be_demoted(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    owner, second = await new_user(client), await new_user(client)
    org = await make_org(client, owner)
    for method, body in [("PATCH", {"role": "admin"}), ("DELETE", None)]:
        response = await call(client, method, f"/orgs/{org}/members/{owner.id}", owner, body)
        assert (response.status_code, response.json()["code"]) == (409, "last_owner")
    await ok(
        await call(
            client, "POST", f"/orgs/{org}/members", owner, {"user_id": second.id, "role": "owner"}
        ),
        201,
    )
    await ok(await call(client, "DELETE", f"/orgs/{org}/members/{owner.id}", owner), 204)
    response = await call(
        client, "PATCH", f"/orgs/{org}/members/{second.id}", SERVICE, {"role": "member"}
    )
    assert response.status_code == 409
    assert await memberships(db, org) == {second.id: "owner"}


async def test_admins_cannot_touch_owners_or_grant_ownership(client: httpx.AsyncClient) -> None:
    owner, admin, member = [await new_user(client) for _ in range(3)]
    org = await make_org(client, owner, {admin.id: "admin", member.id: "member"})
    cases = [
        ("PATCH", f"/members/{owner.id}", {"role": "member"}),
        ("DELETE", f"/members/{owner.id}", None),
        ("PATCH", f"/members/{member.id}", {"role": "owner"}),
        ("POST", "/invitations", {"email": "boss@example.com", "role": "owner"}),
    ]
    for method, path, body in cases:
        response = await call(client, method, f"/orgs/{org}{path}", admin, body)
        assert response.status_code == 403, (method, path, response.text)
    await ok(
        await call(client, "PATCH", f"/orgs/{org}/members/{member.id}", admin, {"role": "viewer"})
    )


async def test_members_may_leave(client: httpx.AsyncClient) -> None:
    owner, viewer = await new_user(client), await new_user(client)
    org = await make_org(client, owner, {viewer.id: "viewer"})
    await ok(await call(client, "DELETE", f"/orgs/{org}/members/{viewer.id}", viewer), 204)
    assert (await call(client, "GET", f"/orgs/{org}", viewer)).status_code == 404


async def test_adding_an_unknown_user_or_a_member_again(client: httpx.AsyncClient) -> None:
    owner, member = await new_user(client), await new_user(client)
    org = await make_org(client, owner, {member.id: "member"})
    unknown = {"user_id": "00000000-0000-4000-8000-000000000000"}
    assert (await call(client, "POST", f"/orgs/{org}/members", owner, unknown)).status_code == 404
    again = await call(client, "POST", f"/orgs/{org}/members", owner, {"user_id": member.id})
    assert (again.status_code, again.json()["code"]) == (409, "already_member")
    bad = await call(
        client, "POST", f"/orgs/{org}/members", owner, {"user_id": "nope", "role": "member"}
    )
    assert bad.status_code == 422
    bad_role = await call(
        client, "POST", f"/orgs/{org}/members", owner, {"user_id": member.id, "role": "god"}
    )
    assert bad_role.status_code == 422


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    first, second = await new_user(client), await new_user(client)
    for _ in range(3):
        org = await make_org(client, first, {second.id: "owner"})
        body = {"role": "member"}
        responses = await asyncio.gather(
            call(client, "PATCH", f"/orgs/{org}/members/{second.id}", first, body),
            call(client, "PATCH", f"/orgs/{org}/members/{first.id}", second, body),
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses in ([200, 403], [200, 409]), [r.text for r in responses]
        assert list((await memberships(db, org)).values()).count("owner") == 1
