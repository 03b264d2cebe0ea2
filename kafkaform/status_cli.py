"""The ``kafkaform status INVENTORY`` command: read the cluster (kafkaform.status_reads),
judge it (kafkaform.status.assess), print the table or ``--json``; exit 1 when unhealthy, so
scripts and CI can gate on it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kafkaform import status_reads
from kafkaform.broker_claims import with_claimed_ids
from kafkaform.status import assess, table

# 2: nothing was judged (as for a usage error), so a script never takes it for "unhealthy".
EXIT_HEALTHY, EXIT_UNHEALTHY, EXIT_NO_INVENTORY = 0, 1, 2


def run(args: argparse.Namespace) -> int:
    from kafkaform.validate import UnusableInventory, load_cluster

    try:
        _, cluster = load_cluster(args.inventory)
    except UnusableInventory as error:
        print(error, file=sys.stderr)
        return EXIT_NO_INVENTORY
    cluster = with_claimed_ids(cluster, args.timeout)  # kafkaid "auto": the ids claimed
    status = assess(cluster, status_reads.observe(cluster, args.timeout))
    print(status.to_json() if args.json else table(status))
    return EXIT_HEALTHY if status.healthy else EXIT_UNHEALTHY


def add_cli(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="the cluster's health from here (exit 1 when unhealthy)",
        description=(
            "Per host: ZooKeeper mode and version, broker registered, the controller, the Kafka "
            "version the broker runs and its protocol version, partitions it leads and its "
            "replicas out of sync, data-dir disk use; cluster-wide partition health (--json "
            "lists the partitions) and consumer groups' lag; notes when an upgrade is under "
            "way. Exit status 0 when healthy, 1 when anything is unhealthy, 2 when the "
            "inventory cannot be loaded or is invalid (nothing was asked)."
        ),
    )
    parser.add_argument("inventory", help="pyinfra inventory file, e.g. inventories/lab.py")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.set_defaults(func=run)
