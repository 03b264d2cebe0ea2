"""The control machine's ZooKeeper clients: every kazoo client kafkaform opens (the roll lock,
reconfig, broker-id claims, status, verify) is made here, so that a secured ensemble
(kafkaform.zookeeper_security) is reached the one way it accepts: TLS to its secure client
port, trusting the cluster's CA, authenticated with SASL as "kafka".

On a plaintext cluster the clients are what they always were: no TLS, no authentication
(the reconfig admin's digest aside), kazoo's default ACL.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from kafkaform import pki
from kafkaform.cluster import Cluster
from kafkaform.settings import zookeeper_clients_secured
from kafkaform.zookeeper_security import BROKER_USER, password


def cluster_settings(cluster: Cluster) -> dict[str, Any]:
    """The settings a client of the cluster's ensemble follows (security is cluster-wide)."""
    return (cluster.ensemble or cluster.nodes)[0].settings


trusted_ca = pki.trusted_ca_file  # the control machine's CA file (kafkaform.pki)


def tls_context(settings: Mapping[str, Any]) -> ssl.SSLContext | None:
    """The TLS context of a raw connection to a server (``srvr``); None on a plaintext cluster.
    Certificates are checked against the CA; names are not (clients connect by address, and
    kazoo checks no name either)."""
    if not zookeeper_clients_secured(settings):
        return None
    context = ssl.create_default_context(cafile=str(trusted_ca(settings)))
    context.check_hostname = False
    return context


def zookeeper_client(
    settings: Mapping[str, Any],
    hosts: str,
    digest: str | None = None,
    **options: Any,
) -> Any:
    """A kazoo client (not started) of ``hosts``; ``options`` go to KazooClient (timeout,
    connection_retry, ...). ``digest``: "user:password" of a digest user to authenticate as
    too (the reconfig admin "kafkaform", the bootstrap superuser). On a secured cluster: TLS,
    SASL as "kafka", and znodes it creates belong to its users (world may read), as Kafka's
    own do."""
    from kazoo.client import KazooClient
    from kazoo.security import make_acl

    auth = [("digest", digest)] if digest else []
    if not zookeeper_clients_secured(settings):
        return KazooClient(hosts=hosts, auth_data=auth or None, **options)
    return KazooClient(
        hosts=hosts,
        auth_data=auth or None,
        use_ssl=True,
        ca=str(trusted_ca(settings)),
        verify_certs=True,
        sasl_options={
            "mechanism": "DIGEST-MD5",
            "username": BROKER_USER,
            "password": password(settings, BROKER_USER),
        },
        default_acl=[make_acl("auth", "", all=True), make_acl("world", "anyone", read=True)],
        **options,
    )


def secure_acls() -> list[Any]:
    """The ACL Kafka's zookeeper.set.acl gives its znodes: all for the "kafka" user (the
    creator), read for the world."""
    from kazoo.security import make_acl

    return [make_acl("sasl", BROKER_USER, all=True), make_acl("world", "anyone", read=True)]


def protect_own_znodes(client: Any, roots: list[str], secure: bool = True) -> int:
    """kafkaform's own znodes under ``roots`` (the roll lock's /kafkaform, the broker-id
    claims under Kafka's chroot) given the secure ACL, as Kafka's ZkSecurityMigrator does for
    Kafka's: once, when a plaintext cluster is secured (``secure=False``: opened to everyone
    again, when it goes back). ``client`` authenticates as "kafka". Returns how many znodes
    it changed."""
    from kazoo.exceptions import NoNodeError
    from kazoo.security import OPEN_ACL_UNSAFE

    wanted = secure_acls() if secure else list(OPEN_ACL_UNSAFE)
    changed, todo = 0, list(roots)
    while todo:
        path = todo.pop()
        try:
            acls, _ = client.get_acls(path)
            if list(acls) != wanted:
                client.set_acls(path, wanted)
                changed += 1
            todo += [f"{path}/{child}" for child in client.get_children(path)]
        except NoNodeError:
            continue  # never made, or gone meanwhile (the roll lock is ephemeral)
    return changed
