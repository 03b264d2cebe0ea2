"""ZooKeeper membership changes on a 5-host lab through the real CLI, under traffic.

The ensemble runs on the first 3 hosts; a plain deploy of the lab's own inventory (ZooKeeper
on all 5) grows it to 5, one server per reconfig (kafkaform.ensemble_change); the 3-server
inventory again shrinks it back, the removed servers stopped and disabled with their data
left. Throughout, a separate process asks every host `srvr` and `ruok` every 0.2 s. The rule,
at EVERY sample: a majority of the committed members serves (leader or follower; checked
against each membership the phase passes through), one of them leads, and never two
leaders. The one exception is a removed leader's hand-off (ZooKeeper 3.8 has no other way to
move the lead): its samples are counted and reported, at most HAND_OFF_SAMPLES.
Znodes written before are all read back after; a producer (acks=all) and a consumer run the
whole time and every acknowledged message is read back. The growth is interrupted once (the
deploy killed mid-step) and finished by the next plain run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from kafkaform import verify
from tests.integration.conftest import (
    LAB_INVENTORY,
    changed_operations,
    deploy,
    fresh_lab,
    lab_inventory_with,
    on_node,
)
from tests.integration.test_upgrade import killed_deploy

TOPIC = "membership"
ZNODES = 200
ROOT = "/kafkaform-membership-test"
# Samples (0.2 s apart) in which the removed leader still answers "leader" beside its
# successor: about 1 s (measured 0-2 on loopback, 3 once on the lab under a full CI run).
HAND_OFF_SAMPLES = 5

# Polls in a process of its own: a thread here would share pyinfra's gevent hub.
WATCHER = """
import json, socket, sys, time
servers, out = json.loads(sys.argv[1]), sys.argv[2]

def ask(address, port, word):
    try:
        with socket.create_connection((address, port), timeout=0.5) as s:
            s.sendall(word.encode())
            s.settimeout(0.5)
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        return data.decode(errors="replace")
    except OSError:
        return None

with open(out, "w", buffering=1) as f:
    while True:
        sample = {"t": time.time(), "mode": {}, "up": {}}
        for zkid, address, port in servers:
            answer = ask(address, port, "srvr") or ""
            modes = [l[5:].strip() for l in answer.splitlines() if l.startswith("Mode:")]
            sample["mode"][zkid] = modes[0] if modes else None
            sample["up"][zkid] = ask(address, port, "ruok") == "imok"
        f.write(json.dumps(sample) + "\\n")
        time.sleep(0.2)
"""


class QuorumWatch:
    """Every 0.2 s: each server's mode (srvr) and whether its process answers (ruok)."""

    def __init__(self, cluster, out) -> None:
        servers = [
            (n.zkid, n.address, n.settings["zookeeper_client_port"]) for n in cluster.ensemble
        ]
        self.argv = [sys.executable, "-c", WATCHER, json.dumps(servers), str(out)]
        self.out = out
        self.samples: list[dict] = []

    def __enter__(self) -> QuorumWatch:
        self.proc = subprocess.Popen(self.argv)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait()
        lines = self.out.read_text().splitlines()
        self.samples = [json.loads(line) for line in lines if line.endswith("}")]

    def between(self, start: float, end: float) -> list[dict]:
        return [s for s in self.samples if start <= s["t"] <= end]


def leaderless_gaps(samples: list[dict]) -> list[float]:
    """Seconds of each run of consecutive samples with no leader."""
    gaps, began = [], None
    for sample in samples:
        leads = any(m == "leader" for m in sample["mode"].values())
        if not leads and began is None:
            began = sample["t"]
        elif leads and began is not None:
            gaps.append(sample["t"] - began)
            began = None
    if began is not None:
        gaps.append(samples[-1]["t"] - began)
    return gaps


def bad_sample(sample: dict, memberships: list[set[str]]) -> str | None:
    """Why this sample breaks the rule, or None: for every membership the phase passes
    through, a majority of its members serve and one of them leads; never two leaders."""
    leaders = [z for z, m in sample["mode"].items() if m == "leader"]
    if len(leaders) > 1:
        return f"two leaders at once: {sample}"
    for members in memberships:
        serving = [z for z in members if sample["mode"][z] in ("leader", "follower")]
        if len(serving) < len(members) // 2 + 1:
            return f"only {sorted(serving)} of {sorted(members)} serve: {sample}"
        if not any(sample["mode"][z] == "leader" for z in members):
            return f"none of {sorted(members)} leads: {sample}"
        up = sum(1 for z in members if sample["up"][z])
        if up < len(members) // 2 + 1:
            return f"only {up} of {sorted(members)} up: {sample}"
    return None


def judge(
    samples: list[dict], memberships: list[set[str]], hand_off: bool = False
) -> tuple[dict, list[str]]:
    """The phase's figures, and what broke the rule (``hand_off``: the leader is removed in
    this phase, and up to HAND_OFF_SAMPLES samples of its hand-off are allowed)."""
    bad = [why for s in samples if (why := bad_sample(s, memberships))]
    broken = [] if samples else ["no sample"]
    if len(bad) > (HAND_OFF_SAMPLES if hand_off else 0):
        broken += bad
    gaps = leaderless_gaps(samples)
    serving = [sum(1 for m in s["mode"].values() if m in ("leader", "follower")) for s in samples]
    figures = {
        "samples": len(samples),
        "bad_samples": len(bad),
        "leader_removed": hand_off,
        "leaderless_gaps": len(gaps),
        "longest_gap_s": round(max(gaps, default=0), 2),
        "min_serving": min(serving, default=0),
    }
    return figures, broken


def write_znodes(cluster) -> None:
    from kazoo.client import KazooClient

    client = KazooClient(hosts=cluster.zookeeper_connect(), timeout=15)
    client.start(timeout=15)
    try:
        client.ensure_path(ROOT)
        for i in range(ZNODES):
            client.create(f"{ROOT}/n-{i:04d}", f"value {i}".encode())
    finally:
        client.stop()
        client.close()


def read_znodes(cluster) -> dict[str, bytes]:
    from kazoo.client import KazooClient

    client = KazooClient(hosts=cluster.zookeeper_connect(), timeout=15)
    client.start(timeout=15)
    try:
        return {c: client.get(f"{ROOT}/{c}")[0] for c in client.get_children(ROOT)}
    finally:
        client.stop()
        client.close()


DYNAMIC_DIR = "/var/lib/zookeeper/conf"
NEWEST = (
    f"ls {DYNAMIC_DIR} | sed -n 's/^zoo\\.cfg\\.dynamic\\.\\([0-9a-f]*\\)$/\\1/p' | "
    "awk '{ print length($0), $0 }' | sort -k1,1n -k2,2 | tail -n 1 | cut -d' ' -f2"
)


def committed_servers(node: str) -> list[str]:
    """The servers of the newest membership ZooKeeper wrote on ``node``."""
    version = on_node(node, NEWEST).stdout.strip()
    assert version, f"no zoo.cfg.dynamic.<version> on {node}"
    text = on_node(node, f"cat {DYNAMIC_DIR}/zoo.cfg.dynamic.{version}").stdout
    return sorted(line.split("=", 1)[0] for line in text.splitlines() if line.startswith("server."))


def static_zoo_cfg_lists_no_server(node: str) -> bool:
    text = on_node(node, "cat /etc/zookeeper/zoo.cfg").stdout
    return not any(line.startswith("server.") for line in text.splitlines())


def timed_deploy(inventory: str) -> tuple[float, float]:
    """A deploy that must succeed; its start and end (wall clock, as the watcher's samples)."""
    began = time.time()
    result = deploy(inventory)
    assert result["results"]["totals"]["error"] == 0
    return began, time.time()


def test_zookeeper_grows_3_to_5_and_shrinks_back_under_traffic(lab_box, tmp_path):
    cluster = fresh_lab(5, box=lab_box.catalog)  # the lab's inventory: ZooKeeper on all 5
    names = [n.name for n in cluster.nodes]
    assert len(cluster.ensemble) == 5
    three = lab_inventory_with(
        tmp_path, hosts={n: {"zookeeper": False, "zkid": None} for n in names[3:]}
    )
    assert deploy(three)["results"]["totals"]["error"] == 0
    write_znodes(cluster)
    verify.create_topic(verify.bootstrap(cluster), TOPIC, partitions=6, replication=3, min_isr=2)

    with (
        QuorumWatch(cluster, tmp_path / "quorum.jsonl") as watch,
        verify.LiveTraffic(verify.bootstrap(cluster), TOPIC) as traffic,
    ):
        # A run killed (SIGKILL, its whole process group) once the first new server
        # follows, mid-step: the next plain run reads where it stopped and finishes.
        began = time.time()
        killed_deploy(
            LAB_INVENTORY,
            tmp_path / "killed.log",
            lambda: verify.ensemble_modes_reachable(cluster).get(names[3]) == "follower",
        )
        grow = (began, timed_deploy(LAB_INVENTORY)[1])
        modes = verify.ensemble_modes(cluster)
        assert sorted(modes.values()) == ["follower"] * 4 + ["leader"], modes
        for name in names:
            assert committed_servers(name) == [f"server.{i}" for i in range(1, 6)]
            assert static_zoo_cfg_lists_no_server(name)
        leader = next(name for name, mode in modes.items() if mode == "leader")
        shrink = timed_deploy(three)
    counts = traffic.check()

    sets = [{str(z) for z in range(1, n + 1)} for n in (3, 4, 5)]
    grow_figures, grow_broken = judge(watch.between(*grow), sets)
    leader_removed = leader in names[3:]
    shrink_figures, shrink_broken = judge(watch.between(*shrink), sets, leader_removed)
    print(
        json.dumps(
            {
                "bench": "zookeeper_membership",
                "grow_3_to_5_s": round(grow[1] - grow[0], 1),
                "shrink_5_to_3_s": round(shrink[1] - shrink[0], 1),
                "grow": grow_figures,
                "shrink": shrink_figures,
                **counts,
            }
        )
    )
    assert grow_broken == [], grow_broken[:5]
    assert shrink_broken == [], shrink_broken[:5]

    # No znode lost; the removed servers stopped and disabled, their data left in place.
    found = read_znodes(cluster)
    assert len(found) == ZNODES
    assert all(found[f"n-{i:04d}"] == f"value {i}".encode() for i in range(ZNODES))
    for name in names[3:]:
        unit = "systemctl is-active zookeeper; systemctl is-enabled zookeeper"
        state = on_node(name, unit, check=False)
        assert state.stdout.split() == ["inactive", "disabled"], state.stdout
        data = cluster.node(name).settings["zookeeper_data_dir"]
        assert int(on_node(name, f"ls {data}/version-2 | wc -l").stdout) > 0
        # Its membership files are gone: it cannot start again by accident.
        left = on_node(name, f"ls {DYNAMIC_DIR} /etc/zookeeper", check=False).stdout
        assert "zoo.cfg.dynamic." not in left, left
    for name in names[:3]:
        assert committed_servers(name) == ["server.1", "server.2", "server.3"]
        assert "zoo.cfg.bootstrap" not in on_node(name, "ls /etc/zookeeper").stdout
        props = on_node(name, "cat /etc/kafka/server.properties").stdout
        assert "zookeeper.connect=" in props and ":2181/kafka" in props
    props = on_node(names[4], "cat /etc/kafka/server.properties").stdout
    connect = [line for line in props.splitlines() if line.startswith("zookeeper.connect=")]
    assert connect and connect[0].count(":2181") == 3, connect
    # The run after changes nothing.
    assert changed_operations(deploy(three)) == []
