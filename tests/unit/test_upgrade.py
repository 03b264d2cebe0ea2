"""The upgrade's phase from the hosts' facts (kafkaform.upgrade), resumed at any point."""

from __future__ import annotations

from typing import Any

import pytest

from facts.live import build_state
from kafkaform.cluster import Cluster
from kafkaform.upgrade import (
    PROTOCOL_KEY,
    Phase,
    downgrade_problems,
    pinned_properties,
    plan_upgrade,
    upgrade_problems,
)
from kafkaform.validation import releases
from tests.unit.livestates import deployed, output

OLD, NEW = "3.8.1", "3.9.2"


def cluster(version: str, nodes: int = 3, ensemble: int = 3, **settings: Any) -> Cluster:
    hosts = []
    for i in range(1, nodes + 1):
        data: dict[str, Any] = {"kafkaid": i, "kafka_version": version, **settings}
        if i <= ensemble:
            data.update(zookeeper=True, zkid=i)
        hosts.append((f"kafka-{i}", data))
    return Cluster.from_hosts(hosts)


def host(index: int, zookeeper: str | None, kafka: str | None, pin: str | None = None) -> dict:
    """A deployed host whose ZooKeeper and broker processes run these versions (None: the
    service does not run), with ``pin`` in its live server.properties."""
    lines = deployed(index, zookeeper=zookeeper is not None, kafka=kafka is not None)
    for service, version in (("zookeeper", zookeeper), ("kafka", kafka)):
        if version:
            lines.append(f"running\t{service}\tkafka_2.13-{version}")
    if pin:
        lines.append(f"server.properties\t/etc/kafka/server.properties\t{PROTOCOL_KEY}={pin}")
    return build_state(lines)


def hosts(*versions: tuple[str, str, str | None]) -> dict[str, dict]:
    """One (zookeeper, kafka, pin) per host kafka-1, kafka-2, ..."""
    return {f"kafka-{i}": host(i, *v) for i, v in enumerate(versions, 1)}


def test_the_fact_reads_the_distribution_a_service_runs():
    state = host(1, OLD, NEW)
    assert state["services"]["zookeeper"]["distribution"] == f"kafka_2.13-{OLD}"
    assert state["services"]["kafka"]["distribution"] == f"kafka_2.13-{NEW}"
    assert build_state(output())["services"]["kafka"]["distribution"] is None


def test_fresh_hosts_have_nothing_to_upgrade():
    fresh = {f"kafka-{i}": build_state(output()) for i in (1, 2, 3)}
    plan = plan_upgrade(cluster(NEW), fresh)
    assert (plan.phase, plan.pin) == (Phase.NONE, None)


def test_a_cluster_on_the_configured_version_is_done():
    plan = plan_upgrade(cluster(NEW), hosts(*[(NEW, NEW, None)] * 3))
    assert (plan.phase, plan.pin, plan.behind) == (Phase.DONE, None, ())


def test_a_new_minor_version_starts_phase_1_holding_the_running_protocol():
    plan = plan_upgrade(cluster(NEW), hosts(*[(OLD, OLD, None)] * 3))
    assert (plan.phase, plan.pin) == (Phase.PHASE_1, "3.8")
    assert len(plan.behind) == 6  # every ZooKeeper server and broker
    assert "phase 2" in plan.describe()


@pytest.mark.parametrize(
    "states",
    [
        # Stopped after kafka-1's ZooKeeper server restarted, before its broker.
        hosts((NEW, OLD, "3.8"), (OLD, OLD, None), (OLD, OLD, None)),
        # Stopped after two hosts; the third's files were written, its restart never ran.
        hosts((NEW, NEW, "3.8"), (NEW, NEW, "3.8"), (OLD, OLD, "3.8")),
        # Only the last ZooKeeper server is left.
        hosts((NEW, NEW, "3.8"), (NEW, NEW, "3.8"), (OLD, NEW, "3.8")),
    ],
)
def test_an_interrupted_phase_1_resumes_with_the_same_pin(states):
    plan = plan_upgrade(cluster(NEW), states)
    assert (plan.phase, plan.pin) == (Phase.PHASE_1, "3.8")


def test_phase_1_finished_means_phase_2_unpins():
    plan = plan_upgrade(cluster(NEW), hosts(*[(NEW, NEW, "3.8")] * 3))
    assert (plan.phase, plan.pin) == (Phase.PHASE_2, None)


def test_one_run_does_both_phases_unless_the_protocol_is_held():
    running_old = hosts(*[(OLD, OLD, None)] * 3)
    assert plan_upgrade(cluster(NEW), running_old).finishes_in_this_run
    held = plan_upgrade(cluster(NEW, kafka_upgrade_hold_protocol=True), running_old)
    assert (held.phase, held.pin, held.finishes_in_this_run) == (Phase.PHASE_1, "3.8", False)
    assert "kafka_upgrade_hold_protocol is True" in held.describe()
    own_pin = cluster(NEW, kafka_properties={PROTOCOL_KEY: "3.8"})
    assert not plan_upgrade(own_pin, running_old).finishes_in_this_run
    # A patch step, phase 2 and a finished upgrade have no second roll to queue.
    for versions in [("3.9.1", "3.9.1", None), (NEW, NEW, "3.8"), (NEW, NEW, None)]:
        assert not plan_upgrade(cluster(NEW), hosts(*[versions] * 3)).finishes_in_this_run


def test_a_held_protocol_stays_pinned_after_phase_1_until_the_hold_is_lifted():
    phase_1_done = hosts(*[(NEW, NEW, "3.8")] * 3)
    held = plan_upgrade(cluster(NEW, kafka_upgrade_hold_protocol=True), phase_1_done)
    assert (held.phase, held.pin) == (Phase.PHASE_2, "3.8")
    assert "Set it to False and run the deploy again" in held.describe()
    assert plan_upgrade(cluster(NEW), phase_1_done).pin is None


def test_the_hold_must_be_a_bool():
    node = cluster(NEW, kafka_upgrade_hold_protocol="yes").node("kafka-1")
    assert [(p.field, p.message) for p in releases.check_versions(node)] == [
        ("kafka_upgrade_hold_protocol", "must be True or False")
    ]


def test_an_interrupted_phase_2_resumes_phase_2():
    states = hosts((NEW, NEW, None), (NEW, NEW, "3.8"), (NEW, NEW, "3.8"))
    assert plan_upgrade(cluster(NEW), states).phase is Phase.PHASE_2


def test_a_patch_step_is_one_roll_with_no_pin():
    plan = plan_upgrade(cluster(NEW), hosts(*[("3.9.1", "3.9.1", None)] * 3))
    assert (plan.phase, plan.pin) == (Phase.PATCH, None)
    resumed = hosts((NEW, NEW, None), ("3.9.1", "3.9.1", None), ("3.9.1", "3.9.1", None))
    assert plan_upgrade(cluster(NEW), resumed).phase is Phase.PATCH


def test_a_service_whose_version_was_not_read_counts_as_behind():
    states = hosts(*[(NEW, NEW, None)] * 3)
    states["kafka-2"]["services"]["kafka"]["distribution"] = None
    plan = plan_upgrade(cluster(NEW), states)
    assert (plan.phase, plan.behind) == (Phase.PATCH, ("kafka-2 kafka",))


def test_a_zookeeper_only_host_is_rolled_in_phase_1():
    states = hosts((OLD, OLD, None), (OLD, OLD, None))
    states["zk-3"] = build_state(
        deployed(3, kafka=False) + [f"running\tzookeeper\tkafka_2.13-{OLD}"]
    )
    base = Cluster.from_hosts(
        [(n.name, dict(n.data)) for n in cluster(NEW, nodes=2, ensemble=2).nodes]
        + [("zk-3", {"zookeeper": True, "zkid": 3, "kafka_version": NEW})]
    )
    assert "zk-3 zookeeper" in plan_upgrade(base, states).behind


def test_rolling_back_during_phase_1_is_a_plain_roll_to_the_old_binaries():
    states = hosts((NEW, NEW, "3.8"), (OLD, OLD, None), (OLD, OLD, None))
    plan = plan_upgrade(cluster(OLD), states)
    assert (plan.phase, plan.pin) == (Phase.PATCH, None)
    assert downgrade_problems(cluster(OLD), states) == []


def test_a_downgrade_below_the_running_protocol_is_refused_naming_host_and_why():
    states = hosts((NEW, NEW, None), (NEW, NEW, "3.8"), (NEW, NEW, "3.8"))
    problems = downgrade_problems(cluster(OLD), states)
    assert [(p.where, p.field) for p in problems] == [("kafka-1", "kafka_version")]
    assert "3.9" in problems[0].message and f"Kafka {NEW} with no {PROTOCOL_KEY}" in (
        problems[0].message
    )


def test_a_pinned_newer_protocol_is_named_in_the_refusal():
    states = hosts(*[(NEW, NEW, "3.9")] * 3)
    problems = downgrade_problems(cluster(OLD), states)
    assert len(problems) == 3 and f"{PROTOCOL_KEY}=3.9 in its server.properties" in (
        problems[0].message
    )


def test_a_patch_downgrade_keeps_the_protocol_and_is_allowed():
    assert downgrade_problems(cluster("3.9.1"), hosts(*[(NEW, NEW, None)] * 3)) == []


def test_a_limited_run_during_an_upgrade_is_refused():
    states = hosts((NEW, NEW, "3.8"), (NEW, NEW, "3.8"), (OLD, OLD, None))
    del states["kafka-3"]  # --limit kafka-1 --limit kafka-2: would look like phase 2
    problems = upgrade_problems(cluster(NEW), states)
    assert [(p.where, p.field) for p in problems] == [("kafka-3", "--limit")]


def test_a_limited_run_with_no_upgrade_is_allowed():
    states = hosts(*[(NEW, NEW, None)] * 3)
    del states["kafka-3"]
    assert upgrade_problems(cluster(NEW), states) == []


def test_the_pin_goes_into_server_properties_during_phase_1_only():
    properties = {"broker.id": "1"}
    phase_1 = plan_upgrade(cluster(NEW), hosts(*[(OLD, OLD, None)] * 3))
    assert pinned_properties(properties, phase_1, "kafka-1")[PROTOCOL_KEY] == "3.8"
    phase_2 = plan_upgrade(cluster(NEW), hosts(*[(NEW, NEW, "3.8")] * 3))
    assert PROTOCOL_KEY not in pinned_properties(properties, phase_2, "kafka-1")


def test_an_operators_own_pin_wins_and_is_reported():
    base = cluster(NEW, kafka_properties={PROTOCOL_KEY: "3.7"})
    plan = plan_upgrade(base, hosts(*[(OLD, OLD, "3.7")] * 3))
    assert plan.pin == "3.7" and plan.operator_pins["kafka-1"] == "3.7"
    properties = base.broker_properties(base.node("kafka-1"))
    assert pinned_properties(properties, plan, "kafka-1")[PROTOCOL_KEY] == "3.7"
    assert "kafka-1: inter.broker.protocol.version=3.7 from kafka_properties" in plan.describe()


def pin_findings(value: object, version: str = NEW) -> list[str]:
    base = cluster(version, kafka_properties={PROTOCOL_KEY: value})
    return [f"{p.field}: {p.message}" for p in releases.check_versions(base.node("kafka-1"))]


def test_an_operators_pin_at_or_below_the_binaries_is_valid():
    assert pin_findings("3.8") == [] and pin_findings("3.9-IV0") == []


def test_an_operators_pin_above_the_binaries_or_malformed_is_refused_offline():
    assert pin_findings("3.9", version=OLD) == [
        f"kafka_properties['{PROTOCOL_KEY}']: 3.9 is newer than Kafka {OLD} speaks: pin it at "
        "3.8 or lower, or raise kafka_version"
    ]
    assert "not a protocol version" in pin_findings("latest")[0]


def test_mid_upgrade_a_version_not_read_is_refused_rather_than_guessed():
    # Phase 2 half done: were kafka-1's version taken for an old one, phase 1's pin would
    # send it back to protocol 3.8.
    states = hosts((NEW, NEW, None), (NEW, NEW, "3.8"), (NEW, NEW, "3.8"))
    states["kafka-1"]["services"]["zookeeper"]["distribution"] = None
    problems = upgrade_problems(cluster(NEW), states)
    assert [(p.where, p.field) for p in problems] == [("kafka-1", "zookeeper")]
    assert "could not be read" in problems[0].message


def test_outside_an_upgrade_a_version_not_read_is_no_problem():
    states = hosts(*[(NEW, NEW, None)] * 3)
    states["kafka-1"]["services"]["kafka"]["distribution"] = None
    assert upgrade_problems(cluster(NEW), states) == []


def test_an_exact_pinned_protocol_is_held_as_it_is():
    states = hosts((NEW, NEW, "3.7-IV1"), (OLD, OLD, "3.7-IV1"), (OLD, OLD, "3.7-IV1"))
    assert plan_upgrade(cluster(NEW), states).pin == "3.7-IV1"
