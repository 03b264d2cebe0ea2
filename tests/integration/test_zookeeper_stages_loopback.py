"""The ZooKeeper servers' security stages rolled on a real three-server ensemble (Kafka's jars,
loopback), one server at a time, forward plaintext -> secure_port_added -> quorum_secured ->
sasl_ssl and back, under a client that writes a counter all along.

Each server's files are what the deploy renders (static_properties through zoo.cfg.j2, the
zookeeper-config script building the working config, server_jaas, the host's TLS files from
kafkaform.pki, server_jvm_options), so a pair of adjacent stages that cannot share a quorum
fails here: the restarted server would not serve, or the other two would lose theirs. The
followers go first and the leader last, as the deploy rolls; forward, the restarted servers
follow a leader at the older stage, backward one at the newer, so both sides of each pair
lead once.

The client is the machinery's: plain to the plain client ports until every server has its TLS
port, then kafkaform.zookeeper_client's TLS + SASL "kafka" client, and plain again before the
roll that takes the TLS port away. Every write must succeed (kazoo retries through a server's
restart: the longest gap between two acknowledged writes is printed and bounded), and the
counter and the znodes written before the rolls are intact at the end.

No lab host: Java and the Kafka distribution only. Its time is about 18 JVM starts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

from kafkaform import pki, settings, templating, verify
from kafkaform.cluster import Cluster, Node
from kafkaform.ensemble_config import SORT_VERSIONS, join_text, static_properties, wanted_members
from kafkaform.zookeeper_client import tls_context, zookeeper_client
from kafkaform.zookeeper_security import (
    SERVER_CA,
    SERVER_PEM,
    ZOOKEEPER_STAGES,
    server_has_security,
    server_jaas,
    server_jvm_options,
    server_stage,
)
from tests.unit.test_host_tools_jars import IN_CI, distribution_tarball

PORTS = range(31000, 32000)  # this part's loopback range
COUNTER = "/rollout/counter"
DATA = "/rollout/data"
SERVING = ("leader", "follower")
MAX_GAP_SECONDS = 15.0  # kazoo reconnects to another server well within a session timeout
LOG4J = (
    "log4j.rootLogger=INFO, stdout\n"
    "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
    "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
    "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
)


def port_block(count: int) -> int:
    """The first of ``count`` free ports in a row in PORTS."""
    for first in range(PORTS.start, PORTS.stop - count, count):
        try:
            for port in range(first, first + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} free ports in a row in {PORTS}")


class Server:
    """One ZooKeeper server of the ensemble, with the deploy's files for its stage."""

    def __init__(self, node: Node, home: Path, config_script: Path, log4j: Path) -> None:
        self.node, self.home, self.config_script, self.log4j = node, home, config_script, log4j
        s = node.settings
        self.conf = Path(s["zookeeper_config_dir"])
        self.work = Path(s["zookeeper_dynamic_dir"])
        self.log = self.conf.parent / "server.log"
        self.process: subprocess.Popen | None = None

    @property
    def stage(self) -> str:
        return server_stage(self.node.settings)

    def write_files(self, cluster: Cluster, extra: str = "") -> None:
        """The deploy's files for the server's stage; ``extra``: lines added to zoo.cfg."""
        s = self.node.settings
        for directory in (self.conf, self.work, Path(s["zookeeper_data_dir"])):
            directory.mkdir(parents=True, exist_ok=True)
        (Path(s["zookeeper_data_dir"]) / "myid").write_text(f"{self.node.zkid}\n")
        join = self.conf / "zoo.cfg.dynamic.join"
        if not join.exists():  # the first start's membership, as the deploy writes it
            join.write_text(join_text(wanted_members(cluster)))
        properties = static_properties(cluster, self.node)
        (self.conf / "zoo.cfg").write_text(
            templating.render("zookeeper/zoo.cfg.j2", zkid=self.node.zkid, properties=properties)
            + extra
        )
        if server_has_security(s):
            tls = pki.host_tls(self.node)
            (self.conf / "tls").mkdir(exist_ok=True)
            (self.conf / "tls" / SERVER_PEM).write_text(tls.key_pem + tls.cert_pem)
            (self.conf / "tls" / SERVER_CA).write_text(tls.ca_pem)
            (self.conf / "jaas.conf").write_text(server_jaas(s))

    def start(self) -> None:
        conf = self.conf
        subprocess.run(
            ["sh", str(self.config_script), f"{conf}/zoo.cfg", f"{conf}/zoo.cfg.dynamic.join",
             str(self.work), str(self.node.zkid)],
            check=True, capture_output=True,
        )  # fmt: skip
        with self.log.open("a") as log:
            log.write(f"===== start at stage {self.stage}\n")
            log.flush()
            self.process = subprocess.Popen(
                [settings.JAVA_BIN, "-Xmx128m", *server_jvm_options(self.node.settings),
                 f"-Dlog4j.configuration=file:{self.log4j}", "-cp", f"{self.home}/libs/*",
                 "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(self.work / "zoo.cfg")],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()  # systemctl stop's SIGTERM
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def mode(self) -> str | None:
        """``srvr``'s mode: over TLS once the server has its TLS port, else in plain text."""
        s = self.node.settings
        if server_has_security(s):
            answer = verify.srvr(
                "127.0.0.1", s["zookeeper_secure_client_port"], 1.0, tls_context(s)
            )
        else:
            answer = verify.srvr("127.0.0.1", s["zookeeper_client_port"], 1.0)
        return (answer or {}).get("Mode")

    def tail(self) -> str:
        return "\n".join(self.log.read_text().splitlines()[-40:]) if self.log.exists() else ""


class Writer(threading.Thread):
    """Sets COUNTER to 1, 2, 3, ... one write after the other, each retried by kazoo until
    acknowledged; records the longest time between two acknowledged writes."""

    def __init__(self, client, first: int) -> None:
        super().__init__(daemon=True)
        self.client, self.value = client, first - 1
        self.stopping = threading.Event()
        self.errors: list[str] = []
        self.longest_gap = 0.0

    def run(self) -> None:
        from kazoo.retry import KazooRetry

        retry = KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5, deadline=60)
        last = time.monotonic()
        while not self.stopping.is_set():
            try:
                retry(self.client.set, COUNTER, str(self.value + 1).encode())
            except Exception as e:  # a write given up: the test fails on it
                self.errors.append(f"write {self.value + 1}: {type(e).__name__}: {e}")
                return
            self.value += 1
            now = time.monotonic()
            self.longest_gap = max(self.longest_gap, now - last)
            last = now
            time.sleep(0.02)

    def finish(self) -> int:
        self.stopping.set()
        self.join(timeout=90)
        assert not self.is_alive(), "the writer hangs"
        self.client.stop()
        self.client.close()
        return self.value


def make_ensemble(root: Path) -> tuple[Cluster, list[Server]]:
    """Three servers on loopback at the plaintext stage (a secured level: the rollout's way
    up), not started; ``root``: their directories and Kafka's jars."""
    if not os.access(settings.JAVA_BIN, os.X_OK):
        if IN_CI:
            pytest.fail(f"{settings.JAVA_BIN} is missing in CI (.ci/bootstrap installs it)")
        pytest.skip(f"no {settings.JAVA_BIN}: the loopback ensemble needs Java")
    with tarfile.open(distribution_tarball(settings.KAFKA_VERSION)) as tar:
        tar.extractall(root / "kafka", filter="data")
    (home,) = (root / "kafka").iterdir()
    first = port_block(12)
    cluster = Cluster.from_hosts(
        [
            (
                f"zk-{i}",
                {
                    "ssh_hostname": "127.0.0.1", "zookeeper": True, "zkid": i, "kafkaid": i,
                    "security": "sasl_ssl", "zookeeper_security_stage": "plaintext",
                    "pki_dir": str(root / "pki"),
                    "zookeeper_config_dir": str(root / f"zk-{i}" / "conf"),
                    "zookeeper_dynamic_dir": str(root / f"zk-{i}" / "work"),
                    "zookeeper_data_dir": str(root / f"zk-{i}" / "data"),
                    "zookeeper_datalog_dir": str(root / f"zk-{i}" / "datalog"),
                    "zookeeper_client_port": first + 4 * (i - 1),
                    "zookeeper_secure_client_port": first + 4 * (i - 1) + 1,
                    "zookeeper_peer_port": first + 4 * (i - 1) + 2,
                    "zookeeper_election_port": first + 4 * (i - 1) + 3,
                },
            )
            for i in (1, 2, 3)
        ]
    )  # fmt: skip
    script = root / "zookeeper-config"
    script.write_text(
        templating.render("zookeeper/zookeeper-config.sh.j2", sort_versions=SORT_VERSIONS)
    )
    log4j = root / "log4j.properties"
    log4j.write_text(LOG4J)
    return cluster, [Server(node, home, script, log4j) for node in cluster.ensemble]


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    cluster, servers = make_ensemble(tmp_path_factory.mktemp("zk-stages"))
    try:
        for server in servers:
            server.write_files(cluster)
            server.start()
        wait_until(all_serve(servers), 90, servers, "no quorum")
        yield cluster, servers
    finally:
        for server in servers:
            server.stop()


def wait_until(condition, seconds: float, servers: list[Server], what: str) -> float:
    """Seconds until ``condition()``; fails with the servers' modes and log tails."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            state = "\n".join(
                f"--- {s.node.name} at {s.stage}: mode {s.mode()}\n{s.tail()}" for s in servers
            )
            raise AssertionError(f"{what} after {seconds:.0f} s\n{state}")
        time.sleep(0.2)
    return time.monotonic() - started


def all_serve(group: list[Server]):
    """A condition: every server of ``group`` leads or follows."""
    return lambda: all(s.mode() in SERVING for s in group)


def plain_client(cluster: Cluster):
    from kazoo.client import KazooClient

    hosts = ",".join(f"127.0.0.1:{n.settings['zookeeper_client_port']}" for n in cluster.ensemble)
    return KazooClient(hosts=hosts, timeout=10.0)


def secure_client(cluster: Cluster):
    """kafkaform's own client of a secured ensemble: TLS to the secure ports, SASL "kafka"."""
    return zookeeper_client(cluster.ensemble[0].settings, cluster.zookeeper_connect(), timeout=10.0)


def roll(cluster: Cluster, servers: list[Server], stage: str) -> float:
    """Every server to ``stage``, one at a time, the leader last; its seconds."""
    started = time.monotonic()
    order = sorted(servers, key=lambda s: s.mode() == "leader")
    assert order[-1].mode() == "leader", [s.mode() for s in servers]
    for server in order:
        others = [s for s in servers if s is not server]
        wait_until(all_serve(others), 30, servers, "peers down")
        server.stop()
        # The two others keep a quorum (a new leader within seconds if it led).
        wait_until(
            all_serve(others), 30, servers,
            f"no quorum without {server.node.name} ({server.stage} -> {stage})",
        )  # fmt: skip
        server.node.settings["zookeeper_security_stage"] = stage
        server.write_files(cluster)
        server.start()
        wait_until(
            all_serve([server]), 60, servers,
            f"{server.node.name} does not serve at {stage} beside {[s.stage for s in others]}",
        )  # fmt: skip
        assert sum(s.mode() in SERVING for s in servers) >= 2
    return time.monotonic() - started


def test_the_stages_roll_forward_and_back_under_a_writing_client(ensemble):
    cluster, servers = ensemble
    setup = plain_client(cluster)
    setup.start(timeout=30)
    for i in range(100):
        setup.create(f"{DATA}/{i:03d}", f"value {i}".encode(), makepath=True)
    setup.create(COUNTER, b"0", makepath=True)
    setup.stop()
    setup.close()

    plan = [  # (stage, the client during its roll)
        ("secure_port_added", plain_client),
        ("quorum_secured", secure_client),
        ("sasl_ssl", secure_client),
        ("quorum_secured", secure_client),
        ("secure_port_added", secure_client),
        ("plaintext", plain_client),  # plain again before the TLS port goes
    ]
    assert [p[0] for p in plan[:3]] == list(ZOOKEEPER_STAGES[1:])
    times, gaps, value = [], [], 0
    for stage, client_of in plan:
        client = client_of(cluster)
        client.start(timeout=30)
        writer = Writer(client, value + 1)
        writer.start()
        took = roll(cluster, servers, stage)
        time.sleep(2)  # writes after the last restart too
        written = writer.finish()
        assert not writer.errors, writer.errors
        assert written > value + 10, f"only {written - value} writes during the roll to {stage}"
        if stage == "sasl_ssl":  # the quorum really is TLS only, and SASL between servers
            for server in servers:
                since_start = server.log.read_text().rsplit("===== start at stage", 1)[1]
                assert "Creating TLS-only quorum server socket" in since_start
                assert "Successfully completed the authentication" in since_start
        times.append((stage, took))
        gaps.append((stage, writer.longest_gap))
        value = written
    for (stage, took), (_, gap) in zip(times, gaps, strict=True):
        print(f"roll to {stage}: {took:.1f} s, longest gap between two writes {gap:.2f} s")
    assert all(s.stage == "plaintext" for s in servers)
    check = plain_client(cluster)
    check.start(timeout=30)
    try:
        assert check.get(COUNTER)[0] == str(value).encode()
        for i in range(100):
            assert check.get(f"{DATA}/{i:03d}")[0] == f"value {i}".encode()
    finally:
        check.stop()
        check.close()
    assert max(gap for _, gap in gaps) < MAX_GAP_SECONDS, gaps
