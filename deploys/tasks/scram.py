"""STAND-IN (access part) for the kafka part's deploys/tasks/scram.py: SCRAM credentials set
from a 0600 file on the broker host (the record of the password set), never from a command
line. The integrator keeps the kafka part's module; deploys/tasks/access.py uses three names
of it: put_scram_users(cluster, node, users), set_from_record(cluster, node, user) and
forget_record(node, user).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from pyinfra.operations import server

from deploys.tasks.host_files import put_secret
from deploys.tasks.host_tools import client_config_path
from kafkaform import programs
from kafkaform.access import SCRAM_MECHANISM
from kafkaform.access_tools import admin_servers
from kafkaform.cluster import Cluster, Node
from kafkaform.reassignment import tool_command

# ConfigCommand prints a credential it cannot parse, password and all: its output is shown
# with every password=... hidden.
HIDE_PASSWORDS = r"sed -E 's/password=[^],[:space:]]*/password=<hidden>/g' >&2"


def record(node: Node, user: str) -> str:
    """The file on the host that holds ``user``'s password as ConfigCommand reads it."""
    return f"{node.settings['kafka_config_dir']}/scram/{user}.properties"


def set_from_record(cluster: Cluster, node: Node, user: str) -> str:
    """The shell command that sets ``user``'s credential from its record (output shown
    with the password hidden, if it fails)."""
    q = shlex.quote
    install = f"{node.settings['kafka_install_root']}/current"
    command = (
        f"{tool_command(install, programs.CONFIG_COMMAND)}"
        f" --bootstrap-server {q(admin_servers(cluster))}"
        f" --command-config {q(client_config_path(node))}"
        f" --alter --entity-type users --entity-name {q(user)}"
        f" --add-config-file {q(record(node, user))}"
    )
    return f'out=$({command} 2>&1) || {{ printf "%s\\n" "$out" | {HIDE_PASSWORDS}; exit 1; }}'


def forget_record(node: Node, user: str) -> str:
    """The shell command that removes a deleted user's record (a later user of that name
    is set afresh)."""
    return f"rm -f {shlex.quote(record(node, user))}"


def put_scram_users(cluster: Cluster, node: Node, users: Mapping[str, str]) -> None:
    """On ``node``, a broker host: each user's SCRAM-SHA-512 credential set to its password
    (``users``: name -> password) when the password is new or changed (its record differs);
    no operation at all when every record is as wanted."""
    for name, password in sorted(users.items()):
        upload = put_secret(
            f"SCRAM password of {name}",
            record(node, name),
            f"{SCRAM_MECHANISM}=password={password}\n",
        )
        if upload is not None:  # else: set before, with this password
            server.shell(
                name=f"Set the SCRAM credential of {name}",
                commands=[set_from_record(cluster, node, name)],
            )
