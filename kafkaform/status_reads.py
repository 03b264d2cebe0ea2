"""What ``kafkaform status`` asks the cluster, from the control machine, without SSH.

- ZooKeeper: ``srvr`` on each server (its mode and the version it runs), kazoo for the
  registered brokers and the controller.
- Kafka's AdminClient: partitions, ISR, min.insync.replicas, the protocol version each broker
  has in effect; consumer groups' lag (kafkaform.lag_exporter's reader).
- Each host's exporters: node_exporter for the disk use of its data dirs, a broker's JMX
  exporter for the version it runs (Kafka's app-info MBean, exported by the rule in
  templates/jmx/kafka.yml.j2 as ``KAFKA_VERSION_METRIC``).

The hosts' exporters and ZooKeeper servers are asked at once, so a host that is gone costs
one timeout, not one per read. A read that fails leaves its part out (None or missing), and
kafkaform.status judges that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from kafkaform import monitoring_auth
from kafkaform.client_config import login_of
from kafkaform.cluster import Cluster, Node
from kafkaform.status import GroupLag, Observed, PartitionState
from kafkaform.upgrade import PROTOCOL_KEY

T = TypeVar("T")
MAX_READS_AT_ONCE = 64

KAFKA_VERSION_METRIC = "kafka_server_app_info_version"  # {version="3.9.2"} 1
KAFKA_VERSION = re.compile(
    rf'^{KAFKA_VERSION_METRIC}\{{(?:[^}}]*,)?version="([^"]+)"[^}}]*\}} ', re.M
)
FILESYSTEM = re.compile(
    r'^node_filesystem_(size|avail)_bytes\{[^}]*mountpoint="([^"]*)"[^}]*\} (\S+)$', re.M
)


def observe(cluster: Cluster, timeout: float = 10.0) -> Observed:
    """Ask the cluster (ZooKeeper, Kafka, the hosts' exporters); parts that do not answer
    are None or missing."""
    from kafkaform import verify

    # Up to three reads a host (srvr, node_exporter, JMX exporter), all at once.
    with ThreadPoolExecutor(max_workers=min(MAX_READS_AT_ONCE, 3 * len(cluster.nodes) + 1)) as pool:
        srvr = {n.name: pool.submit(verify.node_srvr, n, timeout) for n in cluster.ensemble}
        node_metrics = {
            n.name: pool.submit(metrics, n, n.settings["node_exporter_port"], timeout)
            for n in cluster.nodes
            if data_dirs(n)
        }
        jmx_metrics = {
            n.name: pool.submit(metrics, n, n.settings["kafka_jmx_exporter_port"], timeout)
            for n in cluster.brokers
        }
        registered, controller, members = read_zookeeper(cluster, timeout)
        partitions, protocol, groups, errors = None, {}, [], []
        if cluster.brokers:
            servers, login = cluster.bootstrap_servers(), login_of(cluster)
            # Each read on its own: groups that cannot be read do not hide the partitions.
            try:
                partitions, protocol, unanswered = read_kafka(servers, timeout, login)
                errors += unanswered
            except Exception as error:  # noqa: BLE001 - a silent cluster is a status, not a crash
                errors.append(f"Kafka: partitions: {error}")
            try:
                groups = read_groups(servers, timeout, login)
            except Exception as error:  # noqa: BLE001
                errors.append(f"Kafka: consumer groups: {error}")
        answers = {name: future.result() for name, future in srvr.items()}
        disk = answered(
            node_metrics,
            lambda name, text: disk_used_percent(text, data_dirs(cluster.node(name))),
        )
        versions = answered(jmx_metrics, lambda _, text: kafka_version(text))
    return Observed(
        zookeeper_modes={name: (a or {}).get("Mode") for name, a in answers.items()},
        registered=registered,
        controller=controller,
        partitions=partitions,
        protocol=protocol,
        groups=groups,
        errors=errors,
        disk_used=disk,
        kafka_versions=versions,
        zookeeper_versions={
            name: version
            for name, a in answers.items()
            if (version := zookeeper_version((a or {}).get("Zookeeper version")))
        },
        zookeeper_members=members,
    )


def answered(
    futures: dict[str, Future[str | None]], read: Callable[[str, str], T | None]
) -> dict[str, T]:
    """host -> what ``read(host, text)`` found in each exporter text that came (None: left out)."""
    found: dict[str, T] = {}
    for name, future in futures.items():
        text = future.result()
        value = read(name, text) if text is not None else None
        if value is not None:
            found[name] = value
    return found


def data_dirs(node: Node) -> list[str]:
    """The directories whose disk a host's row shows: its brokers' and its ZooKeeper's."""
    dirs = list(node.settings["kafka_data_dirs"]) if node.kafkaid is not None else []
    if node.zookeeper:
        dirs += [node.settings["zookeeper_data_dir"], node.settings["zookeeper_datalog_dir"]]
    return dirs


def metrics(node: Node, port: int, timeout: float) -> str | None:
    """An exporter's /metrics text; None when it does not answer (shown as "-": the host's
    own problems say more)."""
    try:
        return monitoring_auth.read_metrics(node, port, timeout)  # with a secured cluster's auth
    except OSError:
        return None


def kafka_version(metrics_text: str) -> str | None:
    """The Kafka version a broker runs, from its JMX exporter's text."""
    match = KAFKA_VERSION.search(metrics_text)
    return match.group(1) if match else None


def zookeeper_version(srvr_version: str | None) -> str | None:
    """``3.8.4-9316c2a7..., built on 2024-02-12 22:16 UTC`` (srvr) -> ``3.8.4``."""
    match = re.match(r"\s*(\d+(?:\.\d+)+)", srvr_version or "")
    return match.group(1) if match else None


def disk_used_percent(metrics_text: str, paths: list[str]) -> int | None:
    """% used of the fullest filesystem holding one of ``paths``, from node_exporter's text
    (each path's filesystem: the longest mountpoint it lies under)."""
    sizes: dict[str, dict[str, float]] = {}
    for kind, mountpoint, value in FILESYSTEM.findall(metrics_text):
        sizes.setdefault(mountpoint, {})[kind] = float(value)
    mounts = [m for m, v in sizes.items() if v.get("size")]
    used = []
    for path in paths:
        under = [m for m in mounts if path == m or path.startswith(m.rstrip("/") + "/")]
        if under:
            fs = sizes[max(under, key=len)]
            used.append(round(100 * (1 - fs.get("avail", 0.0) / fs["size"])))
    return max(used) if used else None


def read_groups(
    servers: str, timeout: float, login: Mapping[str, str] | None = None
) -> list[GroupLag]:
    from kafkaform import lag_exporter

    reader = lag_exporter.connect(servers, timeout, login)
    try:
        reading = reader.read()
    finally:
        reader.close()
    lags: dict[str, int] = {}
    for group, _topic, _partition, _offset, lag in lag_exporter.lag_rows(
        reading.end, reading.committed
    ):
        lags[group] = lags.get(group, 0) + lag
    return [GroupLag(g, reading.members[g], lags.get(g, 0)) for g in sorted(reading.members)]


def read_zookeeper(
    cluster: Cluster, timeout: float
) -> tuple[list[int] | None, int | None, dict[int, str] | None]:
    """The registered brokers, the controller, and the committed ZooKeeper membership."""
    from kafkaform import verify
    from kafkaform.ensemble_config import CONFIG_ZNODE
    from kafkaform.ensemble_reconfig import members

    if not cluster.ensemble:
        return None, None, None
    chroot = cluster.ensemble[0].settings["zookeeper_chroot"]
    try:
        client = verify.cluster_zk(cluster, timeout)
    except Exception:  # noqa: BLE001 - reported as "could not read the registered brokers"
        return None, None, None
    try:
        registered = sorted(int(i) for i in client.get_children(f"{chroot}/brokers/ids"))
        controller = None
        if client.exists(f"{chroot}/controller"):
            data, _ = client.get(f"{chroot}/controller")
            controller = json.loads(data)["brokerid"]
        config, _ = client.get(CONFIG_ZNODE)
        found = members(config.decode())[0] or None  # empty before reconfigEnabled
        return registered, controller, found
    finally:
        client.stop()
        client.close()


def read_kafka(
    servers: str, timeout: float, login: Mapping[str, str] | None = None
) -> tuple[list[PartitionState], dict[int, str], list[str]]:
    """Partitions with their min.insync.replicas, each broker's protocol in effect, and the
    brokers that did not tell their configs (a broker killed a moment ago stays in the
    metadata until its ZooKeeper session lapses: it costs its protocol, not the partitions)."""
    from confluent_kafka.admin import AdminClient, ConfigResource

    # Syslog level 5: without librdkafka's info lines ("Purging 1 unserved events from
    # background queue" as the client goes), which would land among a script's output.
    admin = AdminClient({"bootstrap.servers": servers, "log_level": 5, **(login or {})})
    metadata = admin.list_topics(timeout=timeout)
    # Every topic in one request; a broker's configs only one per request (Kafka's rule).
    # All sent before any answer is awaited: one timeout at most.
    requests = [[ConfigResource(ConfigResource.Type.TOPIC, t) for t in metadata.topics]]
    requests += [[ConfigResource(ConfigResource.Type.BROKER, str(b))] for b in metadata.brokers]
    futures = {}
    for resources in requests:
        if resources:
            futures.update(admin.describe_configs(resources, request_timeout=timeout))
    configs, errors = {}, []
    for resource, future in futures.items():
        try:
            configs[(resource.restype, resource.name)] = future.result(timeout=timeout)
        except Exception as error:
            if resource.restype != ConfigResource.Type.BROKER:
                raise
            errors.append(f"Kafka: broker {resource.name} did not tell its configs: {error}")
    partitions = []
    for topic, meta in sorted(metadata.topics.items()):
        topic_config = configs[(ConfigResource.Type.TOPIC, topic)]
        min_isr = int(topic_config["min.insync.replicas"].value)
        for p in sorted(meta.partitions.values(), key=lambda p: p.id):
            partitions.append(
                PartitionState(topic, p.id, p.leader, tuple(p.replicas), tuple(p.isrs), min_isr)
            )
    protocol = {
        int(b): configs[(ConfigResource.Type.BROKER, str(b))][PROTOCOL_KEY].value
        for b in metadata.brokers
        if (ConfigResource.Type.BROKER, str(b)) in configs
    }
    return partitions, protocol, errors
