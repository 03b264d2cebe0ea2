"""The rebalance planner: an even spread of replicas and preferred leaders over the brokers that
stay, with no move that is not needed for it, nothing left on a drained broker, and an empty
plan for a cluster that is already spread (so a re-run changes nothing)."""

from __future__ import annotations

import random

import pytest

from kafkaform.rebalance import (
    Move,
    fair_bounds,
    leader_counts,
    plan_rebalance,
    replica_counts,
    stranded_replica_problems,
)


def cluster(topics: dict[str, tuple[int, int]], brokers: int = 3) -> dict:
    """Round-robin assignment as Kafka makes it: topic -> (partitions, replication factor)."""
    assignment = {}
    for topic, (partitions, rf) in topics.items():
        for p in range(partitions):
            assignment[(topic, p)] = tuple((p + i) % brokers + 1 for i in range(rf))
    return assignment


LAB = {"orders": (12, 3), "__consumer_offsets": (50, 3), "audit": (1, 3), "logs": (3, 1)}
LAB_REPLICAS = sum(partitions * rf for partitions, rf in LAB.values())


def spread(assignment: dict, brokers: list[int], topic: str | None = None) -> tuple[int, int]:
    part = {p: r for p, r in assignment.items() if topic is None or p[0] == topic}
    counts = replica_counts(part, brokers)
    return min(counts.values()), max(counts.values())


def test_fair_bounds():
    assert fair_bounds(186, 5) == (37, 38)
    assert fair_bounds(10, 5) == (2, 2)
    assert fair_bounds(0, 3) == (0, 0)


def test_three_to_five_spreads_every_topic_and_the_totals_evenly():
    before = cluster(LAB)
    plan = plan_rebalance(before, [1, 2, 3, 4, 5])
    assert plan.errors == []
    brokers = [1, 2, 3, 4, 5]
    for topic, (partitions, rf) in LAB.items():
        low, high = spread(plan.after, brokers, topic)
        assert (low, high) == fair_bounds(partitions * rf, 5), topic
    assert spread(plan.after, brokers) == fair_bounds(LAB_REPLICAS, 5)
    # Each partition keeps its replication factor and never holds a broker twice.
    for partition, replicas in plan.after.items():
        assert len(replicas) == len(set(replicas)) == len(before[partition])


def test_only_what_the_spread_needs_is_copied():
    before = cluster(LAB)
    plan = plan_rebalance(before, [1, 2, 3, 4, 5])
    now = replica_counts(before, [1, 2, 3, 4, 5])
    then = replica_counts(plan.after)
    # The new brokers only receive; each old one only gives up what it holds above its share.
    assert plan.replicas_copied == sum(then[b] for b in (4, 5))
    assert plan.replicas_copied == sum(now[b] - then[b] for b in (1, 2, 3))
    assert all(set(m.added) <= {4, 5} for m in plan.moves)


def test_a_balanced_cluster_gives_an_empty_plan_and_a_rerun_changes_nothing():
    first = plan_rebalance(cluster(LAB), [1, 2, 3, 4, 5])
    again = plan_rebalance(first.after, [1, 2, 3, 4, 5])
    assert again.moves == [] and again.summary() == "balanced: nothing to move"
    assert plan_rebalance(cluster(LAB), [1, 2, 3]).moves == []


def test_preferred_leaders_are_spread_per_topic():
    plan = plan_rebalance(cluster({"orders": (10, 3)}), [1, 2, 3, 4, 5])
    assert sorted(leader_counts(plan.after, [1, 2, 3, 4, 5]).values()) == [2, 2, 2, 2, 2]


def test_leader_order_alone_is_a_move_that_copies_nothing():
    # Spread replicas, every preferred leader on broker 1: reordering fixes it.
    before = {("t", p): (1, 2, 3) for p in range(3)}
    plan = plan_rebalance(before, [1, 2, 3])
    assert plan.replicas_copied == 0
    assert sorted(leader_counts(plan.after).values()) == [1, 1, 1]
    assert all(str(m).endswith("(leader order only)") for m in plan.moves)
    assert "only change their preferred leader" in plan.summary()


def test_a_drain_leaves_nothing_on_the_broker_and_the_rest_spread():
    balanced = plan_rebalance(cluster(LAB), [1, 2, 3, 4, 5]).after
    plan = plan_rebalance(balanced, [1, 2, 3, 4])
    assert plan.emptied == (5,)
    assert replica_counts(plan.after)[5] == 0
    assert spread(plan.after, [1, 2, 3, 4]) == fair_bounds(LAB_REPLICAS, 4)
    # Every replica broker 5 held is copied once; the rest only to keep the others even.
    held = replica_counts(balanced)[5]
    assert held <= plan.replicas_copied <= held + 10
    assert plan_rebalance(plan.after, [1, 2, 3, 4]).moves == []


def test_replicas_on_a_broker_no_longer_listed_are_moved_too():
    plan = plan_rebalance(cluster({"t": (4, 2)}, brokers=4), [1, 2, 3])
    assert plan.emptied == (4,)
    assert 4 not in replica_counts(plan.after)


def test_a_replication_factor_above_the_brokers_left_is_an_error():
    plan = plan_rebalance(cluster({"t": (2, 3)}), [1, 2])
    assert plan.moves == []
    assert len(plan.errors) == 2
    assert plan.errors[0].startswith("t-0 has 3 replicas and only 2 broker(s) would hold")
    assert plan_rebalance(cluster({"t": (1, 1)}), []).errors == [
        "no broker would be left to hold the partitions"
    ]


def test_plan_text():
    plan = plan_rebalance(cluster({"t": (2, 1)}, brokers=1), [1, 2])
    assert plan.table() == [
        "broker 1: 2 replica(s), 2 leader(s) -> 1 replica(s), 1 leader(s)",
        "broker 2: 0 replica(s), 0 leader(s) -> 1 replica(s), 1 leader(s)",
    ]
    assert [str(m) for m in plan.moves] == ["t-0: 1 -> 2 (copy to 2)"]
    assert Move(("t", 1), (1, 2), (3, 1)).added == (3,)


@pytest.mark.parametrize("seed", range(25))
def test_random_clusters_end_spread_and_stable(seed):
    rng = random.Random(seed)
    old = list(range(1, rng.randint(2, 6) + 1))
    topics = {f"t{i}": (rng.randint(1, 40), rng.randint(1, len(old))) for i in range(5)}
    before = {
        (t, p): tuple(rng.sample(old, rf))
        for t, (parts, rf) in topics.items()
        for p in range(parts)
    }
    new = sorted(set(old[1:]) | set(range(len(old) + 1, len(old) + rng.randint(1, 4))))
    plan = plan_rebalance(before, new)
    if max(rf for _, rf in topics.values()) > len(new):
        assert plan.errors
        return
    assert not plan.errors
    for topic, (partitions, rf) in topics.items():
        assert spread(plan.after, new, topic) == fair_bounds(partitions * rf, len(new))
    low, high = spread(plan.after, new)
    assert high <= -(-sum(p * r for p, r in topics.values()) // len(new)) + 1
    assert plan_rebalance(plan.after, new).moves == []
    # A staying broker never gives up a replica unless it holds more than its share.
    counts = replica_counts(before, new)
    after = replica_counts(plan.after, new)
    for broker in new:
        assert after[broker] >= min(counts[broker], low)


def test_a_removed_broker_with_replicas_is_a_problem_naming_the_drain():
    assignment = {("t", 0): (1, 5), ("t", 1): (5, 2), ("u", 0): (1, 2)}
    problems = stranded_replica_problems(assignment, [1, 2, 3, 4], {5: "10.0.0.15:9092"})
    assert len(problems) == 1
    problem = problems[0]
    assert problem.where == "broker 5 (10.0.0.15:9092)"
    assert problem.field == "kafkaid"
    assert "holds 2 replica(s) of 1 topic(s) (t)" in problem.message
    assert "kafkaform drain INVENTORY --broker 5" in problem.message
    gone = stranded_replica_problems(assignment, [1, 2], {})
    assert [p.where for p in gone] == ["broker 5 (not registered)"]
    assert stranded_replica_problems(assignment, [1, 2, 5], {}) == []
    # A broker that holds nothing may go: registered or not, it strands nothing.
    assert stranded_replica_problems({("t", 0): (1,)}, [1], {7: "x:9092"}) == []


# --- racks (broker.rack, read from the brokers' registrations) -------------------------------

RACKS = {1: "a", 2: "b", 3: "c", 4: "a", 5: "c", 6: "b"}


def rack_spreads(assignment: dict, racks: dict) -> list[int]:
    return [len({racks.get(b) for b in replicas}) for replicas in assignment.values()]


def test_growing_three_racks_to_six_brokers_keeps_every_partition_on_three_racks():
    before = cluster({"orders": (12, 3), "logs": (6, 2)}, brokers=3)  # on brokers 1, 2, 3
    assert set(rack_spreads(before, RACKS)) == {2, 3}
    plan = plan_rebalance(before, [1, 2, 3, 4, 5, 6], RACKS)
    assert not plan.errors
    assert rack_spreads(plan.after, RACKS) == rack_spreads(before, RACKS)
    assert spread(plan.after, [1, 2, 3, 4, 5, 6]) == (8, 8)  # 48 replicas, 6 brokers
    # Blind to racks, the same growth puts some partitions on two racks only.
    blind = plan_rebalance(before, [1, 2, 3, 4, 5, 6])
    assert min(rack_spreads(blind.after, RACKS)[:12]) < 3


def test_a_drained_broker_s_replicas_go_to_its_rack_when_only_it_keeps_the_spread():
    before = {("t", p): (1, 2, 3) for p in range(4)}
    plan = plan_rebalance(before, [1, 2, 4, 5, 6], RACKS)  # broker 3 (rack c) drained
    assert all(3 not in r for r in plan.after.values())
    assert all(5 in r for r in plan.after.values())  # the other broker of rack c
    assert set(rack_spreads(plan.after, RACKS)) == {3}


@pytest.mark.parametrize("seed", range(15))
def test_random_racked_clusters_never_lose_a_rack(seed):
    rng = random.Random(seed)
    brokers = list(range(1, rng.randint(3, 8) + 1))
    racks = {b: rng.choice("abc") for b in brokers}
    old = brokers[: rng.randint(2, len(brokers))]
    before = {
        (f"t{t}", p): tuple(rng.sample(old, rng.randint(1, len(old))))
        for t in range(3)
        for p in range(rng.randint(1, 20))
    }
    plan = plan_rebalance(before, brokers, racks)
    assert not plan.errors
    rack_count = len(set(racks.values()))
    for partition, replicas in before.items():
        was = len({racks[b] for b in replicas})
        now = len({racks[b] for b in plan.after[partition]})
        assert now >= min(was, rack_count, len(replicas)), (partition, replicas)
    assert plan_rebalance(plan.after, brokers, racks).moves == []
