"""The topics step of a deploy against @fake hosts: described, planned and applied once, on
one broker, with Kafka's tools; a decrease stops the run before anything changes."""

from __future__ import annotations

import re

import pytest
from pyinfra.api.exceptions import PyinfraError

from facts.topics import CONFIGS_MARK, FAILED_MARK
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts, responses

# A deploy file with only the topics step (deploys/kafka.py calls it after the brokers).
DEPLOY = """
from pyinfra import host, inventory

from deploys.tasks.topics import configure_topics
from kafkaform.cluster import Cluster

cluster = Cluster.from_hosts((h.name, h.data.dict()) for h in inventory)
configure_topics(cluster, cluster.node(host.name), "/opt/kafka/kafka_2.13-3.9.2", SESSION)
"""
TOPICS = [
    {
        "name": "posts",
        "partitions": 6,
        "replication_factor": 3,
        "configs": {"min.insync.replicas": 2},
    },
    {"name": "pizza-order", "partitions": 12, "replication_factor": 3},
]
# What the tools describe: posts exists with 3 partitions on one replica each.
DESCRIBED = [
    "kafkaform-topics",
    *(
        f"\tTopic: posts\tPartition: {p}\tLeader: {p + 1}\tReplicas: {p + 1}\tIsr: {p + 1}"
        for p in range(3)
    ),
    CONFIGS_MARK,
]


def deploy_file(tmp_path, controller):
    path = tmp_path / "topics_deploy.py"
    path.write_text(
        f"from deploys.tasks.roll import RollSession\n"
        f"SESSION = RollSession(token='t', controller={controller!r})\n{DEPLOY}"
    )
    return str(path)


def hosts_with(described, topics=TOPICS):
    found = fake_hosts("debian12", 3, kafka_topics=topics)
    for _, data in found:
        data["fake_responses"] = responses("debian12", **{"echo kafkaform-topics": described})
    return found


def test_the_plan_runs_once_on_one_broker(tmp_path):
    run = run_deploy(hosts_with(DESCRIBED), deploy=deploy_file(tmp_path, 1))
    ran = [h for h in run.commands if "TopicCommand" in run.executed(h)]
    assert len(ran) == 1  # pyinfra's run_once: the first broker that reaches the step
    first = run.executed(ran[0])
    assert "--create --topic pizza-order --partitions 12 --replication-factor 3" in first
    assert "ReassignPartitionsCommand" in first and "--execute" in first
    assert "--alter --topic posts --partitions 6" in first
    assert "--entity-name posts --alter --add-config min.insync.replicas=2" in first
    # The raise runs before the new partitions, which then get three replicas too.
    assert first.index("--execute") < first.index("--partitions 6")
    # The live cluster was described once while the deploy was prepared (to refuse a
    # decrease early) and once more when the step ran.
    prepared = [c for h in run.prepared for c in run.prepared[h] if "kafkaform-topics" in c]
    assert len(prepared) == 1
    described = [c for h in run.commands for c in run.commands[h] if "kafkaform-topics" in c]
    assert len(described) == 2


def test_a_decrease_stops_the_deploy_before_any_operation(tmp_path):
    shrunk = [{**TOPICS[0], "partitions": 2, "replication_factor": 1}]
    with pytest.raises(PyinfraError) as refused:
        run_deploy(hosts_with(DESCRIBED, shrunk), deploy=deploy_file(tmp_path, 1))
    message = str(refused.value)
    assert message.startswith("refusing this deploy, nothing was changed; 1 change(s)")
    # The broker whose description showed it, and the inventory field.
    assert re.search(
        r"\n  - @fake/kafka-\d: kafka_topics\['posts'\]\.partitions: 3 partitions in the "
        "cluster, 2 in kafka_topics",
        message,
    ), message


def test_a_first_deploy_plans_when_the_step_runs(tmp_path):
    # No controller yet (nothing runs): nothing is described while the deploy is prepared.
    run = run_deploy(hosts_with([]), deploy=deploy_file(tmp_path, None))
    assert not any("kafkaform-topics" in c for h in run.prepared for c in run.prepared[h])
    assert sum("--create --topic posts" in run.executed(h) for h in run.commands) == 1


def test_no_topics_no_step(tmp_path):
    run = run_deploy(hosts_with(DESCRIBED, []), deploy=deploy_file(tmp_path, 1))
    assert all("TopicCommand" not in run.executed(h) for h in run.commands)


def test_a_host_that_cannot_describe_yet_leaves_the_check_to_the_step(tmp_path):
    failed = ["kafkaform-topics", "java: not found", FAILED_MARK, CONFIGS_MARK, FAILED_MARK]
    run = run_deploy(hosts_with(failed), deploy=deploy_file(tmp_path, 1))
    # Prepared without the check; the step itself failed on describing, and changed nothing.
    assert len(run.state.failed_hosts) == 1
    assert not any("--create" in run.executed(h) for h in run.commands)
