"""A replication raise is throttled (kafka_topics_reassign_throttle) and its throttle removed
by --verify, also when the run that started it was stopped before its --verify; how a
refused plan reads."""

from __future__ import annotations

import json

from deploys.tasks.topics import REASSIGNMENT_DIR, action_commands
from kafkaform.topics import (
    ActualTopic,
    AlterConfigs,
    ClearThrottle,
    Reassign,
    TopicSpec,
    plan_topics,
)
from kafkaform.validate import findings
from tests.unit.test_topics import hosts

THROTTLED = {
    "leader.replication.throttled.replicas": "0:1",
    "follower.replication.throttled.replicas": "0:2",
}


def throttle_findings(hosts_list):
    return [
        (p.where, p.message, p.warning)
        for p in findings(hosts_list)
        if p.field == "kafka_topics_reassign_throttle"
    ]


def test_the_throttle_defaults_to_50_mb_per_second_and_is_checked():
    assert throttle_findings(hosts()) == []
    zero = throttle_findings(hosts(kafka_topics_reassign_throttle=0))
    assert zero and {m for _, m, _ in zero} == {"0 must be 1 or more"}
    wrong = throttle_findings(hosts(kafka_topics_reassign_throttle="50MB"))
    assert wrong and all("expected int" in m and not w for _, m, w in wrong)
    low = throttle_findings(hosts(kafka_topics_reassign_throttle=500_000))
    assert low and all("never finishes" in m and w for _, m, w in low)


def test_every_broker_uses_the_same_throttle():
    mixed = hosts()
    mixed[1][1]["kafka_topics_reassign_throttle"] = 10_000_000
    found = [p for p in findings(mixed) if p.field == "kafka_topics_reassign_throttle"]
    assert found and not found[0].warning


def test_a_raise_is_throttled_and_keeps_the_assignment_it_replaces():
    action = Reassign("posts", 1, 3, {0: (1, 2, 3)})
    write, execute, wait = action_commands(action, "/k", "a:9092", 20_000_000)
    assert f"{REASSIGNMENT_DIR}/posts.json" in write
    assert f"{REASSIGNMENT_DIR}/posts.json --execute --throttle 20000000" in execute
    assert f"grep '^{{' | head -n 1 > {REASSIGNMENT_DIR}/posts.rollback.json" in execute
    assert "--verify" in wait and "--throttle" not in wait


def test_a_throttle_left_by_a_stopped_run_is_cleared_by_verifying_the_assignment_now():
    spec = TopicSpec("posts", 1, 3, {"retention.ms": "5"})
    left = ActualTopic("posts", {0: (1, 2, 3)}, {"retention.ms": "5", **THROTTLED})
    plan = plan_topics([spec], {"posts": left}, [1, 2, 3])
    assert plan.actions == [ClearThrottle("posts", {0: (1, 2, 3)})]
    assert plan.notes == []  # the throttle's configs are not reported as the operator's
    write, wait = action_commands(plan.actions[0], "/k", "a:9092", 20_000_000)
    document = json.loads(write.split("printf '%s\\n' ", 1)[1].split(" > ")[0].strip("'"))
    assert document["partitions"] == [{"topic": "posts", "partition": 0, "replicas": [1, 2, 3]}]
    assert "--verify" in wait and "--execute" not in wait


def test_no_clearing_while_a_reassignment_runs_or_when_this_run_raises_anyway():
    spec = TopicSpec("posts", 1, 3)
    running = ActualTopic("posts", {0: (1, 2, 3)}, THROTTLED, reassigning=True)
    assert plan_topics([spec], {"posts": running}, [1, 2, 3]).actions == []
    # A new raise's own --verify clears the throttle at its end.
    raising = ActualTopic("posts", {0: (1,)}, THROTTLED)
    plan = plan_topics([spec], {"posts": raising}, [1, 2, 3])
    assert [type(a) for a in plan.actions] == [Reassign]
    # A topic the inventory does not list is left alone, throttle and all.
    plan = plan_topics([], {"posts": ActualTopic("posts", {0: (1, 2, 3)}, THROTTLED)}, [1, 2, 3])
    assert plan.actions == []


def test_the_throttle_is_never_an_inventory_config():
    spec = TopicSpec("posts", 1, 3, {"retention.ms": "9"})
    left = ActualTopic("posts", {0: (1, 2, 3)}, {"retention.ms": "5", **THROTTLED})
    plan = plan_topics([spec], {"posts": left}, [1, 2, 3])
    assert plan.actions == [
        AlterConfigs("posts", {"retention.ms": "9"}),
        ClearThrottle("posts", {0: (1, 2, 3)}),
    ]


def test_a_plan_refused_when_the_step_runs_says_no_topic_changed():
    from kafkaform.topics import TopicPlanError

    errors = ["kafka_topics['posts'].partitions: 3 partitions in the cluster, 2 in kafka_topics"]
    prepared = str(TopicPlanError(errors, "kafka-1", prepared=True))
    assert prepared.startswith("refusing this deploy, nothing was changed; 1 change(s)")
    late = str(TopicPlanError(errors, "kafka-2", prepared=False))
    # The brokers may have been rolled by then: only the topics are untouched.
    assert late.startswith("kafka_topics not applied, no topic was changed; 1 change(s)")
    assert late.endswith(f"\n  - kafka-2: {errors[0]}")
