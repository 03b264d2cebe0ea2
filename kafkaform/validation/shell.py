"""Settings written into scripts, units and flag files on the hosts (sysctl, exporter flags,
labels, package names, sizes, the ZooKeeper chroot): their characters are restricted so no
value can end a quoted string, start a new line or be expanded on its way there."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kafkaform.cluster import Node
from kafkaform.validation.problems import Problem
from kafkaform.validation.values import is_int, shown, unsafe_chars

SYSCTL_KEY_RE = re.compile(r"^[a-z0-9_]+([./][A-Za-z0-9_-]+)+$")
# sysctl values may be several numbers ("4096 87380 16777216"): spaces, no line breaks.
SYSCTL_VALUE_RE = re.compile(r"^[A-Za-z0-9 ._:,/-]+$")
# A flag is one word inside ARGS="..." and in ExecStart: no whitespace, quotes, backslash,
# '%' (a systemd specifier) or '${'/'$name' (expanded by systemd). Regex flags keep ^ ( | ) $.
FLAG_CHAR = re.compile(r"[A-Za-z0-9._:/=+,@*^()|?$\[\]-]")
SYSTEMD_VARIABLE_RE = re.compile(r"\$[{A-Za-z_]")
# A Prometheus label value and part of file and rule names.
CLUSTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
PACKAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_:-]*$")
# Prometheus' retention size (B, KB, MB, GB, TB, PB, EB) and rsyslog's queue size (k, m, g).
SIZES = {
    "prometheus_retention_size": re.compile(r"^[1-9][0-9]*(B|KB|MB|GB|TB|PB|EB)$"),
    "log_queue_max_disk": re.compile(r"^[1-9][0-9]*[kmgKMG]?$"),
}
# A ZooKeeper path: "/", then names of letters, digits, '.', '_', '-' (no "." or ".." names).
CHROOT_RE = re.compile(r"^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$")


def check_sysctl(node: Node) -> list[Problem]:
    problems = []
    values = node.settings["sysctl"]
    if not isinstance(values, Mapping):
        return []  # value_types
    for key, value in values.items():
        field = f"sysctl[{key!r}]"
        if not (isinstance(key, str) and SYSCTL_KEY_RE.match(key)):
            problems.append(
                Problem(node.name, "sysctl", f"{shown('', key)} is not a kernel setting name")
            )
        elif isinstance(value, bool) or not (
            is_int(value)
            or isinstance(value, float)
            or (isinstance(value, str) and SYSCTL_VALUE_RE.match(value))
        ):
            problems.append(
                Problem(
                    node.name,
                    field,
                    f"{shown('', value)} is not a sysctl value (numbers, or words and numbers "
                    "separated by spaces)",
                )
            )
    return problems


def flag_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"expected a string, got {shown('', value)}"
    name = value.split("=", 1)[0]
    if not value.startswith("--"):
        return f"{shown(name, value)} is not a flag (flags start with '--')"
    bad = unsafe_chars(value, FLAG_CHAR)
    if bad:
        return f"{shown(name, value)} has characters a unit cannot pass through ({bad})"
    if SYSTEMD_VARIABLE_RE.search(value):
        return f"{shown(name, value)}: systemd would expand '$' followed by a name or '{{'"
    return None


def check_flags(node: Node) -> list[Problem]:
    flags = node.settings["node_exporter_flags"]
    if not isinstance(flags, list):
        return []  # value_types
    return [
        Problem(node.name, f"node_exporter_flags[{i}]", message)
        for i, flag in enumerate(flags)
        if (message := flag_problem(flag))
    ]


def check_words(node: Node) -> list[Problem]:
    """cluster_name, java_package, sizes and the chroot: one word each, of a known shape."""
    problems = []
    s = node.settings
    name = s["cluster_name"]
    if isinstance(name, str) and not CLUSTER_NAME_RE.match(name):
        problems.append(
            Problem(
                node.name,
                "cluster_name",
                f"{shown('', name)}: letters, digits, '.', '_' and '-' only, at most 63",
            )
        )
    package = s["java_package"]
    if isinstance(package, str) and not PACKAGE_RE.match(package):
        problems.append(
            Problem(node.name, "java_package", f"{shown('', package)} is not a package name")
        )
    for key, pattern in SIZES.items():
        value = s[key]
        if isinstance(value, str) and not pattern.match(value):
            example = "'20GB'" if key.startswith("prometheus") else "'2g'"
            problems.append(
                Problem(node.name, key, f"{shown('', value)} is not a size like {example}")
            )
    chroot = s["zookeeper_chroot"]
    if isinstance(chroot, str) and chroot and not CHROOT_RE.match(chroot):
        problems.append(
            Problem(
                node.name,
                "zookeeper_chroot",
                f"{shown('', chroot)} is not a ZooKeeper path like '/kafka' ('/' and names of "
                "letters, digits, '.', '_', '-'; no trailing '/')",
            )
        )
    return problems
