"""kafkaform.ensemble_change: the actions of a ZooKeeper membership change by dynamic
reconfiguration, the conversion of a static ensemble, resuming an interrupted run, refusals."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from facts.live import build_state
from kafkaform.cluster import Cluster
from kafkaform.ensemble_change import plan_ensemble_change
from kafkaform.ensemble_lists import committed
from tests.unit.livestates import deployed, members, output


def address(zkid: int) -> str:
    return f"10.0.0.{10 + zkid}:2888:3888"


def line(zkid: int) -> str:
    return f"{address(zkid)}:participant;2181"


def cluster(nodes: int, wanted: set[int]) -> Cluster:
    """kafka-1..nodes, brokers all; ZooKeeper with zkid = index on ``wanted``."""
    hosts = []
    for i in range(1, nodes + 1):
        data: dict[str, Any] = {"ssh_hostname": f"10.0.0.{10 + i}", "kafkaid": i}
        if i in wanted:
            data.update(zookeeper=True, zkid=i)
        hosts.append((f"kafka-{i}", data))
    return Cluster.from_hosts(hosts)


def dynamic(nodes: int, files: dict[int, tuple[str, set[int]]]) -> dict[str, dict]:
    """Host i runs server i whose newest dynamic file is ``files[i]`` (version, members);
    the other hosts run brokers only."""
    states = {}
    for i in range(1, nodes + 1):
        if i in files:
            version, zkids = files[i]
            state = build_state(deployed(i))
            config = {f"server.{z}": f"{address(z)}:participant;0.0.0.0:2181" for z in zkids}
            state["zookeeper"]["dynamic"] = {"version": version, "config": config}
        else:
            state = build_state(deployed(i, zookeeper=False))
        states[f"kafka-{i}"] = state
    return states


def steady(nodes: int, zkids: set[int], version: str = "100000000") -> dict[str, dict]:
    return dynamic(nodes, {i: (version, zkids) for i in zkids})


def static(nodes: int, zkids: set[int]) -> dict[str, dict]:
    """An ensemble an older kafkaform deployed: zoo.cfg lists the servers."""
    states = {}
    for i in range(1, nodes + 1):
        lines = deployed(i, ensemble=max(zkids), zookeeper=i in zkids, static=True)
        states[f"kafka-{i}"] = build_state(lines)
    return states


def steps(plan) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(a.kind, a.host, a.zkids) for a in plan.steps]


# --- nothing to do -------------------------------------------------------------------------


def test_a_first_deploy_writes_every_join_file_with_the_inventory_s_members_and_sets_the_acl():
    fresh = {f"kafka-{i}": build_state(output()) for i in (1, 2, 3)}
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), fresh)
    assert plan.problems == ()
    assert steps(plan) == [("bootstrap-acl", "kafka-1", ())]
    assert plan.bootstrap and not plan.joiners
    # The ACL is set through the new servers' client ports: their hosts are known.
    assert plan.owners == {1: "kafka-1", 2: "kafka-2", 3: "kafka-3"}
    assert sorted(plan.committed) == [1, 2, 3]
    assert plan.join_files == {f"kafka-{i}": {z: line(z) for z in (1, 2, 3)} for i in (1, 2, 3)}


def test_the_running_ensemble_needs_no_step_and_no_join_file():
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), steady(3, {1, 2, 3}))
    assert plan.steps == () and plan.problems == ()
    assert plan.join_files == {} and not plan.bootstrap


def test_a_stopped_ensemble_starts_from_its_own_files():
    states = steady(3, {1, 2, 3})
    for state in states.values():
        state["services"]["zookeeper"].update(active=False, enabled=False)
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), states)
    assert plan.steps == () and plan.join_files == {}


def test_a_removed_server_that_was_retired_is_left_alone():
    states = steady(3, {1, 2}, "100000005")
    states["kafka-3"] = build_state(deployed(3))
    states["kafka-3"]["services"]["zookeeper"].update(active=False, enabled=False)
    plan = plan_ensemble_change(cluster(3, {1, 2}), states)
    assert plan.problems == ()  # a list of two that runs already is the operator's
    assert plan.steps == ()


# --- the committed membership --------------------------------------------------------------


def test_the_committed_membership_is_the_highest_version_on_any_host():
    # kafka-3 was stopped right after a change and still holds the older file.
    states = dynamic(3, {1: ("10000000a", {1, 2}), 2: ("10000000a", {1, 2}), 3: ("ff", {1, 2, 3})})
    version, found = committed(states)
    assert version == "10000000a" and sorted(found) == [1, 2]


# --- growing -------------------------------------------------------------------------------


def test_3_to_5_joins_and_adds_one_server_at_a_time():
    plan = plan_ensemble_change(cluster(5, {1, 2, 3, 4, 5}), steady(5, {1, 2, 3}))
    assert plan.problems == ()
    assert steps(plan) == [
        ("join", "kafka-4", (4,)),
        ("add", "kafka-4", (4,)),
        ("join", "kafka-5", (5,)),
        ("add", "kafka-5", (5,)),
    ]
    join4, add4, join5, _ = plan.steps
    # A joiner's file: the committed members and itself, never itself alone.
    assert dict(join4.members) == {1: line(1).replace(";2181", ";0.0.0.0:2181"),
                                   2: line(2).replace(";2181", ";0.0.0.0:2181"),
                                   3: line(3).replace(";2181", ";0.0.0.0:2181"),
                                   4: line(4)}  # fmt: skip
    assert sorted(dict(join5.members)) == [1, 2, 3, 4, 5]  # 4 was added before
    assert add4.members == ((4, line(4)),)
    assert plan.joiners == {"kafka-4", "kafka-5"}
    assert plan.join_files == {}  # configure_zookeeper writes none: the joins do


def test_1_to_3_adds_both_servers_in_one_reconfig():
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), steady(3, {1}))
    assert steps(plan) == [
        ("join", "kafka-2", (2,)),
        ("join", "kafka-3", (3,)),
        ("add", "kafka-2", (2, 3)),
    ]
    assert all(len(a.members) == 2 for a in plan.steps[:2])  # server 1 and the joiner


def test_1_to_5_goes_to_three_in_one_reconfig_then_one_at_a_time():
    plan = plan_ensemble_change(cluster(5, {1, 2, 3, 4, 5}), steady(5, {1}))
    assert [a.zkids for a in plan.steps if a.kind == "add"] == [(2, 3), (4,), (5,)]


# --- shrinking -----------------------------------------------------------------------------


def test_5_to_3_removes_followers_from_the_highest_then_retires_each():
    plan = plan_ensemble_change(cluster(5, {1, 2, 3}), steady(5, {1, 2, 3, 4, 5}), leader=1)
    assert steps(plan) == [
        ("remove", "kafka-5", (5,)),
        ("retire", "kafka-5", (5,)),
        ("remove", "kafka-4", (4,)),
        ("retire", "kafka-4", (4,)),
    ]


def test_a_leaving_leader_is_removed_last():
    plan = plan_ensemble_change(cluster(5, {1, 2, 3}), steady(5, {1, 2, 3, 4, 5}), leader=5)
    assert [a.zkids for a in plan.steps if a.kind == "remove"] == [(4,), (5,)]


def test_3_to_1_removes_both_in_one_reconfig():
    plan = plan_ensemble_change(cluster(3, {1}), steady(3, {1, 2, 3}), leader=2)
    assert steps(plan) == [
        ("remove", "kafka-2", (2, 3)),
        ("retire", "kafka-2", (2,)),
        ("retire", "kafka-3", (3,)),
    ]


def test_5_to_1_shrinks_one_at_a_time_then_two_at_once():
    plan = plan_ensemble_change(cluster(5, {1}), steady(5, {1, 2, 3, 4, 5}), leader=4)
    assert [a.zkids for a in plan.steps if a.kind == "remove"] == [(5,), (3,), (2, 4)]


def test_moving_the_single_server_adds_before_it_removes():
    plan = plan_ensemble_change(cluster(4, {4}), steady(4, {1}))
    kinds = [(a.kind, a.zkids) for a in plan.steps]
    assert kinds == [("join", (4,)), ("add", (4,)), ("remove", (1,)), ("retire", (1,))]


def test_an_ensemble_of_two_as_the_destination_is_refused():
    plan = plan_ensemble_change(cluster(3, {1, 2}), steady(3, {1, 2, 3}))
    assert plan.steps == ()
    assert [(p.where, p.field) for p in plan.problems] == [("kafka-1", "zookeeper")]
    assert "list of two" in plan.problems[0].message


# --- an interrupted run, finished by the next ----------------------------------------------


def test_a_joiner_that_runs_but_was_not_added_is_added():
    # Its own newest file is the committed one, which does not list it.
    states = dynamic(4, {i: ("100000000", {1, 2, 3}) for i in (1, 2, 3, 4)})
    plan = plan_ensemble_change(cluster(4, {1, 2, 3, 4}), states)
    assert steps(plan) == [("join", "kafka-4", (4,)), ("add", "kafka-4", (4,))]  # join: a no-op


def test_a_server_added_before_the_run_died_needs_nothing():
    states = steady(4, {1, 2, 3, 4}, "100000003")
    plan = plan_ensemble_change(cluster(4, {1, 2, 3, 4}), states)
    assert plan.steps == ()


def test_a_removed_server_still_in_service_is_retired():
    states = dynamic(4, {1: ("100000004", {1, 2, 3}), 2: ("100000004", {1, 2, 3}),
                         3: ("100000004", {1, 2, 3}), 4: ("100000003", {1, 2, 3, 4})})  # fmt: skip
    plan = plan_ensemble_change(cluster(4, {1, 2, 3}), states)
    assert steps(plan) == [("retire", "kafka-4", (4,))]


def test_a_member_the_inventory_dropped_is_removed_even_if_a_file_lags():
    states = dynamic(4, {1: ("100000004", {1, 2, 3, 4}), 2: ("100000004", {1, 2, 3, 4}),
                         3: ("100000004", {1, 2, 3, 4}), 4: ("100000003", {1, 2, 3})})  # fmt: skip
    plan = plan_ensemble_change(cluster(4, {1, 2, 3}), states)
    assert steps(plan) == [("remove", "kafka-4", (4,)), ("retire", "kafka-4", (4,))]


def test_a_member_rebuilt_from_scratch_rejoins_with_a_join_file_of_the_committed_members():
    states = steady(3, {1, 2, 3}, "100000004")
    states["kafka-3"] = build_state(output())  # same name, new machine, empty disk
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), states)
    assert plan.problems == () and plan.steps == ()
    assert plan.join_files == {"kafka-3": {z: f"{line(z)[:-4]}0.0.0.0:2181" for z in (1, 2, 3)}}
    assert not plan.joiners  # a member: configure_zookeeper starts it


def test_a_leftover_bootstrap_file_gets_the_acl_step_again():
    states = steady(3, {1, 2, 3})
    states["kafka-2"]["zookeeper"]["bootstrap"] = True
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), states)
    assert steps(plan) == [("bootstrap-acl", "kafka-1", ())]


# --- converting a static ensemble ----------------------------------------------------------


def test_a_static_ensemble_converts_with_join_files_of_the_running_list():
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), static(3, {1, 2, 3}))
    assert plan.problems == ()
    assert plan.converting and plan.bootstrap
    assert steps(plan) == [("bootstrap-acl", "kafka-1", ())]
    assert plan.join_files == {f"kafka-{i}": {z: line(z) for z in (1, 2, 3)} for i in (1, 2, 3)}
    assert plan.describe()[0].startswith("convert the static ensemble")


def test_a_static_ensemble_that_grows_converts_first_then_joins():
    plan = plan_ensemble_change(cluster(5, {1, 2, 3, 4, 5}), static(5, {1, 2, 3}))
    assert [a.kind for a in plan.steps] == ["bootstrap-acl", "join", "add", "join", "add"]
    assert sorted(plan.join_files) == ["kafka-1", "kafka-2", "kafka-3"]  # the running list
    assert plan.joiners == {"kafka-4", "kafka-5"}


def test_an_interrupted_conversion_is_finished():
    states = static(3, {1, 2, 3})
    states["kafka-1"] = steady(3, {1, 2, 3})["kafka-1"]  # converted already
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), states)
    assert plan.problems == () and plan.converting
    assert sorted(plan.join_files) == ["kafka-1", "kafka-2", "kafka-3"]


def test_a_static_server_leaving_is_refused_until_converted():
    plan = plan_ensemble_change(cluster(5, {1, 2, 3}), static(5, {1, 2, 3, 4, 5}))
    assert [(p.where, p.field) for p in plan.problems] == [
        ("kafka-4", "zookeeper"),
        ("kafka-5", "zookeeper"),
    ]
    assert "convert the ensemble to dynamic membership first" in plan.problems[0].message


def test_a_conversion_needs_every_server_host_in_the_run():
    states = static(3, {1, 2, 3})
    del states["kafka-3"]
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), states)
    assert [(p.where, p.field) for p in plan.problems] == [("kafka-3", "zookeeper")]
    assert "--limit" in plan.problems[0].message


# --- refused ---------------------------------------------------------------------------------


def test_static_lists_that_are_not_one_step_apart_are_refused():
    states = static(5, {1, 2, 3})
    config = states["kafka-3"]["zookeeper"]["config"]
    config.update({"server.4": address(4), "server.5": address(5)})
    plan = plan_ensemble_change(cluster(5, {1, 2, 3, 4, 5}), states)
    assert plan.steps == ()
    assert "not one step of a membership change" in plan.problems[0].message


def test_a_change_needs_every_server_host_in_the_run():
    states = steady(5, {1, 2, 3})
    del states["kafka-2"]
    plan = plan_ensemble_change(cluster(5, {1, 2, 3, 4}), states)
    assert [(p.where, p.field) for p in plan.problems] == [("kafka-2", "zookeeper")]
    assert "--limit" in plan.problems[0].message


def test_a_host_left_out_of_a_run_without_a_change_is_not_judged():
    states = steady(3, {1, 2, 3})
    del states["kafka-3"]
    assert plan_ensemble_change(cluster(3, {1, 2, 3}), states).problems == ()


def test_a_committed_server_with_no_host_in_the_inventory_is_refused():
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), steady(3, {1, 2, 3, 4}))
    assert any("server.4=10.0.0.14:2888:3888 runs" in p.message for p in plan.problems)


def test_a_server_that_would_move_is_refused():
    states = steady(3, {1, 2, 3})
    for state in states.values():
        state["zookeeper"]["dynamic"]["config"]["server.3"] = "10.0.0.99:2888:3888;2181"
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), states)
    assert [(p.where, p.field) for p in plan.problems] == [("kafka-3", "zookeeper")]
    assert "would move" in plan.problems[0].message


def test_a_removed_host_whose_zkid_went_to_another_host_is_refused():
    # kafka-3 still runs server 3 while the inventory gives zkid 3 to kafka-4.
    base = cluster(4, {1, 2})
    hosts = [(n.name, dict(n.data)) for n in base.nodes]
    hosts[3][1].update(zookeeper=True, zkid=3)
    plan = plan_ensemble_change(Cluster.from_hosts(hosts), steady(4, {1, 2, 3}))
    assert [(p.where, p.field) for p in plan.problems] == [("kafka-3", "zookeeper")]
    assert "one id, two servers" in plan.problems[0].message


# --- the live-state fact reads the files --------------------------------------------------


@pytest.mark.parametrize("versions", [["ff", "100000000", "1000000a"], ["2", "10", "a"]])
def test_the_fact_reads_the_newest_dynamic_file_and_the_join_file(tmp_path, versions):
    from facts.live import FUNCTIONS

    conf, work = tmp_path / "etc", tmp_path / "work"
    conf.mkdir()
    work.mkdir()
    (conf / "zoo.cfg").write_text("dataDir=/d\nreconfigEnabled=true\n")
    (conf / "zoo.cfg.dynamic.join").write_text(f"server.1={line(1)}\n")
    for i, v in enumerate(versions):
        (work / f"zoo.cfg.dynamic.{v}").write_text(f"server.{i + 1}={line(i + 1)}\n")
    (work / "zoo.cfg.dynamic.next").write_text("server.9=x\n")
    script = f"{FUNCTIONS}\nzk_live {conf}/zoo.cfg {work}"
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout
    zk = build_state(out.splitlines())["zookeeper"]
    newest = max(versions, key=lambda v: (len(v), v))
    assert zk["dynamic"]["version"] == newest
    assert list(zk["dynamic"]["config"]) == [f"server.{versions.index(newest) + 1}"]
    assert zk["join"] == {"server.1": line(1)}
    assert zk["layout"] == "dynamic" and zk["bootstrap"] is False


def test_members_helper_matches_what_zookeeper_writes():
    version, lines = members(2)
    assert version == "100000000"
    assert lines["server.2"] == "10.0.0.12:2888:3888:participant;0.0.0.0:2181"
