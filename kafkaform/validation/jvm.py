"""JVM settings: heaps a JVM can use well, options systemd passes through as they are."""

from __future__ import annotations

import re
from typing import Any

from kafkaform.cluster import HEAP_RE, Node
from kafkaform.validation.problems import Problem
from kafkaform.validation.values import shown, unsafe_chars

# (smallest, largest) heap in MiB. Kafka: 32 GiB and more turns compressed object pointers
# off, so a 32g heap holds less than a 31g one; ZooKeeper keeps its whole tree in memory but
# ensembles past 16 GiB are a sign of misuse, and below 128 MiB it fails under load.
HEAP_BOUNDS_MB = {"kafka_heap": (256, 31 * 1024), "zookeeper_heap": (128, 16 * 1024)}
# One JVM option is one word in the unit's ExecStart: no whitespace, quotes, backslashes,
# '$' or '%' (systemd would expand those), no control characters.
JVM_OPT_CHAR = re.compile(r"[A-Za-z0-9._:/=+,@*^\[\]-]")


def heap_mb(value: str) -> int:
    number, unit = int(value[:-1]), value[-1].lower()
    return number * 1024 if unit == "g" else number


def check_heaps(node: Node) -> list[Problem]:
    problems = []
    for key, (low, high) in HEAP_BOUNDS_MB.items():
        value = node.settings[key]
        if not isinstance(value, str):
            continue  # None: sized from the host's memory; other types: value_types
        if not HEAP_RE.match(value):
            problems.append(
                Problem(node.name, key, f"{shown('', value)} is not a size like '512m' or '4g'")
            )
            continue
        size = heap_mb(value)
        if size < low:
            problems.append(Problem(node.name, key, f"{value} is too small: at least {low}m"))
        elif size > high:
            limit = f"{high}m" if high % 1024 else f"{high // 1024}g"
            reason = " (compressed oops end at 32g)" if key == "kafka_heap" else ""
            problems.append(
                Problem(node.name, key, f"{value} is implausibly large: at most {limit}{reason}")
            )
    return problems


def jvm_opt_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"expected a string, got {shown('', value)}"
    name = value.split("=", 1)[0]  # -Dx.password=... : shown as the option's name says
    if not value.startswith("-"):
        return f"{shown(name, value)} is not a JVM option (options start with '-')"
    bad = unsafe_chars(value, JVM_OPT_CHAR)
    if bad:
        return f"{shown(name, value)} has characters a unit cannot pass through as they are ({bad})"
    return None


def check_jvm_opts(node: Node) -> list[Problem]:
    problems = []
    for key in ("kafka_jvm_opts", "zookeeper_jvm_opts"):
        opts = node.settings[key]
        if not isinstance(opts, list):
            continue  # value_types
        for i, opt in enumerate(opts):
            if message := jvm_opt_problem(opt):
                problems.append(Problem(node.name, f"{key}[{i}]", message))
    return problems
