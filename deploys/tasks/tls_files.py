"""A service's TLS files on its host: its key, its certificate and the CAs it trusts, as PEM
files (Kafka, ZooKeeper, Prometheus, Alertmanager, node_exporter, rsyslog read PEM) or as a
PKCS#12 key store (the JMX exporter's HTTPS server reads only Java key stores).

Each service gets its own copies, owned root:<the service's group>, the key 0640 and never
shown in the deploy's output (host_files.put_secret). What the files hold comes from
kafkaform.pki.host_tls: during a CA rotation the CA bundle changes at steps 1 and 3, the key
and certificate at step 2, and the "changed" callables say when a service must reload them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12
from pyinfra.operations import python

from deploys.tasks.host_files import changed, ensure_directories, put_secret, put_text
from kafkaform import ca_rotation, certificates, pki, secrets
from kafkaform.cluster import Node

KEY, CERT, CA = "host.key", "host.crt", "ca.crt"
# The key then the certificate chain in one file: what the JVM services' PEM key stores read
# (Kafka's ssl.keystore.type=PEM ssl.keystore.location, ZooKeeper's ssl.keyStore.type=PEM;
# checked with Kafka 3.9.2 and its ZooKeeper, client authentication required).
KEY_AND_CERT = "host.pem"
KEYSTORE_ALIAS = "host"  # the key entry's name in a PKCS#12 key store
# PBES2 with AES-256 and an HMAC-SHA256 MAC: what Java (8u301+, 11.0.12+, 17) and OpenSSL 3
# read, unlike the old RC2/3DES defaults that OpenSSL 3 refuses.
KDF_ROUNDS = 100_000


def put_tls_files(node: Node, directory: str, group: str) -> Callable[[], bool]:
    """``directory`` (0750 root:``group``) with host.key and host.pem (key and certificate
    chain, for the JVM services) 0640, host.crt and ca.crt 0644; whether any of them changed,
    for the caller's restart or reload."""
    tls = pki.host_tls(node)
    ensure_directories([directory], "750", "root", group)
    files = (  # (file, title, content, whether it holds the key)
        (KEY, "TLS key", tls.key_pem, True),
        (KEY_AND_CERT, "TLS key and certificate", tls.key_pem + tls.cert_pem, True),
        (CERT, "TLS certificate", tls.cert_pem, False),
        (CA, "TLS CA certificates", tls.ca_pem, False),
    )
    return changed(
        *(
            (put_secret if secret else put_text)(
                f"{title} {directory}/{name}",
                f"{directory}/{name}",
                content,
                "640" if secret else "644",
                "root",
                group,
            )
            for name, title, content, secret in files
        )
    )


def keystore_bytes(tls: pki.HostTLS, password: str) -> bytes:
    """A PKCS#12 key store of the host's key under KEYSTORE_ALIAS, with its certificate
    chain and the CAs it trusts."""
    certs = certificates.load_certs(tls.cert_pem)
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )
    return pkcs12.serialize_key_and_certificates(
        KEYSTORE_ALIAS.encode(),
        certificates.load_key(tls.key_pem),  # type: ignore[arg-type]
        certs[0],
        certs[1:] + certificates.load_certs(tls.ca_pem),
        encryption,
    )


def keystore(node: Node, path: str, tls: pki.HostTLS, password: str) -> bytes:
    """The host's key store for ``path``, made again only when what it holds changes: a
    PKCS#12 file is salted anew each time it is written, and a new file on every deploy
    would restart its service every time. Kept in pki_dir (0600) beside the certificates."""
    inputs = hashlib.sha256(
        "\0".join((tls.key_pem, tls.cert_pem, tls.ca_pem, password)).encode()
    ).hexdigest()
    stem = pki.root(node.settings) / "keystores" / node.name / path.strip("/").replace("/", "_")
    made, digest = stem.with_suffix(".p12"), stem.with_suffix(".inputs")
    if made.exists() and digest.exists() and secrets.read_private(digest).strip() == inputs:
        return made.read_bytes()
    data = keystore_bytes(tls, password)
    secrets.write_private(made, data)
    secrets.write_private(digest, inputs + "\n")
    return data


def put_tls_keystore(node: Node, path: str, group: str, password_name: str) -> Callable[[], bool]:
    """The host's key and certificate (and the CAs) as a PKCS#12 key store at ``path`` (0640
    root:``group``), locked with the cluster's generated password ``password_name``
    (kafkaform.secrets.generated: the service's config names the same)."""
    tls = pki.host_tls(node)
    password = secrets.generated(node.settings, password_name)
    directory = os.path.dirname(path)
    ensure_directories([directory], "750", "root", group)
    data = keystore(node, path, tls, password)
    return changed(put_secret(f"TLS key store {path}", path, data, "640", "root", group))


def record_rotation_step(node: Node, every_host: list[str]) -> None:
    """The deploy's last operation on a host, during a CA rotation: this host has the files of
    the rotation's step (read when the deploy began); once every host has, the next deploy
    does the next step. A host that failed before never gets here, and is not recorded."""
    top = pki.root(node.settings)
    rotation = ca_rotation.state(top)
    if rotation is None:
        return
    python.call(
        name=f"CA rotation: step {rotation.step} ({rotation.name}) is on this host",
        function=ca_rotation.deployed,
        root=top,
        step=rotation.step,
        hosts=[node.name],
        every_host=every_host,
    )
