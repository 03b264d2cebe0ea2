"""The consumer-lag exporter (kafkaform/lag_exporter.py), offline: lag arithmetic, the reading
with fake Kafka clients, the poller's self-healing, metric rendering, arguments, and the file
the monitoring host receives. tests/integration/test_observability.py proves it on a cluster."""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest

from kafkaform import lag_exporter
from tests.unit.deployrun import run_deploy
from tests.unit.test_observability import MON, with_monitor

PROGRAM = Path(lag_exporter.__file__)


@pytest.fixture
def lag():
    return lag_exporter


class NotLeader(Exception):
    """What confluent-kafka raises while a client still believes in a dead leader."""


class FakeReader:
    """Raises or returns its ``outcome``; remembers whether it was closed."""

    def __init__(self, outcome):
        self.outcome, self.closed, self.reads = outcome, False, 0

    def read(self):
        self.reads += 1
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    def close(self):
        self.closed = True


class Clients:
    """connect(): one new FakeReader per call, with the next outcome of ``outcomes``."""

    def __init__(self, outcomes):
        self.outcomes, self.made = list(outcomes), []

    def __call__(self):
        reader = FakeReader(self.outcomes.pop(0))
        self.made.append(reader)
        return reader


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def reading(lag, committed_offset: int):
    return lag.Reading(
        end={("orders", 0): 100},
        committed={"billing": {("orders", 0): committed_offset}},
        members={"billing": 2},
        brokers=3,
    )


def samples(collector, name: str) -> list:
    return next((s for n, _, _, s in collector.families() if n == name), None)


def test_a_failed_read_withdraws_the_reading_and_new_clients_heal_it(lag, caplog):
    clients = Clients([reading(lag, 40), NotLeader("NOT_LEADER_FOR_PARTITION"), reading(lag, 70)])
    collector = lag.Collector()
    clock = Clock()
    poller = lag.Poller(clients, collector, interval=30, clock=clock)

    assert poller.step() == 30
    assert samples(collector, "kafka_lag_exporter_up") == [((), 1)]
    assert samples(collector, "kafka_consumergroup_lag") == [(("billing", "orders", "0"), 60)]

    # The first reader keeps working on its own until it hits the failover.
    first = clients.made[0]
    first.outcome = NotLeader("NOT_LEADER_FOR_PARTITION: Failed to get watermark offsets")
    with caplog.at_level(logging.WARNING):
        pause = poller.step()
    assert pause <= 2, "retries within seconds, not a whole interval"
    assert first.closed, "the clients that hold the stale metadata are closed"
    assert samples(collector, "kafka_lag_exporter_up") == [((), 0)]
    assert samples(collector, "kafka_consumergroup_lag") is None, "no stale lag served"
    assert "NOT_LEADER_FOR_PARTITION" in caplog.text

    # A new reader still fails (the broker is not back yet), then reads the new offsets.
    assert poller.step() > pause
    assert clients.made[1].closed
    assert poller.step() == 30
    assert len(clients.made) == 3
    assert samples(collector, "kafka_lag_exporter_up") == [((), 1)]
    assert samples(collector, "kafka_consumergroup_lag") == [(("billing", "orders", "0"), 30)]
    assert samples(collector, "kafka_consumergroup_current_offset") == [
        (("billing", "orders", "0"), 70)
    ]
    assert poller.failures == 0


def test_the_pause_grows_but_never_beyond_the_backoff_cap_or_the_interval(lag):
    clients = Clients([NotLeader("down")] * 8)
    poller = lag.Poller(clients, lag.Collector(), interval=7, backoff=(1, 2, 5, 10), clock=Clock())
    assert [poller.step() for _ in range(6)] == [1, 2, 5, 7, 7, 7]
    assert all(r.closed for r in clients.made)


def test_a_failing_connect_counts_as_a_failed_reading(lag):
    calls = []

    def connect():
        calls.append(1)
        if len(calls) == 1:
            raise NotLeader("bootstrap servers unreachable")
        return FakeReader(reading(lag, 100))

    collector = lag.Collector()
    poller = lag.Poller(connect, collector, interval=30, clock=Clock())
    assert poller.step() == 1
    assert samples(collector, "kafka_lag_exporter_up") == [((), 0)]
    poller.step()
    assert samples(collector, "kafka_consumergroup_lag") == [(("billing", "orders", "0"), 0)]


def test_the_wait_after_a_reading_subtracts_the_time_it_took(lag):
    clock = Clock()

    class Slow(FakeReader):
        def read(self):
            clock.now += 12
            return super().read()

    poller = lag.Poller(lambda: Slow(reading(lag, 1)), lag.Collector(), interval=30, clock=clock)
    assert poller.step() == 18


def test_closing_a_broken_reader_may_fail_without_stopping_the_exporter(lag):
    class Unclosable(FakeReader):
        def close(self):
            raise NotLeader("broker gone")

    outcomes = [Unclosable(NotLeader("x")), FakeReader(reading(lag, 50))]
    poller = lag.Poller(lambda: outcomes.pop(0), lag.Collector(), interval=30, clock=Clock())
    assert poller.step() == 1
    assert poller.step() == 30
    assert samples(poller.collector, "kafka_consumergroup_lag_sum") == [(("billing", "orders"), 50)]


def test_metric_names_stay_kafka_exporters(lag):
    names = [name for name, *_ in lag.families(reading(lag, 10))]
    assert names == [
        "kafka_lag_exporter_up",
        "kafka_brokers",
        "kafka_topic_partition_current_offset",
        "kafka_consumergroup_lag",
        "kafka_consumergroup_current_offset",
        "kafka_consumergroup_lag_sum",
        "kafka_consumergroup_members",
    ]
    assert [name for name, *_ in lag.families(None)] == ["kafka_lag_exporter_up"]


# --- lag arithmetic ----------------------------------------------------------------------------


def test_lag_rows():
    end = {("orders", 0): 100, ("orders", 1): 50, ("audit", 0): 7}
    committed = {
        "billing": {("orders", 0): 40, ("orders", 1): -1001, ("audit", 0): 9},
        "gone": {("deleted", 0): 3},
    }
    assert lag_exporter.lag_rows(end, committed) == [
        ("billing", "audit", 0, 9, 0),  # committed past a stale end offset: 0, never negative
        ("billing", "orders", 0, 40, 60),
    ]


def test_lag_sums_add_up_the_partitions_of_a_topic_per_group():
    reading = lag_exporter.Reading(
        end={("orders", 0): 100, ("orders", 1): 10, ("audit", 0): 5},
        committed={
            "billing": {("orders", 0): 90, ("orders", 1): 4, ("audit", 0): 5},
            "audit": {("audit", 0): 1},
        },
        members={"billing": 1, "audit": 0},
        brokers=3,
    )
    found = {name: samples for name, _, _, samples in lag_exporter.families(reading)}
    assert found["kafka_consumergroup_lag_sum"] == [
        (("audit", "audit"), 4),
        (("billing", "audit"), 0),
        (("billing", "orders"), 16),
    ]
    assert found["kafka_topic_partition_current_offset"] == [
        (("audit", "0"), 5),
        (("orders", "0"), 100),
        (("orders", "1"), 10),
    ]
    assert found["kafka_consumergroup_members"] == [(("audit",), 0), (("billing",), 1)]
    assert found["kafka_brokers"] == [((), 3)]


# --- the reading, with fake Kafka clients ------------------------------------------------------


class FakeConsumer:
    """What the reader uses of a confluent_kafka Consumer, with offsets given per group."""

    def __init__(self, group: str, kafka: FakeKafka):
        self.group, self.kafka, self.closed = group, kafka, False

    def get_watermark_offsets(self, tp, timeout, cached):
        assert cached is False, "end offsets are read from the brokers, not from a cache"
        self.kafka.clock.now += self.kafka.request_seconds
        return 0, self.kafka.end[(tp.topic, tp.partition)]

    def committed(self, partitions, timeout):
        commits = self.kafka.commits[self.group]
        errors = self.kafka.errors.get(self.group, {})
        return [
            SimpleNamespace(
                topic=tp.topic,
                partition=tp.partition,
                offset=commits.get((tp.topic, tp.partition), -1001),
                error=errors.get((tp.topic, tp.partition)),
            )
            for tp in partitions
        ]

    def close(self):
        self.closed = True


class FakeKafka:
    """An AdminClient and a consumer factory over one made-up cluster."""

    def __init__(self):
        self.clock = Clock()
        self.request_seconds = 0.0
        self.topics = {"orders": 2, "__consumer_offsets": 50}
        self.end = {("orders", 0): 100, ("orders", 1): 30}
        self.groups = [
            SimpleNamespace(id="billing", protocol_type="consumer", members=["a", "b"]),
            SimpleNamespace(id="simple", protocol_type="", members=[]),
            SimpleNamespace(id="connect-cluster", protocol_type="connect", members=["w"]),
        ]
        self.commits = {"billing": {("orders", 0): 60, ("orders", 1): 30}, "simple": {}}
        self.errors: dict = {}
        self.consumers: list[FakeConsumer] = []

    def list_topics(self, timeout):
        assert 0 < timeout <= 10
        topics = {
            name: SimpleNamespace(partitions=dict.fromkeys(range(count)))
            for name, count in self.topics.items()
        }
        return SimpleNamespace(topics=topics, brokers={1: None, 2: None, 3: None})

    def list_groups(self, timeout):
        return list(self.groups)

    def consumer(self, group: str) -> FakeConsumer:
        made = FakeConsumer(group, self)
        self.consumers.append(made)
        return made

    def reader(self, timeout: float = 10):
        return lag_exporter.Reader(self, self.consumer, timeout, clock=self.clock)


def test_a_reading_holds_end_offsets_commits_and_members_of_consumer_groups():
    kafka = FakeKafka()
    reading = kafka.reader().read()
    assert reading.end == {("orders", 0): 100, ("orders", 1): 30}, "internal topics skipped"
    assert reading.committed == {
        "billing": {("orders", 0): 60, ("orders", 1): 30},
        "simple": {("orders", 0): -1001, ("orders", 1): -1001},
    }
    assert reading.members == {"billing": 2, "simple": 0}, "Connect's groups are not consumers"
    assert reading.brokers == 3
    assert [c.group for c in kafka.consumers] == ["kafkaform-lag-exporter", "billing", "simple"]


def test_a_partial_answer_for_a_group_is_not_a_reading():
    from confluent_kafka import KafkaException

    kafka = FakeKafka()
    kafka.errors["billing"] = {("orders", 1): "COORDINATOR_NOT_AVAILABLE"}
    with pytest.raises(KafkaException, match="COORDINATOR_NOT_AVAILABLE"):
        kafka.reader().read()


def test_a_group_that_disappears_has_its_consumer_closed():
    kafka = FakeKafka()
    reader = kafka.reader()
    reader.read()
    billing = reader.groups["billing"]
    kafka.groups = [g for g in kafka.groups if g.id != "billing"]
    assert "billing" not in reader.read().committed
    assert billing.closed and "billing" not in reader.groups
    reader.close()
    assert all(c.closed for c in kafka.consumers)


def test_a_slow_cluster_fails_the_reading_instead_of_stalling_it():
    kafka = FakeKafka()
    kafka.request_seconds = 4  # each end-offset request: 4 s of a 3 x 5 s budget
    kafka.topics = {"orders": 5}
    kafka.end = {("orders", p): 10 for p in range(5)}
    with pytest.raises(TimeoutError, match="within 15s"):
        kafka.reader(timeout=5).read()


def test_a_reader_over_fake_clients_feeds_the_poller():
    kafka = FakeKafka()
    collector = lag_exporter.Collector()
    poller = lag_exporter.Poller(kafka.reader, collector, interval=30, clock=kafka.clock)
    assert poller.step() == 30
    assert samples(collector, "kafka_consumergroup_lag") == [
        (("billing", "orders", "0"), 40),
        (("billing", "orders", "1"), 0),
    ]


# --- metric rendering and arguments ------------------------------------------------------------


class FakeGauge:
    """prometheus_client's GaugeMetricFamily, as far as the collector uses it."""

    def __init__(self, name, documentation, labels):
        self.name, self.documentation, self.labels, self.samples = name, documentation, labels, []

    def add_metric(self, values, value):
        self.samples.append((values, value))


def test_collect_renders_every_family_as_a_gauge_with_its_labels(monkeypatch):
    core = types.ModuleType("prometheus_client.core")
    core.GaugeMetricFamily = FakeGauge
    monkeypatch.setitem(sys.modules, "prometheus_client", types.ModuleType("prometheus_client"))
    monkeypatch.setitem(sys.modules, "prometheus_client.core", core)
    collector = lag_exporter.Collector()
    collector.update(reading(lag_exporter, 25))
    gauges = {g.name: g for g in collector.collect()}
    lag = gauges["kafka_consumergroup_lag"]
    assert lag.labels == ["consumergroup", "topic", "partition"]
    assert lag.samples == [(["billing", "orders", "0"], 75)]
    assert lag.documentation == "Messages a consumer group has yet to read from a partition"
    assert gauges["kafka_lag_exporter_up"].samples == [([], 1)]
    collector.update(None)
    assert [(g.name, g.samples) for g in collector.collect()] == [
        ("kafka_lag_exporter_up", [([], 0)])
    ]


def test_arguments_and_their_defaults():
    args = lag_exporter.parse_args(["--bootstrap-servers", "10.0.0.1:9092,10.0.0.2:9092"])
    assert (args.bootstrap_servers, args.port, args.interval, args.timeout) == (
        "10.0.0.1:9092,10.0.0.2:9092",
        9308,
        30.0,
        10.0,
    )
    args = lag_exporter.parse_args(
        ["--bootstrap-servers", "b:9092", "--port", "9400", "--interval", "5", "--timeout", "2.5"]
    )
    assert (args.port, args.interval, args.timeout) == (9400, 5.0, 2.5)


def test_bootstrap_servers_are_required(capsys):
    with pytest.raises(SystemExit) as exit_:
        lag_exporter.parse_args([])
    assert exit_.value.code == 2
    assert "--bootstrap-servers" in capsys.readouterr().err


# --- the file the monitoring host runs ---------------------------------------------------------


def test_the_program_imports_nothing_from_kafkaform():
    tree = ast.parse(PROGRAM.read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name and name.split(".")[0] == "kafkaform"}
    assert imported <= {
        "__future__",
        "argparse",
        "logging",
        "threading",
        "time",
        "collections.abc",
        "typing",
        "confluent_kafka",
        "confluent_kafka.admin",
        "prometheus_client",
        "prometheus_client.core",
    }


def test_the_distributions_python3_runs_it_on_its_own():
    # Isolated mode, from another directory: nothing of this repository or its venv is found.
    proc = subprocess.run(
        ["/usr/bin/python3", "-I", str(PROGRAM), "--help"],
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--bootstrap-servers" in proc.stdout and "--interval" in proc.stdout
    assert PROGRAM.read_text().startswith("#!/usr/bin/python3\n")


def test_the_monitoring_host_receives_this_module_as_its_program(monkeypatch):
    from pyinfra.connectors.fake import FakeConnector

    uploads: dict[str, bytes] = {}
    real = FakeConnector.put_file

    def capture(self, filename_or_io, remote_filename, *args, **kwargs):
        if self.host.name == MON:
            if hasattr(filename_or_io, "read"):
                data = filename_or_io.read()
                filename_or_io.seek(0)
            else:
                data = Path(filename_or_io).read_bytes()
            uploads[remote_filename] = data if isinstance(data, bytes) else data.encode()
        return real(self, filename_or_io, remote_filename, *args, **kwargs)

    monkeypatch.setattr(FakeConnector, "put_file", capture)
    run = run_deploy(with_monitor("debian12"))
    assert uploads["/usr/local/lib/kafkaform/kafka-lag-exporter"] == PROGRAM.read_bytes()
    assert "chmod 755 /usr/local/lib/kafkaform/kafka-lag-exporter" in run.executed(MON)
