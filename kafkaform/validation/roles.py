"""Who runs what: role flags, zkid/kafkaid, unique ids, an odd ensemble, at least one broker."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from kafkaform.cluster import AUTO_KAFKAID, Cluster, Node
from kafkaform.validation.problems import Problem
from kafkaform.validation.values import is_int, shown

ROLE_FIELDS = frozenset({"zookeeper", "zkid", "kafkaid", "monitoring", "base_box"})


def check_roles(node: Node) -> list[Problem]:
    problems = []
    data = node.data
    flag = data.get("zookeeper")
    if "zookeeper" in data and not isinstance(flag, bool):
        problems.append(
            Problem(node.name, "zookeeper", f"must be True or False, got {shown('', flag)}")
        )
    zkid = data.get("zkid")
    if flag is True and zkid is None:
        problems.append(Problem(node.name, "zkid", "missing: zookeeper is True but no zkid is set"))
    if zkid is not None and flag is not True:
        problems.append(Problem(node.name, "zkid", "set but zookeeper is not True"))
    if zkid is not None and not is_int(zkid):
        problems.append(Problem(node.name, "zkid", f"must be an integer, got {shown('', zkid)}"))
    elif zkid is not None and not 1 <= zkid <= 255:
        problems.append(Problem(node.name, "zkid", f"{zkid} is outside 1..255"))
    for key in ("monitoring", "base_box"):
        value = data.get(key)
        if value is not None and not isinstance(value, bool):
            problems.append(
                Problem(node.name, key, f"must be True or False, got {shown('', value)}")
            )
    kafkaid = data.get("kafkaid")
    if kafkaid == AUTO_KAFKAID:
        pass  # claimed at deploy time through ZooKeeper (kafkaform.broker_ids)
    elif kafkaid is not None and not is_int(kafkaid):
        problems.append(
            Problem(
                node.name,
                "kafkaid",
                f'must be an integer or "{AUTO_KAFKAID}", got {shown("", kafkaid)}',
            )
        )
    elif kafkaid is not None and kafkaid < 1:
        problems.append(Problem(node.name, "kafkaid", f"{kafkaid} must be 1 or more"))
    if flag is not True and zkid is None and kafkaid is None and data.get("monitoring") is not True:
        problems.append(
            Problem(
                node.name,
                "kafkaid",
                "no role (no kafkaid, no zookeeper+zkid, no monitoring): the deploy only stops "
                "and disables a broker or ZooKeeper server still running here (drained, or "
                "out of the ensemble), its data kept. Set kafkaid and/or zookeeper+zkid if "
                "this host should run one",
                warning=True,
            )
        )
    return problems


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


def check_shape(cluster: Cluster) -> list[Problem]:
    """The ensemble and the brokers as a whole (only once every id is valid)."""
    problems = []
    ensemble, brokers = cluster.ensemble, cluster.brokers
    if not ensemble:
        problems.append(Problem("inventory", "zookeeper", "no host has zookeeper: True and a zkid"))
    elif len(ensemble) % 2 == 0 and not all(
        n.settings["allow_even_ensemble"] is True for n in ensemble
    ):
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
    return problems
