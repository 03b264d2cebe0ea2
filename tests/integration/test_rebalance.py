"""Scale out and in on the lab through the real CLI, while a producer (acks=all, idempotent)
writes and a consumer reads:

- 3 -> 5 brokers: `kafkaform rebalance` spreads the partitions over all five (none holds more
  than ceil(2 x fair share)), loses no acknowledged message, and leaves no throttle; a second
  run finds nothing to move;
- the deploy with kafka-5 taken out of the inventory, or with its kafkaid taken away, is
  refused while broker 5 holds replicas (nothing changed); `kafkaform drain --broker 5`
  empties it; the deploy without its kafkaid then stops and disables it (its data stays), and
  the host can leave the inventory.
"""

from __future__ import annotations

import pytest

from kafkaform import verify
from kafkaform.partition_reads import read_layout
from kafkaform.rebalance import replica_counts
from tests.integration.conftest import (
    changed_operations,
    deploy,
    failing_deploy,
    fresh_lab,
    kafkaform,
    on_node,
)
from tests.integration.scaling import (
    cluster_of,
    fill,
    kafkaform_cli,
    result_of,
    scaled_inventory,
)
from tests.integration.test_live_safety import pids
from tests.integration.test_topics import (
    TOPIC_THROTTLE_KEYS,
    ThrottleWatch,
    broker_throttles,
    own_configs,
)

DATA = "spread"  # 12 partitions, RF 3, with data to copy
TRAFFIC = "traffic"
THROTTLE = 20_000_000
MEGABYTES = 30


@pytest.fixture(scope="module")
def grown(lab_box, tmp_path_factory):
    """A 3-broker lab with data, grown to 5 brokers (deployed, registered, holding nothing)."""
    directory = tmp_path_factory.mktemp("scaled")
    cluster = fresh_lab(3, box=lab_box.catalog)
    assert deploy(scaled_inventory(directory))["results"]["totals"]["error"] == 0
    servers = verify.bootstrap(cluster)
    verify.create_topic(servers, DATA, partitions=12, replication=3, min_isr=2)
    verify.create_topic(servers, TRAFFIC, partitions=6, replication=3, min_isr=2)
    fill(servers, DATA, MEGABYTES)
    kafkaform("lab", "up", "--nodes", "5")
    inventory = scaled_inventory(directory)
    assert deploy(inventory)["results"]["totals"]["error"] == 0
    return cluster_of(inventory), inventory, directory


def test_rebalance_spreads_three_brokers_partitions_over_five_under_traffic(grown, tmp_path):
    cluster, inventory, _ = grown
    before = replica_counts(read_layout(cluster).assignment)
    assert before[4] == before[5] == 0  # new brokers get nothing by themselves
    plan = kafkaform_cli("rebalance", inventory, "--dry-run")
    assert "broker 5: 0 replica(s), 0 leader(s) ->" in plan.stdout
    assert replica_counts(read_layout(cluster).assignment) == before  # a dry run moves nothing
    with (
        verify.LiveTraffic(verify.bootstrap(cluster), TRAFFIC) as traffic,
        ThrottleWatch(cluster, tmp_path / "throttles.json") as watch,
    ):
        done = kafkaform_cli("rebalance", inventory, "--throttle", str(THROTTLE))
    print(f"traffic: {traffic.check()}")  # raises unless 0 lost and no producer error
    figures = result_of(done.stdout)
    print(f"rebalance: {figures}")
    assert figures["mb"] > 0
    layout = read_layout(cluster)
    counts = replica_counts(layout.assignment, range(1, 6))
    fair = sum(counts.values()) / 5
    assert all(0 < counts[b] <= -(-2 * fair // 1) for b in range(1, 6)), counts
    spread = replica_counts({p: r for p, r in layout.assignment.items() if p[0] == DATA})
    assert sorted(spread) == [1, 2, 3, 4, 5], spread
    # The throttle was on while the replicas copied, and is gone now.
    assert watch.seen and all(s.endswith(f"={THROTTLE}") for s in watch.seen), watch.seen
    assert broker_throttles(cluster) == {}
    for topic in (DATA, TRAFFIC, "__consumer_offsets"):
        assert not set(own_configs(cluster, topic)) & set(TOPIC_THROTTLE_KEYS), topic
    again = kafkaform_cli("rebalance", inventory)
    assert "balanced: nothing to move" in again.stdout


def test_removing_a_broker_is_refused_until_it_was_drained(grown):
    cluster, inventory, directory = grown
    without = scaled_inventory(directory, without=("kafka-5",))
    retired = scaled_inventory(directory, no_kafkaid=("kafka-5",))
    running = pids(cluster, "kafka")
    for removal in (without, retired):
        refused = failing_deploy(removal)
        assert "refusing this deploy, nothing was changed" in refused
        assert "broker 5 (10.213.0.15:9092): kafkaid: holds" in refused
        assert "kafkaform drain INVENTORY --broker 5" in refused
    assert pids(cluster, "kafka") == running  # no broker restarted or stopped

    with verify.LiveTraffic(verify.bootstrap(cluster), TRAFFIC) as traffic:
        drained = kafkaform_cli("drain", inventory, "--broker", "5", "--throttle", str(THROTTLE))
    print(f"traffic: {traffic.check()}")
    print(f"drain: {result_of(drained.stdout)}")
    assert "take kafkaid: 5 off its host" in drained.stdout
    layout = read_layout(cluster)
    assert replica_counts(layout.assignment)[5] == 0
    assert broker_throttles(cluster) == {}

    others = {name: pid for name, pid in running.items() if name != "kafka-5"}
    assert deploy(retired)["results"]["totals"]["error"] == 0
    state = on_node("kafka-5", "systemctl is-active kafka; systemctl is-enabled kafka", check=False)
    assert state.stdout.split() == ["inactive", "disabled"], state.stdout
    data_dir = cluster.node("kafka-5").settings["kafka_data_dirs"][0]
    kept = on_node("kafka-5", f"test -f {data_dir}/meta.properties", check=False)
    assert kept.returncode == 0, "the retired broker's data was not left in place"
    assert 5 not in read_layout(cluster).registered
    assert {n: p for n, p in pids(cluster, "kafka").items() if n != "kafka-5"} == others
    assert changed_operations(deploy(retired)) == []  # retired once, not again
    assert deploy(without)["results"]["totals"]["error"] == 0
