"""Firebase's modified scrypt, for password hashes imported from Firebase Auth.

GoTrue stores them as `$fbscrypt$v=1,n=<mem_cost>,r=<rounds>,p=<p>,ss=<salt separator>,
sk=<signer key>$<salt>$<hash>` (base64 values, `n` the exponent: N = 2^n), and so does NEO:
an admin imports such a hash, the user signs in with their Firebase password, and the login
rehashes it with NEO's algorithm. Verification: scrypt(password, salt + separator) keys
AES-256-CTR (zero IV), which encrypts the project's signer key; that must equal the hash.
NEO never creates these hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PREFIX = "$fbscrypt$"
_FORMAT = re.compile(
    r"^\$fbscrypt\$v=1,n=(?P<n>\d{1,2}),r=(?P<r>\d{1,2}),p=(?P<p>\d{1,2})"
    r"(?:,ss=(?P<ss>[A-Za-z0-9+/=]*))?(?:,sk=(?P<sk>[A-Za-z0-9+/=]+))"
    r"\$(?P<salt>[A-Za-z0-9+/=]+)\$(?P<hash>[A-Za-z0-9+/=]+)$"
)
_MAX_MEMORY = 256 * 1024 * 1024  # scrypt needs 128 * r * N bytes; Firebase's default is 16 MiB


@dataclass(frozen=True)
class FirebaseHash:
    """The parts of a `$fbscrypt$` hash."""

    n: int
    r: int
    p: int
    separator: bytes
    signer_key: bytes
    salt: bytes
    digest: bytes


def parse(stored: str) -> FirebaseHash | None:
    """The parts of a well-formed hash within NEO's cost limits, else None."""
    match = _FORMAT.match(stored)
    if match is None:
        return None
    try:
        parts = FirebaseHash(
            n=int(match["n"]), r=int(match["r"]), p=int(match["p"]),
            separator=base64.b64decode(match["ss"] or "", validate=True),
            signer_key=base64.b64decode(match["sk"], validate=True),
            salt=base64.b64decode(match["salt"], validate=True),
            digest=base64.b64decode(match["hash"], validate=True),
        )  # fmt: skip
    except (binascii.Error, ValueError):
        return None
    if not (1 <= parts.n <= 20 and parts.r >= 1 and parts.p >= 1):
        return None
    if not parts.digest or len(parts.digest) != len(parts.signer_key):
        return None  # the hash is the signer key, encrypted: same length
    if 128 * parts.r * (2**parts.n) * parts.p > _MAX_MEMORY:
        return None
    return parts


def verify(stored: str, password: str) -> bool:
    """True when `password` is the one `stored` was made from (slow: scrypt)."""
    parts = parse(stored)
    if parts is None:
        return False
    key = hashlib.scrypt(
        password.encode(), salt=parts.salt + parts.separator, n=2**parts.n, r=parts.r,
        p=parts.p, dklen=32, maxmem=2 * _MAX_MEMORY,
    )  # fmt: skip
    encryptor = Cipher(algorithms.AES(key), modes.CTR(b"\0" * 16)).encryptor()
    signed = encryptor.update(parts.signer_key) + encryptor.finalize()
    return hmac.compare_digest(signed, parts.digest)
