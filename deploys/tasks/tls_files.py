"""STAND-IN (zookeeper part) for the pki part's put_tls_files, same signature: a service's
copies of its host's key, certificate and trusted CAs. The integrator keeps the pki part's."""

from __future__ import annotations

from collections.abc import Callable

from deploys.tasks.host_files import changed, ensure_directories, put_secret, put_text
from kafkaform import pki
from kafkaform.cluster import Node


def put_tls_files(node: Node, directory: str, group: str) -> Callable[[], bool]:
    """<directory>/{host.key,host.crt,ca.crt}, root:<group>, the key 0640; whether any changed."""
    tls = pki.host_tls(node)
    ensure_directories([directory], mode="750", user="root", group=group)
    return changed(
        put_secret(f"TLS key {directory}/host.key", f"{directory}/host.key", tls.key_pem,
                   "640", "root", group),
        put_text(f"TLS certificate {directory}/host.crt", f"{directory}/host.crt", tls.cert_pem,
                 "644", "root", group),
        put_text(f"TLS CA {directory}/ca.crt", f"{directory}/ca.crt", tls.ca_pem,
                 "644", "root", group),
    )  # fmt: skip
