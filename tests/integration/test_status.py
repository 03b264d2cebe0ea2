"""`kafkaform status` on the lab: healthy (exit 0) on a healthy cluster; after `lab kill
kafka-2`, exit 1 with kafka-2's row flagged and the other rows clean."""

from __future__ import annotations

import json
import time

from tests.integration.conftest import BIN, LAB_INVENTORY, kafkaform, run
from tests.integration.test_cluster import cluster  # noqa: F401  (fixture: a deployed 3-node lab)


def status() -> tuple[int, dict]:
    proc = run(str(BIN / "kafkaform"), "status", LAB_INVENTORY, "--json", check=False)
    return proc.returncode, json.loads(proc.stdout)


def test_healthy_lab_then_a_killed_host_flagged(cluster):  # noqa: F811
    code, healthy = status()
    assert code == 0, healthy["problems"]
    rows = {row["host"]: row for row in healthy["hosts"]}
    assert sorted(row["zookeeper"] for row in rows.values()) == ["follower", "follower", "leader"]
    assert all(row["registered"] for row in rows.values())
    assert sum(row["controller"] for row in rows.values()) == 1

    kafkaform("lab", "kill", "kafka-2")  # last: the lab is not used after this
    # Its registration lapses with its ZooKeeper session (zookeeper.session.timeout.ms, 18 s).
    deadline = time.monotonic() + 90
    while True:
        code, killed = status()
        rows = {row["host"]: row for row in killed["hosts"]}
        if rows["kafka-2"]["registered"] is False or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert code == 1
    assert rows["kafka-2"]["zookeeper"] == "down"
    assert rows["kafka-2"]["registered"] is False
    assert rows["kafka-1"]["problems"] == [] and rows["kafka-3"]["problems"] == []
