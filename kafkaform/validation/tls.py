"""TLS settings, checked before any host is touched: the security level, the CA
and certificate files a site provides (readable, key and certificate a pair, the host's names
covered, chained to the site's CA, days left). How kafka_users name their passwords is
kafkaform.validation.access's.

Messages name the host, the field and the file, never a key or a password."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509

from kafkaform import certificates
from kafkaform.cluster import Node
from kafkaform.pki import host_names
from kafkaform.settings import SASL_SSL, SECURITY_LEVELS
from kafkaform.validation.problems import Problem, did_you_mean
from kafkaform.validation.values import shown

HOST_CERTIFICATE_KEYS = ("cert_file", "key_file")


class Unusable(Exception):
    """A file named by a setting that cannot be used; the message says why."""


def read(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise Unusable(f"expected a file path, got {shown('', value)}")
    path = Path(value).expanduser()
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise Unusable(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None


def world_readable(value: str) -> bool:
    try:
        return bool(os.stat(Path(value).expanduser()).st_mode & 0o004)
    except OSError:
        return False


def lifetime(node: Node, field: str, cert: x509.Certificate, renewable: bool) -> list[Problem]:
    """Expired: an error. Fewer than tls_renew_days left: a warning where kafkaform cannot
    renew it itself (a site's file)."""
    left = certificates.days_left(cert)
    if left < 0:
        return [Problem(node.name, field, "the certificate has expired")]
    if not renewable and left < node.settings["tls_renew_days"]:
        return [
            Problem(node.name, field, f"the certificate has {left:.0f} days left", warning=True)
        ]
    return []


def check_levels(node: Node) -> list[Problem]:
    s = node.settings
    problems = []
    if s["security"] not in SECURITY_LEVELS:
        hint = did_you_mean(str(s["security"]), SECURITY_LEVELS)
        known = ", ".join(SECURITY_LEVELS)
        problems.append(
            Problem(node.name, "security", f"{shown('', s['security'])}: one of {known}{hint}")
        )
    hold = s["kafka_plaintext_listener"]
    if not isinstance(hold, bool):
        problems.append(Problem(node.name, "kafka_plaintext_listener", "must be True or False"))
    elif hold and s["security"] != SASL_SSL:
        problems.append(
            Problem(
                node.name,
                "kafka_plaintext_listener",
                "keeps PLAINTEXT beside the secure listeners during a rollout: only with "
                f'security "{SASL_SSL}"',
            )
        )
    days = (s["tls_renew_days"], s["tls_cert_days"])
    if all(isinstance(d, int) for d in days) and days[0] >= days[1]:
        problems.append(
            Problem(
                node.name,
                "tls_renew_days",
                f"{days[0]} is not below tls_cert_days ({days[1]}): every deploy would "
                "issue every certificate again",
            )
        )
    return problems


def check_site_ca(node: Node) -> tuple[list[Problem], list[x509.Certificate]]:
    """Problems of tls_ca_cert_file / tls_ca_key_file, and the site's CAs (none: unusable)."""
    s = node.settings
    cert_file, key_file = s["tls_ca_cert_file"], s["tls_ca_key_file"]
    if not cert_file:
        if key_file:
            return [Problem(node.name, "tls_ca_key_file", "needs tls_ca_cert_file beside it")], []
        return [], []
    try:
        cas = certificates.load_certs(read(cert_file))
    except (Unusable, certificates.CertificateError) as error:
        return [Problem(node.name, "tls_ca_cert_file", str(error))], []
    problems = []
    for cert in cas:
        field = f"tls_ca_cert_file ({cert.subject.rfc4514_string()})"
        if not certificates.is_ca(cert):
            problems.append(Problem(node.name, field, "is not a CA certificate"))
        problems += lifetime(node, field, cert, renewable=False)
    if key_file:
        try:
            key = read(key_file)
            if not any(certificates.key_matches(key, certificates.cert_pem(c)) for c in cas):
                problems.append(
                    Problem(
                        node.name,
                        "tls_ca_key_file",
                        "is the key of no certificate in tls_ca_cert_file",
                    )
                )
        except (Unusable, certificates.CertificateError) as error:
            problems.append(Problem(node.name, "tls_ca_key_file", str(error)))
        if world_readable(key_file):
            problems.append(
                Problem(
                    node.name,
                    "tls_ca_key_file",
                    f"{key_file} is readable by every user of this machine (chmod 600)",
                    warning=True,
                )
            )
    return problems, cas


def check_host_certificate(node: Node, entry: Any, cas: list[x509.Certificate]) -> list[Problem]:
    where = f"tls_host_certificates[{node.name!r}]"
    if not isinstance(entry, Mapping):
        return [Problem(node.name, where, "expected a dict with cert_file and key_file")]
    problems = [
        Problem(
            node.name,
            f"{where}[{key!r}]",
            f"unknown key{did_you_mean(str(key), HOST_CERTIFICATE_KEYS)}",
        )
        for key in entry
        if key not in HOST_CERTIFICATE_KEYS
    ]
    try:
        cert_text = read(entry.get("cert_file"))
        chain = certificates.load_certs(cert_text)
    except (Unusable, certificates.CertificateError) as error:
        return problems + [Problem(node.name, f"{where}.cert_file", str(error))]
    try:
        if not certificates.key_matches(read(entry.get("key_file")), cert_text):
            problems.append(Problem(node.name, f"{where}.key_file", "is not the key of cert_file"))
    except (Unusable, certificates.CertificateError) as error:
        problems.append(Problem(node.name, f"{where}.key_file", str(error)))
    leaf = chain[0]
    missing = certificates.covers(leaf, host_names(node))
    if missing:
        problems.append(
            Problem(node.name, f"{where}.cert_file", f"does not name {', '.join(missing)}")
        )
    if cas and not certificates.chains_to(leaf, cas, chain[1:]):
        problems.append(
            Problem(node.name, f"{where}.cert_file", "does not chain to tls_ca_cert_file")
        )
    return problems + lifetime(node, f"{where}.cert_file", leaf, renewable=False)


def check_certificates(node: Node) -> list[Problem]:
    s = node.settings
    problems, cas = check_site_ca(node)
    chosen = s["tls_host_certificates"]
    if not isinstance(chosen, Mapping):
        return problems  # value_types reports it
    if chosen and not s["tls_ca_cert_file"]:
        problems.append(
            Problem(
                node.name, "tls_host_certificates", "needs tls_ca_cert_file (the CA they chain to)"
            )
        )
    if node.name in chosen:
        problems += check_host_certificate(node, chosen[node.name], cas)
    elif s["tls_ca_cert_file"] and not s["tls_ca_key_file"] and s["security"] != "plaintext":
        problems.append(
            Problem(
                node.name,
                "tls_host_certificates",
                "has no entry for this host, and there is no tls_ca_key_file to issue one with",
            )
        )
    return problems


def check_tls(node: Node) -> list[Problem]:
    return check_levels(node) + check_certificates(node)


def check_certificate_hosts(nodes: Iterable[Node]) -> list[Problem]:
    """tls_host_certificates naming a host the inventory does not have (a typo)."""
    nodes = list(nodes)
    names = [n.name for n in nodes]
    problems = []
    for node in nodes:
        chosen = node.settings["tls_host_certificates"]
        for name in chosen if isinstance(chosen, Mapping) else ():
            if name not in names:
                problems.append(
                    Problem(
                        node.name,
                        f"tls_host_certificates[{name!r}]",
                        f"no such host in the inventory{did_you_mean(str(name), names)}",
                    )
                )
    return problems
