"""Topics as code: ``kafka_topics`` applied once per run, on one broker host, with Kafka's own
tools (TopicCommand, ConfigCommand, ReassignPartitionsCommand) on the broker's classpath.

The topics are described and planned (kafkaform.topics) when the step runs, after the brokers
were configured and rolled in this run, so a first deploy creates its topics too. On a cluster
that already runs, the same description and plan are made while the deploy is prepared: a plan
with an error (a decrease) stops the deploy before any host is changed.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import python

from deploys.tasks.roll import RollSession
from facts.topics import DescribeError, TopicsDescribed, parse_description
from kafkaform import programs, security
from kafkaform.cluster import Cluster, Node
from kafkaform.deploy_support import once_per_run
from kafkaform.reassignment import (  # REASSIGNMENT_DIR: where tests and operators look
    REASSIGNMENT_DIR,  # noqa: F401
    ReassignCommands,
    login_args,
    tool_command,
)
from kafkaform.topics import (
    Action,
    ActualTopic,
    AddPartitions,
    AlterConfigs,
    ClearThrottle,
    Create,
    Delete,
    Plan,
    Reassign,
    TopicPlanError,
    desired_topics,
    plan_topics,
)

# What the step prints on the deploy's stderr, before each action it runs and each note.
ACTION_PREFIX = "topics: "
NOTE_PREFIX = "topics, note: "


def describe_command(install: str, servers: str, config: str | None = None) -> str:
    return TopicsDescribed().command(
        tool=tool_command(install, "{main}"),
        topic_command=programs.TOPIC_COMMAND,
        config_command=programs.CONFIG_COMMAND,
        bootstrap=shlex.quote(servers),
        login=login_args("kafka-topics", config),
    )


def topic_pattern(name: str) -> str:
    """TopicCommand reads --topic of --alter and --delete as a regex: 'a.b' would match 'axb'."""
    return name.replace(".", "\\.")


def config_assignment(configs: Mapping[str, str]) -> str:
    """ConfigCommand's --add-config: a value with commas (a list) goes in brackets."""
    return ",".join(f"{k}=[{v}]" if "," in v else f"{k}={v}" for k, v in configs.items())


def action_commands(
    action: Action, install: str, servers: str, throttle: int, config: str | None = None
) -> list[str]:
    """The shell commands that carry out one planned action; ``throttle`` (bytes/s) limits
    the copying of a replication raise; ``config``: the client config that logs the tools
    in (a secured cluster)."""
    q = shlex.quote
    login = login_args("kafka-topics", config)  # ConfigCommand's option is the same
    topics = (
        f"{tool_command(install, programs.TOPIC_COMMAND)} --bootstrap-server {q(servers)}{login}"
    )
    if isinstance(action, Create):
        t = action.topic
        configs = "".join(
            f" --config {q(f'{k}={v}')}" for k, v in t.configs.items() if v is not None
        )
        return [
            f"{topics} --create --topic {q(t.name)} --partitions {t.partitions}"
            f" --replication-factor {t.replication_factor}{configs}"
        ]
    if isinstance(action, AddPartitions):
        return [
            f"{topics} --alter --topic {q(topic_pattern(action.name))} --partitions {action.wanted}"
        ]
    if isinstance(action, AlterConfigs):
        configs = tool_command(install, programs.CONFIG_COMMAND)
        parts = [
            f"{configs} --bootstrap-server {q(servers)}{login} --entity-type topics",
            f"--entity-name {q(action.name)} --alter",
        ]
        if action.set:
            parts.append(f"--add-config {q(config_assignment(action.set))}")
        if action.delete:
            parts.append(f"--delete-config {q(','.join(action.delete))}")
        return [" ".join(parts)]
    if isinstance(action, Reassign):
        reassign = ReassignCommands(install, servers, action.name, config=config)
        return [
            reassign.write(action.assignment),
            reassign.execute(throttle),
            reassign.wait(),
        ]
    if isinstance(action, ClearThrottle):
        # --verify of an assignment already in place finds it complete, and clears.
        reassign = ReassignCommands(install, servers, action.name, config=config)
        return [reassign.write(action.assignment), reassign.wait()]
    if isinstance(action, Delete):
        return [f"{topics} --delete --topic {q(topic_pattern(action.name))}"]
    raise TypeError(f"not a topic action: {action!r}")


def make_plan(cluster: Cluster, node: Node, actual: Mapping[str, ActualTopic]) -> Plan:
    desired = desired_topics(node.settings["kafka_topics"])
    ids = [b.kafkaid for b in cluster.brokers if b.kafkaid is not None]
    return plan_topics(desired, actual, ids)


def describe_on_host(
    install: str, servers: str, config: str | None = None
) -> dict[str, ActualTopic]:
    ok, output = host.run_shell_command(describe_command(install, servers, config))
    if not ok:
        raise PyinfraError(f"cannot describe the cluster's topics:\n{output.output}")
    try:
        return parse_description(output.output_lines)
    except DescribeError as error:
        raise PyinfraError(str(error)) from None


def apply_plan(cluster: Cluster, node: Node, install: str) -> None:
    """Run at execution time on one broker host: describe, plan, refuse or act."""
    servers = cluster.bootstrap_servers()
    config = security.tools_login(node.settings)
    plan = make_plan(cluster, node, describe_on_host(install, servers, config))
    throttle = node.settings["kafka_topics_reassign_throttle"]
    if plan.errors:
        raise PyinfraError(str(TopicPlanError(plan.errors, host.name, prepared=False)))
    for note in plan.notes:
        print(f"    {NOTE_PREFIX}{note}", file=sys.stderr, flush=True)
    for action in plan.actions:
        print(f"    {ACTION_PREFIX}{action}", file=sys.stderr, flush=True)
        for command in action_commands(action, install, servers, throttle, config):
            ok, output = host.run_shell_command(command)
            if not ok:
                raise PyinfraError(f"topics: {action} failed:\n{output.output}")


def refuse_plan_errors(cluster: Cluster, node: Node, installed: str) -> None:
    """While the deploy is prepared, on a live cluster: a plan with an error stops the deploy
    before anything changes (the tools of the running version, at ``installed``). A host that
    cannot describe the topics now (a new broker without Kafka yet) leaves the check to the
    step itself, which describes and plans again before it changes any topic."""

    def check() -> None:
        try:
            actual = host.get_fact(
                TopicsDescribed,
                tool=tool_command(installed, "{main}"),
                topic_command=programs.TOPIC_COMMAND,
                config_command=programs.CONFIG_COMMAND,
                bootstrap=shlex.quote(cluster.bootstrap_servers()),
                login=login_args("kafka-topics", security.tools_login(node.settings)),
            )
        except DescribeError as error:
            print(f"    topics: not checked before the run ({error})", file=sys.stderr)
            return
        plan = make_plan(cluster, node, actual)
        if plan.errors:
            raise PyinfraError(str(TopicPlanError(plan.errors, host.name, prepared=True)))

    once_per_run(("kafka_topics", "prepare"), check)


@deploy("Kafka topics")
def configure_topics(cluster: Cluster, node: Node, install: str, session: RollSession) -> None:
    """Queue the topics step on every broker; pyinfra runs it on the first one only."""
    if node.kafkaid is None or not node.settings["kafka_topics"]:
        return
    if session.controller is not None:  # the cluster runs now: check the plan first
        refuse_plan_errors(cluster, node, f"{node.settings['kafka_install_root']}/current")
    python.call(
        name="Apply kafka_topics (once, on one broker)",
        function=apply_plan,
        cluster=cluster,
        node=node,
        install=install,
        _run_once=True,
    )
