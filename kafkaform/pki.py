"""Certificates: the cluster's CA on the control machine and each host's key and certificate.

kafkaform's own CA is made on the control machine the first time a secured cluster is
deployed; its key never leaves that machine (``<pki_dir>/ca/ca.key``, 0600). Each host gets a
key and a certificate naming every name and address clients use for it, issued again when
those names change or fewer than ``tls_renew_days`` remain. The hosts receive their own key,
their certificate and the CA certificates to trust (kafkaform.security renders where).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kafkaform.cluster import Node
from kafkaform.secrets import pki_dir, private_dir, write_private

CA_KEY_BITS = 3072
HOST_KEY_BITS = 2048  # RSA: what every consumer of these files (JVM, GnuTLS, Go) reads
BACKDATE = dt.timedelta(minutes=5)  # tolerate hosts whose clocks run a little behind


@dataclass(frozen=True)
class HostTLS:
    key_pem: str  # PKCS#8, unencrypted: the files holding it are the service's alone
    cert_pem: str  # the host's certificate
    ca_pem: str  # the CA certificates the host trusts (several during a CA rotation)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def host_names(node: Node) -> list[str]:
    """The DNS names and addresses a host is reached by, each once, in a stable order."""
    candidates = [node.name, node.address, str(node.data.get("ssh_hostname") or "")]
    return list(dict.fromkeys(c for c in candidates if c))


def _subject_alternative_names(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def ensure_ca(directory: Path, cluster_name: str, days: int) -> tuple[str, str]:
    """(key PEM, certificate PEM) of the CA in ``directory``, made if there is none."""
    key_path, cert_path = directory / "ca.key", directory / "ca.crt"
    if key_path.exists() and cert_path.exists():
        return key_path.read_text(), cert_path.read_text()
    key = rsa.generate_private_key(public_exponent=65537, key_size=CA_KEY_BITS)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kafkaform"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"kafkaform CA {cluster_name}"),
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
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    private_dir(directory)
    write_private(key_path, _key_pem(key))
    cert_path.write_text(_cert_pem(cert))
    return key_path.read_text(), cert_path.read_text()


def issue(names: list[str], ca_key_pem: str, ca_cert_pem: str, days: int) -> tuple[str, str]:
    """A new key and a certificate for ``names`` (the first is the common name), signed by
    the CA, good for TLS servers and clients both (brokers are each other's clients)."""
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    key = rsa.generate_private_key(public_exponent=65537, key_size=HOST_KEY_BITS)
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
        .add_extension(_subject_alternative_names(names), critical=False)
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
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return _key_pem(key), _cert_pem(cert)


def _still_good(cert_pem: str, names: list[str], ca_cert_pem: str, renew_days: int) -> bool:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return (
        cert.issuer == ca_cert.subject
        and sans == _subject_alternative_names(names)
        and cert.not_valid_after_utc - now() > dt.timedelta(days=renew_days)
    )


def host_tls(node: Node) -> HostTLS:
    """This host's key, certificate and trusted CAs, issued (again) only when needed."""
    s = node.settings
    root = private_dir(pki_dir(s))
    ca_key, ca_cert = ensure_ca(root / "ca", str(s["cluster_name"]), int(s["tls_ca_days"]))
    names = host_names(node)
    key_path = root / "hosts" / f"{node.name}.key"
    cert_path = root / "hosts" / f"{node.name}.crt"
    if not (
        key_path.exists()
        and cert_path.exists()
        and _still_good(cert_path.read_text(), names, ca_cert, int(s["tls_renew_days"]))
    ):
        key_pem, cert_pem = issue(names, ca_key, ca_cert, int(s["tls_cert_days"]))
        write_private(key_path, key_pem)
        cert_path.write_text(cert_pem)
    return HostTLS(key_path.read_text(), cert_path.read_text(), ca_cert)
