"""STAND-IN (kafka part) for the pki part's deploys/tasks/tls_files.py, same signature: the
integrator keeps the pki part's file."""

from __future__ import annotations

from collections.abc import Callable

from deploys.tasks.host_files import changed, ensure_directories, put_secret, put_text
from kafkaform import pki
from kafkaform.cluster import Node


def put_tls_files(node: Node, directory: str, group: str) -> Callable[[], bool]:
    """``directory`` (0750 root:``group``) with host.key (0640), host.crt and ca.crt (0644)."""
    tls = pki.host_tls(node)
    ensure_directories([directory], "750", "root", group)
    key, cert, ca = (f"{directory}/{name}" for name in ("host.key", "host.crt", "ca.crt"))
    return changed(
        put_secret(f"TLS key {key}", key, tls.key_pem, "640", "root", group),
        put_text(f"TLS certificate {cert}", cert, tls.cert_pem, "644", "root", group),
        put_text(f"TLS CA certificates {ca}", ca, tls.ca_pem, "644", "root", group),
    )
