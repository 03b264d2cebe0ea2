"""ZooKeeper server lists: the one each host runs (its newest dynamic config file, or the
server.N lines of a zoo.cfg not converted yet), the committed one, the inventory's, and the
path of lists from one to the other that kafkaform.ensemble_change turns into steps.

Pure: states are facts.live.LiveState's dicts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafkaform.cluster import Cluster

State = Mapping[str, Any]  # facts.live.LiveState's dict
Servers = Mapping[int, str]  # zkid -> "address:peer:election", as zoo.cfg's server.N


def servers_of(props: Mapping[str, str]) -> dict[int, str]:
    """zkid -> host:peer:election from a zoo.cfg; role and client port suffixes are dropped."""
    found = {}
    for key, value in props.items():
        if key.startswith("server.") and key[7:].isdigit():
            address = value.split(";", 1)[0].strip()
            for role in (":participant", ":observer"):
                address = address.removesuffix(role)
            found[int(key[7:])] = address
    return found


def wanted_servers(cluster: Cluster) -> dict[int, str]:
    """The ensemble the inventory describes."""
    ensemble = cluster.ensemble
    return servers_of(cluster.zookeeper_properties(ensemble[0])) if ensemble else {}


def show(servers: Servers) -> str:
    return ", ".join(f"server.{k}={servers[k]}" for k in sorted(servers)) or "no server"


def in_service(state: State) -> bool:
    """The host's ZooKeeper runs or starts at boot: its zoo.cfg is a running membership (a
    removed server is stopped and disabled; its files stay)."""
    service = state["services"]["zookeeper"]
    return bool(service["active"] or service["enabled"])


def is_static(state: State) -> bool:
    """The host's zoo.cfg lists the servers itself (not converted to dynamic membership)."""
    return state["zookeeper"].get("layout") == "static"


def running_servers(state: State) -> dict[int, str] | None:
    """The servers this host's ZooKeeper runs with, or None when it runs none: the newest
    dynamic file, else the join file it started from, else a static zoo.cfg's list."""
    zk = state["zookeeper"]
    if zk["config"] is None or not in_service(state):
        return None
    if is_static(state):
        return servers_of(zk["config"])
    source = (zk.get("dynamic") or {}).get("config") or zk.get("join") or {}
    return servers_of(source)


def version_key(version: str) -> tuple[int, str]:
    return (len(version), version)


def committed(states: Mapping[str, State]) -> tuple[str, dict[int, str]] | None:
    """The committed membership: the dynamic file of the highest version on any host, as
    (version, zkid -> its raw value). Every member writes each committed config; one host's
    file can lag (a server stopped right after a change), so no single file is trusted."""
    found = [
        (zk["dynamic"]["version"], zk["dynamic"]["config"])
        for state in states.values()
        if (zk := state["zookeeper"]).get("dynamic")
    ]
    if not found:
        return None
    version, config = max(found, key=lambda f: version_key(f[0]))
    raw = {int(k[7:]): v for k, v in config.items() if k.startswith("server.") and k[7:].isdigit()}
    return version, raw


def path(current: Servers, wanted: Servers) -> list[dict[int, str]]:
    """The server lists from ``current`` to ``wanted``, one server apart, except to and from
    a standalone server: 1 -> 3 adds two at once, 3 -> 1 removes two (a list of two servers
    is never a step on the way: see two_server_problems)."""
    configs = [dict(current)]
    adds = sorted(set(wanted) - set(current))
    removes = sorted(set(current) - set(wanted), reverse=True)
    config = dict(current)
    while adds:
        # A standalone server restarts whatever is added: add two at once, to three servers.
        take = 2 if len(config) == 1 and len(adds) > 1 else 1
        for zkid in adds[:take]:
            config[zkid] = wanted[zkid]
        adds = adds[take:]
        configs.append(dict(config))
    while removes:
        take = 2 if len(config) == 3 and len(wanted) == 1 else 1
        for zkid in removes[:take]:
            del config[zkid]
        removes = removes[take:]
        configs.append(dict(config))
    return configs
