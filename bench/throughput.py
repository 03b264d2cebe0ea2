"""Producer throughput of the deployed brokers against Kafka's stock defaults, as JSON lines.

    .venv/bin/kafkaform lab up --nodes 3
    .venv/bin/pyinfra -y inventories/lab.py deploys/kafka.py
    .venv/bin/python bench/throughput.py [--inventory inventories/lab.py] [--records 300000]

Kafka's own ProducerPerformance tool (org.apache.kafka.tools.ProducerPerformance, from the
deployed distribution's libs/) runs on the first broker's host with acks=all against a topic
with replication factor 3 and min.insync.replicas 2. It measures, in this order:

  deployed  the brokers as kafkaform deployed them;
  stock     the same hosts with the deployed brokers stopped and brokers started with Kafka's
            defaults: a server.properties that holds only what says who and where a broker is
            (broker.id, listeners, advertised.listeners, zookeeper.connect, log.dirs: the
            cluster model's derived properties, with a scratch log directory and a ZooKeeper
            chroot of their own) and the JVM flags of Kafka's bin/kafka-server-start.sh;
  deployed  the deployed brokers again, so that drift of the shared machine shows.

Why this is a fair comparison: same hosts, same JVM, same jars, same ZooKeeper ensemble, same
heap (the host's sizing, read from the running deployed broker), same OS tuning and file limit,
and the same producer; what differs is exactly what kafkaform chooses, the broker properties and
the JVM flags. The two kinds of broker never run at the same time; the stock ones start on an
empty log directory, and the topic is created anew for each phase, so leaders are balanced.

Each phase first sends an unreported warm-up run; every measured run prints a line with
records/s and latencies (p99 among them), and a last line compares the medians. On the lab
(2 shared cores) the first measured run of each phase is still markedly slower than the next,
whichever the configuration, and the ratio moves by about 0.1 between invocations: run it a
few times and compare the summaries. Lab or test clusters only: the deployed brokers are
stopped while the stock ones run, and started again after (also when a step fails); the stock
brokers' files, unit and ZooKeeper chroot are removed. Nothing here is asserted by tests.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from kafkaform.cluster import DERIVED_KAFKA_PROPERTIES, Cluster, Node

PERF_TOOL = "org.apache.kafka.tools.ProducerPerformance"
# A transient unit named anew for each run: one left loaded by an earlier run cannot block it.
STOCK_UNITS = "kafka-stock-bench-*"
STOCK_UNIT = f"kafka-stock-bench-{int(time.time())}"
STOCK_CHROOT = "/kafkaform-stock-bench"
STOCK_LOG_DIR = "/var/lib/kafka-stock-bench"
# What bin/kafka-server-start.sh and bin/kafka-run-class.sh give a broker (Kafka 3.9), less
# the heap, which is the host's sizing and so taken from the deployed broker.
STOCK_JVM_FLAGS = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
)
READ_BROKER_CMDLINE = "tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value kafka)/cmdline"
STOP_STOCK_UNIT = (
    f"systemctl stop '{STOCK_UNITS}' 2>/dev/null || true\n"
    f"systemctl reset-failed '{STOCK_UNITS}' 2>/dev/null || true"
)
STOP_STOCK = f"{STOP_STOCK_UNIT}\nrm -rf {STOCK_LOG_DIR} {STOCK_LOG_DIR}.properties\n"
# ProducerPerformance's closing line (Kafka 3.x), e.g. "300000 records sent, 41254.3
# records/sec (40.29 MB/sec), 712.45 ms avg latency, 1467.00 ms max latency, 702 ms 50th,
# 1211 ms 95th, 1349 ms 99th, 1446 ms 99.9th."
SUMMARY_RE = re.compile(
    r"(?P<records>\d+) records sent, (?P<records_per_sec>[\d.]+) records/sec "
    r"\((?P<mb_per_sec>[\d.]+) MB/sec\), (?P<avg_ms>[\d.]+) ms avg latency, "
    r"(?P<max_ms>[\d.]+) ms max latency, (?P<p50_ms>\d+) ms 50th, (?P<p95_ms>\d+) ms 95th, "
    r"(?P<p99_ms>\d+) ms 99th, (?P<p999_ms>\d+) ms 99\.9th"
)


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and on which host."""


def parse_summary(output: str) -> dict[str, float]:
    """The figures of ProducerPerformance's last summary line in ``output``."""
    found = list(SUMMARY_RE.finditer(output))
    if not found:
        raise BenchError(f"no ProducerPerformance summary in its output:\n{output[-2000:]}")
    return {key: float(value) for key, value in found[-1].groupdict().items()}


def stock_properties(cluster: Cluster, node: Node) -> dict[str, str]:
    """Kafka's defaults plus only the properties that say who and where ``node`` is."""
    props = {k: str(v) for k, v in cluster.derived(DERIVED_KAFKA_PROPERTIES, node).items()}
    props["log.dirs"] = STOCK_LOG_DIR
    props["zookeeper.connect"] = cluster.zookeeper_connect(STOCK_CHROOT)
    return props


def deployed_java(cmdline: list[str]) -> tuple[str, str, str]:
    """(java binary, -Xmx value, classpath) of the deployed broker's command line."""
    heap = next((a[len("-Xmx") :] for a in cmdline if a.startswith("-Xmx")), None)
    try:
        classpath = cmdline[cmdline.index("-cp") + 1]
    except (ValueError, IndexError):
        classpath = None
    if not cmdline or heap is None or classpath is None:
        raise BenchError(f"not a broker command line with -Xmx and -cp: {cmdline!r}")
    return cmdline[0], heap, classpath


def install_of(classpath: str) -> str:
    """``/opt/kafka/kafka_2.13-3.9.2`` from ``/opt/kafka/kafka_2.13-3.9.2/libs/*``."""
    return classpath.rsplit("/libs/", 1)[0]


def stock_start_script(cluster: Cluster, node: Node, java: str, heap: str, classpath: str) -> str:
    """Shell that starts the stock broker as a transient unit, as the deployed broker's user."""
    user = node.settings["kafka_user"]
    config = f"{STOCK_LOG_DIR}.properties"
    lines = "".join(f"{k}={v}\n" for k, v in sorted(stock_properties(cluster, node).items()))
    log4j = f"file:{install_of(classpath)}/config/tools-log4j.properties"
    command = [java, f"-Xmx{heap}", f"-Xms{heap}", *STOCK_JVM_FLAGS]
    command += [f"-Dlog4j.configuration={log4j}", "-cp", classpath, "kafka.Kafka", config]
    return "\n".join(
        [
            "set -e",
            f"rm -rf {STOCK_LOG_DIR} && install -d -o {user} -g {user} {STOCK_LOG_DIR}",
            f"cat > {config} <<'EOF'\n{lines}EOF",
            STOP_STOCK_UNIT,
            # --collect: the unit is unloaded when it stops, even with Java's exit status, so
            # the next run can start it again. The same file limit as the deployed unit: the
            # host's limit, not Kafka's configuration.
            f"systemd-run --unit {STOCK_UNIT} --collect --uid {user} --gid {user} "
            f"-p LimitNOFILE={node.settings['nofile_limit']} {shlex.join(command)}",
        ]
    )


def perf_command(
    java: str, classpath: str, servers: str, topic: str, records: int, size: int
) -> str:
    """ProducerPerformance from the deployed jars; producer settings at their defaults but acks."""
    log4j = f"file:{install_of(classpath)}/config/tools-log4j.properties"
    # -Xmx512m as bin/kafka-producer-perf-test.sh gives it.
    argv = [java, "-Xmx512m", f"-Dlog4j.configuration={log4j}", "-cp", classpath, PERF_TOOL]
    argv += ["--topic", topic, "--num-records", str(records), "--record-size", str(size)]
    argv += ["--throughput", "-1", "--producer-props", f"bootstrap.servers={servers}", "acks=all"]
    return shlex.join(argv)


def medians(runs: Iterable[Mapping[str, object]], config: str) -> dict[str, float]:
    mine = [r for r in runs if r["config"] == config]
    return {
        key: round(statistics.median(float(r[key]) for r in mine), 1)
        for key in ("records_per_sec", "p99_ms")
    }


def comparison(runs: list[dict[str, object]]) -> dict[str, object]:
    """The closing line: medians per configuration, deployed over stock."""
    deployed, stock = medians(runs, "deployed"), medians(runs, "stock")
    return {
        "bench": "throughput_summary",
        "deployed_records_per_sec": deployed["records_per_sec"],
        "stock_records_per_sec": stock["records_per_sec"],
        "deployed_over_stock": round(deployed["records_per_sec"] / stock["records_per_sec"], 3),
        "deployed_p99_ms": deployed["p99_ms"],
        "stock_p99_ms": stock["p99_ms"],
    }


# --- on the hosts ------------------------------------------------------------------------------


def ssh(node: Node, script: str, timeout: float = 600) -> str:
    """Run ``script`` with sh on ``node`` over SSH (the inventory's user, key, known hosts)."""
    data = node.data
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    for option, key in (
        ("IdentityFile", "ssh_key"),
        ("UserKnownHostsFile", "ssh_known_hosts_file"),
        ("StrictHostKeyChecking", "ssh_strict_host_key_checking"),
        ("Port", "ssh_port"),
    ):
        if data.get(key):
            argv += ["-o", f"{option}={data[key]}"]
    argv += [f"{data.get('ssh_user', 'root')}@{node.address}", "sh -s"]
    proc = subprocess.run(
        argv, input=script, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode:
        raise BenchError(f"{node.name}: exit {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def on_all(nodes: list[Node], script: str) -> list[str]:
    with ThreadPoolExecutor(len(nodes)) as pool:
        return list(pool.map(lambda n: ssh(n, script), nodes))


def wait_for(what: str, ready: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise BenchError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(1)


def brokers_up(servers: str, count: int) -> Callable[[], bool]:
    from confluent_kafka.admin import AdminClient

    def ready() -> bool:
        try:
            metadata = AdminClient({"bootstrap.servers": servers}).list_topics(timeout=5)
        except Exception:  # still starting: not reachable yet
            return False
        return len(metadata.brokers) == count

    return ready


class Bench:
    def __init__(self, cluster: Cluster, args: argparse.Namespace) -> None:
        from kafkaform import verify

        self.cluster, self.args, self.verify = cluster, args, verify
        self.brokers = cluster.brokers
        self.servers = verify.bootstrap(cluster)
        self.client = self.brokers[0]
        cmdline = ssh(self.client, READ_BROKER_CMDLINE)
        self.deployed = deployed_java(cmdline.splitlines())
        self.java, self.heap, self.classpath = self.deployed
        self.runs: list[dict[str, object]] = []

    def phase(self, config: str, number: int) -> None:
        topic = f"bench-throughput-{config}-{number}"
        wait_for(f"topic {topic}", lambda: self.create_topic(topic), timeout=60)
        try:
            self.produce(topic, self.args.warmup)
            for run in range(1, self.args.runs + 1):
                figures = parse_summary(self.produce(topic, self.args.records))
                line = {"bench": "throughput", "config": config, "phase": number, "run": run}
                line.update(
                    brokers=len(self.brokers),
                    partitions=self.args.partitions,
                    replication_factor=3,
                    min_insync_replicas=2,
                    acks="all",
                    record_size=self.args.record_size,
                    heap=self.heap,
                    **{k: (int(v) if k == "records" else v) for k, v in figures.items()},
                )
                self.runs.append(line)
                print(json.dumps(line), flush=True)
        finally:
            self.delete_topic(topic)

    def create_topic(self, topic: str) -> bool:
        # Brokers that just registered may not all be in the controller's view yet.
        try:
            self.verify.create_topic(self.servers, topic, self.args.partitions, 3, 2, timeout=10)
        except Exception as error:
            if "TOPIC_ALREADY_EXISTS" in str(error):  # an earlier attempt's, answered late
                return True
            print(f"creating {topic}: {error}; retrying", file=sys.stderr, flush=True)
            return False
        return True

    def produce(self, topic: str, records: int) -> str:
        command = perf_command(
            self.java, self.classpath, self.servers, topic, records, self.args.record_size
        )
        return ssh(self.client, command)

    def delete_topic(self, topic: str) -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.servers})  # alive until the answer
        admin.delete_topics([topic])[topic].result(60)

    def to_stock(self) -> None:
        on_all(self.brokers, "systemctl stop kafka")
        start = [stock_start_script(self.cluster, n, *self.deployed) for n in self.brokers]
        with ThreadPoolExecutor(len(self.brokers)) as pool:
            list(pool.map(ssh, self.brokers, start))
        wait_for("the stock brokers", brokers_up(self.servers, len(self.brokers)))

    def to_deployed(self) -> None:
        on_all(self.brokers, STOP_STOCK + "systemctl start kafka\n")
        wait_for("the deployed brokers", brokers_up(self.servers, len(self.brokers)))
        zk = self.verify.zk_client(self.cluster.zookeeper_connect())
        try:
            zk.delete(STOCK_CHROOT, recursive=True)
        finally:
            zk.stop()
            zk.close()


def main() -> None:
    from kafkaform.validate import load_inventory

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", default="inventories/lab.py")
    parser.add_argument("--records", type=int, default=300_000, help="per measured run")
    parser.add_argument("--warmup", type=int, default=300_000, help="records sent unmeasured")
    parser.add_argument("--record-size", type=int, default=1024, help="bytes")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--runs", type=int, default=2, help="measured runs per phase")
    args = parser.parse_args()

    inventory = load_inventory(args.inventory)
    cluster = Cluster.from_hosts((h.name, h.data.dict()) for h in inventory)
    if len(cluster.brokers) < 3:
        sys.exit("throughput: needs at least 3 brokers (replication factor 3)")
    bench = Bench(cluster, args)
    bench.phase("deployed", 1)
    try:
        bench.to_stock()
        bench.phase("stock", 2)
    finally:
        bench.to_deployed()
    bench.phase("deployed", 3)
    print(json.dumps(comparison(bench.runs)), flush=True)


if __name__ == "__main__":
    main()
