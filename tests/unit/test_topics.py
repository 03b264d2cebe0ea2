"""Topics as code: validation of kafka_topics, the pure planner, the tools' commands and the
parsing of their description (kafkaform.topics, kafkaform.validation.topics,
deploys/tasks/topics.py, facts/topics.py)."""

from __future__ import annotations

import json

import pytest

from deploys.tasks.topics import action_commands, config_assignment, topic_pattern
from facts.topics import CONFIGS_MARK, FAILED_MARK, TOPICS_MARK, DescribeError, parse_description
from kafkaform.topics import (
    ActualTopic,
    AddPartitions,
    AlterConfigs,
    Create,
    Delete,
    Reassign,
    TopicSpec,
    config_text,
    plan_topics,
    replica_load,
)
from kafkaform.validate import check, findings

THROTTLE = 50_000_000


def hosts(**extra):
    return [
        (
            f"k{i}",
            {"ssh_hostname": f"10.0.0.{i}", "zookeeper": True, "zkid": i, "kafkaid": i, **extra},
        )
        for i in (1, 2, 3)
    ]


def topic_findings(topics, **extra):
    found = findings(hosts(kafka_topics=topics, **extra))
    return [(p.field, p.message, p.warning) for p in found if p.field.startswith("kafka_topics")]


POSTS = {
    "name": "posts",
    "partitions": 6,
    "replication_factor": 3,
    "configs": {"min.insync.replicas": 2},
}


# --- validation -----------------------------------------------------------------------------


def test_a_good_list_has_no_problem():
    assert (
        topic_findings(
            [
                POSTS,
                {
                    "name": "pizza-order",
                    "partitions": 12,
                    "replication_factor": 3,
                    "configs": {
                        "cleanup.policy": ["compact", "delete"],
                        "retention.ms": 604800000,
                        "preallocate": False,
                        "min.cleanable.dirty.ratio": 0.5,
                    },
                },
            ]
        )
        == []
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "cannot be empty"),
        (".", "not a legal topic name"),
        ("..", "not a legal topic name"),
        ("a" * 250, "250 characters: Kafka allows at most 249"),
        ("posts/v1", "letters, digits, '.', '_' and '-' only"),
        ("__consumer_offsets", "an internal topic"),
    ],
)
def test_topic_names_follow_kafkas_rules(name, message):
    found = topic_findings([{"name": name, "partitions": 1, "replication_factor": 3}])
    assert any(f.endswith(".name") and message in m for f, m, _ in found), found


def test_a_name_of_249_characters_is_legal():
    assert topic_findings([{"name": "a" * 249, "partitions": 1, "replication_factor": 3}]) == []


def test_duplicates_and_collisions_are_errors_a_mixed_name_warns():
    found = topic_findings([POSTS, POSTS, {**POSTS, "name": "a.b_c"}, {**POSTS, "name": "a_b_c"}])
    assert ("kafka_topics", "'posts' is listed 2 times", False) in found
    assert any("'a.b_c' and 'a_b_c' collide" in m and not w for _, m, w in found)
    assert any("'a.b_c' mixes '.' and '_'" in m and w for _, m, w in found)
    assert not any("'a_b_c' mixes" in m for _, m, _ in found)


def test_entry_shape_counts_and_keys_are_checked():
    found = topic_findings(
        [
            {
                "name": "t",
                "partitions": 0,
                "replication_factor": True,
                "delete": "yes",
                "replicaton_factor": 3,
            },
            {"partitions": 1},
            "posts",
        ]
    )
    fields = {f: m for f, m, _ in found}
    assert "must be a whole number of 1 or more, got 0" in fields["kafka_topics['t'].partitions"]
    assert "got True" in fields["kafka_topics['t'].replication_factor"]
    assert "must be True or False" in fields["kafka_topics['t'].delete"]
    assert "did you mean 'replication_factor'" in fields["kafka_topics['t'].replicaton_factor"]
    assert fields["kafka_topics[1].name"] == "missing"
    assert "each topic is a dict" in fields["kafka_topics[2]"]


def test_a_list_is_required():
    assert any(p.field == "kafka_topics" for p in check(hosts(kafka_topics={"posts": 3})))


@pytest.mark.parametrize(
    ("configs", "message"),
    [
        ({"retention.msec": 1}, "not a Kafka 3.9 topic config (did you mean 'retention.ms'?)"),
        ({"retention.ms": "7d"}, "expected a whole number, got '7d'"),
        ({"cleanup.policy": "compact,remove"}, "'remove' is not one of compact, delete"),
        ({"compression.type": "brotli"}, "'brotli' is not one of"),
        ({"preallocate": "yes"}, "expected True or False"),
        ({"min.cleanable.dirty.ratio": 1.5}, "expected a number from 0 to 1"),
        ({"min.insync.replicas": 0}, "must be 1 or more"),
        ({"leader.replication.throttled.replicas": "*"}, "a reassignment's throttle"),
    ],
)
def test_config_keys_and_values_are_kafkas(configs, message):
    found = topic_findings([{**POSTS, "configs": configs}])
    assert any(message in m for _, m, _ in found), found


def test_none_removes_an_override_and_is_valid():
    assert topic_findings([{**POSTS, "configs": {"retention.ms": None}}]) == []


def test_replication_factor_cannot_exceed_the_brokers():
    found = topic_findings([{**POSTS, "replication_factor": 4}])
    assert (
        "kafka_topics['posts'].replication_factor",
        "4 replicas cannot be placed on 3 broker(s)",
        False,
    ) in found


def test_a_topic_marked_for_deletion_needs_no_room():
    assert topic_findings([{**POSTS, "replication_factor": 4, "delete": True}]) == []


def test_min_isr_above_the_factor_is_an_error_equal_warns():
    above = topic_findings(
        [{**POSTS, "replication_factor": 2, "configs": {"min.insync.replicas": 3}}]
    )
    assert any("above the replication factor 2" in m and not w for _, m, w in above)
    equal = topic_findings([{**POSTS, "configs": {"min.insync.replicas": "3"}}])
    assert any("equals the replication factor" in m and w for _, m, w in equal)


def test_the_brokers_min_isr_counts_when_the_topic_sets_none():
    found = topic_findings([{"name": "t", "partitions": 1, "replication_factor": 1}])
    assert (
        "kafka_topics['t'].replication_factor",
        "2 (the brokers' default) is above the replication factor 1: every write with "
        "acks=all would be refused",
        False,
    ) in found
    lowered = topic_findings(
        [{"name": "t", "partitions": 1, "replication_factor": 1}],
        kafka_properties={"min.insync.replicas": 1},
    )
    assert [m for _, m, w in lowered if not w] == []


def test_the_list_must_be_the_same_on_every_broker():
    data = hosts()
    data[0][1]["kafka_topics"] = [POSTS]
    assert any(
        p.field == "kafka_topics" and "must be the same on every broker" in p.message
        for p in check(data)
    )


# --- planner --------------------------------------------------------------------------------


def spec(name="posts", partitions=3, rf=3, configs=None, delete=False):
    return TopicSpec(name, partitions, rf, configs or {}, delete)


def actual(name="posts", assignment=None, configs=None, reassigning=False):
    return ActualTopic(
        name, assignment or {0: (1, 2, 3), 1: (2, 3, 1), 2: (3, 1, 2)}, configs or {}, reassigning
    )


def test_missing_topics_are_created_unlisted_ones_left_alone():
    plan = plan_topics([spec()], {"other": actual("other")}, [1, 2, 3])
    assert plan.actions == [Create(spec())]
    assert plan.errors == []
    assert plan.notes == ["1 topic(s) not in kafka_topics left alone: other"]


def test_a_converged_cluster_needs_nothing():
    plan = plan_topics(
        [spec(configs={"retention.ms": "1000"})],
        {"posts": actual(configs={"retention.ms": "1000"})},
        [1, 2, 3],
    )
    assert plan.actions == [] and plan.errors == [] and plan.notes == []


def test_partitions_only_grow():
    plan = plan_topics([spec(partitions=6)], {"posts": actual()}, [1, 2, 3])
    assert plan.actions == [AddPartitions("posts", 3, 6)]


def test_a_decrease_is_an_error_and_nothing_runs():
    plan = plan_topics(
        [spec(partitions=2, rf=2), spec("new")],
        {"posts": actual()},
        [1, 2, 3],
    )
    assert plan.actions == []
    assert len(plan.errors) == 2
    assert "3 partitions in the cluster, 2 in kafka_topics" in plan.errors[0]
    assert "replication factor 3 in the cluster, 2 in kafka_topics" in plan.errors[1]


def test_configs_set_only_the_keys_listed_and_name_the_others():
    plan = plan_topics(
        [spec(configs={"retention.ms": "2000", "segment.ms": None, "cleanup.policy": "delete"})],
        {
            "posts": actual(
                configs={
                    "retention.ms": "1000",
                    "segment.ms": "10",
                    "cleanup.policy": "delete",
                    "retention.bytes": "5",
                }
            )
        },
        [1, 2, 3],
    )
    assert plan.actions == [AlterConfigs("posts", {"retention.ms": "2000"}, ("segment.ms",))]
    assert plan.notes == ["posts: configs not in kafka_topics left as they are: retention.bytes"]


def test_config_values_are_compared_as_kafka_writes_them():
    assert config_text(True) == "true"
    assert config_text(["compact", "delete"]) == "compact,delete"
    assert config_text(604800000) == "604800000"
    assert config_text(None) is None


def test_raising_the_replication_factor_keeps_replicas_and_spreads_new_ones():
    one = {p: (1 + p % 3,) for p in range(6)}
    plan = plan_topics([spec(partitions=6, rf=3)], {"posts": actual(assignment=one)}, [1, 2, 3])
    (action,) = plan.actions
    assert isinstance(action, Reassign) and (action.current, action.wanted) == (1, 3)
    for p, replicas in action.assignment.items():
        assert replicas[0] == one[p][0]  # the preferred leader stays
        assert sorted(replicas) == [1, 2, 3]


def test_new_replicas_go_to_the_least_loaded_brokers():
    # Broker 4 holds nothing: new replicas go there until it holds as many as the others.
    two = {0: (1, 2), 1: (2, 3), 2: (3, 1)}
    plan = plan_topics([spec(rf=3)], {"posts": actual(assignment=two)}, [1, 2, 3, 4])
    (action,) = plan.actions
    new = [action.assignment[p][2] for p in range(3)]
    assert new == [4, 4, 2]
    load = replica_load([ActualTopic("posts", action.assignment)], [1, 2, 3, 4])
    assert max(load.values()) - min(load.values()) <= 1
    six = {p: (1 + p % 6,) for p in range(12)}
    plan = plan_topics(
        [spec(partitions=12, rf=2)], {"posts": actual(assignment=six)}, [1, 2, 3, 4, 5, 6]
    )
    load = replica_load([ActualTopic("posts", plan.actions[0].assignment)], [1, 2, 3, 4, 5, 6])
    assert set(load.values()) == {4}


def test_raise_comes_before_new_partitions_and_configs_last():
    one = {0: (1,), 1: (2,)}
    plan = plan_topics(
        [spec(partitions=4, rf=3, configs={"min.insync.replicas": "2"}), spec("fresh")],
        {"posts": actual(assignment=one)},
        [1, 2, 3],
    )
    kinds = [type(a) for a in plan.actions]
    assert kinds == [Create, Reassign, AddPartitions, AlterConfigs]


def test_a_reassignment_in_progress_defers_counts_but_not_configs():
    plan = plan_topics(
        [spec(partitions=6, configs={"retention.ms": "1"})],
        {"posts": actual(reassigning=True)},
        [1, 2, 3],
    )
    assert plan.actions == [AlterConfigs("posts", {"retention.ms": "1"})]
    assert "reassignment is in progress" in plan.notes[0]


def test_deletion_only_when_marked():
    plan = plan_topics(
        [spec(delete=True), spec("gone", delete=True)], {"posts": actual()}, [1, 2, 3]
    )
    assert plan.actions == [Delete("posts")]


def test_a_new_name_colliding_with_an_existing_topic_is_an_error():
    plan = plan_topics([spec("a.b")], {"a_b": actual("a_b")}, [1, 2, 3])
    assert plan.actions == [] and "collides with the existing topic a_b" in plan.errors[0]


# --- commands and description ---------------------------------------------------------------


def test_commands_run_kafkas_tools_on_the_brokers_classpath():
    (create,) = action_commands(
        Create(spec("p.v1", configs={"cleanup.policy": "compact,delete"})),
        "/opt/kafka/k",
        "a:9092,b:9092",
        THROTTLE,
    )
    assert "-cp '/opt/kafka/k/libs/*' org.apache.kafka.tools.TopicCommand" in create
    assert "--create --topic p.v1 --partitions 3 --replication-factor 3" in create
    assert "--config cleanup.policy=compact,delete" in create
    (grow,) = action_commands(AddPartitions("p.v1", 3, 6), "/k", "a:9092", THROTTLE)
    assert r"--alter --topic 'p\.v1' --partitions 6" in grow  # --topic is a regex there
    (alter,) = action_commands(
        AlterConfigs(
            "p.v1", {"cleanup.policy": "compact,delete", "retention.ms": "5"}, ("segment.ms",)
        ),
        "/k",
        "a:9092",
        THROTTLE,
    )
    assert "kafka.admin.ConfigCommand" in alter
    assert (
        "--entity-name p.v1 --alter --add-config 'cleanup.policy=[compact,delete],retention.ms=5'"
        in alter
    )
    assert "--delete-config segment.ms" in alter
    (delete,) = action_commands(Delete("p.v1"), "/k", "a:9092", THROTTLE)
    assert r"--delete --topic 'p\.v1'" in delete


def test_a_reassignment_is_written_executed_and_waited_for():
    action = Reassign("posts", 1, 2, {1: (2, 3), 0: (1, 2)})
    write, execute, wait = action_commands(action, "/k", "a:9092", THROTTLE)
    document = json.loads(write.split("printf '%s\\n' ", 1)[1].split(" > ")[0].strip("'"))
    assert document == {
        "version": 1,
        "partitions": [
            {"topic": "posts", "partition": 0, "replicas": [1, 2]},
            {"topic": "posts", "partition": 1, "replicas": [2, 3]},
        ],
    }
    assert "org.apache.kafka.tools.reassign.ReassignPartitionsCommand" in execute
    assert "--execute --throttle 50000000" in execute and "--verify" in wait
    assert "in progress" in wait


def test_topic_patterns_and_config_assignments():
    assert topic_pattern("a.b-c_d") == r"a\.b-c_d"
    assert config_assignment({"a": "1", "b": "x,y"}) == "a=1,b=[x,y]"


DESCRIBED = [
    TOPICS_MARK,
    "Topic: posts\tTopicId: abc\tPartitionCount: 2\tReplicationFactor: 3\t"
    "Configs: min.insync.replicas=2,retention.ms=1000",
    # As Kafka 3.9.2's TopicCommand and ConfigCommand print them.
    "\tTopic: posts\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3\t"
    "Elr: N/A\tLastKnownElr: N/A",
    "\tTopic: posts\tPartition: 1\tLeader: 2\tReplicas: 2,3,1\tIsr: 2,3,1\t"
    "Elr: N/A\tLastKnownElr: N/A",
    "Topic: pizza-order\tTopicId: def\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: ",
    "\tTopic: pizza-order\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2\t"
    "Adding Replicas: 3\tRemoving Replicas: \tElr: \tLastKnownElr: ",
    CONFIGS_MARK,
    "Dynamic configs for topic pizza-order are:",
    "Dynamic configs for topic posts are:",
    "  retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000, "
    "STATIC_BROKER_CONFIG:log.retention.hours=168}",
    "  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:"
    "cleanup.policy=compact,delete, DEFAULT_CONFIG:log.cleanup.policy=delete}",
]


def test_the_description_gives_assignments_own_configs_and_reassignments():
    topics = parse_description(DESCRIBED)
    assert topics["posts"] == ActualTopic(
        "posts",
        {0: (1, 2, 3), 1: (2, 3, 1)},
        {"retention.ms": "1000", "cleanup.policy": "compact,delete"},
        False,
    )
    # min.insync.replicas above is the brokers' static value, not the topic's own.
    assert topics["pizza-order"].reassigning and topics["pizza-order"].configs == {}


def test_a_failed_description_fails_rather_than_planning_from_half():
    with pytest.raises(DescribeError):
        parse_description([TOPICS_MARK, "Error: timed out", FAILED_MARK, CONFIGS_MARK])


def test_the_example_inventory_creates_its_topics_on_an_empty_cluster(monkeypatch):
    from kafkaform.topics import desired_topics
    from kafkaform.validate import load_inventory
    from tests.unit.deployrun import REPO

    monkeypatch.chdir(REPO)
    inventory = load_inventory("inventories/prod.py")
    wanted = desired_topics(inventory.get_host("kafka-1").data.get("kafka_topics"))
    plan = plan_topics(wanted, {}, [1, 2, 3])
    assert [str(a) for a in plan.actions] == [
        "create posts: 6 partition(s), replication factor 3, min.insync.replicas=2, "
        "retention.ms=604800000",
        "create pizza-order: 12 partition(s), replication factor 3, min.insync.replicas=2, "
        "retention.ms=259200000",
    ]
