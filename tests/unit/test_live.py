"""Refusals on a live cluster (kafkaform.live), and what stays allowed."""

from __future__ import annotations

from typing import Any

from facts.live import build_state
from kafkaform.cluster import Cluster
from kafkaform.live import bake_problems, leaving_broker, live_problems, probe_paths
from tests.unit.livestates import CLUSTER_ID, KAFKA_DATA, ZK_DATA, ZK_LOG, deployed, members, output


def cluster(nodes: int = 3, ensemble: int = 3, **settings: Any) -> Cluster:
    hosts = []
    for i in range(1, nodes + 1):
        data: dict[str, Any] = {"ssh_hostname": f"10.0.0.{10 + i}", "kafkaid": i, **settings}
        if i <= ensemble:
            data.update(zookeeper=True, zkid=i)
        hosts.append((f"kafka-{i}", data))
    return Cluster.from_hosts(hosts)


def with_host(base: Cluster, name: str, **data: Any) -> Cluster:
    """The same cluster with one host's data replaced (None removes a key)."""
    hosts = []
    for node in base.nodes:
        host_data = dict(node.data)
        if node.name == name:
            host_data.update(data)
            host_data = {k: v for k, v in host_data.items() if v is not None}
        hosts.append((node.name, host_data))
    return Cluster.from_hosts(hosts)


def live(nodes: int = 3, ensemble: int = 3, **kwargs: Any) -> dict[str, dict]:
    return {
        f"kafka-{i}": build_state(deployed(i, ensemble=ensemble, zookeeper=i <= ensemble, **kwargs))
        for i in range(1, nodes + 1)
    }


def fresh(nodes: int = 3) -> dict[str, dict]:
    return {f"kafka-{i}": build_state(output()) for i in range(1, nodes + 1)}


def fields(problems) -> list[tuple[str, str]]:
    return [(p.where, p.field) for p in problems]


# --- allowed ------------------------------------------------------------------------------


def test_first_deploy_on_fresh_hosts_is_allowed():
    assert live_problems(cluster(), fresh()) == []


def test_rerun_with_no_change_is_allowed():
    assert live_problems(cluster(), live()) == []


def test_adding_a_log_dir_beside_the_old_one_is_allowed():
    grown = cluster(kafka_data_dirs=[KAFKA_DATA, "/data2/kafka"])
    assert live_problems(grown, live()) == []


def test_a_host_with_no_role_and_nothing_on_it_is_allowed():
    base = Cluster.from_hosts(
        [*((n.name, dict(n.data)) for n in cluster().nodes), ("mon", {"monitoring": True})]
    )
    states = {**live(), "mon": build_state(output())}
    assert live_problems(base, states) == []


def test_a_client_port_or_role_suffix_in_the_live_zoo_cfg_is_no_membership_change():
    states = live(static=True)
    config = states["kafka-1"]["zookeeper"]["config"]
    config["server.1"] += ":participant;0.0.0.0:2181"
    config["server.2"] += ";2181"
    assert live_problems(cluster(), states) == []


def test_adding_a_broker_is_allowed():
    states = {**live(), "kafka-4": build_state(output())}
    assert live_problems(cluster(nodes=4), states) == []


def test_a_host_not_read_is_not_judged():
    states = live()
    del states["kafka-3"]
    assert live_problems(cluster(), states) == []


def test_a_member_of_the_running_ensemble_that_never_started_may_finish():
    # An interrupted first run: kafka-3 is in every zoo.cfg but has nothing yet.
    states = {**live(), "kafka-3": build_state(output())}
    assert live_problems(cluster(), states) == []


def test_a_retired_broker_with_no_partitions_and_no_service_is_allowed():
    meta = {"broker.id": "3", "cluster.id": CLUSTER_ID}
    retired = build_state(
        output(
            services={"kafka": ("inactive", "disabled")},
            server_properties={"broker.id": "3", "log.dirs": KAFKA_DATA},
            kafka_dirs={KAFKA_DATA: (0, meta)},
        )
    )
    states = {**live(nodes=2, ensemble=1), "kafka-3": retired}
    base = with_host(cluster(nodes=3, ensemble=1), "kafka-3", kafkaid=None)
    assert live_problems(base, states) == []


def test_a_zookeeper_dir_whose_data_was_copied_may_move():
    states = live()
    states["kafka-1"]["dirs"]["zookeeper"]["/srv/zk"] = {"exists": True, "files": 3, "myid": "1"}
    moved = with_host(cluster(), "kafka-1", zookeeper_data_dir="/srv/zk")
    assert live_problems(moved, states) == []


# --- refused ------------------------------------------------------------------------------


def test_replacing_the_kafka_log_dirs_is_refused_with_the_procedure():
    problems = live_problems(cluster(kafka_data_dirs=["/data2/kafka"]), live())
    assert fields(problems) == [(f"kafka-{i}", "kafka_data_dirs") for i in (1, 2, 3)]
    message = problems[0].message
    assert KAFKA_DATA in message and "4 partition directories" in message
    assert "kafka-reassign-partitions.sh" in message


def test_dropping_one_of_two_log_dirs_is_refused():
    states = live(log_dirs=(KAFKA_DATA, "/data2/kafka"))
    problems = live_problems(cluster(kafka_data_dirs=[KAFKA_DATA]), states)
    assert fields(problems) == [(f"kafka-{i}", "kafka_data_dirs") for i in (1, 2, 3)]
    assert "/data2/kafka" in problems[0].message


def test_changing_the_zookeeper_data_dir_is_refused():
    problems = live_problems(cluster(zookeeper_data_dir="/srv/zk"), live())
    assert fields(problems) == [(f"kafka-{i}", "zookeeper_data_dir") for i in (1, 2, 3)]
    assert ZK_DATA in problems[0].message and "restart empty" in problems[0].message


def test_changing_the_zookeeper_datalog_dir_is_refused():
    problems = live_problems(cluster(zookeeper_datalog_dir="/srv/zklog"), live())
    assert fields(problems) == [(f"kafka-{i}", "zookeeper_datalog_dir") for i in (1, 2, 3)]
    assert ZK_LOG in problems[0].message


def test_growing_the_ensemble_from_3_to_5_is_planned_not_refused():
    # Issue 10: the refusal became kafkaform.ensemble_change's procedure (its tests there).
    states = {**live(nodes=5, ensemble=3)}
    for new in ("kafka-4", "kafka-5"):
        states[new]["services"]["zookeeper"] = {
            "active": False,
            "enabled": False,
            "unit": False,
            "pid": None,
        }
    assert live_problems(cluster(nodes=5, ensemble=5), states) == []


def test_a_moved_zookeeper_server_is_refused():
    moved = with_host(cluster(), "kafka-2", ssh_hostname="10.0.0.99")
    problems = live_problems(moved, live())
    assert fields(problems) == [("kafka-2", "zookeeper")]
    assert "server.2 would move: 10.0.0.12:2888:3888 -> 10.0.0.99:2888:3888" in problems[0].message
    assert "new zkid" in problems[0].message


def test_a_zkid_change_is_refused():
    # kafka-1 and kafka-2 swap ids: same server list, each myid now disagrees.
    swapped = with_host(with_host(cluster(), "kafka-1", zkid=2), "kafka-2", zkid=1)
    problems = live_problems(swapped, live())
    assert ("kafka-1", "zkid") in fields(problems)
    assert ("kafka-2", "zkid") in fields(problems)
    zkid = next(p for p in problems if p.field == "zkid")
    assert "myid is 1" in zkid.message and "zkid 2" in zkid.message


def test_taking_zookeeper_from_a_host_that_runs_it_is_planned_not_refused():
    shrunk = with_host(cluster(nodes=5, ensemble=5), "kafka-5", zookeeper=None, zkid=None)
    assert live_problems(shrunk, live(nodes=5, ensemble=5)) == []


def test_shrinking_to_an_ensemble_of_two_is_refused():
    shrunk = with_host(cluster(), "kafka-3", zookeeper=None, zkid=None)
    problems = live_problems(shrunk, live())
    assert fields(problems) == [("kafka-1", "zookeeper")]
    assert "list of two" in problems[0].message


def test_a_retired_zookeeper_server_with_its_data_left_is_allowed():
    # What a removal leaves: zoo.cfg and data on the disk, the service stopped and disabled.
    states = live(ensemble=2)
    states["kafka-3"] = build_state(deployed(3, ensemble=3))
    states["kafka-3"]["services"]["zookeeper"].update(active=False, enabled=False)
    shrunk = with_host(cluster(), "kafka-3", zookeeper=None, zkid=None)
    assert live_problems(shrunk, states) == []


def test_taking_kafka_from_a_host_that_runs_it_is_judged_by_its_replicas_not_here():
    # The deploy retires a drained broker whose kafkaid was taken away; whether it holds
    # replicas is read in ZooKeeper (deploys.tasks.preflight.stranded_replicas).
    base = with_host(cluster(), "kafka-2", kafkaid=None)
    assert live_problems(base, live()) == []
    assert leaving_broker(base.node("kafka-2"), live()["kafka-2"]) == "2"
    assert leaving_broker(base.node("kafka-1"), live()["kafka-1"]) is None


def test_a_stopped_and_disabled_broker_is_not_leaving_whatever_its_disk_holds():
    states = live()
    states["kafka-2"]["services"]["kafka"].update(active=False, enabled=False)
    base = with_host(cluster(), "kafka-2", kafkaid=None)
    assert live_problems(base, states) == []
    assert leaving_broker(base.node("kafka-2"), states["kafka-2"]) is None


def test_a_kafkaid_change_against_meta_properties_is_refused():
    problems = live_problems(with_host(cluster(), "kafka-3", kafkaid=7), live())
    assert fields(problems) == [("kafka-3", "kafkaid")]
    assert "belongs to broker 3, not 7" in problems[0].message


def test_a_new_log_dir_of_another_cluster_is_refused():
    states = live()
    states["kafka-1"]["dirs"]["kafka"]["/data2/kafka"] = {
        "exists": True,
        "partitions": 2,
        "meta": {"broker.id": "1", "cluster.id": "another-cluster-id"},
    }
    grown = cluster(kafka_data_dirs=[KAFKA_DATA, "/data2/kafka"])
    problems = live_problems(grown, states)
    assert fields(problems) == [("kafka-1", "kafka_data_dirs")]
    assert "another-cluster-id" in problems[0].message


def test_all_problems_are_listed_at_once():
    changed = cluster(kafka_data_dirs=["/data2/kafka"], zookeeper_data_dir="/srv/zk")
    problems = live_problems(with_host(changed, "kafka-3", kafkaid=9), live())
    assert {p.field for p in problems} == {"kafka_data_dirs", "zookeeper_data_dir", "kafkaid"}


# --- the bake -----------------------------------------------------------------------------


def bake_node(**data: Any):
    return Cluster.from_hosts([("kafka-base", data)]).node("kafka-base")


def test_bake_of_a_fresh_unmarked_host_without_roles_is_allowed():
    assert bake_problems(bake_node(), build_state(output())) == []


def test_bake_of_a_fresh_marked_host_is_allowed_even_with_lab_roles():
    node = bake_node(base_box=True, kafkaid=1, zookeeper=True, zkid=1)
    assert bake_problems(node, build_state(output())) == []


def test_bake_refuses_a_host_with_a_role():
    problems = bake_problems(bake_node(kafkaid=1, zookeeper=True, zkid=1), build_state(output()))
    assert fields(problems) == [("kafka-base", "kafkaid, zookeeper")]
    assert "base_box: True" in problems[0].message
    assert "--data base_box=true" in problems[0].message


def test_bake_refuses_a_monitoring_host():
    problems = bake_problems(bake_node(monitoring=True), build_state(output()))
    assert fields(problems) == [("kafka-base", "monitoring")]


def test_bake_refuses_a_deployed_host_with_all_the_evidence():
    problems = bake_problems(bake_node(base_box=True), build_state(deployed(1)))
    assert fields(problems) == [
        ("kafka-base", "zookeeper service"),
        ("kafka-base", "kafka service"),
        ("kafka-base", "zookeeper data"),
        ("kafka-base", "kafka data"),
    ]
    text = "\n".join(str(p) for p in problems)
    for evidence in (
        "service active",
        "enabled at boot",
        f"myid 1 in {ZK_DATA}",
        f"3 snapshot/log files in {ZK_DATA}/version-2",
        f"meta.properties of broker 1 in {KAFKA_DATA}",
        f"4 partition dirs in {KAFKA_DATA}",
    ):
        assert evidence in text, evidence


def test_bake_refuses_a_host_holding_a_zookeeper_membership_alone():
    state = build_state(output(zoo_cfg={"reconfigEnabled": "true"}, dynamic=members(3)))
    problems = bake_problems(bake_node(base_box=True), state)
    assert fields(problems) == [("kafka-base", "zookeeper data")]
    assert "zoo.cfg.dynamic.100000000" in problems[0].message


def test_bake_refuses_a_lone_myid_and_a_lone_enabled_unit():
    state = build_state(
        output(services={"zookeeper": ("inactive", "enabled")}, zk_dirs={ZK_DATA: (0, "2")})
    )
    problems = bake_problems(bake_node(base_box=True), state)
    assert fields(problems) == [
        ("kafka-base", "zookeeper service"),
        ("kafka-base", "zookeeper data"),
    ]


def test_probe_paths_come_from_the_hosts_settings():
    node = bake_node(kafka_config_dir="/srv/kafka/etc", kafka_data_dirs=["/d1", "/d2"])
    paths = probe_paths(node)
    assert paths["kafka_config"] == "/srv/kafka/etc/server.properties"
    assert paths["zookeeper_config"] == "/etc/zookeeper/zoo.cfg"
    assert paths["kafka_dirs"] == ("/d1", "/d2")
    assert paths["zookeeper_dirs"] == (ZK_DATA, ZK_LOG)
