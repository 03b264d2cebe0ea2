"""Replacing broker hosts (seed 003) on the lab through the real CLI, under live traffic.

A 5-host lab; ZooKeeper on kafka-1..3, brokers with ``kafkaid: "auto"`` on kafka-2..4 (so a
broker host can leave the inventory without changing the ensemble); kafka-5 waits outside.

1. The three "auto" hosts deployed at once become brokers 1..3, no collision.
2. kafka-3 is killed, its disk deleted, and it boots again as a new machine: the deploy makes
   it the same broker (and the same ZooKeeper server) and it copies its replicas back.
3. Again with its data volume kept: it catches up, copying only what it missed.
4. kafka-4 dies for good; kafka-5, a new "auto" host, first with volumes that belong to
   another broker or another cluster (refused before any change, not overwritten), then
   empty: it takes broker 3's id, and so its partitions.

A producer (acks=all) and a consumer run throughout; no acknowledged message may be lost.
Prints bench JSON lines: seconds to under-replicated partitions = 0 and bytes replicated.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from kafkaform import verify
from kafkaform.cluster import Cluster
from kafkaform.lab.state import node_dir
from tests.integration.conftest import (
    changed_operations,
    deploy,
    failing_deploy,
    fresh_lab,
    kafkaform,
    on_node,
)
from tests.integration.scaling import cluster_of

TOPIC, BULK = "replace", "replace-bulk"
DATA = "var/lib/kafka/data"  # the broker's data dir, relative to a host's root
ENSEMBLE = {f"kafka-{i}": {"zookeeper": True, "zkid": i} for i in (1, 2, 3)}
AUTO = {"kafkaid": "auto"}
FIRST = {"kafka-1": ENSEMBLE["kafka-1"]} | {
    name: {**ENSEMBLE.get(name, {}), **AUTO} for name in ("kafka-2", "kafka-3", "kafka-4")
}
# kafka-4 gone, kafka-5 in its place.
AFTER = {name: roles for name, roles in FIRST.items() if name != "kafka-4"} | {"kafka-5": AUTO}


def inventory(directory: Path, name: str, roles: dict[str, dict]) -> str:
    """The running lab's hosts named in ``roles`` (in that order) with only those roles, in
    inventory file ``name`` (pyinfra caches a file's code by its path)."""
    path = directory / f"{name}.py"
    path.write_text(
        "from kafkaform.lab.plan import inventory_group_data, inventory_hosts\n"
        "from kafkaform.lab.state import load_state\n\n"
        "_state = load_state()\n"
        f"_roles = {roles!r}\n"
        "_ssh = {n: {k: v for k, v in d.items() if k.startswith('ssh_')}\n"
        "        for n, d in inventory_hosts(_state)}\n"
        "lab = ([(n, {**_ssh[n], **r}) for n, r in _roles.items()], "
        "inventory_group_data(_state))\n"
    )
    return str(path)


def broker_id(node: str) -> int | None:
    text = on_node(node, "cat /etc/kafka/server.properties", check=False).stdout
    found = re.search(r"^broker\.id=(\d+)$", text, re.M)
    return int(found.group(1)) if found else None


def meta(node: str) -> dict[str, str]:
    text = on_node(node, f"cat /{DATA}/meta.properties").stdout
    pairs = (line.split("=", 1) for line in text.splitlines() if not line.startswith("#"))
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def under_replicated(servers: str) -> int | None:
    """Partitions whose ISR is smaller than their replica set; None when no broker answers."""
    try:
        topics = AdminClient({"bootstrap.servers": servers}).list_topics(timeout=10).topics
    except Exception:
        return None
    return sum(
        len(p.isrs) < len(p.replicas) for t in topics.values() for p in t.partitions.values()
    )


def seconds_to_no_urp(servers: str, since: float, timeout: float = 600) -> float:
    while (count := under_replicated(servers)) != 0:
        assert time.monotonic() - since < timeout, f"{count} partitions still under-replicated"
        time.sleep(1)
    return time.monotonic() - since


def replication_bytes_in(cluster: Cluster, node: str) -> int:
    """Bytes the broker has fetched as a follower since it started (its JMX exporter)."""
    address = cluster.node(node).address
    port = cluster.node(node).settings["kafka_jmx_exporter_port"]
    text = urllib.request.urlopen(f"http://{address}:{port}/metrics", timeout=10).read().decode()
    pattern = r"^kafka_server_brokertopicmetrics_replicationbytesin_total(?:\{[^}]*\})? (\S+)$"
    found = re.search(pattern, text, re.M | re.I)
    assert found, "no ReplicationBytesIn metric"
    return int(float(found.group(1)))


def produce_bulk(servers: str, megabytes: int) -> None:
    producer = Producer({"bootstrap.servers": servers, "acks": "all", "linger.ms": 50})
    value = b"x" * 10_000
    for _ in range(megabytes * 100):
        while True:
            try:
                producer.produce(BULK, value)
                break
            except BufferError:
                producer.poll(0.5)
    assert producer.flush(120) == 0


def rebuild(node: str, keep: Path | None = None) -> None:
    """Delete the crashed ``node``'s disk and boot it as a new machine; ``keep``: its data
    volume is saved there first and put back on the new machine."""
    if keep is not None:
        shutil.copytree(node_dir(node) / "upper" / DATA, keep, symlinks=True)
    kafkaform("lab", "wipe", node)
    kafkaform("lab", "start", node)
    if keep is not None:
        target = node_dir(node) / "merged" / DATA
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(keep, target, symlinks=True)


def bench(line: dict) -> None:
    print(json.dumps({"bench": "replace_broker", **line}))


@pytest.fixture(scope="module")
def lab(lab_box, tmp_path_factory):
    # From the box a rebuilt host is back within seconds, while its dead broker is still
    # registered: the deploy waits for that session to expire (kafka-safe-restart --before-start).
    fresh_lab(5, box=lab_box.catalog)
    directory = tmp_path_factory.mktemp("replace")
    first = inventory(directory, "replace_first", FIRST)
    assert deploy(first)["results"]["totals"]["error"] == 0
    cluster = cluster_of(first)
    verify.create_topic(verify.bootstrap(cluster), TOPIC, partitions=6, replication=3, min_isr=2)
    verify.create_topic(verify.bootstrap(cluster), BULK, partitions=3, replication=3, min_isr=2)
    produce_bulk(verify.bootstrap(cluster), 30)
    return first, cluster


def test_auto_ids_replacement_and_foreign_volumes_under_traffic(lab, tmp_path):
    first, cluster = lab
    servers = verify.bootstrap(cluster)
    # 1. Three "auto" hosts deployed at once: 1..3 in inventory order, no collision.
    assert {n: broker_id(n) for n in ("kafka-2", "kafka-3", "kafka-4")} == {
        "kafka-2": 1,
        "kafka-3": 2,
        "kafka-4": 3,
    }
    assert verify.registered_brokers(cluster) == [1, 2, 3]
    with verify.LiveTraffic(servers, TOPIC) as traffic:
        # 2. kafka-3 rebuilt from scratch under its name: same broker, same ZooKeeper server.
        kafkaform("lab", "kill", "kafka-3")
        rebuild("kafka-3")
        started = time.monotonic()
        result = deploy(first)
        deployed = time.monotonic() - started
        assert result["results"]["totals"]["error"] == 0
        full = seconds_to_no_urp(servers, started)
        assert broker_id("kafka-3") == 2 and meta("kafka-3")["broker.id"] == "2"
        assert on_node("kafka-3", "cat /var/lib/zookeeper/data/myid").stdout.strip() == "3"
        modes = verify.ensemble_modes_reachable(cluster)
        assert sorted(modes.values()) in (["follower", "follower", "leader"],), modes
        copied = replication_bytes_in(cluster, "kafka-3")
        bench(
            {
                "volume": "new",
                "deploy_seconds": round(deployed, 1),
                "seconds_to_urp_0": round(full, 1),
                "bytes_replicated": copied,
            }
        )
        # A re-run keeps every id and changes nothing.
        assert changed_operations(deploy(first)) == []

        # 3. Again, with the data volume kept: it catches up instead of copying everything.
        before = meta("kafka-3")
        kafkaform("lab", "kill", "kafka-3")
        produce_bulk(servers, 3)  # what it misses while it is down
        rebuild("kafka-3", keep=tmp_path / "volume")
        started = time.monotonic()
        result = deploy(first)
        assert result["results"]["totals"]["error"] == 0
        caught_up = seconds_to_no_urp(servers, started)
        kept = meta("kafka-3")
        assert (kept["broker.id"], kept["cluster.id"]) == (
            before["broker.id"],
            before["cluster.id"],
        )
        fetched = replication_bytes_in(cluster, "kafka-3")
        bench(
            {
                "volume": "kept",
                "seconds_to_urp_0": round(caught_up, 1),
                "bytes_replicated": fetched,
                "full_copy_bytes": copied,
            }
        )
        assert fetched < copied / 2, (fetched, copied)

        # 4. kafka-4 dies for good; kafka-5 replaces it.
        kafkaform("lab", "kill", "kafka-4")
        deadline = time.monotonic() + 60
        while 3 in verify.registered_brokers(cluster):
            assert time.monotonic() < deadline, "broker 3 stayed registered"
            time.sleep(1)
        after = inventory(tmp_path, "replace_after", AFTER)
        real_cluster_id = meta("kafka-2")["cluster.id"]
        for foreign, words in (
            ({"broker.id": "1", "cluster.id": real_cluster_id}, "its data names broker 1"),
            ({"broker.id": "3", "cluster.id": "AnotherCluster0000000A"}, "to Kafka cluster"),
        ):
            text = "".join(f"{k}={v}\n" for k, v in {"version": "0", **foreign}.items())
            on_node(
                "kafka-5", f"mkdir -p /{DATA} && printf '%s' '{text}' > /{DATA}/meta.properties"
            )
            output = failing_deploy(after)
            assert "refusing this deploy, nothing was changed" in output
            assert "kafka-5: kafka" in output and words in output, output[-3000:]
            print(next(line for line in output.splitlines() if "kafka-5: kafka" in line))
            assert meta("kafka-5") == {"version": "0", **foreign}  # not overwritten (or started)
            assert broker_id("kafka-5") is None  # nothing was installed
        on_node("kafka-5", f"rm -rf /{DATA}")
        started = time.monotonic()
        assert deploy(after)["results"]["totals"]["error"] == 0
        replaced = seconds_to_no_urp(servers, started)
        assert broker_id("kafka-5") == 3
        assert verify.registered_brokers(cluster) == [1, 2, 3]
        bench({"volume": "new host name", "seconds_to_urp_0": round(replaced, 1)})
    counts = traffic.check()
    print(f"replacements under traffic: {counts}")
