"""``kafkaform certs check`` against real TLS servers on 127.0.0.1 (Python's ssl module, with
certificates kafkaform issued): a good one, one near its end, an expired one, one of another
CA, a closed port; then the certificate files alone."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# pyinfra_cli's import patches threads and sockets with gevent (the CLI's loading of an
# inventory imports it): before this test's server threads start, not under them.
import pyinfra_cli  # noqa: F401
import pytest

from kafkaform import certificates, cli, pki
from kafkaform.cluster import Cluster
from tests.unit.pki_fixtures import fast_keys  # noqa: F401 (autouse fixture)

PORT_RANGE = range(31000, 32000)  # this part's loopback ports


def free_port(taken: set[int]) -> int:
    for port in PORT_RANGE:
        if port in taken:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError("no free loopback port in 31000-31999")


@contextmanager
def tls_server(port: int, key_pem: str, cert_pem: str, tmp_path) -> Iterator[None]:
    """A TLS server on 127.0.0.1:``port`` that shakes hands with every client, then hangs up."""
    (tmp_path / f"{port}.key").write_text(key_pem)
    (tmp_path / f"{port}.crt").write_text(cert_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / f"{port}.crt", tmp_path / f"{port}.key")
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                try:
                    with context.wrap_socket(conn, server_side=True):
                        pass
                except (ssl.SSLError, OSError):
                    pass  # a client that gave up: the next one

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        listener.close()


def host_data(tmp_path, **ports: int) -> dict:
    """A secured host on loopback, broker and ZooKeeper server, with these ports."""
    return {
        "ssh_hostname": "127.0.0.1",
        "kafkaid": 1,
        "zookeeper": True,
        "zkid": 1,
        "security": "sasl_ssl",
        "pki_dir": str(tmp_path / "pki"),
        **ports,
    }


@pytest.fixture
def lab(tmp_path):
    """One host (broker and ZooKeeper) whose four TLS endpoints are served on loopback:
    kafka_tls_port good, kafka_internal_port 5 days left, zookeeper_secure_client_port
    expired, node_exporter_port another CA's; the monitoring ports are not this host's."""
    taken: set[int] = set()
    ports = {
        key: free_port(taken)
        for key in (
            "kafka_tls_port",
            "kafka_internal_port",
            "zookeeper_secure_client_port",
            "node_exporter_port",
        )
    }
    data = host_data(tmp_path, **ports)
    node = Cluster.from_hosts([("kafka-1", data)]).nodes[0]
    good = pki.host_tls(node)  # the cluster's CA is made here
    ca = tmp_path / "pki" / "ca"
    ca_key, ca_cert = (ca / "ca.key").read_text(), (ca / "ca.crt").read_text()
    names = pki.host_names(node)
    short = certificates.issue(names, ca_key, ca_cert, days=5)
    expired = certificates.issue(names, ca_key, ca_cert, days=0)
    stranger = certificates.issue(names, *certificates.make_ca("stranger", 3650), days=300)
    served = {
        "kafka_tls_port": (good.key_pem, good.cert_pem),
        "kafka_internal_port": short,
        "zookeeper_secure_client_port": expired,
        "node_exporter_port": stranger,
    }
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f"hosts = [('kafka-1', {data!r})]\n")
    servers = [tls_server(ports[k], *served[k], tmp_path) for k in served]
    for server in servers:
        server.__enter__()
    try:
        yield node, ports, inventory
    finally:
        for server in servers:
            server.__exit__(None, None, None)


def by_key(findings):
    return {f.where.split("(")[-1].rstrip(")"): f for f in findings if f.port}


def test_each_served_certificate_is_read_and_judged(lab):
    from kafkaform import cert_check

    node, ports, _ = lab
    findings = cert_check.check(Cluster((node,)), warn_days=30, timeout=5)
    served = by_key(findings)
    assert set(served) == set(ports)
    good = served["kafka_tls_port"]
    assert good.reachable and good.trusted and good.problems == []
    assert 360 < good.days_left <= 365
    assert good.names == ["kafka-1", "127.0.0.1"] and "kafkaform CA" in good.issuer
    assert served["kafka_internal_port"].problems == ["fewer than 30 days left"]
    assert served["kafka_internal_port"].trusted is True
    assert served["zookeeper_secure_client_port"].problems == ["expired"]
    assert served["node_exporter_port"].trusted is False
    assert served["node_exporter_port"].problems == [
        "does not chain to a CA the control machine trusts"
    ]
    assert "CN=stranger" in served["node_exporter_port"].issuer


def test_the_command_exits_1_and_says_why_and_json_lists_everything(lab, capsys):
    _, ports, inventory = lab
    assert cli.main(["certs", "check", str(inventory), "--warn-days", "3"]) == 1
    out, err = capsys.readouterr()
    assert f"kafka-1:{ports['kafka_tls_port']} (kafka_tls_port): ok" in out
    assert f"kafka-1:{ports['kafka_internal_port']} (kafka_internal_port): ok" in out  # 5 > 3
    assert "PROBLEM: expired" in out and "does not chain" in out
    assert "2 need attention" in err
    assert cli.main(["certs", "check", str(inventory), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["warn_days"] == 30  # the inventory's tls_renew_days
    wheres = [c["where"] for c in report["certificates"]]
    assert any(w.endswith("hosts/kafka-1.crt") for w in wheres)
    assert any(w.endswith("ca/ca.crt") for w in wheres)


def test_with_no_host_reachable_the_files_are_still_judged(tmp_path, capsys):
    data = host_data(tmp_path, kafka_tls_port=free_port(set()))
    pki.host_tls(Cluster.from_hosts([("kafka-1", data)]).nodes[0])
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f"hosts = [('kafka-1', {data!r})]\n")
    code = cli.main(["certs", "check", str(inventory), "--timeout", "0.5"])
    out, err = capsys.readouterr()
    assert code == 0, out
    assert f"kafka-1:{data['kafka_tls_port']} (kafka_tls_port): unreachable" in out
    assert "hosts/kafka-1.crt: ok" in out and "ca/ca.crt: ok" in out
    assert "unreachable (not judged)" in err
    # A kept certificate near its end fails the check with no host answering.
    assert cli.main(["certs", "check", str(inventory), "--warn-days", "400"]) == 1
