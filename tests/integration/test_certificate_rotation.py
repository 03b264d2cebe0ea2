"""Certificate renewal and CA rotation of a secured 3-host lab under load, through the real CLI.

One cluster for both phases, the secured lab test_security.py read before (secured_lab.py:
3 brokers and the monitoring host), while a producer (acks=all, idempotent) and a consumer,
logged in over SASL_SSL, use an RF 3 / min.insync.replicas 2 topic:

1. renewal: the first deploy issues certificates with 40 days left; a deploy whose
   tls_renew_days is above that issues every host a new one (the serial served on the Kafka
   client and inter-broker listeners and on ZooKeeper's TLS port changes), each service rolled
   one host at a time;
2. CA rotation: ``kafkaform certs rotate-ca`` starts it and the three deploys it asks for do
   its steps; then every served certificate comes from the new CA only, the hosts trust the
   new CA only, and ``kafkaform certs check`` exits 0.

After each deploy: no producer error, every acknowledged message read back. After each phase
the monitoring host's Prometheus scrapes every target again (over TLS, with the CA the phase
left). Each deploy's time under load is printed as a JSON line (as bench/ does), for the
closing note.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from cryptography import x509

from kafkaform import ca_rotation, cert_check, certificates, client_config, security, verify
from kafkaform.cluster import Cluster
from kafkaform.zookeeper_security import server_ca_path
from tests.integration.conftest import BIN, deploy, lab_inventory_with, on_node, run
from tests.integration.scaling import cluster_of
from tests.integration.secured_lab import CERT_DAYS, SETTINGS, secured_lab, targets_down

TOPIC = "rotation.load"
RENEW_DAYS = 60  # above the secured lab's CERT_DAYS: the renewal deploy renews every host
RATE = 50.0  # messages a second
# The TLS ports whose served certificate must change (settings keys), with the service behind.
SERVED_PORTS = {
    "kafka_tls_port": "kafka",
    "kafka_internal_port": "kafka",
    "zookeeper_secure_client_port": "zookeeper",
}


def emit(**fields: object) -> None:
    """One figure as a JSON line (pytest -s shows it; kept in the CI log)."""
    print(json.dumps(fields), flush=True)


@dataclass(frozen=True)
class Lab:
    inventory: str  # renewal settings (tls_renew_days above the first certificates' days)
    pki: Path

    @property
    def cluster(self) -> Cluster:
        return cluster_of(self.inventory)


@pytest.fixture(scope="module")
def lab(lab_box, tmp_path_factory) -> Lab:
    """The secured lab (secured_lab.py: its certificates issued for CERT_DAYS days) with an
    inventory that renews them, and the topic the load uses."""
    secured = secured_lab(lab_box.catalog, tmp_path_factory.mktemp("kafka-secured"))
    assert CERT_DAYS < RENEW_DAYS
    (secured.root / "renew").mkdir(exist_ok=True)
    # The default lifetime again (the validator refuses one under tls_renew_days).
    settings = {k: v for k, v in SETTINGS.items() if k != "tls_cert_days"}
    renew = lab_inventory_with(
        secured.root / "renew", pki_dir=str(secured.pki), tls_renew_days=RENEW_DAYS, **settings
    )
    lab = Lab(renew, secured.pki)
    servers, login = login_of(lab)
    verify.create_topic(servers, TOPIC, partitions=3, replication=3, min_isr=2, login=login)
    return lab


def served_certificates(cluster: Cluster) -> dict[str, x509.Certificate]:
    """The certificate each TLS port of SERVED_PORTS serves, read from this machine."""
    found = {}
    for node in cluster.nodes:
        for key, service in SERVED_PORTS.items():
            if not (node.zookeeper if service == "zookeeper" else node.kafkaid is not None):
                continue
            port = int(node.settings[key])
            der, _ = cert_check.served(node.address, port, "", None, 10.0)
            found[f"{node.name}:{port}"] = x509.load_der_x509_certificate(der)
    return found


def restart_windows(cluster: Cluster, unit: str) -> dict[str, tuple[int, int]]:
    """(stop began, start done) of ``unit``'s last restart on each host running it, on
    CLOCK_MONOTONIC in microseconds (the lab's hosts share this machine's kernel clock)."""
    hosts = cluster.ensemble if unit == "zookeeper" else cluster.brokers
    windows = {}
    for node in hosts:
        out = on_node(
            node.name,
            "systemctl show -p ActiveExitTimestampMonotonic -p ActiveEnterTimestampMonotonic "
            f"{unit}.service",
        ).stdout
        values = dict(line.split("=", 1) for line in out.split())
        windows[node.name] = (
            int(values["ActiveExitTimestampMonotonic"]),
            int(values["ActiveEnterTimestampMonotonic"]),
        )
    return windows


def assert_rolled_one_at_a_time(cluster: Cluster, since: float) -> None:
    """Every Kafka broker and ZooKeeper server restarted after ``since`` (time.monotonic()),
    and no two of a kind were down at once."""
    for unit in ("zookeeper", "kafka"):
        windows = restart_windows(cluster, unit)
        assert all(stop > since * 1e6 for stop, _ in windows.values()), (unit, windows)
        ordered = sorted(windows.values())
        for (_, up), (next_stop, _) in pairwise(ordered):
            assert next_stop >= up, f"two {unit} services were down at once: {windows}"


def assert_scraped(cluster: Cluster, seconds: float = 120) -> None:
    """The monitoring host's Prometheus has every target up (within ``seconds``: a target
    rolled last may still be marked down from its restart)."""
    deadline = time.monotonic() + seconds
    while (down := targets_down(cluster)) and time.monotonic() < deadline:
        time.sleep(5)
    assert down == [], down


def wait_read_back(traffic: verify.LiveTraffic, seconds: float = 60) -> int:
    """Every message acknowledged so far was read by the live consumer (waits for it)."""
    deadline = time.monotonic() + seconds
    while True:
        acked = list(traffic.producer.acked)
        missing = set(acked) - set(traffic.consumer.seen)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not missing, f"{len(missing)} acknowledged message(s) not read back yet"
    return len(acked)


def timed_deploy(inventory: str, phase: str, traffic: verify.LiveTraffic) -> float:
    """The deploy under ``traffic``; no producer error and nothing unread after it."""
    started = time.monotonic()
    assert deploy(inventory)["results"]["totals"]["error"] == 0
    took = time.monotonic() - started
    assert traffic.producer.errors == [], f"producer errors: {traffic.producer.errors[:5]}"
    acked = wait_read_back(traffic)
    emit(phase=phase, seconds=round(took, 1), acked=acked, producer_errors=0, lost=0)
    return started


def login_of(lab: Lab) -> tuple[str, dict[str, str]]:
    """The admin user's SASL_SSL client settings now (the CA file: the control machine's,
    which holds both CAs while a rotation is under way)."""
    config = client_config.client_config(lab.cluster)
    return config.pop("bootstrap.servers"), config


def test_renewal_gives_every_host_a_new_certificate_under_load(lab):
    cluster = lab.cluster
    before = served_certificates(cluster)
    assert all(certificates.days_left(c) < RENEW_DAYS for c in before.values()), before
    servers, login = login_of(lab)
    with verify.LiveTraffic(servers, TOPIC, RATE, login) as traffic:
        started = timed_deploy(lab.inventory, "renewal", traffic)
    counts = traffic.check()
    emit(phase="renewal_total", **counts)
    after = served_certificates(cluster)
    assert after.keys() == before.keys()
    for where, cert in after.items():
        assert cert.serial_number != before[where].serial_number, where
        assert certificates.days_left(cert) > RENEW_DAYS, where
    assert_rolled_one_at_a_time(cluster, started)
    assert_scraped(cluster)


def rotate_ca(lab: Lab, *args: str) -> str:
    return run(str(BIN / "kafkaform"), "certs", "rotate-ca", lab.inventory, *args).stdout


def test_ca_rotation_in_three_deploys_under_load(lab):
    cluster = lab.cluster
    old_ca = certificates.load_cert(ca_rotation.current(lab.pki).cert_pem)
    assert "step 1 of 3" in rotate_ca(lab)
    new_ca = certificates.load_cert(ca_rotation.upcoming(lab.pki).cert_pem)
    # rotate-ca itself put both CAs in the control machine's CA file, which the clients read.
    bundle = (lab.pki / "control" / "ca.crt").read_text()
    assert {certificates.fingerprint(c) for c in certificates.load_certs(bundle)} == {
        certificates.fingerprint(old_ca),
        certificates.fingerprint(new_ca),
    }
    servers, login = login_of(lab)
    assert login["ssl.ca.location"] == str(lab.pki / "control" / "ca.crt")
    with verify.LiveTraffic(servers, TOPIC, RATE, login) as traffic:
        for step, name in ca_rotation.STEPS.items():
            before = served_certificates(cluster)
            started = timed_deploy(lab.inventory, f"ca_rotation_{step}_{name}", traffic)
            after = served_certificates(cluster)
            assert_rolled_one_at_a_time(cluster, started)
            renewed = {w for w in after if after[w].serial_number != before[w].serial_number}
            assert renewed == (set(after) if step == 2 else set()), (step, renewed)
            status = rotate_ca(lab, "--status")
            assert (f"step {step + 1} of 3" if step < 3 else "no CA rotation") in status
    counts = traffic.check()
    emit(phase="ca_rotation_total", **counts)
    assert ca_rotation.state(lab.pki) is None
    assert ca_rotation.current(lab.pki).fingerprint() == certificates.fingerprint(new_ca)
    for where, cert in served_certificates(cluster).items():
        assert certificates.issued_by(cert, new_ca), where
        assert not certificates.issued_by(cert, old_ca), where
    # The hosts trust the new CA only (Kafka's and ZooKeeper's bundles; the monitoring host's
    # trust shows in assert_scraped below).
    for node in cluster.brokers:
        s = node.settings
        for path in (f"{security.tls_dir(s)}/{security.CA_FILE}", server_ca_path(s)):
            bundle = on_node(node.name, f"cat {path}").stdout
            trusted = [certificates.fingerprint(c) for c in certificates.load_certs(bundle)]
            assert trusted == [certificates.fingerprint(new_ca)], (node.name, path)
    check = run(str(BIN / "kafkaform"), "certs", "check", lab.inventory, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert_scraped(cluster)
