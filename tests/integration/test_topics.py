"""Topics as code on the lab through the real CLI (pyinfra inventory deploys/kafka.py), while
a producer (acks=all, idempotent) writes and a consumer reads:

- a topic listed in kafka_topics is created (replication factor 1), grown, reconfigured and
  raised to replication factor 3 by a throttled reassignment whose throttle is gone after;
- a decrease (partitions, replication factor) is refused while the deploy is prepared, naming
  the broker and the field: no host, service or topic changes;
- a topic taken off the list is left alone, one marked delete: True is deleted, a throttle
  left by a stopped raise is removed, and a plain re-run makes no topic change.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
)

from deploys.tasks.topics import ACTION_PREFIX, REASSIGNMENT_DIR
from kafkaform import verify
from tests.integration.conftest import (
    BIN,
    changed_operations,
    deploy,
    fresh_lab,
    lab_inventory_with,
    on_node,
    run,
)
from tests.integration.test_live_safety import pids

KAFKA = "deploys/kafka.py"
TRAFFIC = "traffic"  # not listed in kafka_topics: every run must leave it alone
ORDERS = "orders"
THROTTLE = 20_000_000  # bytes/s, set for the raise and watched on the brokers
THROTTLE_KEYS = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")
TOPIC_THROTTLE_KEYS = (
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
)


def orders(partitions: int, rf: int, min_isr: int, retention_ms: int) -> dict:
    configs = {"min.insync.replicas": min_isr, "retention.ms": retention_ms}
    return {"name": ORDERS, "partitions": partitions, "replication_factor": rf, "configs": configs}


AUDIT = {"name": "audit", "partitions": 1, "replication_factor": 3}
OLD = {
    "name": "old-events",
    "partitions": 1,
    "replication_factor": 1,
    "configs": {"min.insync.replicas": 1},
}
FINAL = [orders(4, 3, 2, 7_200_000), {**OLD, "delete": True}]  # audit taken off the list


@pytest.fixture(scope="module")
def cluster(lab_box, tmp_path_factory):
    cluster = fresh_lab(3, box=lab_box.catalog)
    assert (
        deploy(lab_inventory_with(tmp_path_factory.mktemp("plain")))["results"]["totals"]["error"]
        == 0
    )
    verify.create_topic(verify.bootstrap(cluster), TRAFFIC, partitions=3, replication=3, min_isr=2)
    return cluster


def topics_deploy(directory, topics: list[dict], **extra: object) -> tuple[dict, list[str]]:
    """A deploy with ``topics`` as kafka_topics: its JSON result and the topic actions it ran."""
    directory.mkdir(parents=True, exist_ok=True)
    inventory = lab_inventory_with(directory, kafka_topics=topics, **extra)
    proc = run(str(BIN / "pyinfra"), "-y", "--json", inventory, KAFKA)
    result = json.loads(proc.stdout)
    assert result["results"]["totals"]["error"] == 0
    prefix = f"    {ACTION_PREFIX}"
    actions = [line[len(prefix) :] for line in proc.stderr.splitlines() if line.startswith(prefix)]
    print("\n".join(actions))
    return result, actions


def admin(cluster) -> AdminClient:
    return AdminClient({"bootstrap.servers": verify.bootstrap(cluster)})


def topic_names(cluster) -> set[str]:
    return {n for n in admin(cluster).list_topics(timeout=30).topics if not n.startswith("__")}


def own_configs(cluster, name: str) -> dict[str, str]:
    """The topic's own overrides (what ConfigCommand --describe lists)."""
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    client = admin(cluster)  # held until the answer came: a dropped client cancels it
    entries = client.describe_configs([resource])[resource].result(30)
    return {
        k: e.value
        for k, e in entries.items()
        if ConfigSource(e.source) == ConfigSource.DYNAMIC_TOPIC_CONFIG
    }


def broker_throttles(cluster) -> dict[str, str]:
    """Replication throttle rates set on any broker (one broker per request: Kafka's rule)."""
    found = {}
    client = admin(cluster)
    for node in cluster.brokers:
        resource = ConfigResource(ConfigResource.Type.BROKER, str(node.kafkaid))
        entries = client.describe_configs([resource])[resource].result(30)
        for key in THROTTLE_KEYS:
            entry = entries.get(key)
            if entry is not None and entry.value and entry.value != str(2**63 - 1):
                found[f"{node.kafkaid}:{key}"] = entry.value
    return found


def throttles_become(cluster, wanted, seconds: float = 30) -> None:
    """A broker's dynamic config reaches it through a ZooKeeper watch, a moment after it was
    set or removed: wait (bounded) until every broker's throttles are as ``wanted``."""
    deadline = time.monotonic() + seconds
    while not wanted(found := broker_throttles(cluster)):
        assert time.monotonic() < deadline, found
        time.sleep(0.5)


def leave_throttles(cluster) -> None:
    """What a raise stopped before its --verify leaves: throttle rates on every broker and the
    topic's throttled replicas (one resource per request: Kafka's rule for brokers)."""
    client = admin(cluster)

    def entries(keys, value):
        return [ConfigEntry(k, value, incremental_operation=AlterConfigOpType.SET) for k in keys]

    resources = [
        ConfigResource(
            ConfigResource.Type.TOPIC, ORDERS, incremental_configs=entries(TOPIC_THROTTLE_KEYS, "*")
        )
    ]
    resources += [
        ConfigResource(
            ConfigResource.Type.BROKER,
            str(node.kafkaid),
            incremental_configs=entries(THROTTLE_KEYS, str(THROTTLE)),
        )
        for node in cluster.brokers
    ]
    for resource in resources:
        for future in client.incremental_alter_configs([resource]).values():
            future.result(30)


def in_sync(cluster, name: str, replicas: int, partitions: int, timeout: float = 60) -> dict:
    """The topic's layout once every partition has ``replicas`` replicas, all in sync."""
    want = [replicas] * partitions
    deadline = time.monotonic() + timeout
    while True:
        layout = verify.topic_layout(verify.bootstrap(cluster), name)
        if (layout["replicas"], layout["isr"]) == (want, want) or time.monotonic() > deadline:
            return layout
        time.sleep(1)


# Polls in a process of its own, as test_upgrade's registry watcher (pyinfra's gevent hub).
WATCHER = """
import json, os, sys, time
from confluent_kafka.admin import AdminClient, ConfigResource
servers, ids, keys, out = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(","), sys.argv[4]
admin = AdminClient({"bootstrap.servers": servers})
seen = set()
while True:
    for broker in ids:
        resource = ConfigResource(ConfigResource.Type.BROKER, broker)
        try:
            entries = admin.describe_configs([resource])[resource].result(5)
        except Exception:
            continue
        for key in keys:
            entry = entries.get(key)
            if entry is not None and entry.value and entry.value != str(2**63 - 1):
                seen.add(f"{broker}:{key}={entry.value}")
    with open(out + ".new", "w") as f:
        json.dump(sorted(seen), f)
    os.replace(out + ".new", out)  # never half a file when the test reads it
    time.sleep(0.1)
"""


class ThrottleWatch:
    """Every broker replication throttle rate seen set while the block ran."""

    def __init__(self, cluster, out) -> None:
        ids = ",".join(str(n.kafkaid) for n in cluster.brokers)
        self.argv = [sys.executable, "-c", WATCHER, verify.bootstrap(cluster), ids]
        self.argv += [",".join(THROTTLE_KEYS), str(out)]
        self.out = out
        self.seen: list[str] = []

    def __enter__(self) -> ThrottleWatch:
        self.proc = subprocess.Popen(self.argv)
        deadline = time.monotonic() + 30
        while not self.out.exists():  # its first round is done: it watches
            assert self.proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait()
        self.seen = json.loads(self.out.read_text())


def test_a_listed_topic_is_created_grown_reconfigured_and_replicated_under_traffic(
    cluster, tmp_path
):
    with verify.LiveTraffic(verify.bootstrap(cluster), TRAFFIC) as traffic:
        # (a) created on the running cluster, with its configs.
        first = [orders(2, 1, 1, 3_600_000), AUDIT, OLD]
        _, actions = topics_deploy(tmp_path / "a", first)
        assert [a.split(":")[0] for a in actions] == [f"create {t['name']}" for t in first]
        layout = verify.topic_layout(verify.bootstrap(cluster), ORDERS)
        assert layout["replicas"] == [1, 1] and layout["min.insync.replicas"] == 1
        assert own_configs(cluster, ORDERS) == {
            "min.insync.replicas": "1",
            "retention.ms": "3600000",
        }
        assert {ORDERS, "audit", "old-events"} <= topic_names(cluster)

        with verify.LiveTraffic(verify.bootstrap(cluster), ORDERS) as on_orders:
            # (b) more partitions and (c) a changed config, in one run.
            _, actions = topics_deploy(tmp_path / "bc", [orders(4, 1, 1, 7_200_000), AUDIT, OLD])
            assert actions == [
                f"add partitions to {ORDERS}: 2 -> 4",
                f"configs of {ORDERS}: retention.ms=7200000",
            ]
            assert verify.topic_layout(verify.bootstrap(cluster), ORDERS)["replicas"] == [1] * 4
            assert own_configs(cluster, ORDERS)["retention.ms"] == "7200000"

            # (d) replication factor 1 -> 3 by a throttled reassignment, min ISR 2 after it.
            with ThrottleWatch(cluster, tmp_path / "throttles.json") as watch:
                started = time.monotonic()
                _, actions = topics_deploy(
                    tmp_path / "d",
                    [orders(4, 3, 2, 7_200_000), AUDIT, OLD],
                    kafka_topics_reassign_throttle=THROTTLE,
                )
                print(f"replication raise run: {time.monotonic() - started:.1f}s")
        print(f"traffic on {ORDERS}: {on_orders.check()}")
    print(f"traffic on {TRAFFIC}: {traffic.check()}")
    assert actions == [
        f"raise the replication factor of {ORDERS} from 1 to 3 (reassign 4 partition(s), "
        "existing replicas kept)",
        f"configs of {ORDERS}: min.insync.replicas=2",
    ]
    layout = in_sync(cluster, ORDERS, replicas=3, partitions=4)
    assert layout["replicas"] == layout["isr"] == [3] * 4, layout
    assert layout["min.insync.replicas"] == 2
    # The throttle was set on the brokers while the replicas copied, and --verify removed it.
    print(f"throttles seen during the raise: {watch.seen}")
    assert watch.seen and all(s.endswith(f"={THROTTLE}") for s in watch.seen), watch.seen
    throttles_become(cluster, lambda found: found == {})
    assert not set(TOPIC_THROTTLE_KEYS) & set(own_configs(cluster, ORDERS))
    # The assignment it replaced is kept for a rollback, on the broker that ran the step.
    kept = [
        json.loads(proc.stdout)
        for node in cluster.brokers
        if (proc := on_node(node.name, f"cat {REASSIGNMENT_DIR}/{ORDERS}.rollback.json", False))
        and proc.returncode == 0
    ]
    assert len(kept) == 1, kept
    assert sorted(len(p["replicas"]) for p in kept[0]["partitions"]) == [1] * 4


def test_a_decrease_is_refused_before_any_host_changes(cluster, tmp_path):
    before = verify.topic_layout(verify.bootstrap(cluster), ORDERS)
    configs = own_configs(cluster, ORDERS)
    brokers, servers = pids(cluster, "kafka"), pids(cluster, "zookeeper")
    inventory = lab_inventory_with(
        tmp_path,
        # Fewer partitions, fewer replicas, and changes that must not happen with them.
        kafka_topics=[orders(2, 1, 1, 1000), AUDIT, OLD, {**AUDIT, "name": "never-created"}],
        kafka_properties={"log.retention.hours": 97},
    )
    with verify.LiveTraffic(verify.bootstrap(cluster), TRAFFIC) as traffic:
        proc = run(str(BIN / "pyinfra"), "-y", inventory, KAFKA, check=False)
    traffic.check()
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "refusing this deploy, nothing was changed; 2 change(s)" in out, out[-3000:]
    broker = r"kafka-\d"
    assert re.search(
        rf"  - {broker}: kafka_topics\['orders'\]\.partitions: 4 partitions in the cluster, "
        "2 in kafka_topics",
        out,
    ), out[-3000:]
    assert re.search(
        rf"  - {broker}: kafka_topics\['orders'\]\.replication_factor: replication factor 3 "
        "in the cluster, 1 in kafka_topics",
        out,
    ), out[-3000:]
    # Nothing ran: no file, no service, no topic changed.
    for node in cluster.brokers:
        text = on_node(node.name, "cat /etc/kafka/server.properties").stdout
        assert "log.retention.hours=97" not in text
    assert (pids(cluster, "kafka"), pids(cluster, "zookeeper")) == (brokers, servers)
    assert verify.topic_layout(verify.bootstrap(cluster), ORDERS) == before
    assert own_configs(cluster, ORDERS) == configs
    assert "never-created" not in topic_names(cluster)


def test_an_unlisted_topic_stays_a_marked_one_goes_and_a_rerun_changes_no_topic(cluster, tmp_path):
    audit = verify.topic_layout(verify.bootstrap(cluster), "audit")
    _, actions = topics_deploy(tmp_path / "f", FINAL)
    assert actions == ["delete old-events (marked delete: True)"]
    deadline = time.monotonic() + 60
    while "old-events" in topic_names(cluster):  # deletion completes in the background
        assert time.monotonic() < deadline, "old-events was not deleted"
        time.sleep(1)
    assert {"audit", TRAFFIC, ORDERS} <= topic_names(cluster)
    assert verify.topic_layout(verify.bootstrap(cluster), "audit") == audit

    # A throttle left behind by a run stopped mid-raise is removed by the next run.
    leave_throttles(cluster)
    throttles_become(cluster, lambda found: len(found) == 6)
    _, actions = topics_deploy(tmp_path / "throttled", FINAL)
    assert actions == [f"remove the replication throttle a finished reassignment left on {ORDERS}"]
    throttles_become(cluster, lambda found: found == {})
    assert not set(TOPIC_THROTTLE_KEYS) & set(own_configs(cluster, ORDERS))

    orders_before = verify.topic_layout(verify.bootstrap(cluster), ORDERS)
    result, actions = topics_deploy(tmp_path / "again", FINAL)
    assert actions == []
    # Nothing else changed either (the topics step, a python.call, may count as changed).
    changed = changed_operations(result)
    assert all("Apply kafka_topics" in op for op in changed), changed
    assert verify.topic_layout(verify.bootstrap(cluster), ORDERS) == orders_before
