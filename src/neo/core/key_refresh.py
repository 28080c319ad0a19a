"""Keeps a process's key ring in step with its key set in the database (auth-security D5).

Rotation is staged: publish the new key, sign with it, retire the old one once the longest
access token it could have signed has expired. This module does the last step, and carries
every step to running processes:

* `retire_expired_keys`: with `keys.auto_retire` (the default), the `previous` keys that
  stopped signing (`signed_until`, set by the rotation that replaced them) longer ago than
  `retirement_age` become `revoked`. One UPDATE, idempotent: processes and instances sharing
  the database may run it at the same time, and each key is retired once. The current key and
  a staged one are never touched.
* `reload_signing_keys`: the key set's live keys, when they differ from the ring's. A process
  then publishes a staged key, signs with a promoted one and stops verifying a retired one
  (by this module or by `neo keys --retire`) without a restart.

The core runs both at start (retirement before the ring is loaded) and every
`keys.refresh_interval` seconds in each process (`Core.refresh_keys`). `retirement_age` counts
one refresh interval on top of the token lifetime: a process that has not reloaded yet may
still sign with a rotated-out key for that long. Keys configured as JWKs (`keys.jwt_keys`)
are neither retired nor reloaded: the stored keys are not used then.
"""

from __future__ import annotations

from dataclasses import replace

from neo.core import store
from neo.core.db import Connection
from neo.core.keys import KeyRing, signing_keys_from_rows
from neo.core.logging import get_logger
from neo.core.settings import CoreSettings

MARGIN = 60.0  # seconds of clock skew and slow reloads on top of the token lifetime
log = get_logger("neo.core")


def retirement_age(settings: CoreSettings) -> float:
    """Seconds after its rotation when a previous key can no longer have signed a live token."""
    return settings.token_ttl + settings.keys.refresh_interval + MARGIN


def uses_stored_keys(settings: CoreSettings) -> bool:
    """False when the signing keys come from configuration (`keys.jwt_keys`)."""
    return not settings.keys.jwt_keys


async def retire_expired_keys(conn: Connection, settings: CoreSettings) -> list[str]:
    """Retire the key set's previous keys past `retirement_age` (when `keys.auto_retire` is
    on and the keys are stored); the kids retired by this call."""
    if not (settings.keys.auto_retire and uses_stored_keys(settings)):
        return []
    keyset = settings.keys.keyset
    kids = await store.revoke_expired_keys(conn, keyset, retirement_age(settings))
    if kids:
        log.info("core.keys_retired", keyset=keyset, kids=kids)
    return kids


async def reload_signing_keys(conn: Connection, ring: KeyRing, keyset: str) -> KeyRing | None:
    """The ring with the key set's live keys; None when they are the ones it holds."""
    rows = await store.select_signing_keys(conn, keyset)
    if [(r["kid"], r["status"]) for r in rows] == [(k.kid, k.status) for k in ring.signing_keys]:
        return None
    keys = signing_keys_from_rows(rows, ring.signing_keys)
    log.info("core.keys_reloaded", keyset=keyset, keys={k.kid: k.status for k in keys})
    return replace(ring, signing_keys=keys)
