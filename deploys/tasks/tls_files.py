"""STAND-IN (zookeeper part) for the pki part's put_tls_files, same signature and files: a
service's copies of its host's key, certificate and trusted CAs. The integrator keeps the pki
part's."""

from __future__ import annotations

from collections.abc import Callable

from deploys.tasks.host_files import changed, ensure_directories, put_secret, put_text
from kafkaform import pki
from kafkaform.cluster import Node

KEY, CERT, CA = "host.key", "host.crt", "ca.crt"
KEY_AND_CERT = "host.pem"  # what ZooKeeper's PEM key store reads: the key, then the certificate


def put_tls_files(node: Node, directory: str, group: str) -> Callable[[], bool]:
    """``directory`` (0750 root:``group``) with host.key and host.pem 0640, host.crt and
    ca.crt 0644; whether any of them changed."""
    tls = pki.host_tls(node)
    ensure_directories([directory], "750", "root", group)
    return changed(
        put_secret(f"TLS key {directory}/{KEY}", f"{directory}/{KEY}", tls.key_pem,
                   "640", "root", group),
        put_secret(f"TLS key and certificate {directory}/{KEY_AND_CERT}",
                   f"{directory}/{KEY_AND_CERT}", tls.key_pem + tls.cert_pem, "640", "root", group),
        put_text(f"TLS certificate {directory}/{CERT}", f"{directory}/{CERT}", tls.cert_pem,
                 "644", "root", group),
        put_text(f"TLS CA certificates {directory}/{CA}", f"{directory}/{CA}", tls.ca_pem,
                 "644", "root", group),
    )  # fmt: skip
