"""Inventory validation: every problem at once, each naming the host and the field.

Runs offline (no host is contacted): ``kafkaform validate INVENTORY`` and, before any
operation is queued, ``deploys/kafka.py``.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafkaform.cluster import HEAP_RE, Cluster, Node
from kafkaform.settings import DEFAULTS, HOST_KEYS, PASSTHROUGH_PREFIXES

# Properties kafkaform derives from the inventory; overriding them would break the model.
DERIVED_KAFKA = {"broker.id": "kafkaid", "zookeeper.connect": "the zookeeper hosts"}
DERIVED_ZOOKEEPER = {"clientPort": "zookeeper_client_port", "dataDir": "zookeeper_data_dir"}
REPLICATION_KEYS = (
    "default.replication.factor",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
)
PORT_KEYS = (
    "kafka_port",
    "zookeeper_client_port",
    "zookeeper_peer_port",
    "zookeeper_election_port",
    "kafka_jmx_exporter_port",
    "zookeeper_jmx_exporter_port",
    "node_exporter_port",
    "lag_exporter_port",
    "prometheus_port",
    "alertmanager_port",
    "alertmanager_cluster_port",
    "log_sink_port",
)
# Prometheus's duration syntax (no fractions, units largest first).
DURATION_RE = re.compile(r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$")
DURATION_KEYS = ("prometheus_scrape_interval", "prometheus_evaluation_interval")


@dataclass(frozen=True)
class Problem:
    where: str  # a host name, or "group_data/<group>.py", or "inventory"
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


class InventoryError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the inventory has {len(problems)} problem(s):\n{lines}")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def known_key(key: str) -> bool:
    return key in DEFAULTS or key in HOST_KEYS or key.startswith(PASSTHROUGH_PREFIXES + ("fake_",))


def unknown_keys(where: str, data: Mapping[str, Any]) -> list[Problem]:
    problems = []
    vocabulary = sorted(set(DEFAULTS) | HOST_KEYS)
    for key in data:
        if not known_key(key):
            close = difflib.get_close_matches(key, vocabulary, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(Problem(where, key, f"unknown setting{hint}"))
    return problems


def check_types(node: Node) -> list[Problem]:
    """A value must have its default's type; None-defaulted settings are checked by name."""
    problems = []
    for key, value in node.data.items():
        default = DEFAULTS.get(key)
        if default is None or value is None:
            continue
        expected = type(default)
        ok = is_int(value) if expected is int else isinstance(value, expected)
        if not ok:
            problems.append(Problem(node.name, key, f"expected {expected.__name__}, got {value!r}"))
    for key in ("kafka_heap", "zookeeper_heap"):
        value = node.data.get(key)
        if value is not None and not (isinstance(value, str) and HEAP_RE.match(value)):
            problems.append(Problem(node.name, key, f"{value!r} is not a size like '512m' or '4g'"))
    for key in PORT_KEYS:
        value = node.settings[key]
        if is_int(value) and not 1 <= value <= 65535:
            problems.append(Problem(node.name, key, f"{value} is not a TCP port"))
    dirs = node.settings["kafka_data_dirs"]
    if isinstance(dirs, list) and (not dirs or not all(str(d).startswith("/") for d in dirs)):
        problems.append(Problem(node.name, "kafka_data_dirs", "needs one or more absolute paths"))
    return problems


def check_roles(node: Node) -> list[Problem]:
    problems = []
    data = node.data
    flag = data.get("zookeeper")
    if "zookeeper" in data and not isinstance(flag, bool):
        problems.append(Problem(node.name, "zookeeper", f"must be True or False, got {flag!r}"))
    zkid = data.get("zkid")
    if flag is True and zkid is None:
        problems.append(Problem(node.name, "zkid", "missing: zookeeper is True but no zkid is set"))
    if zkid is not None and flag is not True:
        problems.append(Problem(node.name, "zkid", "set but zookeeper is not True"))
    if zkid is not None and not is_int(zkid):
        problems.append(Problem(node.name, "zkid", f"must be an integer, got {zkid!r}"))
    elif zkid is not None and not 1 <= zkid <= 255:
        problems.append(Problem(node.name, "zkid", f"{zkid} is outside 1..255"))
    monitoring = data.get("monitoring")
    if monitoring is not None and not isinstance(monitoring, bool):
        problems.append(
            Problem(node.name, "monitoring", f"must be True or False, got {monitoring!r}")
        )
    kafkaid = data.get("kafkaid")
    if kafkaid is not None and not is_int(kafkaid):
        problems.append(Problem(node.name, "kafkaid", f"must be an integer, got {kafkaid!r}"))
    elif kafkaid is not None and kafkaid < 1:
        problems.append(Problem(node.name, "kafkaid", f"{kafkaid} must be 1 or more"))
    if flag is not True and zkid is None and kafkaid is None and not data.get("monitoring"):
        problems.append(Problem(node.name, "kafkaid", "no role: set kafkaid and/or zookeeper+zkid"))
    return problems


def is_duration(value: Any) -> bool:
    return isinstance(value, str) and value not in ("", "0") and bool(DURATION_RE.match(value))


def check_observability(node: Node) -> list[Problem]:
    """Settings that end up in Prometheus's files: a mistake here would stop Prometheus."""
    problems = []
    s = node.settings
    durations = [(key, s[key]) for key in DURATION_KEYS]
    for group in ("alert_for", "alert_thresholds"):
        values = s[group]
        if not isinstance(values, Mapping):
            continue  # check_types reports it
        for key in values:
            if key not in DEFAULTS[group]:
                close = difflib.get_close_matches(str(key), list(DEFAULTS[group]), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                problems.append(Problem(node.name, f"{group}['{key}']", f"unknown key{hint}"))
        if group == "alert_for":
            durations += [(f"alert_for['{k}']", v) for k, v in values.items()]
        else:
            durations += [
                (f"{group}['{k}']", values.get(k)) for k in values if k.endswith("window")
            ]
            for key in values:
                value = values[key]
                if not key.endswith("window") and not (is_int(value) or isinstance(value, float)):
                    problems.append(
                        Problem(node.name, f"{group}['{key}']", f"expected a number, got {value!r}")
                    )
    for key, value in durations:
        if not is_duration(value):
            problems.append(
                Problem(node.name, key, f"{value!r} is not a duration like '30s' or '5m'")
            )
    opened = [k for k in PORT_KEYS if owns_port(node, k)]
    by_port: dict[Any, list[str]] = defaultdict(list)
    for key in opened:
        by_port[s[key]].append(key)
    for port, keys in by_port.items():
        if len(keys) > 1:
            problems.append(Problem(node.name, ", ".join(keys), f"all use port {port}"))
    return problems


def owns_port(node: Node, key: str) -> bool:
    """Whether this host listens on the port setting ``key``."""
    if key.startswith(("zookeeper_",)):
        return node.zookeeper
    if key.startswith("kafka_"):
        return node.kafkaid is not None
    if key.startswith(("lag_", "prometheus_", "alertmanager_", "log_sink_")):
        return node.monitoring
    return True  # node_exporter: every host


def check_unique(nodes: Iterable[Node], field: str) -> list[Problem]:
    owners: dict[Any, list[str]] = defaultdict(list)
    for node in nodes:
        value = node.data.get(field)
        if is_int(value) and (field != "zkid" or node.data.get("zookeeper") is True):
            owners[value].append(node.name)
    return [
        Problem(", ".join(names), field, f"{value} is used by {len(names)} hosts")
        for value, names in sorted(owners.items())
        if len(names) > 1
    ]


def check_cluster(cluster: Cluster) -> list[Problem]:
    problems = []
    ensemble, brokers = cluster.ensemble, cluster.brokers
    if not ensemble:
        problems.append(Problem("inventory", "zookeeper", "no host has zookeeper: True and a zkid"))
    elif len(ensemble) % 2 == 0 and not all(n.settings["allow_even_ensemble"] for n in ensemble):
        problems.append(
            Problem(
                "inventory",
                "zookeeper",
                f"{len(ensemble)} ZooKeeper servers: an even ensemble tolerates no more failures "
                "than one server fewer; use an odd count or set allow_even_ensemble = True",
            )
        )
    if not brokers:
        problems.append(Problem("inventory", "kafkaid", "no host has a kafkaid (no broker)"))
    count = len(brokers)
    for node in brokers:
        overrides = node.settings["kafka_properties"]
        if not isinstance(overrides, Mapping):
            continue
        for key, reason in DERIVED_KAFKA.items():
            if key in overrides:
                problems.append(
                    Problem(node.name, f"kafka_properties['{key}']", f"set from {reason}")
                )
        props = {**cluster.replication_defaults(), **overrides}
        for key in REPLICATION_KEYS:
            value = props[key]
            if not is_int(value) or not 1 <= value <= count:
                problems.append(
                    Problem(
                        node.name,
                        f"kafka_properties['{key}']",
                        f"{value!r} cannot be satisfied by {count} broker(s)",
                    )
                )
        min_isr, rf = props["min.insync.replicas"], props["default.replication.factor"]
        if not is_int(min_isr) or min_isr < 1 or (is_int(rf) and min_isr > rf):
            problems.append(
                Problem(
                    node.name,
                    "kafka_properties['min.insync.replicas']",
                    f"{min_isr!r} must be between 1 and the replication factor ({rf})",
                )
            )
    for node in ensemble:
        overrides = node.settings["zookeeper_properties"]
        for key, setting in DERIVED_ZOOKEEPER.items():
            if isinstance(overrides, Mapping) and key in overrides:
                problems.append(
                    Problem(node.name, f"zookeeper_properties['{key}']", f"set {setting} instead")
                )
    return problems


def merge_across_hosts(problems: list[Problem]) -> list[Problem]:
    """One line per distinct problem; a group-wide mistake lists its hosts instead of repeating."""
    hosts: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in problems:
        hosts[(p.field, p.message)].append(p.where)
    return [Problem(", ".join(dict.fromkeys(w)), f, m) for (f, m), w in hosts.items()]


def check(
    hosts: Iterable[tuple[str, Mapping[str, Any]]],
    groups: Mapping[str, Mapping[str, Any]] | None = None,
    host_only: Mapping[str, Mapping[str, Any]] | None = None,
    roles: bool = True,
) -> list[Problem]:
    """Validate resolved host data; ``groups``/``host_only`` name where unknown keys came from.

    ``roles=False`` checks settings only: a box bake runs on hosts that have no ids yet.
    """
    cluster = Cluster.from_hosts(hosts)
    problems: list[Problem] = []
    for group, data in (groups or {}).items():
        problems += unknown_keys(f"group_data/{group}.py", data)
    for node in cluster.nodes:
        source = (host_only or {}).get(node.name, node.data if groups is None else {})
        problems += unknown_keys(node.name, source)
        problems += check_roles(node) if roles else []
        problems += check_types(node)
        problems += check_observability(node)
    if not roles:
        return merge_across_hosts(problems)
    problems += check_unique(cluster.nodes, "zkid")
    problems += check_unique(cluster.nodes, "kafkaid")
    if not any(p.field in {"zkid", "kafkaid", "zookeeper"} for p in problems):
        problems += check_cluster(cluster)
    return merge_across_hosts(problems)


def check_inventory(inventory: Any, roles: bool = True) -> list[Problem]:
    """Validate a pyinfra ``Inventory`` (as built by the CLI or the deploy)."""
    hosts = [(host.name, host.data.dict()) for host in inventory]
    # group_data/all.py lands in the inventory's base data, the other groups by name.
    groups = {"all": dict(inventory.get_data())}
    groups.update({name: dict(inventory.get_group_data(name)) for name in inventory.group_data})
    host_only = {host.name: dict(inventory.get_host_data(host.name)) for host in inventory}
    return check(hosts, groups, host_only, roles=roles)


def load_inventory(path: str) -> Any:
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    if not Path(path).exists():
        raise FileNotFoundError(f"no inventory file at {path}")
    # Inventory files are executed the way the pyinfra CLI does it, which needs a state.
    with ctx_state.use(State()):
        return make_inventory(path, cwd=os.getcwd())


def run(args: argparse.Namespace) -> int:
    try:
        inventory = load_inventory(args.inventory)
    except Exception as error:  # the inventory file is user code: report, don't trace
        cause = getattr(error, "exception", error)  # pyinfra wraps errors raised in the file
        print(f"{args.inventory}: cannot load the inventory: {cause}")
        return 2
    problems = check_inventory(inventory)
    if problems:
        print(InventoryError(problems))
        return 1
    print(f"{args.inventory}: OK")
    return 0


def add_cli(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check an inventory offline (no host is contacted)",
        description="Check an inventory offline; every problem is listed with its host and field.",
    )
    parser.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/prod.py")
    parser.set_defaults(func=run)
