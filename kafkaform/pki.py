"""Certificates: what each host (and the control machine) gets, from the CA the inventory asks.

Three ways, one setting each (kafkaform.settings, security block):

- kafkaform's own CA (nothing set): made on the control machine the first time a secured
  cluster is deployed; its key never leaves that machine (``<pki_dir>/ca/ca.key``, 0600);
- the site's CA (``tls_ca_cert_file`` + ``tls_ca_key_file``): kafkaform signs with it; the key
  stays where the site keeps it, ``<pki_dir>/ca`` records which CA that is;
- the site's certificates (``tls_host_certificates`` per host + ``tls_ca_cert_file``): used as
  they are; kafkaform issues none for those hosts.

A certificate kafkaform issues names every name and address clients use for the host, and is
issued again when those change, when fewer than ``tls_renew_days`` remain, or when another CA
signs (a rotation: kafkaform.ca_rotation). Its key is made anew each time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafkaform import ca_rotation, certificates
from kafkaform.ca_rotation import CaDir, PkiError
from kafkaform.cluster import Node
from kafkaform.secrets import pki_dir, private_dir, read_private, write_private

__all__ = [
    "HostTLS",
    "PkiError",
    "ca_bundle",
    "control_files",
    "control_tls",
    "host_names",
    "host_tls",
]

CONTROL_NAME = "kafkaform-control"  # the control machine's client certificate (mutual TLS)


@dataclass(frozen=True)
class HostTLS:
    key_pem: str  # PKCS#8, unencrypted: the files holding it are the service's alone
    cert_pem: str  # the host's certificate (then its intermediates, for a site's chain)
    ca_pem: str  # the CA certificates the host trusts (both during a CA rotation)


def host_names(node: Node) -> list[str]:
    """The DNS names and addresses a host is reached by, each once, in a stable order."""
    candidates = [node.name, node.address, str(node.data.get("ssh_hostname") or "")]
    return list(dict.fromkeys(c for c in candidates if c))


def root(settings: Mapping[str, Any]) -> Path:
    return private_dir(pki_dir(settings))


def read_setting_file(settings: Mapping[str, Any], key: str, path: Any) -> str:
    try:
        return Path(str(path)).expanduser().read_text()
    except OSError as error:
        raise PkiError(f"{key}: cannot read {path}: {error.strerror}") from None


def kafkaform_signs(settings: Mapping[str, Any]) -> bool:
    """Whether kafkaform issues certificates (its own CA, or the site's with its key)."""
    return bool(settings["tls_ca_key_file"] or not settings["tls_ca_cert_file"])


def site_ca(settings: Mapping[str, Any]) -> tuple[str, Path] | None:
    """(certificate PEM, key path) of the site CA kafkaform signs with; None: its own."""
    if not settings["tls_ca_key_file"]:
        return None
    key_path = Path(str(settings["tls_ca_key_file"])).expanduser()
    key_pem = read_setting_file(settings, "tls_ca_key_file", key_path)
    bundle = read_setting_file(settings, "tls_ca_cert_file", settings["tls_ca_cert_file"])
    for cert in certificates.load_certs(bundle):
        if certificates.key_matches(key_pem, certificates.cert_pem(cert)):
            return certificates.cert_pem(cert), key_path.resolve()
    raise PkiError("tls_ca_key_file: the key belongs to no certificate of tls_ca_cert_file")


def new_ca_name(settings: Mapping[str, Any]) -> str:
    # Dated: the old and the new CA of a rotation, in one bundle, must not share a name.
    stamp = certificates.now().strftime("%Y-%m-%d %H:%M:%S")
    return f"kafkaform CA {settings['cluster_name']} {stamp}"


def ca_in_use(settings: Mapping[str, Any]) -> CaDir:
    """The CA the cluster's certificates come from now, made or recorded the first time;
    PkiError when the inventory names another CA than the one in use (that change is a
    rotation: it needs hosts to trust both first)."""
    top = root(settings)
    rotation = ca_rotation.state(top)
    site = site_ca(settings)
    current = ca_rotation.current(top)
    if not current.exists:
        if site is None:
            current.make(new_ca_name(settings), int(settings["tls_ca_days"]))
        else:
            current.adopt(*site)
    expected = ca_rotation.upcoming(top) if rotation else current
    if site is not None:
        named = certificates.fingerprint(certificates.load_cert(site[0]))
        if named != expected.fingerprint():
            raise PkiError(
                f"tls_ca_cert_file names another CA than the cluster's ({expected.path}): "
                "changing it is a CA rotation, started by `kafkaform certs rotate-ca INVENTORY`"
            )
    elif not expected.own:
        raise PkiError(
            f"the cluster's CA ({expected.path}) is a site's, and the inventory names none "
            "(tls_ca_cert_file, tls_ca_key_file): to move to a CA of kafkaform's own, run "
            "`kafkaform certs rotate-ca INVENTORY`"
        )
    return ca_rotation.signing(top, rotation)


def ca_bundle(settings: Mapping[str, Any], hosts: bool = True) -> str:
    """The CA certificates to trust, as one PEM text: the hosts' (``hosts``) or the control
    machine's (the latter trusts both CAs until a rotation is over)."""
    pems: list[str] = []
    if kafkaform_signs(settings):
        ca_in_use(settings)
        top = root(settings)
        pems += [ca.cert_pem for ca in ca_rotation.trusted(top, ca_rotation.state(top), hosts)]
    if settings["tls_ca_cert_file"]:
        pems.append(read_setting_file(settings, "tls_ca_cert_file", settings["tls_ca_cert_file"]))
    unique = {}
    for pem in pems:
        for cert in certificates.load_certs(pem):
            unique.setdefault(certificates.fingerprint(cert), certificates.cert_pem(cert))
    return "".join(unique.values())


def still_good(cert_pem: str, names: list[str], ca: CaDir, renew_days: int) -> bool:
    """Whether an issued certificate can stay: signed by ``ca``, for exactly ``names``, with
    more than ``renew_days`` left (or as long as its CA, which a new one could not beat)."""
    cert = certificates.load_cert(cert_pem)
    ca_cert = certificates.load_cert(ca.cert_pem)
    return (
        certificates.issued_by(cert, ca_cert)
        and set(certificates.names_of(cert)) == {certificates.canonical(n) for n in names}
        and (
            certificates.days_left(cert) > renew_days
            or cert.not_valid_after_utc >= ca_cert.not_valid_after_utc
        )
    )


def issued(settings: Mapping[str, Any], names: list[str], stem: Path) -> tuple[str, str]:
    """(key PEM, certificate PEM) kept at ``stem``.key/.crt, issued (again) when needed."""
    ca = ca_in_use(settings)
    key_path, cert_path = stem.with_suffix(".key"), stem.with_suffix(".crt")
    if not (
        key_path.exists()
        and cert_path.exists()
        and still_good(cert_path.read_text(), names, ca, int(settings["tls_renew_days"]))
    ):
        key_pem, cert_pem = certificates.issue(
            names, ca.key_pem(), ca.cert_pem, int(settings["tls_cert_days"])
        )
        write_private(key_path, key_pem)
        cert_path.write_text(cert_pem)
    return read_private(key_path), cert_path.read_text()


def site_certificate(node: Node, entry: Mapping[str, Any]) -> tuple[str, str]:
    where = f"tls_host_certificates[{node.name!r}]"
    key_pem = read_setting_file(node.settings, f"{where}.key_file", entry.get("key_file"))
    cert_pem = read_setting_file(node.settings, f"{where}.cert_file", entry.get("cert_file"))
    if not certificates.key_matches(key_pem, cert_pem):
        raise PkiError(f"{where}: key_file is not the key of cert_file")
    return key_pem, cert_pem


def file_stem(host: str) -> str:
    """A host's files' name in pki_dir: pyinfra's names may hold a "/" (``@docker/kafka-1``)."""
    return host.replace("/", "_")


def host_tls(node: Node) -> HostTLS:
    """This host's key, certificate and trusted CAs, issued (again) only when needed."""
    s = node.settings
    entry = (s["tls_host_certificates"] or {}).get(node.name)
    if entry:
        key_pem, cert_pem = site_certificate(node, entry)
    elif not kafkaform_signs(s):
        raise PkiError(
            f"{node.name}: tls_host_certificates has no entry for this host, and there is no "
            "tls_ca_key_file to issue its certificate with"
        )
    else:
        key_pem, cert_pem = issued(s, host_names(node), root(s) / "hosts" / file_stem(node.name))
    return HostTLS(key_pem, cert_pem, ca_bundle(s))


def control_tls(settings: Mapping[str, Any]) -> HostTLS | None:
    """The control machine's client certificate, for services that ask for one (mutual
    TLS), with the CAs it trusts; None when kafkaform issues no certificates."""
    if not kafkaform_signs(settings):
        return None
    key_pem, cert_pem = issued(settings, [CONTROL_NAME], root(settings) / "control" / "client")
    return HostTLS(key_pem, cert_pem, ca_bundle(settings, hosts=False))


def control_files(settings: Mapping[str, Any]) -> tuple[Path, Path, Path] | None:
    """(key, certificate, CA bundle) files of the control machine's TLS clients (Kafka admin
    clients, ZooKeeper clients, ``certs check``), in ``pki_dir/control`` (the key 0600);
    None when kafkaform issues no certificates (then the CA file is tls_ca_cert_file)."""
    control = control_tls(settings)
    if control is None:
        return None
    directory = root(settings) / "control"
    ca_path = directory / "ca.crt"
    if not ca_path.exists() or ca_path.read_text() != control.ca_pem:
        ca_path.write_text(control.ca_pem)
    return directory / "client.key", directory / "client.crt", ca_path


def trusted_ca_file(settings: Mapping[str, Any]) -> Path:
    """The CA file the control machine's clients trust servers by: kafkaform's bundle (both
    CAs during a rotation), or the site's CA when the site gives every certificate."""
    files = control_files(settings)
    return files[2] if files else Path(str(settings["tls_ca_cert_file"])).expanduser()


def issued_files(settings: Mapping[str, Any]) -> list[Path]:
    """The certificates in ``pki_dir`` (CAs, hosts', the control machine's), then the site's
    the inventory names: what ``kafkaform certs check`` lists."""
    top = pki_dir(settings)
    found = [top / d / "ca.crt" for d in (ca_rotation.CURRENT, ca_rotation.NEXT)]
    found += sorted((top / "hosts").glob("*.crt")) + [top / "control" / "client.crt"]
    if settings["tls_ca_cert_file"]:
        found.append(Path(str(settings["tls_ca_cert_file"])).expanduser())
    for entry in (settings["tls_host_certificates"] or {}).values():
        if isinstance(entry, Mapping) and entry.get("cert_file"):
            found.append(Path(str(entry["cert_file"])).expanduser())
    return [path for path in found if path.exists()]
