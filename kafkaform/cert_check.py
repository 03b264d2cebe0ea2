"""What ``kafkaform certs check`` reads: the certificate each TLS endpoint of a secured cluster
serves (read with Python's ssl module, judged against the CAs the control machine trusts),
and the certificates kept in ``pki_dir`` (read from disk: known with no host reachable)."""

from __future__ import annotations

import socket
import ssl
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from kafkaform import ca_rotation, certificates, pki
from kafkaform.cluster import Cluster, Node
from kafkaform.secrets import pki_dir
from kafkaform.settings import PORT_SETTINGS

# The ports that speak TLS in a secured cluster (their roles: settings.PORT_SETTINGS).
TLS_PORT_SETTINGS = (
    "kafka_tls_port",
    "kafka_internal_port",
    "zookeeper_secure_client_port",
    "node_exporter_port",
    "prometheus_port",
    "alertmanager_port",
)


@dataclass
class Finding:
    """One certificate: served at ``host``:``port`` (``setting``), or a file (``path``)."""

    where: str  # "kafka-1:9095 (kafka_tls_port)" or a file's path
    host: str = ""
    port: int = 0
    path: str = ""
    reachable: bool = True
    error: str = ""
    days_left: float | None = None
    names: list[str] = field(default_factory=list)
    subject: str = ""
    issuer: str = ""
    trusted: bool | None = None  # chains to a CA the control machine trusts
    missing_names: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def endpoints(cluster: Cluster) -> list[tuple[Node, str, int]]:
    """(host, port setting, port) of every TLS endpoint; none in a plaintext cluster."""
    found = []
    for node in cluster.nodes:
        if node.settings["security"] == "plaintext":
            continue
        for key in TLS_PORT_SETTINGS:
            role = PORT_SETTINGS[key]
            if role == "all" or role in node.roles:
                found.append((node, key, int(node.settings[key])))
    return found


def trust_context(trusted_pem: str, client: pki.HostTLS | None, verify: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # names are judged below, and reported rather than refused
    if verify and trusted_pem:
        context.load_verify_locations(cadata=trusted_pem)
    else:
        context.verify_mode = ssl.CERT_NONE
    if client is not None:  # services that ask for the client's certificate (mutual TLS)
        with tempfile.TemporaryDirectory() as private:  # 0700: the key is the control's own
            key, cert = Path(private) / "client.key", Path(private) / "client.crt"
            key.write_text(client.key_pem)
            cert.write_text(client.cert_pem)
            context.load_cert_chain(cert, key)
    return context


def served(
    address: str, port: int, trusted_pem: str, client: pki.HostTLS | None, timeout: float
) -> tuple[bytes, bool]:
    """(the certificate ``address``:``port`` serves, DER; whether it verified against
    ``trusted_pem``). OSError when nothing answers with TLS there."""
    for verify in (True, False):
        context = trust_context(trusted_pem, client, verify)
        try:
            with socket.create_connection((address, port), timeout=timeout) as raw:
                with context.wrap_socket(raw, server_hostname=address) as tls:
                    der = tls.getpeercert(binary_form=True)
        except ssl.SSLCertVerificationError:
            continue  # read it again unverified, to say what it is
        if der:
            return der, verify and bool(trusted_pem)
        raise OSError("the server sent no certificate")
    raise OSError("the certificate could not be read")


def judge(finding: Finding, cert: x509.Certificate, warn_days: float, names: list[str]) -> None:
    left = certificates.days_left(cert)
    finding.days_left = round(left, 1)
    finding.names = certificates.names_of(cert)
    finding.subject = cert.subject.rfc4514_string()
    finding.issuer = cert.issuer.rfc4514_string()
    finding.missing_names = certificates.covers(cert, names) if names else []
    if left < 0:
        finding.problems.append("expired")
    elif left < warn_days:
        finding.problems.append(f"fewer than {warn_days:g} days left")
    if finding.trusted is False:
        finding.problems.append("does not chain to a CA the control machine trusts")
    if finding.missing_names:
        finding.problems.append(f"does not name {', '.join(finding.missing_names)}")


def check_endpoint(
    node: Node,
    key: str,
    port: int,
    cas: list[x509.Certificate],
    client: pki.HostTLS | None,
    warn_days: float,
    timeout: float,
) -> Finding:
    finding = Finding(f"{node.name}:{port} ({key})", host=node.name, port=port)
    trusted_pem = "".join(certificates.cert_pem(c) for c in cas)
    try:
        der, verified = served(node.address, port, trusted_pem, client, timeout)
    except (OSError, ssl.SSLError) as error:
        finding.reachable, finding.error = False, str(error) or type(error).__name__
        return finding
    cert = x509.load_der_x509_certificate(der)
    # The handshake's verification also fails on an expired certificate: whether it chains
    # is asked of the signature too, so that "expired" is not reported as "untrusted".
    finding.trusted = verified or certificates.chains_to(cert, cas, [])
    judge(finding, cert, warn_days, pki.host_names(node))
    return finding


def trusted_cas(settings: Mapping[str, Any]) -> list[x509.Certificate]:
    """The CAs the control machine trusts now, read from disk (none is made here)."""
    pems = []
    top = pki_dir(settings)
    if pki.kafkaform_signs(settings) and ca_rotation.current(top).exists:
        rotation = ca_rotation.state(top)
        pems += [ca.cert_pem for ca in ca_rotation.trusted(top, rotation, hosts=False)]
    site = Path(str(settings["tls_ca_cert_file"] or "")).expanduser()
    if settings["tls_ca_cert_file"] and site.is_file():
        pems.append(site.read_text())
    return [cert for pem in pems for cert in certificates.load_certs(pem)]


def check_file(path: Path, cas: list[x509.Certificate], warn_days: float) -> Finding:
    finding = Finding(str(path), path=str(path))
    try:
        chain = certificates.load_certs(path.read_text())
    except (OSError, certificates.CertificateError) as error:
        finding.error = str(error)
        finding.problems.append("cannot be read")
        return finding
    leaf = chain[0]
    if certificates.is_ca(leaf):
        finding.trusted = None  # a CA is trusted by being one; its days left are what count
    else:
        finding.trusted = certificates.chains_to(leaf, cas, chain[1:])
    judge(finding, leaf, warn_days, [])
    return finding


def check(cluster: Cluster, warn_days: float, timeout: float) -> list[Finding]:
    """Every served certificate, then every certificate file."""
    settings = cluster.nodes[0].settings
    cas = trusted_cas(settings)
    top = pki_dir(settings)
    signs = pki.kafkaform_signs(settings)
    client = pki.control_tls(settings) if signs and ca_rotation.current(top).exists else None
    found = endpoints(cluster)
    with ThreadPoolExecutor(max_workers=min(32, max(1, len(found)))) as pool:
        served_findings = list(
            pool.map(lambda e: check_endpoint(*e, cas, client, warn_days, timeout), found)
        )
    files = [check_file(path, cas, warn_days) for path in pki.issued_files(settings)]
    return served_findings + files


def table(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        if not f.reachable:
            lines.append(f"{f.where}: unreachable ({f.error})")
            continue
        if f.days_left is None:
            lines.append(f"{f.where}: PROBLEM: {'; '.join(f.problems)} ({f.error})")
            continue
        names = ", ".join(f.names) or "-"
        status = "PROBLEM: " + "; ".join(f.problems) if f.problems else "ok"
        lines.append(
            f"{f.where}: {status}\n    {f.days_left:g} days left; names: {names}\n"
            f"    subject: {f.subject}; issuer: {f.issuer}"
        )
    return "\n".join(lines)
