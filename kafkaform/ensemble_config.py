"""ZooKeeper's config split for dynamic reconfiguration: what kafkaform owns and what ZooKeeper
owns, and the names and texts of the files between them.

kafkaform renders and fingerprints ``<zookeeper_config_dir>/zoo.cfg`` with the static keys
only (no ``server.N``). At every start the unit's ``zookeeper-config`` builds ZooKeeper's
working config in ``zookeeper_dynamic_dir`` from that file plus the newest
``zoo.cfg.dynamic.<version>`` ZooKeeper wrote there (the committed membership, rewritten by
every ``reconfig``), or, on a server's first start, kafkaform's join file. ZooKeeper rewrites
only the working directory, so kafkaform's files never drift.

Pure: the texts, paths and the digest arithmetic; the hosts' files are written by
deploys/tasks/zookeeper.py and the reconfig runs in kafkaform.ensemble_reconfig.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from kafkaform.cluster import Cluster, Node
from kafkaform.zookeeper_security import plain_client_port_open, server_properties

# Keys kafkaform adds to the static zoo.cfg: membership changes by `reconfig`, and a single
# server runs as the leader of a quorum of one (a standalone server cannot be reconfigured).
DYNAMIC_KEYS = {"reconfigEnabled": "true", "standaloneEnabled": "false"}
JOIN_FILE = "zoo.cfg.dynamic.join"  # in zookeeper_config_dir: a first start's membership
BOOTSTRAP_FILE = "zoo.cfg.bootstrap"  # in zookeeper_config_dir: the transient superDigest
LOOPBACK = "127.0.0.1"  # a secured server's plain client port listens here only
SECRET_FILE = "kafkaform-admin.secret"  # in zookeeper_config_dir, root 0600
ADMIN_USER = "kafkaform"
CONFIG_ZNODE = "/zookeeper/config"
CONFIG_SCRIPT = "/usr/local/sbin/zookeeper-config"
# sh: the versions of the zoo.cfg.dynamic.<version> files named on stdin, oldest first (hex
# without leading zeros: longer is newer, then lexical; no mtime, no 64-bit arithmetic). The
# deploy's fact, zookeeper-config and the safe-restart script all pick the newest this way.
SORT_VERSIONS = (
    r"sed -n 's/^zoo\.cfg\.dynamic\.\([0-9a-f][0-9a-f]*\)$/\1/p' | "
    "awk '{ print length($0), $0 }' | sort -k1,1n -k2,2 | cut -d' ' -f2"
)


def static_properties(cluster: Cluster, node: Node) -> dict[str, str]:
    """The static zoo.cfg: the inventory's properties without the server list, with the
    security keys of the server's stage; at the final secured stage without the plain client
    port."""
    props = {
        k: v for k, v in cluster.zookeeper_properties(node).items() if not k.startswith("server.")
    }
    props.update(DYNAMIC_KEYS)
    if not plain_client_port_open(node.settings):
        del props["clientPort"]
    props.update(server_properties(node.settings))
    return props


def member_line(node: Node) -> str:
    """A server's dynamic-config value: quorum address, ports, role and client port.

    ``;port`` binds every address, as ``clientPort`` does (``;address:port`` would bind only
    that address, and the scripts ask 127.0.0.1). A secured server's plain client port is
    bound to loopback only (``reconfig`` refuses a joining server without a client address;
    its TLS port, ``secureClientPort``, is in the static zoo.cfg), where it still takes only
    authenticated sessions."""
    s = node.settings
    quorum = f"{node.address}:{s['zookeeper_peer_port']}:{s['zookeeper_election_port']}"
    return f"{quorum}:participant;{client_address(s, s['zookeeper_client_port'])}"


def client_address(settings: Mapping[str, object], port: object) -> str:
    """A member line's client part: the plain port on every address, or on loopback only
    once the server's stage closes it to the network (plain_client_port_open)."""
    return str(port) if plain_client_port_open(settings) else f"{LOOPBACK}:{port}"


def wanted_members(cluster: Cluster) -> dict[int, str]:
    """zkid -> dynamic-config value of every server the inventory describes."""
    return {n.zkid: member_line(n) for n in cluster.ensemble if n.zkid is not None}


def join_text(members: Mapping[int, str]) -> str:
    """A join file: one ``server.N=`` line per member."""
    return "".join(f"server.{z}={members[z]}\n" for z in sorted(members))


def super_password(admin_password: str) -> str:
    """The transient superuser's password, derived so that an interrupted bootstrap can be
    finished by the next run without a second stored secret."""
    mac = hmac.new(admin_password.encode(), b"zookeeper-super", hashlib.sha256)
    return mac.hexdigest()


def super_digest(password: str) -> str:
    """``DigestAuthenticationProvider.superDigest``'s value for user ``super``."""
    sha1 = hashlib.sha1(f"super:{password}".encode()).digest()  # noqa: S324 - ZooKeeper's own
    return f"super:{base64.b64encode(sha1).decode()}"


def bootstrap_text(admin_password: str) -> str:
    digest = super_digest(super_password(admin_password))
    return f"DigestAuthenticationProvider.superDigest={digest}\n"
