"""Who a storage operation runs as: the request's caller (RLS applies), or storage itself.

Storage reads bucket limits, public objects and signed-URL objects with the owner pool, as
storage-api uses a superuser connection for them (spec §3.4); everything else acts as the
caller through `core.db.transaction_as`. A lone read by a caller RLS does not apply to (the
service role, storage itself) runs as one statement on an owner connection (`reader`): no
transaction to open and close, one round trip instead of three.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from neo.core.actor import Actor, RequestContext
from neo.core.db import Connection, Database


@dataclass(frozen=True)
class Caller:
    """An actor and its request, or the superuser (`actor=None`) with an owner to record."""

    db: Database
    actor: Actor | None
    request: RequestContext = field(default_factory=RequestContext)
    owner_sub: str | None = None

    @classmethod
    def superuser(cls, db: Database, owner_sub: str | None = None) -> Caller:
        """Storage acting for itself (public reads, signed URLs)."""
        return cls(db=db, actor=None, owner_sub=owner_sub)

    def tx(self) -> AbstractAsyncContextManager[Connection]:
        """One transaction as this caller."""
        if self.actor is None:
            return self.db.transaction()
        return self.db.transaction_as(self.actor, self.request)

    def reader(self) -> AbstractAsyncContextManager[Connection]:
        """A connection for one read statement as this caller: an owner connection, outside
        any transaction, when RLS would not apply (the service role bypasses it, as the owner
        does; no trigger runs on a read); otherwise the caller's transaction (RLS decides)."""
        if self.actor is None or self.actor.is_service:
            return self.db.admin.acquire()
        return self.db.transaction_as(self.actor, self.request)

    @property
    def actor_or_anon(self) -> Actor:
        """The actor; storage itself records as anonymous."""
        return self.actor or Actor.anonymous()

    @property
    def sub(self) -> str | None:
        """The id recorded as the owner of what this caller writes."""
        return self.actor.user_id if self.actor is not None else self.owner_sub

    @property
    def owner_uuid(self) -> uuid.UUID | None:
        """`sub` as a uuid when it is one (the deprecated `owner` column is a uuid)."""
        try:
            return uuid.UUID(self.sub) if self.sub else None
        except ValueError:
            return None
