"""Users and ACLs as code: ``kafka_users`` and ``kafka_acls`` applied once per run, on one
broker host, with Kafka's own tools (AclCommand, ConfigCommand) and the host's admin client
config. Only on a secured cluster (security: sasl_ssl); the validator refuses both lists on
a plaintext one.

The passwords are read on the control machine while the deploy is prepared (an unset variable
or an unreadable file stops the deploy before any host changes) and set in ZooKeeper from a
0600 file removed right after (deploys/tasks/scram.py), never on a command line. On a cluster
that already runs, the bindings and SCRAM users are described and planned while the deploy
is prepared too: an empty plan queues no operation (a second run changes nothing); otherwise
the step describes and plans again when it runs, after the brokers were configured and rolled
in this run, so a first deploy, or the one that turns security on, gets its users and ACLs.
"""

from __future__ import annotations

import sys

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import python

from deploys.tasks.host_tools import client_config_path
from deploys.tasks.roll import RollSession
from deploys.tasks.scram import put_scram_users
from facts.access import AccessDescribed
from kafkaform import secrets, security
from kafkaform.access import (
    AccessPlan,
    Action,
    Binding,
    RestoreUser,
    desired_bindings,
    desired_users,
    password_problem,
    plan_access,
)
from kafkaform.access_tools import (
    ACLS_MARK,
    FAILED_MARK,
    USERS_MARK,
    AccessTools,
    DescribeError,
    parse_description,
)
from kafkaform.cluster import Cluster, Node
from kafkaform.reassignment import tool_command
from kafkaform.zookeeper_security import shell_jvm_options

# What the step prints on the deploy's stderr, before each action it runs and each note.
ACTION_PREFIX = "access: "
NOTE_PREFIX = "access, note: "
MARKS = (ACLS_MARK, USERS_MARK, FAILED_MARK)


def applier(cluster: Cluster) -> Node:
    """The broker host that applies the cluster's users and ACLs: the same one every run, so
    that the users' password files (the record of what was set) live on one host."""
    return cluster.brokers[0]


def tools(cluster: Cluster, node: Node, install: str) -> AccessTools:
    return AccessTools(
        tool_command(install, "{main}"),
        cluster.bootstrap_servers(),
        client_config_path(node),
    )


def read_passwords(node: Node) -> dict[str, str]:
    """Each kafka_users user's password, from the variable or file its entry names."""
    passwords = {}
    for user in node.settings["kafka_users"]:
        where = f"{node.name}: kafka_users[{user['name']!r}]"
        try:
            password = secrets.named(user, where)
        except secrets.SecretError as error:
            raise PyinfraError(str(error)) from None
        problem = password_problem(password)
        if problem:
            raise PyinfraError(f"{where}: {problem}")
        passwords[user["name"]] = password
    return passwords


def make_plan(
    node: Node, bindings: frozenset[Binding], scram_users: dict[str, tuple[str, ...]]
) -> AccessPlan:
    s = node.settings
    return plan_access(
        desired_bindings(s["kafka_acls"]), bindings, desired_users(s["kafka_users"]), scram_users
    )


def action_commands(tool: AccessTools, action: Action) -> list[str]:
    """Kafka's tools for an action. A listed user without a credential was set by this run
    already (put_scram_users sets every missing or outdated one first): still missing, the
    step stops rather than pass over it."""
    if isinstance(action, RestoreUser):
        raise PyinfraError(
            f"access: {action}: its SCRAM credential is missing after this run set it"
        )
    return tool.commands(action)


def apply_plan(cluster: Cluster, node: Node, install: str) -> None:
    """Run at execution time on the applying broker host: describe, plan, act."""
    tool = tools(cluster, node, install)
    ok, output = host.run_shell_command(tool.describe())
    if not ok:
        raise PyinfraError(f"cannot list the cluster's ACLs and users:\n{output.output}")
    try:
        plan = make_plan(node, *parse_description(output.output_lines))
    except DescribeError as error:
        raise PyinfraError(str(error)) from None
    for action in plan.actions:
        print(f"    {ACTION_PREFIX}{action}", file=sys.stderr, flush=True)
        for command in action_commands(tool, action):
            ok, output = host.run_shell_command(command)
            if not ok:
                raise PyinfraError(f"access: {action} failed:\n{output.output}")


def prepared_plan(cluster: Cluster, node: Node, installed: str) -> AccessPlan | None:
    """The plan of a running cluster, made while the deploy is prepared (the tools of the
    running version, at ``installed``); None when it cannot be described now (security is
    being turned on, a broker without Kafka yet): the step then describes when it runs."""
    try:
        bindings, users = host.get_fact(
            AccessDescribed,
            tool=tool_command(installed, "{main}"),
            servers=cluster.bootstrap_servers(),
            command_config=client_config_path(node),
        )
    except DescribeError as error:
        lines = [line.strip() for line in str(error).splitlines()[1:]]
        said = [line for line in lines if line and line not in MARKS]
        reason = said[-1] if said else "no output"
        print(f"    {NOTE_PREFIX}not described before the run: {reason}", file=sys.stderr)
        return None
    return make_plan(node, bindings, users)


@deploy("Kafka users and ACLs")
def configure_access(cluster: Cluster, node: Node, install: str, session: RollSession) -> None:
    """On the applying broker of a secured cluster: the users' passwords, then the step that
    grants and revokes ACLs and deletes the users no longer listed."""
    if not security.stage_of(node.settings).authorizer or node.kafkaid is None:
        return
    if node.name != applier(cluster).name:
        return
    put_scram_users(cluster, node, read_passwords(node), install, shell_jvm_options(node.settings))
    if session.controller is not None:  # the cluster runs now
        plan = prepared_plan(cluster, node, f"{node.settings['kafka_install_root']}/current")
        if plan is not None and not plan:
            return  # as listed already: no operation
    python.call(
        name="Apply kafka_acls; delete SCRAM users not in kafka_users (on one broker)",
        function=apply_plan,
        cluster=cluster,
        node=node,
        install=install,
    )
