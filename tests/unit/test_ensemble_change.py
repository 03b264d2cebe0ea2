"""kafkaform.ensemble_change: the steps of a ZooKeeper membership change, and its refusals."""

from __future__ import annotations

import itertools
import os
import subprocess
from typing import Any

import pytest

from facts.live import build_state
from kafkaform.cluster import Cluster
from kafkaform.ensemble_change import Action, plan_ensemble_change, two_server_problems
from kafkaform.ensemble_lists import path
from tests.unit.livestates import ZK_DATA, deployed, output


def address(zkid: int) -> str:
    return f"10.0.0.{10 + zkid}:2888:3888"


def cluster(nodes: int, members: set[int]) -> Cluster:
    """kafka-1..nodes, brokers all; ZooKeeper with zkid = index on ``members``."""
    hosts = []
    for i in range(1, nodes + 1):
        data: dict[str, Any] = {"ssh_hostname": f"10.0.0.{10 + i}", "kafkaid": i}
        if i in members:
            data.update(zookeeper=True, zkid=i)
        hosts.append((f"kafka-{i}", data))
    return Cluster.from_hosts(hosts)


def running(nodes: int, lists: dict[int, set[int]]) -> dict[str, dict]:
    """Host i runs ZooKeeper server i listing ``lists[i]``; the other hosts run brokers only."""
    states = {}
    for i in range(1, nodes + 1):
        if i in lists:
            lines = deployed(i, ensemble=max(lists[i]))
            state = build_state(lines)
            config = state["zookeeper"]["config"]
            for key in [k for k in config if k.startswith("server.")]:
                del config[key]
            config.update({f"server.{z}": address(z) for z in lists[i]})
        else:
            state = build_state(deployed(i, zookeeper=False))
        states[f"kafka-{i}"] = state
    return states


def steady(nodes: int, members: set[int]) -> dict[str, dict]:
    return running(nodes, {i: members for i in members})


def kinds(actions: tuple[Action, ...]) -> list[tuple[str, str, bool]]:
    return [(a.kind, a.host, a.leader_last if a.kind == "restart" else a.wait) for a in actions]


def servers(*zkids: int) -> tuple[tuple[int, str], ...]:
    return tuple((z, address(z)) for z in zkids)


# --- nothing to do -------------------------------------------------------------------------


def test_a_first_deploy_has_no_plan():
    fresh = {f"kafka-{i}": build_state(output()) for i in (1, 2, 3)}
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), fresh)
    assert plan.steps == () and plan.problems == ()


def test_the_running_ensemble_needs_no_step():
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), steady(3, {1, 2, 3}))
    assert plan.steps == () and plan.problems == ()


def test_a_removed_server_that_was_retired_is_left_alone():
    states = steady(3, {1, 2})
    states["kafka-3"] = build_state(deployed(3, ensemble=3))
    states["kafka-3"]["services"]["zookeeper"].update(active=False, enabled=False)
    plan = plan_ensemble_change(cluster(3, {1, 2}), states)
    assert plan.steps == () and plan.problems == ()


# --- growing -------------------------------------------------------------------------------


def test_3_to_5_adds_one_server_per_step_each_rolled_in_before_the_next():
    plan = plan_ensemble_change(cluster(5, {1, 2, 3, 4, 5}), steady(5, {1, 2, 3}))
    assert plan.problems == ()
    assert plan.describe() == [
        "step 1: 3 -> 4 servers (+server.4)",
        "step 2: 4 -> 5 servers (+server.5)",
    ]
    first, second = plan.steps
    # The new server starts first and is waited for; the old ones restart one at a time,
    # a leader only in the second pass.
    assert kinds(first.actions) == [
        ("start", "kafka-4", True),
        ("restart", "kafka-1", True),
        ("restart", "kafka-2", True),
        ("restart", "kafka-3", True),
        ("restart", "kafka-1", False),
        ("restart", "kafka-2", False),
        ("restart", "kafka-3", False),
    ]
    assert {a.servers for a in first.actions} == {servers(1, 2, 3, 4)}
    assert first.actions[1].gate == (2, 3, 4)
    assert [a.host for a in second.actions] == [
        "kafka-5",
        *(f"kafka-{i}" for i in (1, 2, 3, 4)),
        *(f"kafka-{i}" for i in (1, 2, 3, 4)),
    ]
    assert {a.servers for a in second.actions} == {servers(1, 2, 3, 4, 5)}
    assert plan.hosts == {f"kafka-{i}" for i in range(1, 6)}


def test_1_to_3_starts_one_new_server_restarts_the_standalone_then_starts_the_other():
    plan = plan_ensemble_change(cluster(3, {1, 2, 3}), steady(3, {1}))
    assert plan.describe() == ["step 1: 1 -> 3 servers (+server.2, +server.3)"]
    (step,) = plan.steps
    # kafka-2 alone is no quorum: not waited for. kafka-1 (the data) restarts with no gate.
    assert kinds(step.actions) == [
        ("start", "kafka-2", False),
        ("restart", "kafka-1", False),
        ("start", "kafka-3", True),
    ]
    assert step.actions[1].gate == ()
    assert {a.size for a in step.actions} == {3}


def test_1_to_5_leaves_standalone_to_three_then_adds_one_at_a_time():
    plan = plan_ensemble_change(cluster(5, {1, 2, 3, 4, 5}), steady(5, {1}))
    assert [len(s.after) for s in plan.steps] == [3, 4, 5]


def test_a_new_server_with_old_data_may_join_a_quorum_but_not_a_standalone_server():
    def with_old_data(states: dict) -> dict:
        states["kafka-2"]["dirs"]["zookeeper"][ZK_DATA] = {"exists": True, "files": 4}
        return states

    grown = plan_ensemble_change(cluster(4, {1, 2, 3, 4}), with_old_data(steady(4, {1, 3, 4})))
    assert grown.problems == ()  # the running leader syncs it (TRUNC or SNAP)
    refused = plan_ensemble_change(cluster(3, {1, 2, 3}), with_old_data(steady(3, {1})))
    assert [(p.where, p.field) for p in refused.problems] == [("kafka-2", "zookeeper")]
    assert f"{ZK_DATA}/version-2 aside" in refused.problems[0].message
    assert refused.steps == ()


# --- shrinking -----------------------------------------------------------------------------


def test_5_to_3_rolls_the_remaining_servers_then_retires_the_removed_one_highest_first():
    plan = plan_ensemble_change(cluster(5, {1, 2, 3}), steady(5, {1, 2, 3, 4, 5}))
    assert plan.describe() == [
        "step 1: 5 -> 4 servers (-server.5)",
        "step 2: 4 -> 3 servers (-server.4)",
    ]
    first = plan.steps[0]
    assert [a.kind for a in first.actions] == ["hand-off"] + ["restart"] * 8 + ["retire"]
    # If it leads, the leaving server hands the lead to one the others still list.
    assert first.actions[0] == Action(
        "hand-off", "kafka-5", 5, servers(1, 2, 3, 4, 5), gate=(1, 2, 3, 4)
    )
    assert first.actions[-1] == Action("retire", "kafka-5", 5)
    # The removed server still serves while the others roll: it is part of their gate.
    assert first.actions[1].gate == (2, 3, 4, 5)
    assert {a.servers for a in first.actions[1:-1]} == {servers(1, 2, 3, 4)}


def test_3_to_1_stops_one_restarts_the_stayer_standalone_then_stops_the_other():
    # Not through two servers: a server restarted onto a list of two cannot rejoin.
    plan = plan_ensemble_change(cluster(3, {1}), steady(3, {1, 2, 3}))
    assert plan.describe() == ["step 1: 3 -> 1 servers (-server.2, -server.3)"]
    (step,) = plan.steps
    assert [(a.kind, a.host) for a in step.actions] == [
        ("retire", "kafka-3"),
        ("restart", "kafka-1"),
        ("retire", "kafka-2"),
    ]
    assert step.actions[1].size == 1


def test_5_to_1_shrinks_to_3_one_at_a_time_then_to_standalone():
    plan = plan_ensemble_change(cluster(5, {1}), steady(5, {1, 2, 3, 4, 5}))
    assert [len(s.after) for s in plan.steps] == [4, 3, 1]


def test_an_ensemble_of_two_is_refused_unless_it_comes_from_one():
    refused = plan_ensemble_change(cluster(3, {1, 2}), steady(3, {1, 2, 3}))
    assert refused.steps == ()
    assert "list of two" in refused.problems[0].message
    grown = plan_ensemble_change(cluster(2, {1, 2}), steady(2, {1}))
    assert grown.problems == () and grown.describe() == ["step 1: 1 -> 2 servers (+server.2)"]


def test_moving_the_single_server_adds_the_new_one_before_removing_the_old():
    plan = plan_ensemble_change(cluster(2, {2}), steady(2, {1}))
    assert plan.describe() == [
        "step 1: 1 -> 2 servers (+server.2)",
        "step 2: 2 -> 1 servers (-server.1)",
    ]


# --- the safety of every plan ----------------------------------------------------------------


def majority(n: int) -> int:
    return n // 2 + 1


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (set(a), set(b))
        for a, b in itertools.product(
            [{1}, {1, 2, 3}, {1, 2, 3, 4, 5}, {2, 3, 4}, {1, 5}], repeat=2
        )
    ],
)
def test_every_step_keeps_old_and_new_quorums_intersecting(before, after):
    configs = path({z: address(z) for z in before}, {z: address(z) for z in after})
    assert set(configs[-1]) == after
    refused = two_server_problems(cluster(5, after), configs)
    for old, new in itertools.pairwise(configs):
        union = set(old) | set(new)
        if len(old) == 1 or len(new) == 1:
            # To or from standalone: the one server restarts whatever the other servers do.
            assert len(union) <= 3
            continue
        if len(new) == 2:
            assert refused  # never run
            continue
        assert len(union) - len(set(old) & set(new)) == 1  # one server per step
        assert majority(len(old)) + majority(len(new)) > len(union)


# --- resuming --------------------------------------------------------------------------------


def test_an_interrupted_step_is_run_again_from_the_older_list():
    # kafka-4 started and kafka-1 restarted with the 4-server list; 2 and 3 did not yet.
    four = {1, 2, 3, 4}
    states = running(5, {1: four, 2: {1, 2, 3}, 3: {1, 2, 3}, 4: four})
    plan = plan_ensemble_change(cluster(5, {1, 2, 3, 4, 5}), states)
    assert plan.problems == ()
    assert plan.describe()[0] == "step 1: 3 -> 4 servers (+server.4)"
    assert len(plan.steps) == 2


def test_a_finished_step_is_not_run_again():
    four = {1, 2, 3, 4}
    plan = plan_ensemble_change(cluster(5, {1, 2, 3, 4, 5}), steady(5, four))
    assert plan.describe() == ["step 1: 4 -> 5 servers (+server.5)"]


def test_a_step_interrupted_before_its_last_restart_is_finished_before_the_next():
    # Every zoo.cfg lists 1..4, but server 3 (the leader, restarted last) was not restarted
    # after its file was written: it still runs 1..3. The next step must wait for it.
    four = {1, 2, 3, 4}
    states = steady(5, four)
    states["kafka-3"]["zookeeper"]["stale"] = True
    plan = plan_ensemble_change(cluster(5, {1, 2, 3, 4, 5}), states)
    assert plan.describe() == [
        "step 1: finish an interrupted step: restart server(s) [3] onto their zoo.cfg",
        "step 2: 4 -> 5 servers (+server.5)",
    ]
    first = plan.steps[0].actions
    assert kinds(first) == [("restart", "kafka-3", True), ("restart", "kafka-3", False)]
    assert first[0].servers == servers(1, 2, 3, 4) and first[0].gate == (1, 2, 4)


def test_a_stale_server_of_a_finished_change_is_the_roll_s_not_a_step():
    # The inventory's list runs everywhere: the usual drift check restarts server 3.
    states = steady(5, {1, 2, 3, 4, 5})
    states["kafka-3"]["zookeeper"]["stale"] = True
    assert plan_ensemble_change(cluster(5, {1, 2, 3, 4, 5}), states).steps == ()


def test_the_live_state_tells_a_zoo_cfg_written_after_the_server_started(tmp_path):
    from facts.live import FUNCTIONS

    cfg, started = tmp_path / "zoo.cfg", tmp_path / "started"
    functions = FUNCTIONS.replace("/run/kafkaform-zookeeper/started", str(started))

    def probe() -> bool:
        script = f"{functions}\nzk_live {cfg}"
        out = subprocess.run(["sh", "-c", script], capture_output=True, text=True).stdout
        return build_state(out.splitlines())["zookeeper"]["stale"]

    cfg.write_text("server.1=a:2888:3888\n")
    started.write_text("digest\n")  # the server started after its file was written
    os.utime(cfg, (1_000, 1_000))
    assert probe() is False
    os.utime(cfg, None)  # written again afterwards
    os.utime(started, (2_000, 2_000))
    assert probe() is True
    started.unlink()  # not running under a kafkaform unit: nothing to tell
    assert probe() is False


# --- refused ---------------------------------------------------------------------------------


def test_lists_that_are_not_one_step_apart_are_refused():
    states = running(5, {1: {1, 2, 3}, 2: {1, 2, 3}, 3: {1, 2, 3, 4, 5}})
    plan = plan_ensemble_change(cluster(5, {1, 2, 3, 4, 5}), states)
    assert plan.steps == ()
    assert [(p.where, p.field) for p in plan.problems] == [("kafka-1", "zookeeper")]
    assert "not one step of a membership change" in plan.problems[0].message
    assert "kafka-3: server.1=" in plan.problems[0].message


def test_a_change_needs_every_server_host_in_the_run():
    states = steady(5, {1, 2, 3})
    del states["kafka-2"]
    plan = plan_ensemble_change(cluster(5, {1, 2, 3, 4}), states)
    assert [(p.where, p.field) for p in plan.problems] == [("kafka-2", "zookeeper")]
    assert "--limit" in plan.problems[0].message


def test_a_running_server_with_no_host_in_the_inventory_is_refused():
    plan = plan_ensemble_change(cluster(3, {1, 2}), steady(3, {1, 2, 4}))
    assert any("server.4=10.0.0.14:2888:3888 runs" in p.message for p in plan.problems)


def test_a_removed_host_whose_zkid_went_to_another_host_is_refused():
    # kafka-3 still runs server 3 while the inventory gives zkid 3 to kafka-4.
    base = cluster(4, {1, 2})
    hosts = [(n.name, dict(n.data)) for n in base.nodes]
    hosts[3][1].update(zookeeper=True, zkid=3)
    plan = plan_ensemble_change(Cluster.from_hosts(hosts), steady(4, {1, 2, 3}))
    assert [(p.where, p.field) for p in plan.problems] == [("kafka-3", "zookeeper")]
    assert "one id, two servers" in plan.problems[0].message
