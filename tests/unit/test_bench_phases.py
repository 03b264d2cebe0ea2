"""bench/deploy.py's reading of pyinfra's progress lines into per-phase seconds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "bench_deploy", Path(__file__).resolve().parents[2] / "bench" / "deploy.py"
)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_operations_fall_into_their_phase():
    assert bench.phase_of("Install Java (openjdk-17-jre-headless), base packages") == "packages"
    assert bench.phase_of("Install the Kafka distribution | Directory /opt/kafka") == (
        "Install the Kafka distribution"
    )
    assert bench.phase_of("Kafka broker | Wait until kafka is healthy") == "Kafka broker: wait"
    assert bench.phase_of("ZooKeeper | Restart zookeeper safely (the leader last)") == (
        "ZooKeeper: wait"
    )
    assert bench.phase_of("ZooKeeper | Reload systemd units") == "ZooKeeper"


def test_seconds_between_progress_lines_add_up_per_phase():
    marks = [
        (0.1, "--> Loading config...\n"),
        (0.5, "--> Preparing operation files...\n"),
        (0.6, "    [kafka-1] Ready: deploys/kafka.py\n"),
        (2.0, "--> Beginning operation run...\n"),
        (2.0, "--> Starting operation: Install Java (x), base packages \n"),
        (9.0, "--> Starting operation: ZooKeeper | Directory /etc/zookeeper \n"),
        (9.5, "--> Starting operation: ZooKeeper | Wait until zookeeper is healthy \n"),
        (
            11.0,
            "--> Starting serial operation: ZooKeeper | Restart zookeeper safely (one host) \n",
        ),
        (11.5, "--> Starting operation: ZooKeeper | Enable zookeeper at boot \n"),
        (12.0, "--> Results:\n"),
    ]
    assert bench.phases(marks, 12.25) == {
        "start+connect": 0.5,
        "prepare": 1.5,
        "packages": 7.0,
        "ZooKeeper": 1.0,
        "ZooKeeper: wait": 2.0,
        "end": 0.25,
    }
