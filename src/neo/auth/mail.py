"""Outgoing auth mail: templates (confirm, invite, magic link, recovery, email change,
reauthentication, already registered) and delivery by SMTP or to the dev mailbox.

Without `smtp.host` every mail is kept in `neo_auth.mailbox`, which the service role reads at
`GET /auth/v1/admin/mailbox` (tests and the console follow links from there).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
import structlog

from neo.auth import store
from neo.auth.settings import SmtpSettings
from neo.core.db import Connection

log = structlog.get_logger("neo.auth.mail")

# kind -> (subject, sentence before the link/code)
TEMPLATES: dict[str, tuple[str, str]] = {
    "signup": ("Confirm Your Signup", "Follow this link to confirm your user:"),
    "invite": ("You have been invited", "You have been invited to create a user. Follow:"),
    "magiclink": ("Your Magic Link", "Follow this link to login:"),
    "recovery": ("Reset Your Password", "Follow this link to reset the password for your user:"),
    "email_change": ("Confirm Change of Email", "Follow this link to confirm your new email:"),
    "reauthentication": ("Confirm reauthentication", "Enter the code:"),
    "already_registered": (
        "You already have an account",
        "Someone tried to sign up with this address, which already has an account. "
        "If it was you, sign in or reset your password instead.",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Mail:
    """One message to one recipient."""

    recipient: str
    kind: str
    link: str | None = None
    code: str | None = None

    def render(self) -> tuple[str, str, str]:
        """(subject, text, html)."""
        subject, lead = TEMPLATES[self.kind]
        lines = [lead]
        if self.link:
            lines.append(self.link)
        if self.code:
            lines.append(f"Alternatively, enter the code: {self.code}")
        text = "\n\n".join(lines)
        parts = [f"<p>{html.escape(lead)}</p>"]
        if self.link:
            parts.append(f'<p><a href="{html.escape(self.link)}">Confirm</a></p>')
        if self.code:
            parts.append(f"<p>Code: <b>{html.escape(self.code)}</b></p>")
        return subject, text, f"<h2>{html.escape(subject)}</h2>" + "".join(parts)


class Mailer:
    """Delivers mail by SMTP when configured, otherwise into the dev mailbox."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def send(self, conn: Connection, mail: Mail) -> None:
        """Deliver `mail` (the mailbox copy is written in the caller's transaction)."""
        subject, text, body = mail.render()
        if self.settings.host is None:
            row = {"recipient": mail.recipient, "subject": subject, "kind": mail.kind}
            await store.insert_mail(
                conn, row | {"text": text, "html": body, "link": mail.link, "code": mail.code}
            )
            log.info("auth.mail_stored", kind=mail.kind)
            return
        await self._smtp(mail.recipient, subject, text, body)
        log.info("auth.mail_sent", kind=mail.kind)

    async def _smtp(self, recipient: str, subject: str, text: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = recipient
        message["Subject"] = subject
        message.set_content(text)
        message.add_alternative(body, subtype="html")
        password = self.settings.password.get_secret_value() if self.settings.password else None
        await aiosmtplib.send(
            message,
            hostname=self.settings.host,
            port=self.settings.port,
            username=self.settings.user,
            password=password,
            use_tls=self.settings.use_tls,
            timeout=self.settings.timeout,
        )
