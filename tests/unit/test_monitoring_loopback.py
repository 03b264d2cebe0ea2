"""A secured cluster's monitoring and log shipping, run for real on 127.0.0.1 with the files
kafkaform renders: Prometheus, Alertmanager and node_exporter answer 401 without the right
password and scrape each other over TLS; the JMX agent answers 401 without its user; RELP
over TLS delivers a cluster host's lines and refuses a plain sender, a certificate of another
CA and a sink of the wrong name.

The servers are Debian 12's (Prometheus 2.42, Alertmanager 0.25 from .ci/bootstrap's
packages; node_exporter 1.5 and rsyslog 8.2302 unpacked from their packages into a cache,
never installed); the agent is the one `kafkaform artifacts build` caches. Offline when they
are there; in CI a missing one is fetched (never a skip).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkaform import monitoring, monitoring_auth, pki, settings, status_reads
from kafkaform.artifacts.places import mirror_root
from kafkaform.cluster import Cluster, Node
from kafkaform.templating import render
from tests.unit.test_host_tools_jars import IN_CI
from tests.unit.test_status_jmx import agent  # noqa: F401  (fixture)

# Unpacked, not installed: node_exporter, rsyslog with RELP, and the libraries rsyslog needs
# beyond a minimal Debian 12.
PACKAGES = (
    "prometheus-node-exporter",
    "rsyslog",
    "rsyslog-relp",
    "librelp0",
    "libestr0",
    "libfastjson4",
)
# Loopback ports of these tests, walked from an offset of this process's own: two suites run
# at once on one machine (worktrees side by side) do not try the same port first.
_FIRST = 35000 + (os.getpid() * 97) % 1000
PORTS = [*range(_FIRST, 36000), *range(35000, _FIRST)]


def unpacked() -> Path:
    """A directory with PACKAGES unpacked (dpkg -x), cached beside the artifact mirror."""
    cache = mirror_root().parent / "debs"
    root, done = cache / "root", cache / f"unpacked-{'-'.join(PACKAGES)}"
    if done.exists():
        return root
    if not IN_CI:
        pytest.skip(
            f"no unpacked {', '.join(PACKAGES)}: cd {cache}/pkgs && apt-get download "
            f"{' '.join(PACKAGES)} && for d in *.deb; do dpkg -x $d {root}; done && touch {done}"
        )
    (cache / "pkgs").mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=cache / "pkgs", check=True)
    for deb in sorted((cache / "pkgs").glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    done.touch()
    return root


def system_binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is missing in CI: .ci/bootstrap installs {package}")
        pytest.skip(f"{name} not installed (apt-get install {package})")
    return path


GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, and not given out before (servers bind late)."""
    for port in PORTS:
        if port in GIVEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        GIVEN.add(port)
        return port
    raise RuntimeError("no free loopback port in 35000-35999")


class Processes:
    def __init__(self, logs: Path) -> None:
        self.logs, self.running = logs, []
        self.kill = False  # at the end; True: no graceful stop (Alertmanager's takes 10 s)

    def start(self, name: str, *command: str, env: dict | None = None) -> None:
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        self.running.append((subprocess.Popen(command, stdout=log, stderr=log, env=env), log))

    def stop(self) -> None:
        for process, _ in self.running:
            process.kill() if self.kill else process.terminate()
        for process, log in self.running:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    yield running
    running.stop()


def write_tls(node: Node, directory: Path) -> monitoring.RelpTls:
    """What deploys/tasks/tls_files.py puts on a host: key, certificate, CA."""
    tls = pki.host_tls(node)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("host.key", tls.key_pem),
        ("host.crt", tls.cert_pem),
        ("ca.crt", tls.ca_pem),
    ):
        (directory / name).write_text(text)
    return monitoring.RelpTls(*(str(directory / n) for n in ("ca.crt", "host.crt", "host.key")))


def get(url: str, credentials: tuple[str, str] | None = None, ca: str | None = None):
    """(status, body) of a GET; the status of an HTTP error too."""
    request = urllib.request.Request(url)
    if credentials:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cadata=ca) if ca else None
    try:
        with urllib.request.urlopen(request, timeout=3, context=context) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def wait_until_it_answers(url: str, ca: str | None, deadline: float) -> None:
    while True:
        try:
            get(url, ca=ca)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# --- Prometheus, Alertmanager, node_exporter -------------------------------------------------


def test_servers_refuse_without_password_and_scrape_each_other_over_tls(tmp_path, processes):
    prometheus = system_binary("prometheus", "prometheus")
    alertmanager = system_binary("prometheus-alertmanager", "prometheus-alertmanager")
    node_exporter = str(unpacked() / "usr/bin/prometheus-node-exporter")
    ports = {}
    for key in ("node_exporter_port", "prometheus_port", "alertmanager_port"):
        ports[key] = free_port()
    data = {
        "ssh_hostname": "127.0.0.1",
        "monitoring": True,
        "security": "sasl_ssl",
        "pki_dir": str(tmp_path / "pki"),
        "prometheus_scrape_interval": "1s",
        **ports,
    }
    cluster = Cluster.from_hosts([("localhost", data)])
    node = cluster.node("localhost")
    s = node.settings
    etc = tmp_path / "etc"
    write_tls(node, etc / "tls")
    ca = (etc / "tls" / "ca.crt").read_text()
    web = etc / "web.yml"
    web.write_text(monitoring_auth.web_config(s, str(etc / "tls"), monitoring_auth.WEB_USERS))
    node_web = etc / "node-web.yml"
    node_web.write_text(monitoring_auth.web_config(s, str(etc / "tls"), ("prometheus",)))
    for user, path in monitoring.PASSWORD_FILES.items():
        (etc / Path(path).name).write_text(monitoring_auth.password(s, user))
    config = monitoring.prometheus_config(cluster, node).replace("/etc/prometheus/", f"{etc}/")
    (etc / "prometheus.yml").write_text(config)
    (etc / "alertmanager.yml").write_text(
        render(
            "alertmanager/alertmanager.yml.j2", route={"receiver": "x"}, receivers=[{"name": "x"}]
        )
    )
    listen = {k: monitoring_auth.listen("127.0.0.1", p) for k, p in ports.items()}
    processes.start(
        "node_exporter",
        node_exporter,
        f"--web.listen-address={listen['node_exporter_port']}",
        f"--web.config.file={node_web}",
    )
    processes.start(
        "prometheus",
        prometheus,
        f"--config.file={etc}/prometheus.yml",
        f"--web.listen-address={listen['prometheus_port']}",
        f"--web.config.file={web}",
        f"--storage.tsdb.path={tmp_path}/data",
    )
    processes.start(
        "alertmanager",
        alertmanager,
        f"--config.file={etc}/alertmanager.yml",
        f"--web.listen-address={listen['alertmanager_port']}",
        f"--web.config.file={web}",
        "--cluster.listen-address=",
        f"--storage.path={tmp_path}/alertmanager",
    )
    deadline = time.monotonic() + 20
    scraper = ("prometheus", monitoring_auth.password(s, "prometheus"))
    viewer = ("kafkaform", monitoring_auth.password(s, "kafkaform"))
    for key, port in ports.items():
        url = f"https://127.0.0.1:{port}/metrics"
        wait_until_it_answers(url, ca, deadline)
        assert get(url, ca=ca)[0] == 401, key
        assert get(url, ("prometheus", "wrong"), ca=ca)[0] == 401, key
        assert get(url, scraper, ca=ca)[0] == 200, key
        # Prometheus and Alertmanager let people in too; node_exporter only the scraper.
        assert get(url, viewer, ca=ca)[0] == (401 if key == "node_exporter_port" else 200)
        with pytest.raises(urllib.error.HTTPError):  # no plain HTTP on the TLS port
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3)
    api = f"https://127.0.0.1:{ports['prometheus_port']}/api/v1"
    while True:  # the scrapes over TLS with password files, and the alerts' way out
        targets = json.loads(get(f"{api}/targets", viewer, ca)[1])["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        managers = json.loads(get(f"{api}/alertmanagers", viewer, ca)[1])["data"]
        if all(health.get(j) == "up" for j in ("node", "prometheus", "alertmanager")):
            break
        assert time.monotonic() < deadline, (health, targets)
        time.sleep(0.5)
    assert managers["activeAlertmanagers"] == [
        {"url": f"https://127.0.0.1:{ports['alertmanager_port']}/api/v2/alerts"}
    ]
    # `kafkaform status` reads node_exporter from the control machine the same way.
    assert "node_filesystem_avail_bytes" in status_reads.metrics(
        node, ports["node_exporter_port"], 3
    )


# --- the JMX exporter agent ------------------------------------------------------------------

SLEEPER = """public class Sleep {
    public static void main(String[] args) throws Exception { Thread.sleep(60_000); }
}
"""


def test_jmx_agent_answers_only_its_user(tmp_path, processes, agent):  # noqa: F811
    port = free_port()
    data = {
        "ssh_hostname": "127.0.0.1",
        "kafkaid": 1,
        "security": "sasl_ssl",
        "pki_dir": str(tmp_path / "pki"),
        "kafka_jmx_exporter_port": port,
    }
    node = Cluster.from_hosts([("localhost", data)]).node("localhost")
    s = node.settings
    rules = tmp_path / "jmx-exporter.yml"
    rules.write_text(
        render(
            "jmx/kafka.yml.j2",
            broker_id=1,
            topic_metrics=False,
            auth=monitoring_auth.jmx_basic_auth(s),
        )
    )
    (tmp_path / "Sleep.java").write_text(SLEEPER)
    processes.start(
        "jvm",
        settings.JAVA_BIN,
        f"-javaagent:{agent}=127.0.0.1:{port}:{rules}",
        str(tmp_path / "Sleep.java"),
    )
    url = f"http://127.0.0.1:{port}/metrics"
    wait_until_it_answers(url, None, time.monotonic() + 25)
    assert get(url)[0] == 401
    assert get(url, ("jmx", "wrong"))[0] == 401
    status, body = get(url, ("jmx", monitoring_auth.password(s, "jmx")))
    assert status == 200 and "jvm_" in body
    assert "jvm_" in status_reads.metrics(node, port, 3)  # `kafkaform status`'s read


# --- RELP over TLS ---------------------------------------------------------------------------


def test_relp_over_tls_delivers_cluster_lines_and_refuses_the_others(tmp_path, processes):
    base = unpacked()
    env = {**os.environ, "LD_LIBRARY_PATH": str(base / "usr/lib/x86_64-linux-gnu")}
    rsyslogd = [
        str(base / "usr/sbin/rsyslogd"),
        "-M",
        str(base / "usr/lib/x86_64-linux-gnu/rsyslog"),
    ]
    port = free_port()
    secured = {"security": "sasl_ssl", "pki_dir": str(tmp_path / "pki")}
    hosts = [
        ("sink", {"ssh_hostname": "127.0.0.1", "monitoring": True, **secured}),
        (
            "k1",
            {"ssh_hostname": "127.0.0.2", "kafkaid": 1, "zookeeper": True, "zkid": 1, **secured},
        ),
    ]
    cluster = Cluster.from_hosts(hosts)
    # A host of another cluster (another CA) that knows this cluster's CA certificate.
    other = Cluster.from_hosts(
        [(name, {**data, "pki_dir": str(tmp_path / "other")}) for name, data in hosts]
    )
    rogue_tls = write_tls(other.node("k1"), tmp_path / "rogue" / "tls")
    sink_tls = write_tls(cluster.node("sink"), tmp_path / "sink" / "tls")
    Path(rogue_tls.ca_file).write_text(Path(sink_tls.ca_file).read_text())
    sinks = monitoring.relp_sinks(cluster, secured=True)
    senders = {
        "good": (write_tls(cluster.node("k1"), tmp_path / "good" / "tls"), sinks),
        "plain": (None, monitoring.relp_sinks(cluster, secured=False)),
        "rogue": (rogue_tls, sinks),
        # A cluster host sending to a sink that is not the one it expects.
        "misled": (
            write_tls(cluster.node("k1"), tmp_path / "misled" / "tls"),
            [dataclasses.replace(sinks[0], names=("another-sink",))],
        ),
    }

    def config(name: str, text: str) -> Path:
        (tmp_path / name / "work").mkdir(parents=True, exist_ok=True)
        path = tmp_path / name / "rsyslog.conf"
        path.write_text(f'global(workDirectory="{tmp_path / name / "work"}")\n{text}')
        check = subprocess.run([*rsyslogd, "-N1", "-f", str(path)], env=env, capture_output=True)
        assert check.returncode == 0, check.stderr.decode()
        return path

    sink = config(
        "sink",
        render(
            "rsyslog/sink.conf.j2",
            port=port,
            address="127.0.0.1",
            sink_dir=str(tmp_path / "logs"),
            tls=sink_tls,
            peers=monitoring.relp_senders(cluster),
        ),
    )
    sink_pid = str(tmp_path / "sink.pid")
    processes.start("sink", *rsyslogd, "-n", "-f", str(sink), "-i", sink_pid, env=env)
    logs = {}
    for name, (tls, to) in senders.items():
        (tmp_path / name).mkdir(exist_ok=True)
        logs[name] = tmp_path / name / "server.log"
        logs[name].write_text("")
        ship = render(
            "rsyslog/ship.conf.j2",
            sinks=to,
            port=port,
            queue_dir=str(tmp_path / name / "queue"),
            max_disk="10m",
            files=[monitoring.LogFile(str(logs[name]), f"{name}-server")],
            units=["kafka"],
            load_imjournal=False,
            tls=tls,
        )
        pid = str(tmp_path / f"{name}.pid")
        processes.start(name, *rsyslogd, "-n", "-f", str(config(name, ship)), "-i", pid, env=env)
    time.sleep(1)  # imfile watches from the end of the (empty) files
    for name, log in logs.items():
        log.write_text(f"[2026-11-27 20:00:00,000] INFO a line from {name}\n")
    deadline = time.monotonic() + 20
    while not list((tmp_path / "logs").glob("*/good-server.log")):
        assert time.monotonic() < deadline, (tmp_path / "sink.log").read_text()[-2000:]
        time.sleep(0.3)
    time.sleep(3)  # the others have tried (each retries every 5 s): nothing of theirs lands
    arrived = {p.name: p.read_text() for p in (tmp_path / "logs").glob("*/*.log")}
    assert list(arrived) == ["good-server.log"]
    assert "INFO a line from good" in arrived["good-server.log"]
    assert "no permited name found" in (tmp_path / "misled.log").read_text()


# --- Alertmanager's gossip -------------------------------------------------------------------


def test_alertmanager_gossip_over_mutual_tls_keeps_an_outsider_out(tmp_path, processes):
    alertmanager = system_binary("prometheus-alertmanager", "prometheus-alertmanager")
    data = {"ssh_hostname": "127.0.0.1", "monitoring": True, "security": "sasl_ssl"}
    node = Cluster.from_hosts([("localhost", {**data, "pki_dir": str(tmp_path / "pki")})]).node(
        "localhost"
    )
    write_tls(node, tmp_path / "tls")
    cluster_tls = tmp_path / "cluster-tls.yml"
    cluster_tls.write_text(monitoring_auth.cluster_tls_config(str(tmp_path / "tls")))
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        render(
            "alertmanager/alertmanager.yml.j2", route={"receiver": "x"}, receivers=[{"name": "x"}]
        )
    )
    web = {name: free_port() for name in ("a", "b", "outsider")}
    gossip = {name: free_port() for name in web}
    for name, peer in (("a", "b"), ("b", "a"), ("outsider", "a")):
        tls = [] if name == "outsider" else [f"--cluster.tls-config={cluster_tls}"]
        processes.start(
            f"alertmanager-{name}",
            alertmanager,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{web[name]}",
            f"--cluster.listen-address=127.0.0.1:{gossip[name]}",
            f"--cluster.peer=127.0.0.1:{gossip[peer]}",
            f"--storage.path={tmp_path / name}",
            *tls,
        )
    deadline = time.monotonic() + 25

    def peers(name: str) -> list[str]:
        status = json.loads(get(f"http://127.0.0.1:{web[name]}/api/v2/status")[1])
        return sorted(p["address"] for p in status["cluster"].get("peers") or [])

    for name in web:
        wait_until_it_answers(f"http://127.0.0.1:{web[name]}/-/ready", None, deadline)
    members = sorted(f"127.0.0.1:{gossip[n]}" for n in ("a", "b"))
    while peers("a") != members or peers("b") != members:
        assert time.monotonic() < deadline, (peers("a"), peers("b"))
        time.sleep(0.5)
    assert peers("outsider") == [f"127.0.0.1:{gossip['outsider']}"]  # alone
    processes.kill = True
