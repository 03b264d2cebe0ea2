"""Settings that end up in Prometheus's and Alertmanager's files: a mistake there would stop
Prometheus, so durations and alert keys are checked here."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from kafkaform.cluster import Node
from kafkaform.settings import DEFAULTS
from kafkaform.validation.problems import Problem, did_you_mean
from kafkaform.validation.values import is_int, shown

# Prometheus's duration syntax (no fractions, units largest first).
DURATION_RE = re.compile(r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$")
DURATION_KEYS = (
    "prometheus_scrape_interval",
    "prometheus_evaluation_interval",
    "prometheus_retention_time",
)


# Where exporters and servers listen: one IP address of the host, or unset (every address).
LISTEN_ADDRESS_KEYS = (
    "node_exporter_listen_address",
    "jmx_exporter_listen_address",
    "lag_exporter_listen_address",
    "prometheus_listen_address",
    "alertmanager_listen_address",
    "log_sink_listen_address",
)


def is_ip_address(value: Any) -> bool:
    if not isinstance(value, str):
        return False  # ipaddress takes 5 for 0.0.0.5
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_duration(value: Any) -> bool:
    return isinstance(value, str) and value not in ("", "0") and bool(DURATION_RE.match(value))


def check_observability(node: Node) -> list[Problem]:
    problems = []
    s = node.settings
    durations = [(key, s[key]) for key in DURATION_KEYS]
    for group in ("alert_for", "alert_thresholds"):
        values = s[group]
        if not isinstance(values, Mapping):
            continue  # value_types reports it
        for key, value in values.items():
            field = f"{group}[{key!r}]"
            if key not in DEFAULTS[group]:
                hint = did_you_mean(str(key), DEFAULTS[group])
                problems.append(Problem(node.name, field, f"unknown key{hint}"))
            elif group == "alert_for" or str(key).endswith("window"):
                durations.append((field, value))
            elif not (is_int(value) or isinstance(value, float)):
                problems.append(
                    Problem(node.name, field, f"expected a number, got {shown(key, value)}")
                )
    for key in LISTEN_ADDRESS_KEYS:
        if isinstance(s[key], str) and not is_ip_address(s[key]):  # others: value_types
            problems.append(
                Problem(
                    node.name,
                    key,
                    f"{shown('', s[key])} is not an IP address (unset: every address)",
                )
            )
    for key, value in durations:
        if not is_duration(value):
            problems.append(
                Problem(node.name, key, f"{shown('', value)} is not a duration like '30s' or '5m'")
            )
    return problems
