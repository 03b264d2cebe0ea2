"""The rendered rules doing their job in a real kernel: two throwaway network namespaces, one
the host under test (its rules loaded with the real nft), the other a broker and a client.
This machine's own namespace and rules are never touched. Needs root, ip and nft."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from kafkaform.cluster import Cluster
from kafkaform.firewall import host_rules, ruleset
from tests.unit.test_firewall import SECURED

HOST, BROKER, CLIENT, ADMIN = "10.251.0.1", "10.251.0.2", "10.251.0.3", "10.251.0.4"
PORTS = (22, 2181, 2888, 9091, 9095, 9100)
SERVE = """
import socket, sys, threading, time
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.close()
for port in map(int, sys.argv[1:]):
    threading.Thread(target=serve, args=(port,), daemon=True).start()
print("ready", flush=True)
time.sleep(60)
"""
PROBE = """
import json, socket, sys
found = {}
for source in sys.argv[2].split(","):
    for port in map(int, sys.argv[3].split(",")):
        s = socket.socket(); s.settimeout(0.5); s.bind((source, 0))
        try:
            s.connect((sys.argv[1], port)); found[f"{source}:{port}"] = True
        except OSError:
            found[f"{source}:{port}"] = False
        finally:
            s.close()
print(json.dumps(found))
"""


def can_run() -> bool:
    if os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("nft")):
        return False
    probe = subprocess.run(["unshare", "-n", "nft", "list", "ruleset"], capture_output=True)
    return probe.returncode == 0


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@pytest.mark.skipif(not can_run(), reason="needs root, ip and nft (.ci/bootstrap installs nft)")
def test_only_brokers_reach_the_internal_listener_and_zookeeper(tmp_path):
    a, b = f"kfA{os.getpid()}", f"kfB{os.getpid()}"
    hosts = [
        ("kafka-1", {"ssh_hostname": HOST, "zookeeper": True, "zkid": 1, "kafkaid": 1}),
        ("kafka-2", {"ssh_hostname": BROKER, "kafkaid": 2}),
    ]
    for _, data in hosts:
        data.update(
            security="sasl_ssl",
            firewall_admin_sources=[ADMIN],
            firewall_client_sources=["10.251.0.0/24"],
            firewall_control_sources=[ADMIN],
        )
    cluster = Cluster.from_hosts(hosts)
    node = cluster.node("kafka-1")
    addresses = {n.name: (n.address,) for n in cluster.nodes}
    rules_file = tmp_path / "firewall.nft"
    rules_file.write_text(
        ruleset("kafka-1", *host_rules(cluster, node, addresses, broker_properties=SECURED))
    )
    server = None
    try:
        sh("ip", "netns", "add", a)
        sh("ip", "netns", "add", b)
        sh(
            "ip",
            "link",
            "add",
            "kfvA",
            "netns",
            a,
            "type",
            "veth",
            "peer",
            "name",
            "kfvB",
            "netns",
            b,
        )
        sh("ip", "-n", a, "addr", "add", f"{HOST}/24", "dev", "kfvA")
        for address in (BROKER, CLIENT, ADMIN):
            sh("ip", "-n", b, "addr", "add", f"{address}/24", "dev", "kfvB")
        for ns, dev in ((a, "kfvA"), (b, "kfvB")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", a, "nft", "-c", "-f", str(rules_file))
        sh("ip", "netns", "exec", a, "nft", "-f", str(rules_file))
        server = subprocess.Popen(
            ["ip", "netns", "exec", a, sys.executable, "-c", SERVE, *map(str, PORTS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout and server.stdout.readline().strip() == "ready"
        time.sleep(1.5)  # addresses past duplicate address detection (IPv4: none needed)
        probe = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                b,
                sys.executable,
                "-c",
                PROBE,
                HOST,
                ",".join((BROKER, CLIENT, ADMIN)),
                ",".join(map(str, PORTS)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        reached = {k for k, ok in json.loads(probe.stdout).items() if ok}
    finally:
        if server is not None:
            server.kill()
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    assert reached == {
        f"{BROKER}:9091",  # the inter-broker listener: brokers only
        f"{BROKER}:9095",
        f"{CLIENT}:9095",
        f"{ADMIN}:9095",  # the client listener
        f"{BROKER}:2181",
        f"{ADMIN}:2181",  # ZooKeeper's client port: brokers and control
        f"{ADMIN}:22",  # SSH: admins
        # 2888 (the quorum, no other server) and 9100 (no monitoring host): nobody
    }
