"""Refusals that protect a live cluster: what a deploy or a bake must not do to running hosts.

Pure: each host's state is what facts.live.LiveState read from it (services, live configs,
data on disk), and the checks compare it with the inventory. A deploy refuses a data
directory that moves away from its data, a ZooKeeper id change, and a broker role taken
from a host that still runs it; a bake refuses any host that is not a fresh machine.
Each refusal says why and what to do instead. ZooKeeper membership changes (servers added
or removed, a host's zookeeper role taken away) are not refused: kafkaform.ensemble_change
plans them, and refuses only what no plan can do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafkaform.cluster import Cluster, Node
from kafkaform.ensemble_change import plan_ensemble_change
from kafkaform.validate import Problem

State = Mapping[str, Any]  # facts.live.LiveState's dict

# Said once above a bake's problems: each problem then only names the host and the evidence.
BAKE_REASON = (
    "deploys/base_box.py is for fresh machines: it deletes data, logs, host keys and "
    "root's authorized_keys"
)
ROLE_FIELDS = {"kafka": "kafkaid", "zookeeper": "zookeeper", "monitoring": "monitoring"}


def probe_paths(node: Node) -> dict[str, Any]:
    """The LiveState fact's arguments for a host: where its live configs are, and the
    inventory's data directories (probed for data already there)."""
    s = node.settings
    return {
        "zookeeper_config": f"{s['zookeeper_config_dir']}/zoo.cfg",
        "kafka_config": f"{s['kafka_config_dir']}/server.properties",
        "zookeeper_dirs": (s["zookeeper_data_dir"], s["zookeeper_datalog_dir"]),
        "kafka_dirs": tuple(s["kafka_data_dirs"]),
        "zookeeper_dynamic_dir": s["zookeeper_dynamic_dir"],
    }


# --- reading a state -------------------------------------------------------------------


def zk_dir(state: State, path: str | None) -> Mapping[str, Any]:
    return state["dirs"]["zookeeper"].get(path or "", {})


def kafka_dir(state: State, path: str | None) -> Mapping[str, Any]:
    return state["dirs"]["kafka"].get(path or "", {})


def service_evidence(state: State, name: str) -> list[str]:
    service = state["services"][name]
    seen = ["service active"] if service["active"] else []
    return seen + (["enabled at boot"] if service["enabled"] else [])


def zk_files(state: State, path: str | None) -> int:
    return int(zk_dir(state, path).get("files", 0))


def partitions(state: State, path: str) -> int:
    return int(kafka_dir(state, path).get("partitions", 0))


def broker_metas(state: State, paths: list[str]) -> dict[str, Mapping[str, str]]:
    found = {}
    for path in dict.fromkeys(paths):
        meta = kafka_dir(state, path).get("meta")
        if meta:
            found[path] = meta
    return found


def live_broker_id(state: State) -> str | None:
    metas = broker_metas(state, state["kafka"]["log_dirs"])
    for meta in metas.values():
        if meta.get("broker.id"):
            return meta["broker.id"]
    config = state["kafka"]["config"] or {}
    return config.get("broker.id")


# --- a deploy on a live cluster ----------------------------------------------------------


def live_problems(cluster: Cluster, states: Mapping[str, State]) -> list[Problem]:
    """Everything the inventory would do to the live hosts that loses data or quorum.

    ``states`` holds the hosts that could be read (a ``--limit`` run reads fewer): hosts
    without a state are not judged.
    """
    problems: list[Problem] = []
    for node in cluster.nodes:
        state = states.get(node.name)
        if state is None:
            continue
        problems += kafka_dir_problems(node, state)
        problems += kafka_identity_problems(node, state)
        problems += zookeeper_dir_problems(node, state)
    # Membership changes are planned, not refused: only what no plan can do is a problem.
    problems += list(plan_ensemble_change(cluster, states).problems)
    order = {node.name: i for i, node in enumerate(cluster.nodes)}
    return sorted(problems, key=lambda p: order[p.where])  # stable: each host's in turn


def kafka_dir_problems(node: Node, state: State) -> list[Problem]:
    """A live log dir that holds partitions must stay in kafka_data_dirs (adding is fine)."""
    if node.kafkaid is None:
        return []
    wanted = node.settings["kafka_data_dirs"]
    problems = []
    for path in state["kafka"]["log_dirs"]:
        count = partitions(state, path)
        if path in wanted or count == 0:
            continue
        problems.append(
            Problem(
                node.name,
                "kafka_data_dirs",
                f"the live log dir {path} holds {count} partition director"
                f"{'y' if count == 1 else 'ies'} and is no longer listed: the broker would "
                "restart without those replicas. Keep it in kafka_data_dirs; to retire it, "
                "list the new directory beside it and deploy (Kafka uses both), move the "
                'replicas off it with kafka-reassign-partitions.sh ("log_dirs" in the '
                "reassignment JSON), then drop it once it holds no partition.",
            )
        )
    return problems


def kafka_identity_problems(node: Node, state: State) -> list[Problem]:
    """meta.properties in the host's log dirs must agree with kafkaid and with each other.
    (An "auto" id is checked once the deploy has resolved it: kafkaform.broker_ids.)"""
    if not isinstance(node.kafkaid, int):
        return []
    paths = [*state["kafka"]["log_dirs"], *node.settings["kafka_data_dirs"]]
    metas = broker_metas(state, paths)
    problems = []
    for path, meta in metas.items():
        broker = meta.get("broker.id")
        if broker is not None and broker != str(node.kafkaid):
            problems.append(
                Problem(
                    node.name,
                    "kafkaid",
                    f"{path}/meta.properties belongs to broker {broker}, not {node.kafkaid}: "
                    "Kafka would refuse to start (InconsistentBrokerIdException), or another "
                    f"host would take broker {broker}'s place. Keep kafkaid {broker} here; a "
                    "broker id changes only with its data (issue 10).",
                )
            )
    clusters = {meta["cluster.id"]: path for path, meta in metas.items() if meta.get("cluster.id")}
    if len(clusters) > 1:
        listed = ", ".join(f"{path} (cluster {cid})" for cid, path in clusters.items())
        problems.append(
            Problem(
                node.name,
                "kafka_data_dirs",
                f"log dirs of different Kafka clusters: {listed}; the broker would refuse to "
                "start. List only this cluster's directories; empty another cluster's only "
                "if its data is not needed.",
            )
        )
    return problems


def zookeeper_dir_problems(node: Node, state: State) -> list[Problem]:
    """The live dataDir/dataLogDir with data must stay, unless the data was copied over."""
    if not node.zookeeper or state["zookeeper"]["config"] is None:
        return []
    s = node.settings
    live_data = state["zookeeper"]["data_dir"]
    moves = [
        ("zookeeper_data_dir", live_data, s["zookeeper_data_dir"], "myid and version-2"),
        (
            "zookeeper_datalog_dir",
            state["zookeeper"]["datalog_dir"] or live_data,
            s["zookeeper_datalog_dir"],
            "version-2",
        ),
    ]
    problems = []
    for setting, live, new, what in moves:
        count = zk_files(state, live)
        if not live or live == new or count == 0 or zk_files(state, new) > 0:
            continue
        problems.append(
            Problem(
                node.name,
                setting,
                f"the live directory {live} holds ZooKeeper data ({count} snapshot/log "
                f"files) and {new} holds none: the server would restart empty. Keep {live}; "
                f"to move it, one server at a time: set {setting} for this host only, stop "
                f"zookeeper here, copy {what} from {live} to {new} (owner "
                f"{s['zookeeper_user']}), then deploy.",
            )
        )
    return problems


def leaving_broker(node: Node, state: State) -> str | None:
    """The broker id a host the inventory gives no kafkaid still runs or keeps enabled (the
    deploy retires it once it holds no replica: deploys.tasks.preflight checks that), or
    None."""
    if node.kafkaid is not None or not service_evidence(state, "kafka"):
        return None
    return live_broker_id(state) or "(unknown id)"


# --- a bake -------------------------------------------------------------------------------


def bake_problems(node: Node, state: State) -> list[Problem]:
    """Why this host must not be baked: a role in the inventory, or a cluster on it
    (reported under BAKE_REASON)."""
    problems = []
    roles = [ROLE_FIELDS[role] for role in node.roles]
    if roles and node.data.get("base_box") is not True:
        problems.append(
            Problem(
                node.name,
                ", ".join(roles),
                "the inventory gives this host a role. Bake a machine the inventory marks "
                "base_box: True (KAFKA_BAKE=1 vagrant up); for a fresh lab host: "
                "pyinfra --data base_box=true inventories/lab.py deploys/base_box.py.",
            )
        )
    for name in ("zookeeper", "kafka"):
        evidence = service_evidence(state, name)
        if evidence:
            problems.append(
                Problem(
                    node.name,
                    f"{name} service",
                    f"{name} is here ({', '.join(evidence)})",
                )
            )
    zk_evidence = []
    for path, entry in state["dirs"]["zookeeper"].items():
        if entry.get("myid") is not None:
            zk_evidence.append(f"myid {entry['myid']} in {path}")
        if entry.get("files", 0) > 0:
            zk_evidence.append(f"{entry['files']} snapshot/log files in {path}/version-2")
    dynamic = state["zookeeper"].get("dynamic")
    if dynamic:
        zk_evidence.append(f"a ZooKeeper membership (zoo.cfg.dynamic.{dynamic['version']})")
    if zk_evidence:
        problems.append(Problem(node.name, "zookeeper data", "; ".join(zk_evidence)))
    kafka_evidence = []
    for path, entry in state["dirs"]["kafka"].items():
        meta = entry.get("meta")
        if meta:
            kafka_evidence.append(
                f"meta.properties of broker {meta.get('broker.id', '?')} in {path}"
            )
        if entry.get("partitions", 0) > 0:
            kafka_evidence.append(f"{entry['partitions']} partition dirs in {path}")
    if kafka_evidence:
        problems.append(Problem(node.name, "kafka data", "; ".join(kafka_evidence)))
    return problems
