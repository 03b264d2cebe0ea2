"""Helpers of the certificate and secret tests.

RSA keys for the certificate tests, made once per test session: generating a 3072-bit key
takes most of a second, and a test of a rotation needs a dozen. Within one test every key
is a new one (a CA never shares its key with another), as it is for real."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pyinfra.connectors.fake import FakeConnector

from kafkaform import certificates

made: list[rsa.RSAPrivateKey] = []


@pytest.fixture(autouse=True)
def fast_keys(monkeypatch) -> Iterator[None]:
    handed = iter(range(10_000))

    def new_key(bits: int) -> rsa.RSAPrivateKey:
        index = next(handed)
        while len(made) <= index:
            made.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return made[index]

    monkeypatch.setattr(certificates, "new_key", new_key)
    yield


def record_uploads(monkeypatch) -> list[tuple[str, str | None, bytes]]:
    """Each upload to a @fake host as (dest, temporary file, content), also marked in the
    host's commands ("UPLOAD <dest>") so that its order among them shows."""
    seen: list[tuple[str, str | None, bytes]] = []

    def put_file(self, filename_or_io, remote_filename, remote_temp_filename=None, **_):
        content = filename_or_io.read()
        content = content.encode() if isinstance(content, str) else content
        seen.append((remote_filename, remote_temp_filename, content))
        self.executed_commands.append(f"UPLOAD {remote_filename}")
        return True

    monkeypatch.setattr(FakeConnector, "put_file", put_file)
    return seen
