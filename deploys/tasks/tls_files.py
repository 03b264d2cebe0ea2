"""STAND-IN (monitoring part) for the pki part's put_tls_files, same signature: the
integrator keeps the pki part's module. A service's copies of the host's TLS files."""

from __future__ import annotations

from collections.abc import Callable

from deploys.tasks.host_files import changed, ensure_directories, put_secret, put_text
from kafkaform import pki
from kafkaform.cluster import Node


def put_tls_files(node: Node, directory: str, group: str) -> Callable[[], bool]:
    """<directory>/tls/{host.key,host.crt,ca.crt}, dir 0750 and key 0640 root:<group>."""
    tls = pki.host_tls(node)
    tls_dir = f"{directory}/tls"
    ensure_directories([tls_dir], mode="750", user="root", group=group)
    return changed(
        put_secret(
            f"TLS key {tls_dir}/host.key", f"{tls_dir}/host.key", tls.key_pem, "640", "root", group
        ),
        put_text(
            f"TLS certificate {tls_dir}/host.crt",
            f"{tls_dir}/host.crt",
            tls.cert_pem,
            "644",
            "root",
            group,
        ),
        put_text(f"TLS CA {tls_dir}/ca.crt", f"{tls_dir}/ca.crt", tls.ca_pem, "644", "root", group),
    )
