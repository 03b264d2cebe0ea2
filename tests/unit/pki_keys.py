"""RSA keys for the certificate tests, made once per test session: generating a 3072-bit key
takes most of a second, and a test of a rotation needs a dozen. Within one test every key
is a new one (a CA never shares its key with another), as it is for real."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

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
