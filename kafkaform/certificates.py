"""X.509 with the ``cryptography`` library: making a CA, issuing a host certificate, and the
facts the rest of kafkaform asks of a certificate (names, days left, issuer, chain, key).

Pure functions on PEM text; where the files live and which CA signs is kafkaform.pki's.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_KEY_BITS = 3072
HOST_KEY_BITS = 2048  # RSA: what every consumer of these files (JVM, GnuTLS, Go) reads
BACKDATE = dt.timedelta(minutes=5)  # tolerate hosts whose clocks run a little behind
PEM_CERT_BEGIN = "-----BEGIN CERTIFICATE-----"


class CertificateError(ValueError):
    """A PEM text that is not what it should be; the message never quotes key material."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def key_pem(key: rsa.RSAPrivateKey) -> str:
    """PKCS#8, unencrypted: the files holding it are the service's alone."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def load_cert(pem: str) -> x509.Certificate:
    """The first certificate of ``pem``."""
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise CertificateError("not a PEM certificate") from None


def load_certs(pem: str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (a CA file may hold several during a rotation)."""
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise CertificateError("not a PEM certificate bundle") from None
    return certs


def load_key(pem: str) -> CertificateIssuerPrivateKeyTypes:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        # TypeError: the key is encrypted; kafkaform needs it readable without a passphrase
        raise CertificateError("not an unencrypted PEM private key") from None
    return key  # type: ignore[return-value]


def key_matches(key_text: str, cert_text: str) -> bool:
    """Whether the private key ``key_text`` belongs to the certificate ``cert_text``."""
    public = load_key(key_text).public_key()
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == load_cert(cert_text).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def subject_alternative_names(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def canonical(name: str) -> str:
    """A name as names_of gives it back (an address in its one written form)."""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


def names_of(cert: x509.Certificate) -> list[str]:
    """The DNS names and addresses a certificate is good for (its SANs)."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in sans.get_values_for_type(x509.DNSName)] + [
        str(v) for v in sans.get_values_for_type(x509.IPAddress)
    ]


def covers(cert: x509.Certificate, names: list[str]) -> list[str]:
    """Those of ``names`` the certificate does not cover (a ``*.`` SAN covers one label)."""
    have = names_of(cert)

    def covered(name: str) -> bool:
        if name in have:
            return True
        head, _, rest = name.partition(".")
        return bool(head and rest) and f"*.{rest}" in have

    return [name for name in names if not covered(name)]


def days_left(cert: x509.Certificate, at: dt.datetime | None = None) -> float:
    return (cert.not_valid_after_utc - (at or now())) / dt.timedelta(days=1)


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca`` signed ``cert`` (its name and its signature both)."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def chains_to(
    cert: x509.Certificate, cas: list[x509.Certificate], intermediates: list[x509.Certificate]
) -> bool:
    """Whether ``cert`` leads to one of ``cas``, directly or through ``intermediates``."""
    current = cert
    for _ in range(len(intermediates) + 1):
        if any(issued_by(current, ca) for ca in cas):
            return True
        parents = [c for c in intermediates if c != current and issued_by(current, c)]
        if not parents:
            return False
        current = parents[0]
    return False


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def key_usage(*allowed: str) -> x509.KeyUsage:
    """A KeyUsage extension allowing ``allowed`` (its argument names) and nothing else."""
    usages = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{usage: usage in allowed for usage in usages})


def make_ca(common_name: str, days: int) -> tuple[str, str]:
    """(key PEM, certificate PEM) of a new self-signed CA."""
    key = new_key(CA_KEY_BITS)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kafkaform"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    start = now() - BACKDATE
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            key_usage("key_cert_sign", "crl_sign"),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key_pem(key), cert_pem(cert)


def issue(names: list[str], ca_key_pem: str, ca_cert_pem: str, days: int) -> tuple[str, str]:
    """A new key and a certificate for ``names`` (the first is the common name), signed by
    the CA, good for TLS servers and clients both (brokers are each other's clients). It
    never outlives its CA."""
    ca_key = load_key(ca_key_pem)
    ca_cert = load_cert(ca_cert_pem)
    key = new_key(HOST_KEY_BITS)
    start = now() - BACKDATE
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(min(start + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(subject_alternative_names(names), critical=False)
        .add_extension(
            key_usage("digital_signature", "key_encipherment"),  # RSA key exchange too
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key_pem(key), cert_pem(cert)
