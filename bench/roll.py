"""Rolling-restart benchmarks on the local lab, printed as JSON lines.

    .venv/bin/python bench/roll.py [--nodes 3] [--rate 50] [--keep]

On a freshly deployed lab, while a producer (acks=all, idempotent) writes to an RF 3 /
min.insync.replicas 2 topic and a consumer reads it:
  kafka_roll:  a Kafka property change, i.e. a safe rolling restart of every broker;
  zk_roll:     a ZooKeeper property change, every server, the leader last;
  noop:        the same command again (nothing to restart);
each with the messages sent, acknowledged and lost (lost must be 0) and the no-op's ratio to
the Kafka roll. The machines are shared and noisy: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kafkaform import client_config, verify
from kafkaform.cluster import Cluster
from kafkaform.validate import load_inventory

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOPIC = "bench-roll"


def run(*argv: str) -> float:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return time.monotonic() - started


def inventory(directory: str, **group: object) -> str:
    path = Path(directory) / f"lab_{len(list(Path(directory).iterdir()))}.py"
    path.write_text(
        "from kafkaform.lab.plan import inventory_group_data, inventory_hosts\n"
        "from kafkaform.lab.state import load_state\n"
        "_state = load_state()\n"
        f"lab = (inventory_hosts(_state), {{**inventory_group_data(_state), **{group!r}}})\n"
    )
    return str(path)


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def timed_under_traffic(cluster: Cluster, bench: str, inventory_file: str, rate: float) -> float:
    servers = verify.bootstrap(cluster)
    with verify.LiveTraffic(
        servers, TOPIC, rate=rate, login=client_config.login_of(cluster)
    ) as traffic:
        took = run(str(BIN / "pyinfra"), "-y", inventory_file, "deploys/kafka.py")
    counts = traffic.check()
    emit(bench=bench, brokers=len(cluster.brokers), seconds=round(took, 2), **counts)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second")
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = parser.parse_args()

    kafkaform = str(BIN / "kafkaform")
    run(kafkaform, "lab", "down")
    run(kafkaform, "lab", "up", "--nodes", str(args.nodes))
    cluster = Cluster.from_hosts(
        (h.name, h.data.dict()) for h in load_inventory(str(REPO / "inventories/lab.py"))
    )
    with tempfile.TemporaryDirectory(prefix="kafkaform-bench-roll-") as tmp:
        run(str(BIN / "pyinfra"), "-y", inventory(tmp), "deploys/kafka.py")
        replication = min(3, args.nodes)
        verify.create_topic(
            verify.bootstrap(cluster),
            TOPIC,
            6,
            replication,
            max(1, replication - 1),
            login=client_config.login_of(cluster),
        )
        kafka_change = {"kafka_properties": {"log.retention.hours": 167}}
        roll = timed_under_traffic(cluster, "kafka_roll", inventory(tmp, **kafka_change), args.rate)
        both = {**kafka_change, "zookeeper_properties": {"maxClientCnxns": 59}}
        timed_under_traffic(cluster, "zk_roll", inventory(tmp, **both), args.rate)
        noop = timed_under_traffic(cluster, "noop", inventory(tmp, **both), args.rate)
        emit(bench="noop_over_kafka_roll", ratio=round(noop / roll, 3))
    if not args.keep:
        run(kafkaform, "lab", "down")


if __name__ == "__main__":
    main()
