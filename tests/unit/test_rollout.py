"""The live security rollout's plan: from the hosts' live configs to the step a run renders,
forward and back, resumed after an interruption, held while clients move; and what a staged
run renders on each side."""

from __future__ import annotations

import pytest

from kafkaform import rollout, security
from kafkaform.cluster import Cluster, Node
from kafkaform.ensemble_config import static_properties
from kafkaform.rollout import STEPS, plan_rollout


def hosts(**data) -> list:
    return [
        (
            f"k{i}",
            {"ssh_hostname": f"10.1.0.{i}", "kafkaid": i, "zkid": i, "zookeeper": True, **data},
        )
        for i in (1, 2, 3)
    ]


def cluster_of(tmp_path, **data) -> Cluster:
    return Cluster.from_hosts(hosts(pki_dir=str(tmp_path), **data))


def live(cluster: Cluster, steps: dict[str, int]) -> dict:
    """Each host's live configs as the run that rendered its step wrote them."""
    states = {}
    for name, index in steps.items():
        keys = STEPS[index].keys()
        staged = Cluster(tuple(Node(n.name, n.data, {**n.settings, **keys}) for n in cluster.nodes))
        node = staged.node(name)
        states[name] = {
            "zookeeper": {"config": static_properties(staged, node)},
            "kafka": {"config": staged.broker_properties(node)},
        }
    return states


def at(cluster: Cluster, index: int) -> dict:
    return live(cluster, {n.name: index for n in cluster.nodes})


def test_a_new_cluster_renders_its_level_from_the_start(tmp_path):
    cluster = cluster_of(tmp_path, security="sasl_ssl")
    plan = plan_rollout(cluster, {}, complete=True)
    assert (plan.render, plan.under_way, plan.staged) == (5, False, False)
    assert plan.apply(cluster) is cluster
    assert plan.describe() == ""


def test_a_plaintext_cluster_that_stays_plaintext_is_no_rollout(tmp_path):
    cluster = cluster_of(tmp_path)
    plan = plan_rollout(cluster, at(cluster, 0), complete=True)
    assert (plan.render, plan.under_way, plan.staged, plan.problems) == (0, False, False, ())


def test_each_run_takes_the_next_step_until_the_level_is_reached(tmp_path):
    plain = cluster_of(tmp_path)
    target = cluster_of(tmp_path, security="sasl_ssl")
    seen = []
    for index in range(len(STEPS) - 1):
        plan = plan_rollout(target, at(plain, index), complete=True)
        assert plan.problems == ()
        assert (plan.done, plan.render) == (index, index + 1)
        assert f"step {index + 1}/5 ({STEPS[index + 1].name})" in plan.describe()
        seen.append(plan.render)
    assert seen == [1, 2, 3, 4, 5]
    done = plan_rollout(target, at(plain, 5), complete=True)
    assert (done.render, done.under_way, done.staged) == (5, False, False)


def test_an_interrupted_step_is_finished_by_the_next_run(tmp_path):
    plain = cluster_of(tmp_path)
    target = cluster_of(tmp_path, security="sasl_ssl")
    plan = plan_rollout(target, live(plain, {"k1": 4, "k2": 3, "k3": 3}), complete=True)
    assert (plan.done, plan.render) == (3, 4)
    # The same mix with the target turned back: the step is undone instead.
    back = plan_rollout(plain, live(plain, {"k1": 4, "k2": 3, "k3": 3}), complete=True)
    assert (back.done, back.render) == (4, 3)


def test_the_way_back_walks_the_same_steps_down(tmp_path):
    plain = cluster_of(tmp_path)
    renders = [plan_rollout(plain, at(plain, i), complete=True).render for i in range(5, 0, -1)]
    assert renders == [4, 3, 2, 1, 0]
    assert "back towards step 0" in plan_rollout(plain, at(plain, 3), complete=True).describe()


def test_the_hold_keeps_plaintext_while_clients_move(tmp_path):
    plain = cluster_of(tmp_path)
    held = cluster_of(tmp_path, security="sasl_ssl", kafka_plaintext_listener=True)
    plan = plan_rollout(held, at(plain, 4), complete=True)
    assert (plan.render, plan.under_way, plan.staged) == (4, False, True)
    assert "holding at step 4/5" in plan.describe()
    node = plan.apply(held).nodes[0]
    props = plan.apply(held).broker_properties(node)
    assert props["listeners"].startswith("PLAINTEXT://")
    assert "User:ANONYMOUS" in props["super.users"]
    # A cluster that reached the end goes back to the hold the same way.
    assert plan_rollout(held, at(plain, 5), complete=True).render == 4


def test_a_staged_run_renders_each_side_at_its_step(tmp_path):
    plain = cluster_of(tmp_path)
    target = cluster_of(tmp_path, security="sasl_ssl")
    plan = plan_rollout(target, at(plain, 2), complete=True)  # renders step 3
    staged = plan.apply(target)
    node = staged.node("k1")
    props = staged.broker_properties(node)
    assert security.live_stage(props) == "secure_listeners_added"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert node.settings["zookeeper_clients_secure"] is True
    # kafkaform's clients still use PLAINTEXT until every broker has CLIENT.
    assert security.client_port(node.settings) == 9092


def test_hosts_more_than_one_step_apart_are_refused_by_name(tmp_path):
    plain = cluster_of(tmp_path)
    target = cluster_of(tmp_path, security="sasl_ssl")
    plan = plan_rollout(target, live(plain, {"k1": 4, "k2": 2, "k3": 2}), complete=True)
    assert plan.problems and "k1" in plan.problems[0].message
    assert plan.problems[0].field == "security"


def test_a_step_is_not_taken_by_a_limited_run(tmp_path):
    plain = cluster_of(tmp_path)
    target = cluster_of(tmp_path, security="sasl_ssl")
    plan = plan_rollout(target, at(plain, 1), complete=False)
    assert plan.problems and "--limit" in plan.problems[0].message


def test_a_hand_edited_listener_list_names_the_host(tmp_path):
    plain = cluster_of(tmp_path)
    states = at(plain, 0)
    states["k2"]["kafka"]["config"]["listeners"] = "PLAINTEXT://:9092,CLIENT://:9095"
    plan = plan_rollout(cluster_of(tmp_path, security="sasl_ssl"), states, complete=True)
    assert [(p.where, p.field) for p in plan.problems] == [("k2", "security")]


@pytest.mark.parametrize("index", range(len(STEPS)))
def test_every_step_reads_back_as_itself(tmp_path, index):
    plain = cluster_of(tmp_path)
    position = rollout.position(plain.node("k1"), at(plain, index)["k1"])
    assert position.at_or_beyond(STEPS[index]) and position.at_or_below(STEPS[index])


def test_a_roll_stopped_half_way_is_finished_before_the_next_step(tmp_path):
    # Every file at step 3, two brokers still run step 2's process: step 3 again.
    plain = cluster_of(tmp_path)
    target = cluster_of(tmp_path, security="sasl_ssl")
    behind = {"k2": ["kafka"], "k3": ["kafka"]}
    plan = plan_rollout(target, at(plain, 3), complete=True, behind=behind)
    assert (plan.render, plan.under_way, plan.staged) == (3, True, True)
    assert "renders step 3/5 (kafka_secure_listeners) again" in plan.describe()
    assert "k2 (kafka), k3 (kafka)" in plan.describe()
    # The same at the target's own step: rendered as the level's end, nothing staged.
    last = plan_rollout(target, at(plain, 5), complete=True, behind={"k1": ["zookeeper"]})
    assert (last.render, last.under_way, last.staged) == (5, True, False)


def test_a_finished_step_left_by_a_target_turned_back_is_rendered_as_that_step(tmp_path):
    # At step 5, killed mid-roll, then the inventory says plaintext: step 5 is finished
    # first, with each host's settings saying so (the level's end would be plaintext).
    plain = cluster_of(tmp_path)
    plan = plan_rollout(plain, at(plain, 5), complete=True, behind={"k1": ["kafka"]})
    assert (plan.render, plan.staged) == (5, True)
    assert plan.apply(plain).node("k1").settings["kafka_security_stage"] == "sasl_ssl"


def test_the_way_back_is_refused_where_members_bind_the_plain_port_to_loopback(tmp_path):
    plain = cluster_of(tmp_path)
    states = at(plain, 3)
    for state in states.values():  # an ensemble deployed secured: ZooKeeper's member lines
        state["zookeeper"]["dynamic"] = {
            "version": "100000000",
            "config": {"server.1": "10.1.0.1:2888:3888:participant;127.0.0.1:2181"},
        }
    plan = plan_rollout(plain, states, complete=True)
    assert plan.problems and "127.0.0.1" in plan.problems[0].message
    # Forward, or back to steps whose brokers use the TLS port, it is no obstacle.
    target = cluster_of(tmp_path, security="sasl_ssl")
    assert plan_rollout(target, states, complete=True).problems == ()


def test_a_host_firewall_keeps_the_secured_ports_open_at_every_step_but_plaintexts(tmp_path):
    from kafkaform.validation.network import listening_ports

    plain = cluster_of(tmp_path)
    for index, step in enumerate(STEPS):
        keys = step.keys()
        node = Cluster(tuple(Node(n.name, n.data, {**n.settings, **keys}) for n in plain.nodes))
        fields = [field for field, _ in listening_ports(node.node("k1"))]
        assert ("zookeeper_secure_client_port" in fields) is (index > 0), step.name
