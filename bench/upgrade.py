"""Rolling version upgrade benchmark on the local lab, printed as JSON lines.

    .venv/bin/python bench/upgrade.py [--nodes 3] [--rate 50] [--from 3.8.1] [--to 3.9.2] [--keep]

Deploys --from on a fresh lab, then, while a producer (acks=all, idempotent) writes to an
RF 3 / min.insync.replicas 2 topic and a consumer reads it, runs the plain deploy with
kafka_version --to once: it does both phases (new binaries with the protocol held, then the
new protocol). One line for the upgrade with the messages sent, acknowledged and lost (lost
must be 0), one for the plain run after it (nothing to do). Both distributions are built by
`kafkaform artifacts build` (cached).
"""

from __future__ import annotations

import argparse
import tempfile
import time

# bench/ is the script's directory, so its sibling is importable as a module.
from roll import BIN, REPO, TOPIC, emit, inventory, run

from kafkaform import client_config, verify
from kafkaform.cluster import Cluster
from kafkaform.validate import load_inventory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second")
    parser.add_argument("--from", dest="old", default="3.8.1")
    parser.add_argument("--to", dest="new", default="3.9.2")
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = parser.parse_args()

    kafkaform = str(BIN / "kafkaform")
    pyinfra = str(BIN / "pyinfra")
    for version in (args.old, args.new):
        run(kafkaform, "artifacts", "build", "--kafka-version", version)
    run(kafkaform, "lab", "down")
    run(kafkaform, "lab", "up", "--nodes", str(args.nodes))
    cluster = Cluster.from_hosts(
        (h.name, h.data.dict()) for h in load_inventory(str(REPO / "inventories/lab.py"))
    )
    with tempfile.TemporaryDirectory(prefix="kafkaform-bench-upgrade-") as tmp:
        run(pyinfra, "-y", inventory(tmp, kafka_version=args.old), "deploys/kafka.py")
        replication = min(3, args.nodes)
        servers, login = verify.bootstrap(cluster), client_config.login_of(cluster)
        verify.create_topic(servers, TOPIC, 6, replication, max(1, replication - 1), login=login)
        upgraded = inventory(tmp, kafka_version=args.new)
        started = time.monotonic()
        with verify.LiveTraffic(servers, TOPIC, rate=args.rate, login=login) as traffic:
            run(pyinfra, "-y", upgraded, "deploys/kafka.py")
        took = time.monotonic() - started
        counts = traffic.check()
        emit(
            bench="upgrade",
            brokers=len(cluster.brokers),
            old=args.old,
            new=args.new,
            seconds=round(took, 2),
            **counts,
        )
        noop = run(pyinfra, "-y", upgraded, "deploys/kafka.py")
        emit(bench="upgrade_noop_after", brokers=len(cluster.brokers), seconds=round(noop, 2))
    if not args.keep:
        run(kafkaform, "lab", "down")


if __name__ == "__main__":
    main()
