"""Invitation tokens and the invitation mail.

A token is 256 random bits, sent once in the mail's link and kept only as its SHA-256.
The mail goes through auth's mailer (SMTP, or the dev mailbox at
`GET /auth/v1/admin/mailbox`), written on an owner transaction of its own because the
mailbox is auth's table, not the caller's.
"""

from __future__ import annotations

import hashlib
import html
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from neo.auth import AuthState, Mail

KIND = "org_invite"


def new_token() -> str:
    """A fresh invitation token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def accept_link(site_url: str, token: str) -> str:
    """The link in the mail: the app's page, which posts the token to the accept route."""
    return f"{site_url.rstrip('/')}/accept-invitation?{urlencode({'token': token})}"


@dataclass(frozen=True)
class InviteMail(Mail):
    """The invitation to join an organization, with its own wording."""

    org_name: str = ""
    role: str = "member"

    def render(self) -> tuple[str, str, str]:
        """(subject, text, html)."""
        subject = f"You have been invited to join {self.org_name}"
        lead = f"You have been invited to join {self.org_name} as {self.role}. Follow this link:"
        text = f"{lead}\n\n{self.link}"
        body = (
            f"<h2>{html.escape(subject)}</h2><p>{html.escape(lead)}</p>"
            f'<p><a href="{html.escape(self.link or "")}">Accept the invitation</a></p>'
        )
        return subject, text, body


async def send_invitation(
    auth: AuthState, *, email: str, token: str, org_name: str, role: str
) -> None:
    """Mail the invitation (its own owner transaction: the mailbox is auth's table)."""
    link = accept_link(auth.settings.site_url, token)
    mail = InviteMail(recipient=email, kind=KIND, link=link, org_name=org_name, role=role)
    async with auth.core.db.transaction() as conn:
        await auth.mailer.send(conn, mail)
