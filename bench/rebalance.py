"""Rebalance benchmark on the local lab, printed as a JSON line.

    .venv/bin/python bench/rebalance.py [--megabytes 200] [--throttle 50000000] [--keep]

A fresh 3-broker lab gets a 12-partition RF 3 topic holding ``--megabytes`` of data, grows to
5 brokers (deployed, holding nothing) and is rebalanced with `kafkaform rebalance` while a
producer (acks=all, idempotent) writes and a consumer reads: the time of the reassignment
(--execute to the end of --verify), of the whole command, and the MB copied. The machines are
shared and noisy: compare runs made at the same throttle.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The lab steps are the integration test's (tests/integration/scaling.py): run as a script,
# the repository root is not on the path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafkaform import client_config, verify  # noqa: E402
from tests.integration.scaling import (  # noqa: E402
    BIN,
    REPO,
    cluster_of,
    fill,
    kafkaform_cli,
    result_of,
    scaled_inventory,
)
from tests.integration.test_rebalance import DATA, TRAFFIC  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=200, help="data in the topic")
    parser.add_argument("--throttle", type=int, default=50_000_000, help="bytes/s")
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = parser.parse_args()
    kafkaform_cli("lab", "down")
    kafkaform_cli("lab", "up", "--nodes", "3")
    with tempfile.TemporaryDirectory(prefix="kafkaform-bench-rebalance-") as tmp:
        inventory = scaled_inventory(Path(tmp))
        deployed = kafkaform_deploy(inventory)
        cluster = cluster_of(inventory)
        servers, login = verify.bootstrap(cluster), client_config.login_of(cluster)
        verify.create_topic(servers, DATA, partitions=12, replication=3, min_isr=2, login=login)
        verify.create_topic(servers, TRAFFIC, partitions=6, replication=3, min_isr=2, login=login)
        fill(servers, DATA, args.megabytes)
        kafkaform_cli("lab", "up", "--nodes", "5")
        kafkaform_deploy(inventory)
        cluster = cluster_of(inventory)
        with verify.LiveTraffic(servers, TRAFFIC, login=login) as traffic:
            started = time.monotonic()
            done = kafkaform_cli("rebalance", inventory, "--throttle", str(args.throttle))
            wall = time.monotonic() - started
        counts = traffic.check()
        figures = result_of(done.stdout)
        line = {
            "bench": "rebalance",
            "brokers": "3->5",
            "data_mb": args.megabytes,
            "throttle": args.throttle,
            "reassign_seconds": figures["seconds"],
            "command_seconds": round(wall, 2),
            "mb_moved": figures["mb"],
            "replicas_moved": int(figures["replicas"]),
            "first_deploy_seconds": round(deployed, 2),
            **counts,
        }
        print(json.dumps(line), flush=True)
    if not args.keep:
        kafkaform_cli("lab", "down")


def kafkaform_deploy(inventory: str) -> float:
    """The deploy, its output kept off stdout (which carries the JSON line)."""
    started = time.monotonic()
    argv = [str(BIN / "pyinfra"), "-y", inventory, "deploys/kafka.py"]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(f"the deploy failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return time.monotonic() - started


if __name__ == "__main__":
    main()
