"""ZooKeeper locked down on a secured cluster (``security: "sasl_ssl"``): what zoo.cfg, the
servers' JAAS file and the clients (brokers, kafkaform's host scripts and tools) say.

Decisions, and why:

- **The plain client port is closed to the network.** zoo.cfg has no ``clientPort``; the
  member lines of the dynamic config bind it to 127.0.0.1 only (kafkaform.ensemble_config
  .member_line: ZooKeeper's ``reconfig`` refuses a joining server without a client address).
  Every client talks TLS to ``secureClientPort`` (Netty), the four-letter word ``srvr``
  included (ZooKeeper answers it over TLS too): an open plain port would carry the digest
  password and the SCRAM hashes Kafka keeps in ZooKeeper in clear.
- **Clients authenticate with SASL DIGEST-MD5 as "kafka"**: the brokers, kafkaform's host
  scripts (the roll lock) and the control machine. One principal for the cluster's own
  machinery, because Kafka's ``zookeeper.set.acl`` gives each znode to its creator only
  (``sasl:kafka``, read for the world): the broker-id claims, the roll lock and Kafka's own
  znodes are then usable by each of them with no extra grant. Servers do not ask clients for
  certificates (``ssl.clientAuth=none``): TLS encrypts and proves the server, SASL proves the
  client.
- **Unauthenticated sessions are closed** (``enforce.auth.enabled``, schemes sasl and
  digest): an anonymous client can neither change nor read anything, nor fill ZooKeeper's
  root (whose ACL is world-writable) with znodes.
- **The reconfig admin "kafkaform" stays a digest user** (kafkaform.ensemble_reconfig): the
  ACL of /zookeeper/config names it on every ensemble deployed so far, and digest's weakness,
  the password in the auth packet, is gone over TLS. Moving it to SASL would need a second
  bootstrap of that ACL and gain nothing.
- **The quorum**: servers authenticate each other with SASL DIGEST-MD5 (user "quorum",
  QuorumServer/QuorumLearner sections) and talk TLS (``sslQuorum``) with their host
  certificates, checked against the CA and the peer's address (the certificates name it).

ZooKeeper reads a PEM key store from ONE file holding the key and the certificate
(``SERVER_PEM``); the trust store is the CA file. Pure: texts, keys and paths; the hosts'
files are written by deploys/tasks/zookeeper.py and deploys/tasks/zookeeper_client_files.py.

**The servers' stages of a live rollout** (ZOOKEEPER_STAGES, one roll each, either way): a
plaintext ensemble first gets the TLS client port beside the plain one and the quorum's TLS
and SASL accepted but not used (``secure_port_added``: portUnification takes both
kinds of quorum connection, nobody sends or asks SASL), then the servers talk TLS and send
SASL to each other (``quorum_secured``: the plain client port is still on the network for
the brokers), then the final locked-down config (``sasl_ssl``). Each server's stage is
``settings["zookeeper_security_stage"]`` during a rollout (kafkaform.rollout), else the
level's final one. Every adjacent pair mixes safely in one ensemble (proven on loopback by
tests/integration/test_zookeeper_stages_loopback.py).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any, Protocol

from kafkaform import secrets
from kafkaform.settings import ZOOKEEPER_STAGE_KEY, zookeeper_clients_secured
from kafkaform.settings import secured as settings_secured

BROKER_USER = "kafka"  # the brokers' (and kafkaform's machinery's) ZooKeeper SASL user
QUORUM_USER = "quorum"  # the servers', between themselves
TLS_DIR = "tls"  # in each service's config dir: host.key, host.crt, ca.crt (pki part's helper)
SERVER_PEM = "host.pem"  # key + certificate in one file: ZooKeeper's PEM key store reads one
SERVER_CA = "ca.crt"  # the CAs a server trusts (put_tls_files writes both)
SERVER_JAAS = "jaas.conf"  # in zookeeper_config_dir, 0640 root:zookeeper
# The ZooKeeper client files of the hosts' root-run tools (roll lock, zookeeper-shell, the
# ACL migration): every host of a secured cluster, root only.
CLIENT_DIR = "/etc/kafkaform/zookeeper-client"
CLIENT_JAAS = f"{CLIENT_DIR}/jaas.conf"
CLIENT_CA = f"{CLIENT_DIR}/ca.crt"
CLIENT_TLS_PROPERTIES = f"{CLIENT_DIR}/tls.properties"  # Kafka's -zk-tls-config-file
NETTY_SERVER = "org.apache.zookeeper.server.NettyServerCnxnFactory"
NETTY_CLIENT = "org.apache.zookeeper.ClientCnxnSocketNetty"
DIGEST_MODULE = "org.apache.zookeeper.server.auth.DigestLoginModule"
SASL_PROVIDER = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
MIGRATOR = "kafka.admin.ZkSecurityMigrator"


class Cluster(Protocol):  # kafkaform.cluster.Cluster (which imports this module)
    def zookeeper_connect(self, chroot: str | None = None, secure: bool | None = None) -> str: ...


class Node(Protocol):  # kafkaform.cluster.Node
    settings: dict[str, Any]


secured = settings_secured  # kafkaform.settings.secured

PLAINTEXT_STAGE = "plaintext"
SECURE_PORT_ADDED = "secure_port_added"
QUORUM_SECURED = "quorum_secured"
SASL_SSL_STAGE = "sasl_ssl"
ZOOKEEPER_STAGES = (PLAINTEXT_STAGE, SECURE_PORT_ADDED, QUORUM_SECURED, SASL_SSL_STAGE)
# The zoo.cfg keys that tell the stages apart, as each stage sets them (absent: ZooKeeper's
# default, "false"). Beside them every stage but plaintext has the TLS client port and stores
# and the SASL provider (secure_keys), and every stage but sasl_ssl the plain clientPort.
STAGE_SWITCHES: dict[str, dict[str, str]] = {
    PLAINTEXT_STAGE: {},
    SECURE_PORT_ADDED: {
        "sslQuorum": "false",  # still connects in plain text: plaintext peers may remain
        # Takes TLS and plain quorum connections. QuorumPeerConfig's key is portUnification:
        # a zoo.cfg saying sslQuorumPortUnification is silently left plain-only.
        "portUnification": "true",
        "quorum.auth.enableSasl": "true",
        "quorum.auth.learnerRequireSasl": "false",  # sends no SASL yet
        "quorum.auth.serverRequireSasl": "false",  # asks none either
    },
    QUORUM_SECURED: {
        "sslQuorum": "true",
        "portUnification": "true",  # secure_port_added peers still connect plain
        "quorum.auth.enableSasl": "true",
        "quorum.auth.learnerRequireSasl": "true",
        "quorum.auth.serverRequireSasl": "false",  # secure_port_added peers send none
    },
    SASL_SSL_STAGE: {
        "sslQuorum": "true",
        "enforce.auth.enabled": "true",
        "enforce.auth.schemes": "sasl,digest",
        "quorum.auth.enableSasl": "true",
        "quorum.auth.learnerRequireSasl": "true",
        "quorum.auth.serverRequireSasl": "true",
    },
}
SWITCH_DEFAULTS = {
    key: ("" if key == "enforce.auth.schemes" else "false")
    for switches in STAGE_SWITCHES.values()
    for key in switches
}


def server_stage(settings: Mapping[str, Any]) -> str:
    """The stage this host's ZooKeeper server is rendered at: the rollout's, else the
    security level's final one."""
    stage = settings.get(ZOOKEEPER_STAGE_KEY)
    if not stage:
        return SASL_SSL_STAGE if secured(settings) else PLAINTEXT_STAGE
    if stage not in ZOOKEEPER_STAGES:
        raise ValueError(f"zookeeper_security_stage {stage!r} is not one of {ZOOKEEPER_STAGES}")
    return str(stage)


def server_has_security(settings: Mapping[str, Any]) -> bool:
    """Whether the server has its TLS port, TLS files and JAAS file (every stage but the
    first)."""
    return server_stage(settings) != PLAINTEXT_STAGE


def plain_client_port_open(settings: Mapping[str, Any]) -> bool:
    """Whether the server's plain client port is on the network (zoo.cfg's clientPort, the
    member line binding every address): until the final stage the brokers still use it."""
    return server_stage(settings) != SASL_SSL_STAGE


def zookeeper_client_port(settings: Mapping[str, Any]) -> Any:
    """The port kafkaform's ZooKeeper clients connect to: on a secured cluster the TLS one (the
    plain client port is closed there)."""
    if zookeeper_clients_secured(settings):
        return settings["zookeeper_secure_client_port"]
    return settings["zookeeper_client_port"]


def password(settings: Mapping[str, Any], user: str) -> str:
    """The generated password of ZooKeeper SASL user ``user`` (kept on the control machine)."""
    return secrets.generated(settings, f"zookeeper-{user}")


def server_tls_dir(settings: Mapping[str, Any]) -> str:
    return f"{settings['zookeeper_config_dir']}/{TLS_DIR}"


def server_ca_path(settings: Mapping[str, Any]) -> str:
    return f"{server_tls_dir(settings)}/{SERVER_CA}"


def server_jaas_path(settings: Mapping[str, Any]) -> str:
    return f"{settings['zookeeper_config_dir']}/{SERVER_JAAS}"


def server_properties(settings: Mapping[str, Any]) -> dict[str, str]:
    """zoo.cfg's security keys of the server's stage (server_stage); nothing at plaintext."""
    stage = server_stage(settings)
    if stage == PLAINTEXT_STAGE:
        return {}
    return {**secure_keys(settings), **STAGE_SWITCHES[stage]}


def secure_keys(settings: Mapping[str, Any]) -> dict[str, str]:
    """The keys every stage but plaintext has: the TLS client port, the stores, SASL."""
    tls = server_tls_dir(settings)
    stores = {}
    for prefix in ("ssl", "ssl.quorum"):  # client port, quorum: the same host certificate
        stores.update(
            {
                f"{prefix}.keyStore.location": f"{tls}/{SERVER_PEM}",
                f"{prefix}.keyStore.type": "PEM",
                f"{prefix}.trustStore.location": server_ca_path(settings),
                f"{prefix}.trustStore.type": "PEM",
            }
        )
    return {
        "secureClientPort": str(settings["zookeeper_secure_client_port"]),
        "serverCnxnFactory": NETTY_SERVER,
        "ssl.clientAuth": "none",  # clients prove themselves with SASL
        **stores,
        "authProvider.sasl": SASL_PROVIDER,
    }


def live_server_stage(config: Mapping[str, str] | None) -> str | None:
    """The stage a server's live zoo.cfg (facts.live.LiveState's ["zookeeper"]["config"]) is
    at; None without one. A config that matches no stage (edited by hand) raises ValueError
    naming the keys that decide (never a value of another key: a store password may be
    there)."""
    if config is None:
        return None
    seen = {
        key: str(config.get(key, default)).strip().lower()
        for key, default in SWITCH_DEFAULTS.items()
    }
    # Not clientPort: a dynamic ensemble may give it in its member lines only.
    has_tls, has_plain = "secureClientPort" in config, "clientPort" in config
    for stage in ZOOKEEPER_STAGES:
        wanted = {**SWITCH_DEFAULTS, **STAGE_SWITCHES[stage]}
        if seen == wanted and has_tls == (stage != PLAINTEXT_STAGE):
            return stage
    found = ", ".join(
        [f"{k}={config[k]}" for k in SWITCH_DEFAULTS if k in config]
        + [f"secureClientPort {'set' if has_tls else 'absent'}"]
        + [f"clientPort {'set' if has_plain else 'absent'}"]
    )
    raise ValueError(f"zoo.cfg is at none of the stages {', '.join(ZOOKEEPER_STAGES)}: {found}")


def jaas_section(name: str, options: Mapping[str, str]) -> str:
    lines = "".join(f'\n    {key}="{value}"' for key, value in options.items())
    return f"{name} {{\n  {DIGEST_MODULE} required{lines};\n}};\n"


def server_jaas(settings: Mapping[str, Any]) -> str:
    """The servers' JAAS file: the clients' users (Server), the quorum's (QuorumServer,
    QuorumLearner). Passwords are generated (url-safe: no quoting needed)."""
    quorum = password(settings, QUORUM_USER)
    return "".join(
        [
            jaas_section("Server", {f"user_{BROKER_USER}": password(settings, BROKER_USER)}),
            jaas_section("QuorumServer", {f"user_{QUORUM_USER}": quorum}),
            jaas_section("QuorumLearner", {"username": QUORUM_USER, "password": quorum}),
        ]
    )


def server_jvm_options(settings: Mapping[str, Any]) -> list[str]:
    """The server unit's extra JVM options (a path only: no secret on a command line)."""
    if not server_has_security(settings):
        return []
    return [f"-Djava.security.auth.login.config={server_jaas_path(settings)}"]


def zookeeper_client_jaas(settings: Mapping[str, Any]) -> str:
    """The JAAS "Client" section a JVM client of the ensemble logs in with (user "kafka")."""
    return jaas_section(
        "Client", {"username": BROKER_USER, "password": password(settings, BROKER_USER)}
    )


def client_tls_properties(trust_file: str) -> dict[str, str]:
    """Kafka's ZooKeeper client TLS keys (broker properties, -zk-tls-config-file)."""
    return {
        "zookeeper.ssl.client.enable": "true",
        "zookeeper.clientCnxnSocket": NETTY_CLIENT,
        "zookeeper.ssl.truststore.location": trust_file,
        "zookeeper.ssl.truststore.type": "PEM",
    }


def zookeeper_client_properties(cluster: Cluster, node: Node) -> dict[str, str]:
    """A secured broker's zookeeper.* properties: the TLS port, the CA of its own TLS files,
    ACLs on the znodes it creates. No key store: the servers ask for no client certificate.
    (A broker's security stage decides whether it uses them: kafkaform.security.)"""
    s = node.settings
    return {
        "zookeeper.connect": cluster.zookeeper_connect(s["zookeeper_chroot"], secure=True),
        **client_tls_properties(f"{s['kafka_config_dir']}/{TLS_DIR}/{SERVER_CA}"),
        "zookeeper.set.acl": "true",
    }


def properties_text(props: Mapping[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in props.items())


def shell_jvm_options(settings: Mapping[str, Any]) -> str:
    """What a host's ZooKeeper client JVM (zookeeper-shell, Kafka's or ZooKeeper's own class)
    adds to reach a secured ensemble: the client files' JAAS and TLS, as system properties
    (paths only). Empty on a plaintext cluster."""
    if not zookeeper_clients_secured(settings):
        return ""
    return " ".join(
        [
            f"-Djava.security.auth.login.config={CLIENT_JAAS}",
            "-Dzookeeper.client.secure=true",
            f"-Dzookeeper.clientCnxnSocket={NETTY_CLIENT}",
            f"-Dzookeeper.ssl.trustStore.location={CLIENT_CA}",
            "-Dzookeeper.ssl.trustStore.type=PEM",
        ]
    )


def migrator_command(
    cluster: Cluster, node: Node, install: str, java_bin: str, secure: bool = True
) -> str:
    """Kafka's ZkSecurityMigrator giving every znode under Kafka's chroot the secure ACLs
    (sasl:kafka, world read): once, when a plaintext cluster becomes secured (``secure=False``:
    open ACLs again, before its brokers stop logging in to ZooKeeper). Runs as root on a host
    with the client files; the password stays in CLIENT_JAAS."""
    s = node.settings
    return " ".join(
        [
            java_bin,
            "-Xmx256m",
            f"-Djava.security.auth.login.config={CLIENT_JAAS}",
            f"-Dlog4j.configuration=file:{install}/config/tools-log4j.properties",
            "-cp",
            shlex.quote(f"{install}/libs/*"),
            MIGRATOR,
            f"--zookeeper.acl={'secure' if secure else 'unsecure'}",
            "--zookeeper.connect="
            + shlex.quote(cluster.zookeeper_connect(s["zookeeper_chroot"], secure=True)),
            f"--zk-tls-config-file={CLIENT_TLS_PROPERTIES}",
        ]
    )
