"""Who may read the monitoring of a secured cluster, and the files that say so.

A ``sasl_ssl`` cluster puts Prometheus, Alertmanager and node_exporter behind TLS and basic
auth (their shared web config format, ``--web.config.file``) and the JMX exporter agents
behind basic auth. The users:

- ``prometheus`` (SCRAPER): what Prometheus scrapes node_exporter, the other Prometheus
  servers and Alertmanager with, and sends its alerts to Alertmanager as; the control machine
  reads node_exporter as it too (``kafkaform status``).
- ``kafkaform`` (VIEWER): people, Grafana and the control machine's tools, on Prometheus and
  Alertmanager.
- ``jmx`` (JMX_SCRAPER): the agents' only user (the agent knows one). Its own password,
  because the agent serves plain HTTP: a password read off that wire opens nothing else.

Passwords are generated once on the control machine (kafkaform.secrets, ``monitoring-<user>``);
the hosts get hashes only, and those are derived once too (kept beside the passwords), so a
deploy that changes nothing rewrites nothing.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import ssl
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import bcrypt

from kafkaform import pki, secrets
from kafkaform.cluster import Node
from kafkaform.settings import monitoring_secured

SCRAPER = "prometheus"
VIEWER = "kafkaform"
JMX_SCRAPER = "jmx"
WEB_USERS = (SCRAPER, VIEWER)  # Prometheus and Alertmanager accept both
BCRYPT_ROUNDS = 10  # checked on each request the servers do not have cached: keep it cheap
JMX_HASH_ALGORITHM = "SHA-256"
TLS_MIN_VERSION = "TLS12"


secured = monitoring_secured  # kafkaform.settings.monitoring_secured


def password(settings: Mapping[str, Any], user: str) -> str:
    return secrets.generated(settings, f"monitoring-{user}")


def bcrypt_hash(settings: Mapping[str, Any], user: str) -> str:
    """The bcrypt hash of ``user``'s password: made once (bcrypt salts each hash anew) and
    kept beside the password, made again only if the password changed."""
    value = password(settings, user).encode()
    path = secrets.private_dir(secrets.pki_dir(settings)) / "secrets" / f"monitoring-{user}.bcrypt"
    if path.exists():
        kept = path.read_text().strip()
        if bcrypt.checkpw(value, kept.encode()):
            return kept
    made = bcrypt.hashpw(value, bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()
    secrets.write_private(path, made + "\n")
    return made


@dataclass(frozen=True)
class JmxBasicAuth:
    """The agent's ``httpServer.authentication.basic`` (jmx_prometheus_javaagent 1.0.1)."""

    username: str
    salt: str
    password_hash: str
    algorithm: str = JMX_HASH_ALGORITHM


def jmx_hash(salt: str, password_text: str) -> str:
    """What the agent compares with (MessageDigestAuthenticator): the digest of
    ``<salt>:<password>`` as a hex number, so with no leading zeros."""
    digest = hashlib.sha256(f"{salt}:{password_text}".encode()).digest()
    return format(int.from_bytes(digest, "big"), "x")


def jmx_basic_auth(settings: Mapping[str, Any]) -> JmxBasicAuth | None:
    """The agents' user on a secured cluster; None on a plaintext one (no authentication)."""
    if not secured(settings):
        return None
    salt = secrets.generated(settings, "monitoring-jmx-salt")
    return JmxBasicAuth(JMX_SCRAPER, salt, jmx_hash(salt, password(settings, JMX_SCRAPER)))


def web_config(settings: Mapping[str, Any], tls_dir: str, users: tuple[str, ...]) -> str:
    """The exporter-toolkit web config (Prometheus 2.42, Alertmanager 0.25, node_exporter
    1.5 read it the same way): TLS with the host's certificate, basic auth for ``users``."""
    config = {
        "tls_server_config": {
            "cert_file": f"{tls_dir}/host.crt",
            "key_file": f"{tls_dir}/host.key",
            "min_version": TLS_MIN_VERSION,
        },
        "basic_auth_users": {user: bcrypt_hash(settings, user) for user in users},
    }
    # JSON is YAML: no quoting rules of our own for hashes full of $ and /.
    return "# Managed by kafkaform: who may connect, and the TLS they connect with.\n" + (
        json.dumps(config, indent=2) + "\n"
    )


def cluster_tls_config(tls_dir: str) -> str:
    """Alertmanager's --cluster.tls-config (0.24+): gossip over mutual TLS, each peer with
    its host certificate, both sides checked against the cluster's CA."""
    cert, key, ca = (f"{tls_dir}/{name}" for name in ("host.crt", "host.key", "ca.crt"))
    config = {
        "tls_server_config": {
            "cert_file": cert,
            "key_file": key,
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": ca,
        },
        "tls_client_config": {"cert_file": cert, "key_file": key, "ca_file": ca},
    }
    return "# Managed by kafkaform: Alertmanager's gossip over mutual TLS.\n" + (
        json.dumps(config, indent=2) + "\n"
    )


def listen(address: str | None, port: int) -> str:
    """``address:port`` for a listen flag; no address: every address (``:port``)."""
    if not address:
        return f":{port}"
    try:
        if ipaddress.ip_address(address).version == 6:
            return f"[{address}]:{port}"
    except ValueError:
        pass  # a host name
    return f"{address}:{port}"


@dataclass(frozen=True)
class Access:
    """How the control machine reads one endpoint: scheme, user and password, the CA."""

    scheme: str
    username: str | None = None
    password: str | None = None
    ca_pem: str | None = None


JMX_PORTS = ("kafka_jmx_exporter_port", "zookeeper_jmx_exporter_port")
WEB_PORTS = {"node_exporter_port": SCRAPER, "prometheus_port": VIEWER, "alertmanager_port": VIEWER}


def exporter_access(settings: Mapping[str, Any], port: int, ca_pem: Callable[[], str]) -> Access:
    """How the control machine reads the exporter or server at ``port`` of a host with these
    settings; ``ca_pem``: the cluster's CA certificates (asked only if needed)."""
    if secured(settings):
        if any(settings[key] == port for key in JMX_PORTS):
            return Access("http", JMX_SCRAPER, password(settings, JMX_SCRAPER))
        for key, user in WEB_PORTS.items():
            if settings[key] == port:
                return Access("https", user, password(settings, user), ca_pem())
    return Access("http")  # a plaintext cluster, or the lag exporter


def read_metrics(node: Node, port: int, timeout: float) -> str:
    """``/metrics`` of the exporter at ``port`` of ``node``, as this cluster's security level
    wants it read (OSError: it did not answer, or refused)."""
    access = exporter_access(node.settings, port, lambda: pki.host_tls(node).ca_pem)
    request = urllib.request.Request(f"{access.scheme}://{node.address}:{port}/metrics")
    if access.username:
        token = base64.b64encode(f"{access.username}:{access.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cadata=access.ca_pem) if access.ca_pem else None
    with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
        return answer.read().decode(errors="replace")
