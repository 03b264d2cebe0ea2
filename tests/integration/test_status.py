"""`kafkaform status` on the lab:

- a healthy cluster: exit 0, every broker row with the Kafka version it runs (read from its
  JMX exporter) and every ZooKeeper row with its server's version, no note;
- after `lab kill kafka-2`: exit 1 with kafka-2's row flagged, the other rows clean, and the
  partitions it took listed in --json;
- an upgrade 3.8.1 -> 3.9.2 stopped after its first broker: healthy (exit 0), the rows say
  which broker runs which version, and a note says an upgrade is under way.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from kafkaform import artifacts, settings
from tests.integration.conftest import (
    BIN,
    LAB_INVENTORY,
    deploy,
    fresh_lab,
    kafkaform,
    lab_inventory_with,
    run,
)
from tests.integration.test_cluster import cluster  # noqa: F401  (fixture: a deployed 3-node lab)
from tests.integration.test_upgrade import OLD, killed_after_first_broker


def status(*args: str) -> tuple[int, dict]:
    proc = run(str(BIN / "kafkaform"), "status", LAB_INVENTORY, "--json", *args, check=False)
    return proc.returncode, json.loads(proc.stdout)


def table() -> str:
    proc = run(str(BIN / "kafkaform"), "status", LAB_INVENTORY, check=False)
    print(proc.stdout)  # the README's example (pytest -s)
    return proc.stdout


def status_until(done, seconds: float) -> tuple[int, dict]:
    deadline = time.monotonic() + seconds
    while True:
        code, data = status()
        if done(code, data) or time.monotonic() > deadline:
            return code, data
        time.sleep(2)


def test_healthy_lab_then_a_killed_host_flagged(cluster):  # noqa: F811
    code, healthy = status()
    assert code == 0, healthy["problems"]
    rows = {row["host"]: row for row in healthy["hosts"]}
    assert sorted(row["zookeeper"] for row in rows.values()) == ["follower", "follower", "leader"]
    assert all(row["registered"] for row in rows.values())
    assert sum(row["controller"] for row in rows.values()) == 1
    assert {row["version"] for row in rows.values()} == {settings.KAFKA_VERSION}
    assert all(re.fullmatch(r"3\.\d+\.\d+", row["zookeeper_version"]) for row in rows.values())
    assert healthy["notes"] == [] and healthy["upgrade_under_way"] is False
    assert all(found == [] for found in healthy["unhealthy_partitions"].values())
    table()

    kafkaform("lab", "kill", "kafka-2")  # last: the lab is not used after this
    # Its registration lapses with its ZooKeeper session (zookeeper.session.timeout.ms, 18 s).
    started = time.monotonic()
    code, killed = status_until(
        lambda code, data: (
            next(r for r in data["hosts"] if r["host"] == "kafka-2")["registered"] is False
        ),
        90,
    )
    print(f"kafka-2 unregistered after {time.monotonic() - started:.0f} s")
    rows = {row["host"]: row for row in killed["hosts"]}
    assert code == 1
    assert rows["kafka-2"]["zookeeper"] == "down"
    assert rows["kafka-2"]["registered"] is False
    assert rows["kafka-2"]["version"] is None  # its exporter is gone with it
    assert rows["kafka-1"]["problems"] == [] and rows["kafka-3"]["problems"] == []
    listed = killed["unhealthy_partitions"]["under_replicated"]
    assert len(listed) == killed["partitions"]["under_replicated"] > 0
    assert all(2 in p["replicas"] and 2 not in p["isr"] for p in listed)
    started = time.monotonic()
    assert "UNHEALTHY:" in table()
    print(f"status with kafka-2 gone took {time.monotonic() - started:.1f} s")


@pytest.fixture(scope="module")
def half_upgraded(lab_box, tmp_path_factory):
    """A lab on 3.8.1 whose upgrade to the configured version was killed once its first
    broker ran the new one."""
    for version in (OLD, settings.KAFKA_VERSION):
        artifacts.build_distribution(version, settings.SCALA_VERSION)
    lab = fresh_lab(3, box=lab_box.catalog)
    old = lab_inventory_with(tmp_path_factory.mktemp("old"), kafka_version=OLD)
    assert deploy(old)["results"]["totals"]["error"] == 0
    killed_after_first_broker(lab, LAB_INVENTORY, tmp_path_factory.mktemp("log") / "deploy.log")
    return lab


def test_an_upgrade_under_way_is_noted_not_unhealthy(half_upgraded):
    # The restarted broker catches up first (the roll waits for that too, but was killed).
    code, data = status_until(lambda code, data: code == 0, 90)
    assert code == 0, data["problems"]
    versions = sorted(row["version"] for row in data["hosts"])
    assert versions == [OLD, OLD, settings.KAFKA_VERSION]
    assert data["upgrade_under_way"] is True
    assert data["notes"][0].startswith("Kafka: brokers run different versions (3.8.1 on ")
    assert "brokers run different versions" in table()
