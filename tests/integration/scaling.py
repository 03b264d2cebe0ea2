"""The lab grown from 3 to 5 brokers (ZooKeeper stays on kafka-1..3) and back, with data in
it: shared by tests/integration/test_rebalance.py and bench/rebalance.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from confluent_kafka import Producer

from kafkaform.cluster import Cluster
from kafkaform.rebalance_cli import RESULT_RE
from kafkaform.validate import load_inventory

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Hosts added to a running lab: brokers only. Growing the ensemble is ZooKeeper's own
# membership procedure; kept out of the way, the planned 5-host lab would run ZooKeeper
# on kafka-4 and kafka-5 too.
BROKER_ONLY = {name: {"zookeeper": False, "zkid": None} for name in ("kafka-4", "kafka-5")}


def scaled_inventory(
    directory: Path,
    without: tuple[str, ...] = (),
    no_kafkaid: tuple[str, ...] = (),
    **group: object,
) -> str:
    """An inventory of the running lab with kafka-4/5 as brokers only, without the hosts named
    in ``without`` (a host taken out of the inventory) and with no kafkaid on the hosts named
    in ``no_kafkaid`` (a broker being retired)."""
    directory.mkdir(parents=True, exist_ok=True)
    name = "".join(f"_without_{h}" for h in without) + "".join(f"_retired_{h}" for h in no_kafkaid)
    path = directory / f"lab_scaled{name}.py"  # pyinfra caches an inventory's code by path
    extra = {h: {**BROKER_ONLY.get(h, {}), **({"kafkaid": None} if h in no_kafkaid else {})}
             for h in {*BROKER_ONLY, *no_kafkaid}}  # fmt: skip
    path.write_text(
        "from kafkaform.lab.plan import inventory_group_data, inventory_hosts\n"
        "from kafkaform.lab.state import load_state\n\n"
        "_state = load_state()\n"
        f"_extra = {extra!r}\n"
        f"_hosts = [(name, {{**data, **_extra.get(name, {{}})}}) for name, data in "
        f"inventory_hosts(_state) if name not in {list(without)!r}]\n"
        f"lab = (_hosts, {{**inventory_group_data(_state), **{group!r}}})\n"
    )
    return str(path)


def cluster_of(inventory: str) -> Cluster:
    return Cluster.from_hosts((h.name, h.data.dict()) for h in load_inventory(inventory))


def fill(servers: str, topic: str, megabytes: int) -> None:
    """``megabytes`` of incompressible 10 KB messages, acknowledged by all replicas."""
    producer = Producer(
        {"bootstrap.servers": servers, "acks": "all", "linger.ms": 20, "compression.type": "none"}
    )
    for _ in range(megabytes * 100):
        while True:
            try:
                producer.produce(topic, os.urandom(10_000))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(120) == 0, "not every message was acknowledged"


def kafkaform_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(BIN / "kafkaform"), *args], cwd=REPO, capture_output=True, text=True, check=False
    )
    shown = f"$ kafkaform {' '.join(args)} (exit {proc.returncode})\n{proc.stdout}{proc.stderr}"
    print(shown, file=sys.stderr)  # stdout: a bench's JSON lines
    if check:
        assert proc.returncode == 0, f"kafkaform {args[0]} failed"
    return proc


def result_of(output: str) -> dict[str, float]:
    """The figures of a rebalance's or drain's last line."""
    match = re.search(RESULT_RE, output)
    assert match, "no result line"
    return {k: float(v) for k, v in match.groupdict().items()}
