#!/usr/bin/python3
"""kafka-lag-exporter (kafkaform): consumer group lag per group and partition, for Prometheus.

Metric names and labels follow kafka_exporter's (kafka_consumergroup_lag{consumergroup, topic,
partition} ...), so its dashboards and alerts work unchanged. Offsets are read in the
background every --interval seconds; a scrape serves the last complete reading, and
kafka_lag_exporter_up says whether there is one. A failed reading withdraws the previous one
and the next attempt, seconds later, uses new Kafka clients (fresh metadata): after a broker
restart or a failover the exporter reads correct offsets again as soon as the cluster answers.

Needs python3-confluent-kafka and python3-prometheus-client (distribution packages). It is
shipped to the monitoring host as this one file and run there by the distribution's python3,
so it imports nothing from the rest of kafkaform, and the Kafka and Prometheus libraries only
where they are used (the offline tests give it fake clients instead).
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

log = logging.getLogger("kafka-lag-exporter")
Offsets = dict[tuple[str, int], int]  # (topic, partition) -> offset


def lag_rows(end: Offsets, committed: dict[str, Offsets]) -> list[tuple[str, str, int, int, int]]:
    """(group, topic, partition, committed offset, lag) for every partition a group committed.

    Lag is never negative: an end offset read a moment before the commit may trail it.
    """
    rows = []
    for group in sorted(committed):
        for (topic, partition), current in sorted(committed[group].items()):
            high = end.get((topic, partition))
            if high is None or current < 0:
                continue  # topic deleted since, or no commit for this partition
            rows.append((group, topic, partition, current, max(0, high - current)))
    return rows


# A metric family as plain data: (name, help, label names, [(label values, value)]).
Family = tuple[str, str, tuple[str, ...], list[tuple[tuple[str, ...], float]]]
PARTITION = ("consumergroup", "topic", "partition")


def families(reading: Reading | None) -> list[Family]:
    """What a scrape shows: kafka_lag_exporter_up always, offsets only from a current reading."""
    up: Family = (
        "kafka_lag_exporter_up",
        "1 if the last reading of the cluster's offsets worked",
        (),
        [((), int(reading is not None))],
    )
    if reading is None:
        return [up]
    lag, offset, sums = [], [], {}
    for group, topic, partition, current, behind in lag_rows(reading.end, reading.committed):
        lag.append(((group, topic, str(partition)), behind))
        offset.append(((group, topic, str(partition)), current))
        sums[(group, topic)] = sums.get((group, topic), 0) + behind
    return [
        up,
        ("kafka_brokers", "Brokers in the cluster's metadata", (), [((), reading.brokers)]),
        (
            "kafka_topic_partition_current_offset",
            "End offset (next offset to be written) of a partition",
            ("topic", "partition"),
            [((t, str(p)), high) for (t, p), high in sorted(reading.end.items())],
        ),
        (
            "kafka_consumergroup_lag",
            "Messages a consumer group has yet to read from a partition",
            PARTITION,
            lag,
        ),
        (
            "kafka_consumergroup_current_offset",
            "Offset a consumer group last committed on a partition",
            PARTITION,
            offset,
        ),
        (
            "kafka_consumergroup_lag_sum",
            "Messages a consumer group has yet to read from a topic",
            ("consumergroup", "topic"),
            sorted(sums.items()),
        ),
        (
            "kafka_consumergroup_members",
            "Members of a consumer group",
            ("consumergroup",),
            [((g,), n) for g, n in sorted(reading.members.items())],
        ),
    ]


class Collector:
    """The prometheus_client collector: serves the poller's latest reading, or none."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reading: Reading | None = None

    def update(self, reading: Reading | None) -> None:
        with self.lock:
            self.reading = reading

    def families(self) -> list[Family]:
        with self.lock:
            return families(self.reading)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        for name, text, labels, samples in self.families():
            family = GaugeMetricFamily(name, text, labels=list(labels))
            for values, value in samples:
                family.add_metric(list(values), value)
            yield family


class Reading(NamedTuple):
    end: Offsets  # end offset per partition
    committed: dict[str, Offsets]  # group -> committed offset per partition
    members: dict[str, int]  # group -> members
    brokers: int


class Reader:
    """Reads end offsets and every consumer group's committed offsets.

    Its clients keep the cluster's metadata (who leads what, who coordinates a group): after
    a failover that metadata can name a broker that no longer leads, so the poller throws a
    Reader away at its first error and reads with a new one (``connect``).
    """

    def __init__(
        self,
        admin: Any,
        consumer: Callable[[str], Any],
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.admin, self.consumer, self.timeout, self.clock = admin, consumer, timeout, clock
        self.watermarks = consumer("kafkaform-lag-exporter")
        self.groups: dict[str, Any] = {}  # group id -> Consumer used for its OffsetFetch only

    def _group(self, group: str) -> Any:
        # Never subscribed: reading a group's commits does not join (or rebalance) it.
        if group not in self.groups:
            self.groups[group] = self.consumer(group)
        return self.groups[group]

    def read(self) -> Reading:
        from confluent_kafka import KafkaException, TopicPartition

        # One bound for the whole reading: a slow cluster fails it rather than stalling it.
        deadline = self.clock() + 3 * self.timeout

        def budget() -> float:
            left = deadline - self.clock()
            if left <= 0:
                raise TimeoutError(f"no complete reading within {3 * self.timeout:.0f}s")
            return min(self.timeout, left)

        metadata = self.admin.list_topics(timeout=budget())
        partitions = [
            TopicPartition(topic, p)
            for topic, meta in metadata.topics.items()
            if not topic.startswith("__")
            for p in meta.partitions
        ]
        end: Offsets = {}
        for tp in partitions:
            _, high = self.watermarks.get_watermark_offsets(tp, timeout=budget(), cached=False)
            end[(tp.topic, tp.partition)] = high
        committed: dict[str, Offsets] = {}
        members: dict[str, int] = {}
        groups = [
            g
            for g in self.admin.list_groups(timeout=budget())
            if g.protocol_type in ("consumer", "")
        ]
        for gone in set(self.groups) - {g.id for g in groups}:
            self.groups.pop(gone).close()
        for group in groups:
            result = self._group(group.id).committed(partitions, timeout=budget())
            failed = [tp for tp in result if tp.error is not None]
            if failed:  # a partial answer is not a reading
                raise KafkaException(failed[0].error)
            committed[group.id] = {(tp.topic, tp.partition): tp.offset for tp in result}
            members[group.id] = len(group.members)
        return Reading(end, committed, members, len(metadata.brokers))

    def close(self) -> None:
        for consumer in [self.watermarks, *self.groups.values()]:
            consumer.close()
        self.groups.clear()


def connect(servers: str, timeout: float, login: Mapping[str, str] | None = None) -> Reader:
    """A Reader with new Kafka clients, so with fresh metadata; ``login``: the security keys
    of a secured cluster (kafkaform.client_config)."""
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient

    config = {
        "bootstrap.servers": servers,
        "enable.auto.commit": False,
        "client.id": "kafkaform-lag-exporter",
        **(login or {}),
    }
    return Reader(
        AdminClient({"bootstrap.servers": servers, **(login or {})}),
        lambda group: Consumer({**config, "group.id": group}),
        timeout,
    )


class Poller:
    """Takes a reading every ``interval`` seconds into the collector.

    On any error the current reading is withdrawn at once (an old reading is never served as
    current), the clients are closed, and a new reader tries again after a short, growing
    pause (``backoff``) instead of a whole interval: the exporter heals itself within seconds
    of the cluster answering again.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        collector: Collector,
        interval: float,
        backoff: tuple[float, ...] = (1, 2, 5, 10),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connect, self.collector, self.interval = connect, collector, interval
        self.backoff, self.clock = backoff, clock
        self.reader: Any = None
        self.failures = 0  # consecutive failed attempts

    def step(self) -> float:
        """One attempt; returns the seconds to wait before the next one."""
        started = self.clock()
        try:
            if self.reader is None:
                self.reader = self.connect()
            reading = self.reader.read()
        except Exception as exc:  # any Kafka error: report it, keep serving, heal
            self.collector.update(None)
            self._drop_reader()
            if not self.failures:
                log.warning("cannot read offsets (%s); retrying with new clients", exc)
            pause = self.backoff[min(self.failures, len(self.backoff) - 1)]
            self.failures += 1
            return min(pause, self.interval)
        self.collector.update(reading)
        if self.failures:
            log.info("reading offsets again after %d failed attempts", self.failures)
        self.failures = 0
        return max(0.0, self.interval - (self.clock() - started))

    def _drop_reader(self) -> None:
        reader, self.reader = self.reader, None
        if reader is None:
            return
        try:
            reader.close()
        except Exception as exc:  # closing clients of a broken connection may fail too
            log.debug("closing the old clients: %s", exc)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True, help="host:port,host:port")
    parser.add_argument("--port", type=int, default=9308, help="port of /metrics")
    parser.add_argument("--interval", type=float, default=30, help="seconds between readings")
    parser.add_argument("--timeout", type=float, default=10, help="seconds per Kafka request")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY

    collector = Collector()
    REGISTRY.register(collector)
    start_http_server(args.port)
    log.info("serving /metrics on port %d, reading %s", args.port, args.bootstrap_servers)
    poller = Poller(lambda: connect(args.bootstrap_servers, args.timeout), collector, args.interval)
    while True:
        time.sleep(poller.step())


if __name__ == "__main__":
    main()
