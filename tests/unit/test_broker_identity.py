"""kafkaform.broker_ids: "auto" broker ids and foreign data volumes, decided offline."""

from __future__ import annotations

from typing import Any

import pytest

from facts.live import build_state
from kafkaform.broker_ids import Registry, assign_ids, claims_path, known_ids, volume_problems
from kafkaform.cluster import Cluster
from kafkaform.validate import check_inventory
from tests.unit.livestates import CLUSTER_ID, KAFKA_DATA, deployed, output


def cluster_of(*ids: Any) -> Cluster:
    hosts = []
    for i, kafkaid in enumerate(ids, start=1):
        data: dict[str, Any] = {"ssh_hostname": f"10.0.0.{10 + i}", "kafkaid": kafkaid}
        if i == 1:
            data.update(zookeeper=True, zkid=1)
        hosts.append((f"kafka-{i}", data))
    return Cluster.from_hosts(hosts)


def fresh() -> dict:
    return build_state(output())


def running(index: int) -> dict:
    return build_state(deployed(index, ensemble=1, zookeeper=index == 1))


def volume(broker: str, cluster_id: str = CLUSTER_ID) -> dict:
    """A new machine with a data volume attached (no service, no config yet)."""
    meta = {"version": "0", "broker.id": broker, "cluster.id": cluster_id}
    return build_state(output(kafka_dirs={KAFKA_DATA: (4, meta)}))


def test_three_auto_hosts_at_once_take_1_to_3_in_inventory_order():
    cluster = cluster_of("auto", "auto", "auto")
    result = assign_ids(cluster, {f"kafka-{i}": fresh() for i in (1, 2, 3)}, Registry())
    assert result.ids == {"kafka-1": 1, "kafka-2": 2, "kafka-3": 3}
    assert result.claims == {1: "kafka-1", 2: "kafka-2", 3: "kafka-3"}
    assert not result.problems
    resolved = cluster.with_kafkaids(result.ids)
    assert [n.kafkaid for n in resolved.brokers] == [1, 2, 3]
    assert resolved.broker_properties(resolved.node("kafka-2"))["broker.id"] == "2"


def test_explicit_ids_are_skipped_and_auto_hosts_sort_after_them():
    cluster = cluster_of("auto", 1, "auto")
    assert [n.name for n in cluster.brokers] == ["kafka-2", "kafka-1", "kafka-3"]
    states = {name: fresh() for name in ("kafka-1", "kafka-2", "kafka-3")}
    assert assign_ids(cluster, states, Registry()).ids == {"kafka-1": 2, "kafka-3": 3}


def test_rerun_keeps_the_id_the_host_records_even_when_a_lower_one_is_free():
    cluster = cluster_of("auto", "auto")
    states = {"kafka-1": fresh(), "kafka-2": running(7)}
    result = assign_ids(cluster, states, Registry(claims={7: "kafka-2"}))
    assert result.ids == {"kafka-1": 1, "kafka-2": 7}
    assert result.sources["kafka-2"] == "its data"
    assert result.claims == {1: "kafka-1"}  # kafka-2's claim is already there


def test_a_host_rebuilt_under_its_name_gets_its_claimed_id_back():
    cluster = cluster_of("auto", "auto", "auto")
    registry = Registry(
        registered={1: "10.0.0.11", 2: "10.0.0.12"},
        claims={1: "kafka-1", 2: "kafka-2", 3: "kafka-3"},
    )
    states = {"kafka-1": running(1), "kafka-2": running(2), "kafka-3": fresh()}
    result = assign_ids(cluster, states, registry)
    assert result.ids["kafka-3"] == 3
    assert result.sources["kafka-3"] == "its claim in ZooKeeper"
    assert result.claims == {}


def test_a_new_host_takes_the_id_of_a_broker_whose_host_is_gone():
    # kafka-2 died and left the inventory (its registration expired); kafka-4 replaces it.
    hosts = [(n.name, dict(n.data)) for n in cluster_of("auto", "auto", "auto").nodes]
    hosts = [hosts[0], hosts[2], ("kafka-4", {"ssh_hostname": "10.0.0.14", "kafkaid": "auto"})]
    cluster = Cluster.from_hosts(hosts)
    registry = Registry(
        registered={1: "10.0.0.11", 3: "10.0.0.13"},
        claims={1: "kafka-1", 2: "kafka-2", 3: "kafka-3"},
    )
    states = {"kafka-1": running(1), "kafka-3": running(3), "kafka-4": fresh()}
    result = assign_ids(cluster, states, registry)
    assert result.ids["kafka-4"] == 2
    assert result.claims == {2: "kafka-4"}  # taken over from the gone host


def test_the_id_of_a_live_broker_is_never_taken():
    cluster = cluster_of(1, "auto")
    # Broker 2 runs from an address outside the inventory; its claim's host is gone.
    registry = Registry(registered={1: "10.0.0.11", 2: "10.9.9.9"}, claims={2: "old-host"})
    result = assign_ids(cluster, {"kafka-1": running(1), "kafka-2": fresh()}, registry)
    assert result.ids == {}
    ((problem,),) = [result.problems]
    assert (problem.where, problem.field) == ("kafka-2", "kafkaid")
    assert "[2] are registered" in problem.message and "session expires" in problem.message


def test_a_registered_broker_of_an_inventory_host_is_skipped():
    cluster = cluster_of("auto", "auto")
    # kafka-1's broker runs as 1 but its disk could not be read (this run left it out).
    registry = Registry(registered={1: "10.0.0.11"}, claims={1: "kafka-1"})
    assert assign_ids(cluster, {"kafka-2": fresh()}, registry).ids == {
        "kafka-1": 1,
        "kafka-2": 2,
    }


def test_a_host_left_out_without_a_claim_is_refused_not_guessed():
    cluster = cluster_of("auto", "auto")
    result = assign_ids(cluster, {"kafka-2": fresh()}, Registry())
    assert [(p.where, p.field) for p in result.problems] == [("kafka-1", "kafkaid")]
    assert "--limit" in result.problems[0].message


def test_a_volume_of_another_live_broker_is_refused():
    cluster = cluster_of(1, 2, "auto")
    registry = Registry(registered={1: "10.0.0.11", 2: "10.0.0.12"})
    states = {"kafka-1": running(1), "kafka-2": running(2), "kafka-3": volume("2")}
    result = assign_ids(cluster, states, registry)
    assert "kafka-3" not in result.ids
    ((problem,),) = [result.problems]
    assert problem.where == "kafka-3"
    assert "its data names broker 2" in problem.message and "host kafka-2 has it" in problem.message
    assert "nothing was overwritten" in problem.message


def test_the_old_volume_of_a_gone_broker_is_kept_and_its_claim_taken_over():
    cluster = cluster_of(1, 2, "auto")
    registry = Registry(registered={1: "10.0.0.11", 2: "10.0.0.12"}, claims={3: "old-host"})
    states = {"kafka-1": running(1), "kafka-2": running(2), "kafka-3": volume("3")}
    result = assign_ids(cluster, states, registry)
    assert result.ids == {"kafka-3": 3} and result.claims == {3: "kafka-3"}
    resolved = cluster.with_kafkaids(result.ids)
    assert volume_problems(resolved, states, Registry(cluster_id=CLUSTER_ID), {"kafka-3"}) == []


def test_a_volume_of_another_cluster_is_refused_for_explicit_and_auto_ids():
    cluster = cluster_of(1, 2, "auto").with_kafkaids({"kafka-3": 3})
    states = {"kafka-1": running(1), "kafka-2": volume("2", "OtherCluster000000000a")}
    states["kafka-3"] = volume("3", "OtherCluster000000000a")
    problems = volume_problems(cluster, states, Registry(cluster_id=CLUSTER_ID), {"kafka-3"})
    assert [(p.where, p.field) for p in problems] == [
        ("kafka-2", "kafka_data_dirs"),
        ("kafka-3", "kafka_data_dirs"),
    ]
    assert f"{KAFKA_DATA}/meta.properties belongs to Kafka cluster OtherCluster" in str(problems[0])
    assert f"is {CLUSTER_ID}" in problems[0].message
    assert "InconsistentClusterIdException" in problems[0].message
    # Nothing to compare with before ZooKeeper runs: the first deploy is not judged.
    assert volume_problems(cluster, states, Registry(), {"kafka-3"}) == []


def test_resolved_auto_hosts_get_the_broker_id_check_of_explicit_ones():
    # Two log dirs naming different brokers: whatever id is picked, one of them disagrees.
    cluster = cluster_of("auto").with_kafkaids({"kafka-1": 4})
    meta = {"version": "0", "broker.id": "5", "cluster.id": CLUSTER_ID}
    state = build_state(output(kafka_dirs={KAFKA_DATA: (1, meta)}))
    problems = volume_problems(cluster, {"kafka-1": state}, Registry(), {"kafka-1"})
    assert [(p.where, p.field) for p in problems] == [("kafka-1", "kafkaid")]
    assert volume_problems(cluster, {"kafka-1": state}, Registry(), set()) == []


def test_claims_live_under_the_kafka_chroot():
    assert claims_path("/kafka") == "/kafka/kafkaform/broker-ids"
    assert claims_path("") == "/kafkaform/broker-ids"


def test_known_ids_for_tools_that_do_not_deploy():
    cluster = cluster_of("auto", 2, "auto", "auto")
    registry = Registry(
        registered={1: "10.0.0.11", 2: "10.0.0.12", 6: "10.0.0.14"},
        claims={5: "kafka-3", 1: "kafka-1", 2: "kafka-2", 4: "gone"},
    )
    # Claims first, then the registration from the host's address; kafka-2 is no "auto" host.
    assert known_ids(cluster, registry) == {"kafka-1": 1, "kafka-3": 5, "kafka-4": 6}
    assert known_ids(cluster, Registry()) == {}


def inventory_problems(kafkaid: Any) -> list[str]:
    from pyinfra.api import Inventory

    hosts = [("a", {"zookeeper": True, "zkid": 1, "kafkaid": kafkaid})]
    return [str(p) for p in check_inventory(Inventory((hosts, {})))]


def test_validation_allows_auto_and_names_it_when_refusing():
    assert inventory_problems("auto") == []
    assert inventory_problems("Auto") == ["a: kafkaid: must be an integer or \"auto\", got 'Auto'"]


@pytest.mark.parametrize("kafkaid", ["auto", 3])
def test_preflight_leaves_auto_hosts_to_the_resolution(kafkaid: Any):
    from kafkaform.live import live_problems

    cluster = cluster_of(kafkaid)
    state = build_state(deployed(1, ensemble=1))  # its data says broker 1
    found = [p.field for p in live_problems(cluster, {"kafka-1": state})]
    assert found == ([] if kafkaid == "auto" else ["kafkaid"])


def test_a_volume_on_a_machine_that_never_ran_the_broker_is_adopted():
    from kafkaform.broker_ids import adopted_dirs

    node = cluster_of(3).node("kafka-1")
    assert adopted_dirs(node, volume("3")) == [KAFKA_DATA]
    assert adopted_dirs(node, fresh()) == []  # nothing there: the deploy creates it
    assert adopted_dirs(node, running(1)) == []  # this host's broker wrote it
    assert adopted_dirs(node, None) == []


def test_two_volumes_naming_one_broker_are_both_refused_unless_one_runs_it():
    cluster = cluster_of("auto", "auto", "auto")
    states = {"kafka-1": volume("1"), "kafka-2": fresh(), "kafka-3": volume("1")}
    result = assign_ids(cluster, states, Registry())
    assert result.ids == {"kafka-2": 2}
    assert [(p.where, p.field) for p in result.problems] == [
        ("kafka-1", "kafkaid"),
        ("kafka-3", "kafkaid"),
    ]
    assert "the data of kafka-3 names it too" in result.problems[0].message
    # kafka-3's broker runs as 1: it keeps it, the volume on kafka-1 is the foreign one.
    result = assign_ids(cluster, states, Registry(registered={1: "10.0.0.13"}))
    assert result.ids == {"kafka-2": 2, "kafka-3": 1}
    assert [p.where for p in result.problems] == ["kafka-1"]
    assert "host kafka-3 has it" in result.problems[0].message


def test_a_host_known_only_by_its_registered_broker_keeps_that_id():
    # A cold first deploy writes no claim (no ZooKeeper ran yet); a later --limit run of a
    # new host reads neither kafka-1 nor kafka-2, whose brokers run as 2 and 1.
    hosts = [(n.name, dict(n.data)) for n in cluster_of("auto", "auto", "auto").nodes]
    cluster = Cluster.from_hosts(hosts)
    registry = Registry(registered={2: "10.0.0.11", 1: "10.0.0.12"})
    result = assign_ids(cluster, {"kafka-3": fresh()}, registry)
    assert result.ids == {"kafka-1": 2, "kafka-2": 1, "kafka-3": 3}
    assert result.sources["kafka-1"] == "the broker registered from its address"
    assert result.claims == {2: "kafka-1", 1: "kafka-2", 3: "kafka-3"}
