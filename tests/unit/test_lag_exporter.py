"""The consumer-lag exporter's self-healing: a fake reader that fails, then succeeds."""

from __future__ import annotations

import importlib.util
import logging

import pytest

from kafkaform.templating import TEMPLATES


@pytest.fixture(scope="module")
def lag():
    path = TEMPLATES / "lag_exporter" / "kafka-lag-exporter.py"
    spec = importlib.util.spec_from_file_location("kafka_lag_exporter_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
