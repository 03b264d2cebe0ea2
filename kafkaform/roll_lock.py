"""The cluster's roll lock: one ephemeral znode, so that only one thing changes a live cluster
at a time (a deploy, a safe-restart run by hand, a rebalance or drain).

The holder's ZooKeeper session owns the znode: a holder that dies lets go when its session
expires. Its text starts with what holds it (``deploy``, ``script``, ``rebalance``), which the
safe-restart scripts show (templates/roll/roll.sh.j2).
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

LOCK_PATH = "/kafkaform/roll-lock"  # outside Kafka's chroot: it guards ZooKeeper's rolls too
SESSION_TIMEOUT = 20.0  # seconds: how long a killed holder's lock outlives it
# Reconnect for as long as it takes, every 2 s at most: while ZooKeeper's own servers roll
# (a leader election), the session must find a server again before it expires.
RETRY = {"max_tries": -1, "delay": 0.2, "max_delay": 2}


class LockHeld(Exception):
    """Someone else held the lock for longer than the caller would wait."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def holder_text(kind: str, token: str | None = None) -> str:
    """What the znode says: ``kind`` first, a deploy's token last (only its scripts read it)."""
    since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = (
        f"{kind} control={socket.gethostname()} user={getpass.getuser()} "
        f"pid={os.getpid()} since={since}"
    )
    return f"{text} token={token}" if token else text


def lock_client(hosts: str, settings: Mapping[str, Any]) -> Any:
    """A started kazoo client for holding the lock (as kafkaform.zookeeper_client makes them
    for the cluster of ``settings``); raises when no server answers in 15 s."""
    from kafkaform.zookeeper_client import zookeeper_client

    client = zookeeper_client(settings, hosts, timeout=SESSION_TIMEOUT, connection_retry=RETRY)
    try:
        client.start(timeout=15)
    except Exception:
        client.stop()
        client.close()
        raise
    return client


def take(
    client: Any, text: str, wait_seconds: float, waiting: Callable[[str], None] = lambda _: None
) -> None:
    """Create the lock znode with ``text``; while someone else holds it, wait up to
    ``wait_seconds`` (``waiting`` is told the holder once), then raise LockHeld."""
    from kazoo.exceptions import NodeExistsError, NoNodeError

    deadline = time.monotonic() + wait_seconds
    told = False
    while True:
        try:
            client.create(LOCK_PATH, text.encode(), ephemeral=True, makepath=True)
            return
        except NodeExistsError:
            try:
                holder = client.get(LOCK_PATH)[0].decode(errors="replace")
            except NoNodeError:
                continue
            holder = holder.split(" token=")[0]  # a deploy's token is for its own scripts
            if time.monotonic() > deadline:
                raise LockHeld(holder) from None
            if not told:
                waiting(holder)
                told = True
            time.sleep(2)


def release(client: Any) -> None:
    """Close the session: ZooKeeper deletes the lock znode at once."""
    if not client.connected:
        return
    try:
        client.stop()
        client.close()
    except Exception:  # noqa: BLE001 - exiting anyway; the session expires on its own
        pass
