"""Checks of a running cluster from the outside: kazoo for ZooKeeper, confluent-kafka for Kafka."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kazoo.client import KazooClient

from kafkaform.cluster import Cluster


def zk_client(hosts: str, timeout: float = 10.0) -> KazooClient:
    client = KazooClient(hosts=hosts, timeout=timeout)
    client.start(timeout=timeout)
    return client


def mntr(address: str, port: int = 2181) -> dict[str, str]:
    """One server's ``mntr`` answer as a dict (zk_server_state, zk_znode_count, ...)."""
    client = zk_client(f"{address}:{port}")
    try:
        text = client.command(b"mntr")
    finally:
        client.stop()
        client.close()
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


def ensemble_modes(cluster: Cluster) -> dict[str, str]:
    """Server state per ZooKeeper host: leader, follower or standalone."""
    return {
        n.name: mntr(n.address, n.settings["zookeeper_client_port"])["zk_server_state"]
        for n in cluster.ensemble
    }


def registered_brokers(cluster: Cluster) -> list[int]:
    chroot = cluster.ensemble[0].settings["zookeeper_chroot"]
    client = zk_client(cluster.zookeeper_connect())
    try:
        return sorted(int(i) for i in client.get_children(f"{chroot}/brokers/ids"))
    finally:
        client.stop()
        client.close()


def bootstrap(cluster: Cluster, names: Iterable[str] | None = None) -> str:
    nodes = [cluster.node(n) for n in names] if names else cluster.brokers
    return ",".join(f"{n.address}:{n.settings['kafka_port']}" for n in nodes)


def create_topic(
    servers: str, name: str, partitions: int, replication: int, min_isr: int, timeout: float = 60
) -> None:
    admin = AdminClient({"bootstrap.servers": servers})
    topic = NewTopic(
        name,
        num_partitions=partitions,
        replication_factor=replication,
        config={"min.insync.replicas": str(min_isr)},
    )
    admin.create_topics([topic], operation_timeout=timeout)[name].result(timeout)


def topic_layout(servers: str, name: str, timeout: float = 30) -> dict[str, object]:
    """Replica count per partition and the topic's min.insync.replicas, as the cluster reports."""
    admin = AdminClient({"bootstrap.servers": servers})
    metadata = admin.list_topics(topic=name, timeout=timeout).topics[name]
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    config = admin.describe_configs([resource])[resource].result(timeout)
    return {
        "replicas": sorted(len(p.replicas) for p in metadata.partitions.values()),
        "isr": sorted(len(p.isrs) for p in metadata.partitions.values()),
        "min.insync.replicas": int(config["min.insync.replicas"].value),
    }


def produce(servers: str, topic: str, value: str, timeout: float = 30) -> None:
    """Produce one message with acks=all and wait for the acknowledgement."""
    errors: list[object] = []
    producer = Producer({"bootstrap.servers": servers, "acks": "all", "enable.idempotence": True})
    producer.produce(topic, value.encode(), callback=lambda err, _msg: err and errors.append(err))
    remaining = producer.flush(timeout)
    if remaining or errors:
        raise KafkaException(f"message not acknowledged: {errors or 'flush timed out'}")


def consume(servers: str, topic: str, expected: str, timeout: float = 60) -> list[str]:
    """Read the topic from the beginning until ``expected`` arrives; return what was read."""
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": f"kafkaform-verify-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    seen: list[str] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and expected not in seen:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            seen.append(msg.value().decode())
    finally:
        consumer.close()
    return seen
