#!/usr/bin/python3
"""kafka-lag-exporter (kafkaform): consumer group lag per group and partition, for Prometheus.

Metric names and labels follow kafka_exporter's (kafka_consumergroup_lag{consumergroup, topic,
partition} ...), so its dashboards and alerts work unchanged. Offsets are read in the
background every --interval seconds; a scrape serves the last complete reading, and
kafka_lag_exporter_up says whether that reading is current.

Needs python3-confluent-kafka and python3-prometheus-client (distribution packages).
"""

from __future__ import annotations

import argparse
import logging
import threading
import time

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


class Reader:
    """Reads end offsets and every consumer group's committed offsets with one admin client."""

    def __init__(self, servers: str, timeout: float) -> None:
        from confluent_kafka import Consumer
        from confluent_kafka.admin import AdminClient

        self.timeout = timeout
        self.config = {
            "bootstrap.servers": servers,
            "enable.auto.commit": False,
            "client.id": "kafkaform-lag-exporter",
        }
        self.admin = AdminClient({"bootstrap.servers": servers})
        self.watermarks = Consumer({**self.config, "group.id": "kafkaform-lag-exporter"})
        self.groups: dict = {}  # group id -> Consumer used for its OffsetFetch only

    def _group(self, group: str):
        from confluent_kafka import Consumer

        # Never subscribed: reading a group's commits does not join (or rebalance) it.
        if group not in self.groups:
            self.groups[group] = Consumer({**self.config, "group.id": group})
        return self.groups[group]

    def read(self) -> tuple[Offsets, dict[str, Offsets], dict[str, int], int]:
        from confluent_kafka import TopicPartition

        metadata = self.admin.list_topics(timeout=self.timeout)
        partitions = [
            TopicPartition(topic, p)
            for topic, meta in metadata.topics.items()
            if not topic.startswith("__")
            for p in meta.partitions
        ]
        end: Offsets = {}
        for tp in partitions:
            _, high = self.watermarks.get_watermark_offsets(tp, timeout=self.timeout, cached=False)
            end[(tp.topic, tp.partition)] = high
        committed: dict[str, Offsets] = {}
        members: dict[str, int] = {}
        groups = [
            g
            for g in self.admin.list_groups(timeout=self.timeout)
            if g.protocol_type in ("consumer", "")
        ]
        for gone in set(self.groups) - {g.id for g in groups}:
            self.groups.pop(gone).close()
        for group in groups:
            result = self._group(group.id).committed(partitions, timeout=self.timeout)
            committed[group.id] = {(tp.topic, tp.partition): tp.offset for tp in result}
            members[group.id] = len(group.members)
        return end, committed, members, len(metadata.brokers)


class Collector:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reading: tuple | None = None
        self.up = 0

    def update(self, reading: tuple | None) -> None:
        with self.lock:
            self.reading, self.up = reading, int(reading is not None)

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        with self.lock:
            reading, up = self.reading, self.up
        yield GaugeMetricFamily(
            "kafka_lag_exporter_up", "1 if the last reading of the cluster's offsets worked", up
        )
        if reading is None:
            return
        end, committed, members, brokers = reading
        yield GaugeMetricFamily("kafka_brokers", "Brokers in the cluster's metadata", brokers)
        current = GaugeMetricFamily(
            "kafka_topic_partition_current_offset",
            "End offset (next offset to be written) of a partition",
            labels=["topic", "partition"],
        )
        for (topic, partition), high in sorted(end.items()):
            current.add_metric([topic, str(partition)], high)
        yield current
        lag = GaugeMetricFamily(
            "kafka_consumergroup_lag",
            "Messages a consumer group has yet to read from a partition",
            labels=["consumergroup", "topic", "partition"],
        )
        offset = GaugeMetricFamily(
            "kafka_consumergroup_current_offset",
            "Offset a consumer group last committed on a partition",
            labels=["consumergroup", "topic", "partition"],
        )
        lag_sum = GaugeMetricFamily(
            "kafka_consumergroup_lag_sum",
            "Messages a consumer group has yet to read from a topic",
            labels=["consumergroup", "topic"],
        )
        sums: dict[tuple[str, str], int] = {}
        for group, topic, partition, committed_offset, behind in lag_rows(end, committed):
            lag.add_metric([group, topic, str(partition)], behind)
            offset.add_metric([group, topic, str(partition)], committed_offset)
            sums[(group, topic)] = sums.get((group, topic), 0) + behind
        for (group, topic), behind in sorted(sums.items()):
            lag_sum.add_metric([group, topic], behind)
        yield from (lag, offset, lag_sum)
        count = GaugeMetricFamily(
            "kafka_consumergroup_members", "Members of a consumer group", labels=["consumergroup"]
        )
        for group, n in sorted(members.items()):
            count.add_metric([group], n)
        yield count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True, help="host:port,host:port")
    parser.add_argument("--port", type=int, default=9308, help="port of /metrics")
    parser.add_argument("--interval", type=float, default=30, help="seconds between readings")
    parser.add_argument("--timeout", type=float, default=10, help="seconds per Kafka request")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY

    collector = Collector()
    REGISTRY.register(collector)
    start_http_server(args.port)
    logging.info("serving /metrics on port %d, reading %s", args.port, args.bootstrap_servers)
    reader = Reader(args.bootstrap_servers, args.timeout)
    failing = False
    while True:
        started = time.monotonic()
        try:
            collector.update(reader.read())
            if failing:
                logging.info("reading offsets again")
            failing = False
        except Exception as exc:  # any Kafka error: report it, keep serving, try again
            collector.update(None)
            if not failing:
                logging.warning("cannot read offsets: %s", exc)
            failing = True
        time.sleep(max(1.0, args.interval - (time.monotonic() - started)))


if __name__ == "__main__":
    main()
