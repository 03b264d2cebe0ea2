"""Directories kafkaform creates, chowns or empties: absolute, of their own, shell-safe.

A data dir of "/" would chown the whole system to the service user and a box bake empties
``kafka_data_dirs`` and ``download_dir``: so system directories are refused, and no service's
directory may be, or lie inside, another's.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from kafkaform.cluster import Node
from kafkaform.settings import PATH_SETTINGS
from kafkaform.validation.problems import Problem
from kafkaform.validation.values import shown, unsafe_chars

# Conservative: what needs no quoting in a shell, a properties file or a systemd unit.
PATH_CHAR = re.compile(r"[A-Za-z0-9._/-]")
# Never a service's directory: the system's own trees.
SYSTEM_DIRS = frozenset(
    {
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/bin",
        "/usr/lib",
        "/usr/lib64",
        "/usr/local",
        "/usr/local/bin",
        "/usr/local/lib",
        "/usr/local/sbin",
        "/usr/sbin",
        "/usr/share",
        "/var",
        "/var/cache",
        "/var/lib",
        "/var/log",
        "/var/spool",
        "/var/tmp",
        "/etc/ssh",
        "/etc/systemd",
        "/etc/default",
    }
)
# Not even below these: kernel and device views, tmpfs emptied at boot, root's home.
FORBIDDEN_TREES = ("/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/boot", "/root")
# Directories of one owner may overlap each other; every other pair must not. ZooKeeper
# accepts its transaction log in (or as) its data directory; Kafka's data dirs are checked
# against each other separately (Kafka reads every sub-directory of a data dir as a partition).
OWNERS = {
    "zookeeper_data_dir": "zookeeper data",
    "zookeeper_datalog_dir": "zookeeper data",
}


def path_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a service directory, or None."""
    if not isinstance(value, str):
        return None  # value_types reports the type
    if not value.startswith("/"):
        return f"{shown('', value)} is not an absolute path"
    bad = unsafe_chars(value, PATH_CHAR)
    if bad:
        return (
            f"{shown('', value)} has characters unsafe in a shell or a properties file ({bad}): "
            "use letters, digits, '.', '_', '-' and '/'"
        )
    if any(part in (".", "..") for part in value.split("/")):
        return f"{shown('', value)} has a '.' or '..' component: write the real path"
    normal = posixpath.normpath(value)
    if normal in SYSTEM_DIRS:
        return f"{value} is a system directory: use a directory of its own, e.g. under /var/lib"
    for tree in FORBIDDEN_TREES:
        if normal.startswith(tree + "/"):
            return f"{value} is under {tree}, which is no place for a service's files"
    return None


def directories(node: Node) -> list[tuple[str, str]]:
    """(field, normalised path) of every well-formed directory setting of this host."""
    found = []
    for key in PATH_SETTINGS:
        value = node.settings[key]
        values = value if key == "kafka_data_dirs" and isinstance(value, list) else [value]
        for i, path in enumerate(values):
            field = f"{key}[{i}]" if key == "kafka_data_dirs" else key
            if isinstance(path, str) and path_problem(path) is None:
                found.append((field, posixpath.normpath(path)))
    return found


def check_paths(node: Node) -> list[Problem]:
    problems = []
    for key in PATH_SETTINGS:
        value = node.settings[key]
        if key == "kafka_data_dirs":
            if not isinstance(value, list):
                continue  # value_types
            if not value:
                problems.append(Problem(node.name, key, "needs one or more absolute paths"))
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    problems.append(
                        Problem(node.name, f"{key}[{i}]", f"expected a path, got {shown('', item)}")
                    )
                elif message := path_problem(item):
                    problems.append(Problem(node.name, f"{key}[{i}]", message))
        elif message := path_problem(value):
            problems.append(Problem(node.name, key, message))
    problems += overlaps(node)
    return problems


def overlaps(node: Node) -> list[Problem]:
    problems = []
    dirs = directories(node)
    for i, (field_a, a) in enumerate(dirs):
        for field_b, b in dirs[i + 1 :]:
            owner_a = OWNERS.get(field_a, field_a)
            owner_b = OWNERS.get(field_b, field_b)
            if owner_a == owner_b:
                continue
            if a == b:
                relation = f"both are {a}"
            elif a.startswith(b + "/") or b.startswith(a + "/"):
                inner, outer = (a, b) if len(a) > len(b) else (b, a)
                relation = f"{inner} is inside {outer}"
            else:
                continue
            problems.append(
                Problem(
                    node.name,
                    f"{field_a}, {field_b}",
                    f"{relation}: each service directory must be its own",
                )
            )
    return problems
