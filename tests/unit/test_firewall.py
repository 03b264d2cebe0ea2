"""The host firewall's rule model and rendered nft file (kafkaform.firewall), offline; the
rendered files are checked by the real ``nft -c`` where it can run (root, nft installed)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kafkaform.cluster import Cluster
from kafkaform.firewall import (
    AUDIENCE,
    KAFKA_PORT_SETTINGS,
    Leaving,
    accepted,
    digest_of,
    host_rules,
    kafka_listener_ports,
    ruleset,
)
from kafkaform.settings import PORT_SETTINGS
from kafkaform.validate import check
from tests.unit.fakes import fake_hosts
from tests.unit.test_observability import MON, with_monitor

H1, H3 = "@fake/kafka-1", "@fake/kafka-3"
BROKERS = ("10.0.0.11", "10.0.0.12", "10.0.0.13")
MONITOR = "10.0.0.10"
ADMIN, CLIENTS, CONTROL = "192.168.7.0/24", "172.16.0.0/12", "192.168.9.5"
# A sasl_ssl broker as the kafka part composes it: brokers on INTERNAL, clients on CLIENT.
SECURED = {
    "listeners": "INTERNAL://0.0.0.0:9091,CLIENT://0.0.0.0:9095",
    "inter.broker.listener.name": "INTERNAL",
    "listener.security.protocol.map": "INTERNAL:SASL_SSL,CLIENT:SASL_SSL",
}


def cluster_of(nodes: int = 3, ensemble: int | None = None, **data) -> Cluster:
    hosts = with_monitor("debian12", nodes, **data)
    if ensemble is not None:
        hosts = fake_hosts("debian12", nodes, ensemble, **data) + hosts[-1:]
    return Cluster.from_hosts(hosts)


def addresses(cluster: Cluster) -> dict[str, tuple[str, ...]]:
    return {n.name: (n.address,) for n in cluster.nodes}


def restricted(**data):
    return cluster_of(
        **{
            "firewall_admin_sources": [ADMIN],
            "firewall_client_sources": [CLIENTS],
            "firewall_control_sources": [CONTROL],
            **data,
        }
    )


def sources(cluster: Cluster, host: str, why: str, broker_properties=None) -> set[str]:
    rules, _ = host_rules(
        cluster, cluster.node(host), addresses(cluster), Leaving(), broker_properties
    )
    return {s for r in rules if r.why == why for s in r.sources}


def test_every_port_setting_has_an_audience_or_is_a_kafka_listener():
    assert set(AUDIENCE) | set(KAFKA_PORT_SETTINGS) == set(PORT_SETTINGS)
    assert set(KAFKA_PORT_SETTINGS) == {"kafka_port", "kafka_tls_port", "kafka_internal_port"}


def test_zookeeper_quorum_ports_only_from_the_ensemble():
    cluster = restricted()
    for why in ("zookeeper_peer_port 2888", "zookeeper_election_port 3888"):
        assert sources(cluster, H1, why) == set(BROKERS)
    small = cluster_of(ensemble=1)
    assert sources(small, H1, "zookeeper_peer_port 2888") == {"10.0.0.11"}
    assert not sources(small, "@fake/kafka-2", "zookeeper_peer_port 2888")  # not a server


def test_zookeeper_client_port_from_brokers_ensemble_and_control_only():
    cluster = restricted()
    assert sources(cluster, H1, "zookeeper_client_port 2181") == {*BROKERS, CONTROL}
    rules, _ = host_rules(cluster, cluster.node(H1), addresses(cluster))
    assert not accepted(rules, MONITOR, 2181)
    assert not accepted(rules, "192.168.7.9", 2181)  # an admin machine is not the control one
    assert accepted(rules, "192.168.9.5", 2181)


def test_plaintext_listener_serves_brokers_and_clients():
    cluster = restricted()
    # The lag exporter on the monitoring host and the brokers' own tools are clients too.
    assert sources(cluster, H1, "kafka_port 9092") == {*BROKERS, MONITOR, CLIENTS, CONTROL}


def test_secured_listeners_keep_inter_broker_traffic_to_the_brokers():
    cluster = restricted(security="sasl_ssl")
    internal = sources(cluster, H1, "kafka_internal_port 9091", SECURED)
    assert internal == set(BROKERS)
    assert sources(cluster, H1, "kafka_tls_port 9095", SECURED) == {
        *BROKERS,
        MONITOR,
        CLIENTS,
        CONTROL,
    }
    # No PLAINTEXT listener in these properties: its port stays closed.
    assert not sources(cluster, H1, "kafka_port 9092", SECURED)
    rules, _ = host_rules(cluster, cluster.node(H1), addresses(cluster), Leaving(), SECURED)
    assert not accepted(rules, "172.16.3.4", 9091)
    assert accepted(rules, "172.16.3.4", 9095)


def test_a_listener_on_a_port_no_setting_names_is_still_opened():
    cluster = restricted()
    props = {"listeners": "PLAINTEXT://0.0.0.0:9092,EXTRA://0.0.0.0:9099"}
    assert sources(cluster, H1, "kafka listener 9099", props) == {
        *BROKERS,
        MONITOR,
        CLIENTS,
        CONTROL,
    }
    assert sources(cluster, H1, "kafka_port 9092", props) == set(BROKERS)  # inter-broker


@pytest.mark.parametrize(
    ("props", "wanted"),
    [
        ({"listeners": "PLAINTEXT://0.0.0.0:9092"}, {9092: False}),
        (SECURED, {9091: True, 9095: False}),
        # A rollout stage: PLAINTEXT kept for clients that have not moved yet.
        (
            {
                "listeners": "PLAINTEXT://0.0.0.0:9092,INTERNAL://0.0.0.0:9091,CLIENT://:9095",
                "inter.broker.listener.name": "INTERNAL",
            },
            {9092: False, 9091: True, 9095: False},
        ),
        # Inter-broker still on PLAINTEXT while the secure listeners are added.
        (
            {"listeners": "PLAINTEXT://0.0.0.0:9092,CLIENT://0.0.0.0:9095"},
            {9092: True, 9095: False},
        ),
        (
            {
                "listeners": "SASL_SSL://0.0.0.0:9095",
                "security.inter.broker.protocol": "SASL_SSL",
            },
            {9095: False},
        ),
    ],
)
def test_kafka_listener_ports_follow_the_broker_properties(props, wanted):
    assert kafka_listener_ports(props) == wanted


def test_exporters_only_from_monitoring_hosts_and_named_scrapers():
    cluster = restricted()
    for why in ("node_exporter_port 9100", "kafka_jmx_exporter_port 7071"):
        assert sources(cluster, H1, why) == {MONITOR}
    more = restricted(firewall_scrape_sources=["10.5.0.1"])
    assert sources(more, H1, "zookeeper_jmx_exporter_port 7072") == {MONITOR, "10.5.0.1"}


def test_monitoring_host_ports():
    cluster = restricted()
    assert sources(cluster, MON, "log_sink_port 2514") == {*BROKERS, MONITOR}
    assert sources(cluster, MON, "prometheus_port 9090") == {ADMIN, MONITOR}
    assert sources(cluster, MON, "alertmanager_port 9093") == {ADMIN, MONITOR}
    rules, _ = host_rules(cluster, cluster.node(MON), addresses(cluster))
    gossip = [r.protocol for r in rules if r.why == "alertmanager_cluster_port 9094"]
    assert gossip == ["tcp", "udp"]
    assert not any(r.why.startswith(("zookeeper", "kafka")) for r in rules)


def test_ssh_first_from_admin_sources_on_the_hosts_ssh_port():
    cluster = restricted(ssh_port=2222)
    rules, _ = host_rules(cluster, cluster.node(H1), addresses(cluster))
    assert (rules[0].why, rules[0].ports, rules[0].sources) == ("ssh", (2222,), (ADMIN,))
    assert accepted(rules, "192.168.7.200", 2222)
    assert not accepted(rules, "192.168.7.200", 22)
    assert not accepted(rules, "10.9.9.9", 2222)
    listed = restricted(firewall_ssh_ports=[22, 2200])
    first = host_rules(listed, listed.node(H1), addresses(listed))[0][0]
    assert first.ports == (22, 2200)


def test_no_monitoring_host_leaves_the_exporters_closed_and_says_so():
    cluster = Cluster.from_hosts(fake_hosts("debian12", 3))
    rules, closed = host_rules(cluster, cluster.node(H1), addresses(cluster))
    assert not [r for r in rules if "exporter" in r.why]
    assert "kafka_jmx_exporter_port 7071" in {c.why for c in closed}
    text = ruleset(H1, rules, closed)
    assert "# node_exporter_port 9100: closed (no source: nobody in scrapers)" in text


def test_leaving_hosts_keep_their_ports_while_the_run_lasts():
    cluster = restricted()
    node = cluster.node(H1)
    leaving = Leaving(brokers=("10.0.0.40",), ensemble=("10.0.0.41",))
    rules, _ = host_rules(cluster, node, addresses(cluster), leaving)
    assert accepted(rules, "10.0.0.41", 2888) and accepted(rules, "10.0.0.41", 2181)
    assert accepted(rules, "10.0.0.40", 2181)
    assert not accepted(rules, "10.0.0.40", 2888)
    kept, _ = host_rules(cluster, node, addresses(cluster))
    assert not accepted(kept, "10.0.0.41", 2888)


def test_extra_open_ports():
    cluster = restricted(
        firewall_open_ports=[{"port": 5666, "protocol": "udp", "sources": ["10.8.0.0/16"]}]
    )
    rules, _ = host_rules(cluster, cluster.node(H1), addresses(cluster))
    assert accepted(rules, "10.8.1.1", 5666, "udp")
    assert not accepted(rules, "10.8.1.1", 5666, "tcp")


def test_rendered_file_replaces_our_table_whole_in_one_transaction():
    cluster = restricted(firewall_client_sources=[CLIENTS, "fd00::/8", "10.0.0.0/24"])
    rules, closed = host_rules(cluster, cluster.node(H1), addresses(cluster))
    text = ruleset(H1, rules, closed)
    lines = [line.strip() for line in text.splitlines() if not line.startswith("#")]
    assert lines[:3] == [
        "table inet kafkaform",
        "delete table inet kafkaform",
        "table inet kafkaform {",
    ]
    assert "type filter hook input priority 0; policy drop;" in lines
    assert "ct state established,related accept" in lines
    assert lines.index("ct state established,related accept") < lines.index(
        'ip saddr { 192.168.7.0/24 } tcp dport { 22 } accept comment "ssh"'
    )
    assert "chain output" not in text and "flush ruleset" not in text
    # Addresses inside a listed network are dropped (nft refuses overlapping intervals).
    assert (
        "ip saddr { 10.0.0.0/24, 172.16.0.0/12, 192.168.9.5 } tcp dport { 9092 } accept"
        ' comment "kafka_port 9092"'
    ) in lines
    assert 'ip6 saddr { fd00::/8 } tcp dport { 9092 } accept comment "kafka_port 9092"' in lines


def test_anywhere_is_one_rule_without_addresses():
    cluster = cluster_of()
    rules, closed = host_rules(cluster, cluster.node(H1), addresses(cluster))
    text = ruleset(H1, rules, closed)
    assert 'tcp dport { 22 } accept comment "ssh: anywhere"' in text
    assert "0.0.0.0/0" not in text


def test_digest_tells_one_ruleset_from_another():
    cluster = restricted()
    node = cluster.node(H1)
    one = ruleset(H1, *host_rules(cluster, node, addresses(cluster)))
    other = ruleset(H1, *host_rules(cluster, node, addresses(cluster), Leaving(("10.0.0.40",))))
    assert digest_of(one) and digest_of(other) and digest_of(one) != digest_of(other)
    assert digest_of(one) == digest_of(ruleset(H1, *host_rules(cluster, node, addresses(cluster))))
    # As `nft list table` shows it back.
    listed = f'counter packets 3 bytes 180 comment "kafkaform-ruleset {digest_of(one)}: dropped"'
    assert digest_of(listed) == digest_of(one)
    assert digest_of("table inet kafkaform {\n}") is None


def test_validation_of_the_firewall_settings():
    hosts = fake_hosts(
        "debian12",
        1,
        firewall=True,
        firewall_admin_sources=[],
        firewall_client_sources=["10.0.0.0/8", "kafka-clients.example", 10],
        firewall_ssh_ports=[0],
        firewall_open_ports=[{"port": 70000, "protocol": "sctp", "sources": ["x"]}, "5666"],
    )
    found = {f"{p.field}: {p.message}" for p in check(hosts)}
    assert any(m.startswith("firewall_admin_sources: empty") for m in found)
    assert any(m.startswith("firewall_client_sources: 'kafka-clients.example'") for m in found)
    assert any(m.startswith("firewall_client_sources: 10 is not") for m in found)
    assert "firewall_ssh_ports: 0 is not a TCP/UDP port" in found
    assert "firewall_open_ports[0].port: 70000 is not a TCP/UDP port" in found
    assert "firewall_open_ports[0].protocol: expected tcp or udp" in found
    assert any(m.startswith("firewall_open_ports[0].sources: 'x'") for m in found)
    assert any(m.startswith("firewall_open_ports[1]: expected") for m in found)
    assert check(fake_hosts("debian12", 3, firewall=True)) == []


def nft_can_check() -> bool:
    if shutil.which("nft") is None or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-n", "nft", "list", "ruleset"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not nft_can_check(), reason="needs nft and root (.ci/bootstrap installs it)")
@pytest.mark.parametrize("security", ["plaintext", "sasl_ssl"])
def test_real_nft_accepts_every_rendered_file(tmp_path, security):
    """``nft -c -f``, then a real load twice (the delete-and-recreate must work on an
    existing table too), in a network namespace of its own: this machine's rules are left
    alone."""
    cluster = restricted(
        security=security, firewall_client_sources=[CLIENTS, "fd00::/8", "10.0.0.0/24"]
    )
    props = SECURED if security == "sasl_ssl" else None
    for node in cluster.nodes:
        rules, closed = host_rules(
            cluster, node, addresses(cluster), Leaving(("10.0.0.40",)), props
        )
        path = tmp_path / "rules.nft"
        path.write_text(ruleset(node.name, rules, closed))
        script = (
            f"nft -c -f {path} && nft -f {path} && nft -f {path} && nft list table inet kafkaform"
        )
        done = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True)
        assert done.returncode == 0, (node.name, done.stderr)
        assert digest_of(done.stdout) == digest_of(path.read_text())
