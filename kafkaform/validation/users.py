"""Service accounts: a portable name of kafkaform's own, never root or a system account."""

from __future__ import annotations

import re

from kafkaform.cluster import Node
from kafkaform.settings import SERVICE_USER_SETTINGS
from kafkaform.validation.problems import Problem
from kafkaform.validation.values import shown

# POSIX portable user names as useradd accepts them by default (and safe in any shell).
USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# Accounts of the system or of other software on these hosts: a service running as one of
# them could read or overwrite what that account owns (and chown would hand it our files).
SYSTEM_USERS = frozenset(
    {
        "root",
        "daemon",
        "bin",
        "sys",
        "sync",
        "games",
        "man",
        "lp",
        "mail",
        "news",
        "uucp",
        "proxy",
        "www-data",
        "backup",
        "list",
        "irc",
        "gnats",
        "nobody",
        "nfsnobody",
        "adm",
        "operator",
        "halt",
        "shutdown",
        "ftp",
        "sshd",
        "_apt",
        "messagebus",
        "dbus",
        "polkitd",
        "syslog",
        "systemd-network",
        "systemd-resolve",
        "systemd-timesync",
        "systemd-journal",
        "tss",
        "vagrant",
        # Other services kafkaform installs run as these.
        "prometheus",
        "node_exporter",
    }
)


def check_users(node: Node) -> list[Problem]:
    problems = []
    s = node.settings
    for key in SERVICE_USER_SETTINGS:
        user = s[key]
        if not isinstance(user, str):
            continue  # value_types
        if not USER_RE.match(user):
            problems.append(
                Problem(
                    node.name,
                    key,
                    f"{shown('', user)} is not a portable user name (lower-case letters, digits, "
                    "'_' and '-', starting with a letter or '_', at most 32)",
                )
            )
        elif user in SYSTEM_USERS or user.startswith("systemd-"):
            problems.append(
                Problem(
                    node.name,
                    key,
                    f"{user} is a system account: a service needs an account of its own",
                )
            )
    # One account for two services lets either rewrite the other's data and config.
    for i, a in enumerate(SERVICE_USER_SETTINGS):
        for b in SERVICE_USER_SETTINGS[i + 1 :]:
            if isinstance(s[a], str) and s[a] == s[b]:
                problems.append(
                    Problem(
                        node.name,
                        f"{a}, {b}",
                        f"both are {shown('', s[a])}: give each service its own account",
                    )
                )
    return problems
