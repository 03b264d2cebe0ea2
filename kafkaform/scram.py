"""SCRAM-SHA-512 credentials: what ZooKeeper keeps of one (salt, stored key, iterations) and
whether a password is the one it was made from, computed as Kafka does (RFC 5802), so a
deploy sets a user's credential only when it does not already match."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

MECHANISM = "SCRAM-SHA-512"
ITERATIONS = 8192  # Kafka's default is 4096; the minimum it accepts for SHA-512 is 4096
CONFIG_RE = re.compile(rf"(?:^|\s|,){re.escape(MECHANISM)}=(?P<fields>[^ ]*)")


@dataclass(frozen=True)
class Credential:
    salt: bytes
    stored_key: bytes
    iterations: int


def parse_credential(configs: str) -> Credential | None:
    """The SCRAM-SHA-512 credential in ConfigCommand's "SCRAM-SHA-512=salt=...,stored_key=
    ...,server_key=...,iterations=N" (other mechanisms ignored), or None."""
    match = CONFIG_RE.search(configs)
    if not match:
        return None
    fields = dict(part.split("=", 1) for part in match["fields"].split(",") if "=" in part)
    try:
        return Credential(
            base64.b64decode(fields["salt"]),
            base64.b64decode(fields["stored_key"]),
            int(fields["iterations"]),
        )
    except (KeyError, ValueError):
        return None


def stored_key(password: str, salt: bytes, iterations: int) -> bytes:
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha512").digest()
    return hashlib.sha512(client_key).digest()


def matches(credential: Credential | None, password: str) -> bool:
    """Whether ``credential`` was made from ``password``."""
    return credential is not None and hmac.compare_digest(
        credential.stored_key, stored_key(password, credential.salt, credential.iterations)
    )


def config_file_text(password: str) -> str:
    """ConfigCommand's --add-config-file content setting a user's credential. Not the
    command line's bracket syntax: in a file the value is the bare list."""
    return f"{MECHANISM}=iterations={ITERATIONS},password={password}\n"
