"""A finding, kept as a test: an ensemble that reaches sasl_ssl by the rollout keeps its plain
client port on every address; an incremental ``reconfig`` of its members to
``;127.0.0.1:<port>`` does NOT rebind it live, it closes it, and each server's next start
binds loopback only. The same holds back to ``;<port>`` (every address).

The members' client addresses are in ZooKeeper's own dynamic config, written when the servers
joined at plaintext (``;2181``: every address); the sasl_ssl zoo.cfg drops ``clientPort`` but
ZooKeeper binds the member line's address. On a reconfig that changes its own client address
a server (NettyServerCnxnFactory.reconfigure, ZooKeeper 3.8.4) binds the new address first
and closes the old listener after, whether the bind worked or not: the same port on a
narrower or wider address is in use, so the bind fails ("Error while reconfiguring:
Address already in use") and the plain port is closed until the server restarts, which
then reads the new zoo.cfg.dynamic.<version>. So: reconfig, then a roll (the sasl_ssl roll
itself). The way down needs it too: zoo.cfg's clientPort does not widen a member line's
loopback address (a cluster deployed at sasl_ssl has those from its first start). Not wired
into the deploy: kafkaform.ensemble_reconfig.reconfig skips members that are in the ensemble
already.
"""

from __future__ import annotations

from kafkaform.ensemble_config import ADMIN_USER, bootstrap_text, wanted_members
from kafkaform.ensemble_reconfig import client, ensure_acl, members
from tests.integration.test_zookeeper_stages_loopback import (
    Server,
    all_serve,
    make_ensemble,
    wait_until,
)
from tests.unit.test_zookeeper_secured_server import bound_addresses

ADMIN_PASSWORD = "admin-pw-for-the-reconfig-test"
LOOPBACK_V4 = "0100007F"  # /proc/net/tcp's 127.0.0.1 (also the tail of IPv4-mapped IPv6)


def only_loopback(port: int) -> bool:
    found = bound_addresses(port)
    return bool(found) and all(a.endswith(LOOPBACK_V4) for a in found)


def reconfigure(settings, hosts: str, wanted: dict[int, str]) -> None:
    """One incremental reconfig giving the existing members ``wanted``'s lines."""
    zk = client(settings, hosts, ADMIN_USER, ADMIN_PASSWORD)
    try:
        current, version = members(zk.get("/zookeeper/config")[0].decode())
        assert current != wanted
        joining = ",".join(f"server.{z}={v}" for z, v in sorted(wanted.items()))
        data, _ = zk.reconfig(joining=joining, leaving=None, new_members=None, from_config=version)
        # ZooKeeper writes ";port" (every address) as ";0.0.0.0:port".
        result = {z: v.replace(";0.0.0.0:", ";") for z, v in members(data.decode())[0].items()}
        assert result == wanted
    finally:
        zk.stop()
        zk.close()


def restart_each(servers: list[Server]) -> None:
    """A roll: one server at a time, each serving again before the next."""
    for server in servers:
        server.stop()
        server.start()
        wait_until(all_serve(servers), 60, servers, f"{server.node.name} does not serve")


def test_a_reconfig_closes_the_plain_port_and_each_next_start_binds_loopback_only(
    tmp_path_factory,
):
    cluster, servers = make_ensemble(tmp_path_factory.mktemp("zk-client-address"))
    try:
        for server in servers:  # joined at plaintext: ";port" in the dynamic config
            server.write_files(cluster)
            server.start()
        wait_until(all_serve(servers), 90, servers, "no quorum at plaintext")
        for server in servers:  # at sasl_ssl (the stages between do not change the members)
            server.stop()
        for server in servers:
            server.node.settings["zookeeper_security_stage"] = "sasl_ssl"
            server.write_files(cluster, bootstrap_text(ADMIN_PASSWORD))
            server.start()
        wait_until(all_serve(servers), 90, servers, "no quorum at sasl_ssl")
        plain = [s.node.settings["zookeeper_client_port"] for s in servers]
        # The defect: no clientPort in zoo.cfg, yet every address.
        assert not any(only_loopback(port) for port in plain), [bound_addresses(p) for p in plain]

        s = cluster.ensemble[0].settings
        hosts = cluster.zookeeper_connect()  # TLS, as every client at sasl_ssl
        assert ensure_acl(s, hosts, ADMIN_PASSWORD) == "set"
        wanted = wanted_members(cluster)  # member_line at sasl_ssl: ";127.0.0.1:port"
        assert all(";127.0.0.1:" in line for line in wanted.values())
        pids = [server.process.pid for server in servers]
        reconfigure(s, hosts, wanted)
        # Not rebound: closed, in the same processes, while TLS serves on.
        wait_until(lambda: not any(bound_addresses(p) for p in plain), 30, servers, "bound")
        assert [server.process.pid for server in servers] == pids
        wait_until(all_serve(servers), 30, servers, "no quorum after the reconfig")
        restart_each(servers)  # the next start binds the member line's address
        assert all(only_loopback(port) for port in plain), [bound_addresses(p) for p in plain]

        # The way down: quorum_secured's zoo.cfg has clientPort again, but the member line
        # wins (QuorumPeerConfig takes the dynamic client address when the ports agree): the
        # plain port stays on loopback, out of the brokers' reach.
        for server in servers:
            server.node.settings["zookeeper_security_stage"] = "quorum_secured"
            server.write_files(cluster)
        restart_each(servers)
        assert all(only_loopback(port) for port in plain), [bound_addresses(p) for p in plain]
        # Only a reconfig back to ";port" opens it again, from each server's next start.
        reconfigure(s, hosts, {z: v.replace(";127.0.0.1:", ";") for z, v in wanted.items()})
        wait_until(lambda: not any(bound_addresses(p) for p in plain), 30, servers, "bound")
        restart_each(servers)
        assert not any(only_loopback(port) for port in plain)
        assert all(bound_addresses(port) for port in plain)
    finally:
        for server in servers:
            server.stop()
