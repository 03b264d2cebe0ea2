"""Checks of a running cluster from the outside: kazoo for ZooKeeper, confluent-kafka for Kafka."""

from __future__ import annotations

import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kazoo.client import KazooClient

from kafkaform import security
from kafkaform.cluster import Cluster, Node
from kafkaform.zookeeper_client import cluster_settings, tls_context, zookeeper_client
from kafkaform.zookeeper_security import zookeeper_client_port

# A client's login on a secured cluster (kafkaform.client_config.login): {} on a plaintext one.
Login = Mapping[str, str]


def zk_client(
    hosts: str, timeout: float = 10.0, settings: Mapping[str, Any] | None = None
) -> KazooClient:
    """A started client of ``hosts``; ``settings``: the cluster's (TLS and SASL when it is
    secured, kafkaform.zookeeper_client)."""
    client = zookeeper_client(settings or {}, hosts, timeout=timeout)
    client.start(timeout=timeout)
    return client


def cluster_zk(cluster: Cluster, timeout: float = 10.0) -> KazooClient:
    """A started client of the cluster's ensemble."""
    return zk_client(cluster.zookeeper_connect(), timeout, cluster_settings(cluster))


def four_letter_word(
    word: bytes, address: str, port: int, timeout: float, tls: ssl.SSLContext | None
) -> str | None:
    """A server's answer to ``word`` (over TLS with ``tls``), or None when it does not answer."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw:
            sock = tls.wrap_socket(raw) if tls else raw
            sock.sendall(word)
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
    except (OSError, ssl.SSLError):
        return None
    return data.decode(errors="replace")


def mntr(address: str, port: int = 2181, tls: ssl.SSLContext | None = None) -> dict[str, str]:
    """One server's ``mntr`` answer as a dict (zk_server_state, zk_znode_count, ...)."""
    text = four_letter_word(b"mntr", address, port, 10.0, tls)
    if text is None:
        raise ConnectionError(f"ZooKeeper {address}:{port} does not answer mntr")
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


def ensemble_modes(cluster: Cluster) -> dict[str, str]:
    """Server state per ZooKeeper host: leader, follower or standalone."""
    return {
        n.name: mntr(n.address, zookeeper_client_port(n.settings), tls_context(n.settings))[
            "zk_server_state"
        ]
        for n in cluster.ensemble
    }


def srvr(
    address: str, port: int = 2181, timeout: float = 3.0, tls: ssl.SSLContext | None = None
) -> dict[str, str] | None:
    """One server's ``srvr`` answer as a dict ("Mode", "Zookeeper version", ...), or None when
    it does not answer (a server that does not serve answers without a "Mode")."""
    text = four_letter_word(b"srvr", address, port, timeout, tls)
    if text is None:
        return None
    lines = text.splitlines()
    return dict((k, v.strip()) for k, _, v in (line.partition(": ") for line in lines) if v)


def node_srvr(node: Node, timeout: float = 3.0) -> dict[str, str] | None:
    """``srvr`` of the server on ``node``, at the port and over the TLS its clients use."""
    port = zookeeper_client_port(node.settings)
    return srvr(node.address, port, timeout, tls_context(node.settings))


def server_mode(address: str, port: int = 2181, timeout: float = 3.0) -> str | None:
    """One server's mode from ``srvr`` (leader, follower, standalone), or None when it does
    not answer or does not serve."""
    return (srvr(address, port, timeout) or {}).get("Mode")


def node_mode(node: Node, timeout: float = 3.0) -> str | None:
    """``server_mode`` of the server on ``node`` (TLS on a secured cluster)."""
    return (node_srvr(node, timeout) or {}).get("Mode")


def ensemble_modes_reachable(cluster: Cluster) -> dict[str, str]:
    """Mode per ZooKeeper host that serves; hosts that do not are left out."""
    modes = {n.name: node_mode(n) for n in cluster.ensemble}
    return {name: mode for name, mode in modes.items() if mode}


def registered_brokers(cluster: Cluster) -> list[int]:
    chroot = cluster.ensemble[0].settings["zookeeper_chroot"]
    client = cluster_zk(cluster)
    try:
        return sorted(int(i) for i in client.get_children(f"{chroot}/brokers/ids"))
    finally:
        client.stop()
        client.close()


def bootstrap(cluster: Cluster, names: Iterable[str] | None = None) -> str:
    if not names:
        return cluster.bootstrap_servers()
    nodes = [cluster.node(n) for n in names]
    return ",".join(f"{n.address}:{security.client_port(n.settings)}" for n in nodes)


def create_topic(
    servers: str,
    name: str,
    partitions: int,
    replication: int,
    min_isr: int,
    timeout: float = 60,
    login: Login | None = None,
) -> None:
    admin = AdminClient({"bootstrap.servers": servers, **(login or {})})
    topic = NewTopic(
        name,
        num_partitions=partitions,
        replication_factor=replication,
        config={"min.insync.replicas": str(min_isr)},
    )
    admin.create_topics([topic], operation_timeout=timeout)[name].result(timeout)


def topic_layout(
    servers: str, name: str, timeout: float = 30, login: Login | None = None
) -> dict[str, object]:
    """Replica count per partition and the topic's min.insync.replicas, as the cluster reports."""
    admin = AdminClient({"bootstrap.servers": servers, **(login or {})})
    deadline = time.monotonic() + timeout
    # A new topic reaches every broker's metadata cache a moment after it is created.
    while True:
        metadata = admin.list_topics(topic=name, timeout=timeout).topics[name]
        if metadata.partitions or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    config = admin.describe_configs([resource])[resource].result(timeout)
    return {
        "replicas": sorted(len(p.replicas) for p in metadata.partitions.values()),
        "isr": sorted(len(p.isrs) for p in metadata.partitions.values()),
        "min.insync.replicas": int(config["min.insync.replicas"].value),
    }


def produce(
    servers: str, topic: str, value: str, timeout: float = 30, login: Login | None = None
) -> None:
    """Produce one message with acks=all and wait for the acknowledgement."""
    errors: list[object] = []
    producer = Producer(
        {
            "bootstrap.servers": servers,
            "acks": "all",
            "enable.idempotence": True,
            **(login or {}),
        }
    )
    producer.produce(topic, value.encode(), callback=lambda err, _msg: err and errors.append(err))
    remaining = producer.flush(timeout)
    if remaining or errors:
        raise KafkaException(f"message not acknowledged: {errors or 'flush timed out'}")


def read(
    servers: str,
    topic: str,
    done: Callable[[list[str]], bool],
    timeout: float = 60,
    login: Login | None = None,
) -> list[str]:
    """Read a topic from the beginning, with a fresh group, until ``done(seen)`` or the timeout."""
    consumer = Consumer(
        {
            **(login or {}),
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
        while time.monotonic() < deadline and not done(seen):
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            seen.append(msg.value().decode())
    finally:
        consumer.close()
    return seen


def consume(
    servers: str, topic: str, expected: str, timeout: float = 60, login: Login | None = None
) -> list[str]:
    """Read until ``expected`` arrives; return what was read."""
    return read(servers, topic, lambda seen: expected in seen, timeout, login)


def consume_all(
    servers: str, topic: str, count: int, timeout: float = 120, login: Login | None = None
) -> list[str]:
    """Read until ``count`` messages arrived."""
    return read(servers, topic, lambda seen: len(seen) >= count, timeout, login)


class BackgroundProducer:
    """Produces numbered messages with acks=all until stopped; counts what was acknowledged.

    Runs through a rolling restart to show that no acknowledged write is refused or lost.
    """

    def __init__(
        self, servers: str, topic: str, rate: float = 20.0, login: Login | None = None
    ) -> None:
        import threading

        self.topic, self.interval = topic, 1.0 / rate
        self.sent: list[str] = []
        self.acked: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._producer = Producer(
            {
                "bootstrap.servers": servers,
                "acks": "all",
                "enable.idempotence": True,
                "delivery.timeout.ms": 120000,
                **(login or {}),
            }
        )
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _delivered(self, err, msg) -> None:
        if err:
            self.errors.append(str(err))
        else:
            self.acked.append(msg.value().decode())

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            value = f"{self.topic}-{n}"
            self._producer.produce(self.topic, value.encode(), callback=self._delivered)
            self.sent.append(value)
            self._producer.poll(0)
            n += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> BackgroundProducer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._producer.flush(120)


class BackgroundConsumer:
    """Reads a topic from the beginning in a group of its own, committing as it goes, until
    stopped; what it read is ``seen`` (duplicates possible after a rebalance, never gaps)."""

    def __init__(self, servers: str, topic: str, login: Login | None = None) -> None:
        import threading

        self.seen: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": servers,
                "group.id": f"kafkaform-verify-live-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                **(login or {}),
            }
        )
        self._consumer.subscribe([topic])
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        # wait() rather than a bare loop: under gevent's monkey-patching (pyinfra's CLI module
        # patches threads on import) this thread is a greenlet and must yield.
        while not self._stop.wait(0.01):
            msg = self._consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                # Leader moves during a roll are retriable: note them, keep reading.
                self.errors.append(str(msg.error()))
                continue
            self.seen.append(msg.value().decode())

    def __enter__(self) -> BackgroundConsumer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()


class LiveTraffic:
    """A producer (acks=all, idempotent) and a consumer on ``topic`` while a change runs.

    ``check()`` afterwards: no error surfaced to the producer, and every acknowledged message
    was read back (by the live consumer, else by a fresh read of the whole topic).
    """

    def __init__(
        self, servers: str, topic: str, rate: float = 20.0, login: Login | None = None
    ) -> None:
        self.servers, self.topic, self.login = servers, topic, login
        self.producer = BackgroundProducer(servers, topic, rate, login)
        self.consumer = BackgroundConsumer(servers, topic, login)

    def __enter__(self) -> LiveTraffic:
        self.consumer.__enter__()
        self.producer.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.producer.__exit__(*exc)
        deadline = time.monotonic() + 60
        while not set(self.producer.acked) <= set(self.consumer.seen):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.consumer.__exit__(*exc)

    def check(self) -> dict[str, int]:
        """Raises AssertionError unless nothing was lost; returns the counts."""
        acked = set(self.producer.acked)
        assert self.producer.errors == [], f"producer errors: {self.producer.errors[:5]}"
        assert len(acked) == len(self.producer.sent) > 0, "not every message was acknowledged"
        missing = acked - set(self.consumer.seen)
        if missing:  # the live consumer may lag behind: read the whole topic once more
            missing -= set(consume_all(self.servers, self.topic, len(acked), login=self.login))
        assert not missing, f"{len(missing)} acknowledged message(s) never read back"
        return {"sent": len(self.producer.sent), "acked": len(acked), "lost": 0}
