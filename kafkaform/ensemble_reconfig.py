"""ZooKeeper's ``reconfig``, run from the control machine: add and remove servers, and the one
ACL that lets kafkaform's own digest user do it.

The ``kafkaform`` user has read and write on /zookeeper/config (world keeps read). A
superuser sets that ACL once: its digest is in the servers' working config only while
kafkaform's transient bootstrap file exists (kafkaform.ensemble_config). Every reconfig is
conditional on the version just read, and retried after a lost reply: a change already
applied counts as done.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from kafkaform.cluster import Node
from kafkaform.ensemble_config import ADMIN_USER, CONFIG_ZNODE, super_password
from kafkaform.verify import node_mode
from kafkaform.zookeeper_client import zookeeper_client
from kafkaform.zookeeper_security import zookeeper_client_port

TRIES = 40
PAUSE = 0.5  # seconds between tries: a reconfig takes 0.02-0.32 s, an election ~1 s
CONNECT_SECONDS = 30.0
SERVE_SECONDS = 60.0


class ReconfigError(RuntimeError):
    pass


def client(settings: Mapping[str, Any], hosts: str, user: str, password: str) -> Any:
    """A started client of ``hosts`` authenticated as digest user ``user`` (and, secured, as
    kafkaform.zookeeper_client makes every client)."""
    from kazoo.retry import KazooRetry

    retry = KazooRetry(max_tries=-1, delay=0.2, max_delay=1.0, deadline=CONNECT_SECONDS)
    zk = zookeeper_client(
        settings, hosts, digest=f"{user}:{password}", timeout=10.0, connection_retry=retry
    )
    zk.start(timeout=CONNECT_SECONDS)
    return zk


def members(text: str) -> tuple[dict[int, str], int]:
    """/zookeeper/config's text: zkid -> value, and the config's version."""
    found, version = {}, 0
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.startswith("server.") and key[7:].isdigit():
            found[int(key[7:])] = value
        elif key == "version":
            version = int(value, 16)
    return found, version


def same_member(a: str | None, b: str | None) -> bool:
    """Two member values alike as ZooKeeper keeps them (``;2181`` is ``;0.0.0.0:2181``)."""

    def normal(value: str | None) -> str | None:
        if value is None:
            return None
        quorum, _, client_part = value.partition(";")
        if client_part and ":" not in client_part:
            client_part = f"0.0.0.0:{client_part}"
        return f"{quorum.strip()};{client_part.strip()}" if client_part else quorum.strip()

    return normal(a) == normal(b)


def applied(current: Mapping[int, str], joining: Mapping[int, str], leaving: set[int]) -> bool:
    """Whether the membership has the change: ``joining`` members with those values (a member
    whose value differs, e.g. its client address, is changed by the reconfig), none of
    ``leaving``."""
    present = all(same_member(current.get(z), v) for z, v in joining.items())
    return present and not leaving & set(current)


def has_acl(zk: Any) -> bool:
    acls, _ = zk.get_acls(CONFIG_ZNODE)
    return any(a.id.scheme == "digest" and a.id.id.startswith(f"{ADMIN_USER}:") for a in acls)


def ensure_acl(settings: Mapping[str, Any], hosts: str, admin_password: str) -> str:
    """The kafkaform user's ACL on /zookeeper/config, set as the bootstrap superuser when it
    is missing. Waits for the ensemble to serve (a fresh one is starting)."""
    from kazoo.security import make_acl, make_digest_acl

    zk = client(settings, hosts, ADMIN_USER, admin_password)
    try:
        if has_acl(zk):
            return "in place"
    finally:
        zk.stop()
        zk.close()
    zk = client(settings, hosts, "super", super_password(admin_password))
    try:
        zk.set_acls(
            CONFIG_ZNODE,
            [
                make_digest_acl(ADMIN_USER, admin_password, read=True, write=True),
                make_acl("world", "anyone", read=True),
            ],
        )
        return "set"
    finally:
        zk.stop()
        zk.close()


def reconfig(
    settings: Mapping[str, Any],
    hosts: str,
    admin_password: str,
    joining: Iterable[tuple[int, str]] = (),
    leaving: Iterable[int] = (),
) -> dict[int, str]:
    """Add ``joining`` (zkid, value: a member already there gets that value) and remove
    ``leaving`` in one reconfig; the membership after it. Nothing to do when
    /zookeeper/config has the change already."""
    from kazoo.exceptions import (
        BadVersionError,
        ConnectionLoss,
        NewConfigNoQuorumError,
        SessionExpiredError,
    )

    joining, leaving = dict(joining), set(leaving)
    zk = client(settings, hosts, ADMIN_USER, admin_password)
    last = None
    try:
        for _ in range(TRIES):
            try:
                current, version = members(zk.get(CONFIG_ZNODE)[0].decode())
                if applied(current, joining, leaving):
                    return current
                lines = ",".join(f"server.{z}={v}" for z, v in sorted(joining.items()))
                data, _ = zk.reconfig(
                    joining=lines or None,
                    leaving=",".join(str(z) for z in sorted(leaving)) or None,
                    new_members=None,
                    from_config=version,
                )
                result, _ = members(data.decode())
                if applied(result, joining, leaving):
                    return result
                last = f"the result lists {sorted(result)}"
            except (
                BadVersionError,
                ConnectionLoss,
                NewConfigNoQuorumError,
                SessionExpiredError,
            ) as error:
                last = type(error).__name__  # re-read: a lost reply may have committed
            time.sleep(PAUSE)
    finally:
        zk.stop()
        zk.close()
    raise ReconfigError(f"reconfig (+{sorted(joining)} -{sorted(leaving)}) failed: {last}")


def wait_serving(servers: Iterable[Node], seconds: float = SERVE_SECONDS) -> None:
    """Until every server answers leader or follower and one leads (after a remove: a removed
    leader hands the lead to a survivor)."""
    servers = list(servers)
    deadline = time.monotonic() + seconds
    while True:
        modes = [node_mode(node, timeout=2.0) for node in servers]
        if all(m in ("leader", "follower") for m in modes) and "leader" in modes:
            return
        if time.monotonic() > deadline:
            pairs = zip(servers, modes, strict=True)
            shown = ", ".join(
                f"{n.address}:{zookeeper_client_port(n.settings)} {m or 'silent'}" for n, m in pairs
            )
            raise ReconfigError(f"the ensemble does not serve after the change: {shown}")
        time.sleep(0.1)
