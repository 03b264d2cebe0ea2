"""Host replacement benchmark on the local lab, printed as JSON lines.

    .venv/bin/python bench/replace.py [--megabytes 200] [--keep]

A fresh 3-host lab (ZooKeeper and a broker on each) gets a 6-partition RF 3 topic holding
``--megabytes`` of data. kafka-3 is crashed, its disk deleted, and it boots as a new machine
under its name; the deploy makes it broker 3 again: seconds from the deploy's start to no
under-replicated partition, and the bytes the broker fetched as a follower. Then again with
its data volume kept (a tenth of the data written while it was down): it only catches up. A
producer (acks=all, idempotent) and a consumer run throughout. The machines are shared and
noisy: compare the two lines of one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

# The lab steps are the integration tests': run as a script, the repository root is not on
# the path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafkaform import client_config, verify  # noqa: E402
from tests.integration.conftest import LAB_INVENTORY, deploy, fresh_lab, kafkaform  # noqa: E402
from tests.integration.scaling import fill  # noqa: E402
from tests.integration.test_replace import (  # noqa: E402
    rebuild,
    replication_bytes_in,
    seconds_to_no_urp,
)

DATA, TRAFFIC, NODE = "bench-replace", "bench-replace-traffic", "kafka-3"


def replace(cluster, servers: str, keep: Path | None = None, missed_mb: int = 0) -> dict:
    """Crash NODE, rebuild it (with its volume kept in ``keep``, after ``missed_mb`` were
    written without it), deploy; the figures."""
    kafkaform("lab", "kill", NODE)
    if missed_mb:
        fill(servers, DATA, missed_mb)
    rebuild(NODE, keep)
    started = time.monotonic()
    result = deploy(LAB_INVENTORY)
    deployed = time.monotonic() - started
    assert result["results"]["totals"]["error"] == 0, "the deploy failed"
    return {
        "volume": "kept" if keep is not None else "new",
        "deploy_seconds": round(deployed, 1),
        "seconds_to_urp_0": round(seconds_to_no_urp(servers, started), 1),
        "bytes_replicated": replication_bytes_in(cluster, NODE),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=200, help="data in the topic")
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = parser.parse_args()
    lines = []
    with redirect_stdout(sys.stderr):  # stdout carries only the JSON lines
        cluster = fresh_lab(3)
        assert deploy(LAB_INVENTORY)["results"]["totals"]["error"] == 0
        servers, login = verify.bootstrap(cluster), client_config.login_of(cluster)
        verify.create_topic(servers, DATA, partitions=6, replication=3, min_isr=2, login=login)
        verify.create_topic(servers, TRAFFIC, partitions=6, replication=3, min_isr=2, login=login)
        fill(servers, DATA, args.megabytes)
        with (
            tempfile.TemporaryDirectory(prefix="kafkaform-bench-replace-") as tmp,
            verify.LiveTraffic(servers, TRAFFIC, login=login) as traffic,
        ):
            lines.append(replace(cluster, servers))
            missed = max(1, args.megabytes // 10)
            lines.append(replace(cluster, servers, Path(tmp) / "volume", missed))
        counts = traffic.check()
        if not args.keep:
            kafkaform("lab", "down")
    for line in lines:
        print(json.dumps({"bench": "replace_broker", "data_mb": args.megabytes, **line, **counts}))


if __name__ == "__main__":
    main()
