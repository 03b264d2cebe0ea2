"""facts.live.LiveState's shell reads the distribution a service's process runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from facts.live import LiveState

SH = shutil.which("sh")


def test_the_running_distribution_is_read_from_the_process_classpath(tmp_path: Path):
    # A process started as the unit starts Java: the version's directory in its classpath.
    classpath = "/opt/kafka/kafka_2.13-3.8.1/libs/*"
    sleeper = "import time; time.sleep(30)"
    process = subprocess.Popen([sys.executable, "-c", sleeper, "-cp", classpath, "kafka.Kafka"])
    try:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        systemctl = bin_dir / "systemctl"
        # kafka runs as that process; ZooKeeper's unit names no process.
        systemctl.write_text(
            "#!/bin/sh\n"
            f'case "$*" in *kafka.service*) pid={process.pid} ;; *) pid=0 ;; esac\n'
            'case "$*" in *ActiveState*) echo ActiveState=active ;; esac\n'
            'echo "MainPID=$pid"\n'
        )
        systemctl.chmod(0o755)
        command = LiveState().command(
            zookeeper_config=str(tmp_path / "zoo.cfg"),
            kafka_config=str(tmp_path / "server.properties"),
        )
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        out = subprocess.run(
            [SH, "-c", command], capture_output=True, text=True, check=True, env=env
        ).stdout
    finally:
        process.kill()
        process.wait()
    services = LiveState().process(out.splitlines())["services"]
    assert services["kafka"]["distribution"] == "kafka_2.13-3.8.1"
    assert services["kafka"]["pid"] == process.pid
    assert services["zookeeper"]["distribution"] is None
