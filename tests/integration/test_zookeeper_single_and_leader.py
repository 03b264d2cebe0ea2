"""ZooKeeper membership changes through a single server and away from the leader, on a
5-host lab through the real CLI: 1 -> 3 in one reconfig, the leader replaced (a new server
added, the leading one removed: ZooKeeper hands its lead to a survivor), 3 -> 1 in one
reconfig. Every 0.2 s each server is asked `srvr` (the watcher of test_zookeeper_membership):
a leader at every sample, and two servers answering "leader" only for at most HAND_OFF_SAMPLES
samples of a phase that removes the leader (the removed one, for a moment, beside its
successor; it can commit nothing, being no member). Znodes are all kept and the run after
changes nothing.
"""

from __future__ import annotations

import time

from kafkaform import verify
from tests.integration.conftest import (
    changed_operations,
    deploy,
    fresh_lab,
    lab_inventory_with,
)
from tests.integration.test_zookeeper_membership import (
    HAND_OFF_SAMPLES,
    ZNODES,
    QuorumWatch,
    committed_servers,
    read_znodes,
    write_znodes,
)


def leaders(sample: dict) -> list[str]:
    return [z for z, m in sample["mode"].items() if m == "leader"]


def test_one_to_three_the_leader_replaced_and_back_to_one(lab_box, tmp_path):
    # The lab's inventory: ZooKeeper on all 5, which the watcher asks.
    cluster = fresh_lab(5, box=lab_box.catalog)
    names = [n.name for n in cluster.nodes]

    def inventory(servers: list[str], tag: str) -> str:
        directory = tmp_path / tag
        directory.mkdir()
        hosts = {
            name: {"zookeeper": True, "zkid": i} if name in servers else
            {"zookeeper": False, "zkid": None}
            for i, name in enumerate(names, 1)
        }  # fmt: skip
        return lab_inventory_with(directory, hosts=hosts)

    def phase(servers: list[str], tag: str) -> tuple[float, float]:
        began = time.time()
        assert deploy(inventory(servers, tag))["results"]["totals"]["error"] == 0
        return began, time.time()

    assert deploy(inventory(names[:1], "one"))["results"]["totals"]["error"] == 0
    assert verify.ensemble_modes_reachable(cluster) == {names[0]: "leader"}  # a quorum of one
    write_znodes(cluster)
    with QuorumWatch(cluster, tmp_path / "quorum.jsonl") as watch:
        grow = phase(names[:3], "three")
        modes = verify.ensemble_modes_reachable(cluster)
        leader = next(name for name, mode in modes.items() if mode == "leader")
        moved = [n for n in names[:3] if n != leader] + [names[3]]
        replace = phase(moved, "moved")
        single = phase(moved[:1], "back")
    for began, ended in (grow, replace, single):
        samples = watch.between(began, ended)
        assert samples
        assert all(leaders(s) for s in samples), "a sample without a leader"
    doubled = {
        what: sum(1 for s in watch.between(*when) if len(leaders(s)) > 1)
        for what, when in (("grow", grow), ("replace", replace), ("single", single))
    }
    print({"bench": "zookeeper_single_and_leader", "two_leader_samples": doubled})
    assert doubled["grow"] == 0
    assert doubled["replace"] <= HAND_OFF_SAMPLES  # the leader left
    # 3 -> 1 removes two of three: a hand-off unless the one that stays leads.
    assert doubled["single"] <= HAND_OFF_SAMPLES
    zkid = names.index(moved[0]) + 1
    assert committed_servers(moved[0]) == [f"server.{zkid}"]
    assert verify.ensemble_modes_reachable(cluster) == {moved[0]: "leader"}
    found = read_znodes(cluster)
    assert len(found) == ZNODES
    assert changed_operations(deploy(inventory(moved[:1], "again"))) == []
