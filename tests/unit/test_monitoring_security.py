"""Offline: a secured cluster's monitoring and logs (kafkaform.monitoring_auth and the files
the deploy renders from it), and the plaintext cluster's files unchanged by it."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import subprocess
from pathlib import Path

import bcrypt
import pytest

from deploys.tasks import host_files
from kafkaform import lag_exporter, monitoring, monitoring_auth
from kafkaform.cluster import Cluster
from kafkaform.templating import render
from tests.unit.deployrun import run_deploy
from tests.unit.test_observability import H1, MON, with_monitor

SECURED = {"security": "sasl_ssl"}


@pytest.fixture
def secured(tmp_path) -> dict:
    return {**SECURED, "pki_dir": str(tmp_path / "pki")}


def cluster_of(hosts: list) -> Cluster:
    return Cluster.from_hosts(hosts)


def passwords(settings) -> list[str]:
    users = (*monitoring_auth.WEB_USERS, monitoring_auth.JMX_SCRAPER)
    return [monitoring_auth.password(settings, user) for user in users]


# --- hashes and web config -------------------------------------------------------------------


def test_web_config_holds_bcrypt_hashes_of_the_generated_passwords_and_the_tls_files(secured):
    settings = cluster_of(with_monitor("debian12", **secured)).node(MON).settings
    text = monitoring_auth.web_config(settings, "/etc/x/tls", monitoring_auth.WEB_USERS)
    config = json.loads(text.split("\n", 1)[1])  # after the comment line: JSON, so YAML
    assert config["tls_server_config"] == {
        "cert_file": "/etc/x/tls/host.crt",
        "key_file": "/etc/x/tls/host.key",
        "min_version": "TLS12",
    }
    users = config["basic_auth_users"]
    assert sorted(users) == ["kafkaform", "prometheus"]
    for user, hashed in users.items():
        assert bcrypt.checkpw(monitoring_auth.password(settings, user).encode(), hashed.encode())
    assert not any(p in text for p in passwords(settings))


def test_the_hash_is_made_once_and_again_only_for_a_new_password(secured):
    first = monitoring_auth.bcrypt_hash(secured, "prometheus")
    assert monitoring_auth.bcrypt_hash(secured, "prometheus") == first  # same file every run
    kept = Path(secured["pki_dir"]) / "secrets" / "monitoring-prometheus.bcrypt"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    (Path(secured["pki_dir"]) / "secrets" / "monitoring-prometheus").write_text("new-one\n")
    again = monitoring_auth.bcrypt_hash(secured, "prometheus")
    assert again != first and bcrypt.checkpw(b"new-one", again.encode())


def test_jmx_hash_is_the_agents_hex_number_of_salt_colon_password():
    # The agent (MessageDigestAuthenticator) prints the digest as a BigInteger: no leading 0.
    salt = next(
        f"s{i}" for i in range(1000) if hashlib.sha256(f"s{i}:pw".encode()).hexdigest()[0] == "0"
    )
    full = hashlib.sha256(f"{salt}:pw".encode()).hexdigest()
    assert monitoring_auth.jmx_hash(salt, "pw") == full.lstrip("0")
    assert monitoring_auth.jmx_hash("a", "b") == hashlib.sha256(b"a:b").hexdigest().lstrip("0")


def test_jmx_auth_only_on_a_secured_cluster_and_stable(secured):
    assert monitoring_auth.jmx_basic_auth({"security": "plaintext"}) is None
    auth = monitoring_auth.jmx_basic_auth(secured)
    assert auth == monitoring_auth.jmx_basic_auth(secured)
    assert (auth.username, auth.algorithm) == ("jmx", "SHA-256")
    assert auth.password_hash == monitoring_auth.jmx_hash(
        auth.salt, monitoring_auth.password(secured, "jmx")
    )
    rules = render("jmx/kafka.yml.j2", broker_id=1, topic_metrics=False, auth=auth)
    assert (
        "httpServer:\n  authentication:\n    basic:\n"
        f'      username: "jmx"\n      algorithm: "SHA-256"\n      salt: "{auth.salt}"\n'
        f'      passwordHash: "{auth.password_hash}"\n'
    ) in rules
    assert monitoring_auth.password(secured, "jmx") not in rules
    assert "httpServer" in render("jmx/zookeeper.yml.j2", zkid=1, auth=auth)


@pytest.mark.parametrize(
    "address, expected",
    [(None, ":9100"), ("", ":9100"), ("10.0.0.5", "10.0.0.5:9100"), ("::1", "[::1]:9100")],
)
def test_listen_flags(address, expected):
    assert monitoring_auth.listen(address, 9100) == expected


def test_control_machine_access_per_endpoint(secured):
    s = cluster_of(with_monitor("debian12", **secured)).node(MON).settings
    plain = cluster_of(with_monitor("debian12")).node(MON).settings

    def ca() -> str:
        return "CA"

    assert monitoring_auth.exporter_access(plain, 9100, ca) == monitoring_auth.Access("http")
    node = monitoring_auth.exporter_access(s, 9100, ca)
    assert node == monitoring_auth.Access("https", "prometheus", passwords(s)[0], "CA")
    assert monitoring_auth.exporter_access(s, 9090, ca).username == "kafkaform"
    assert monitoring_auth.exporter_access(s, 9093, ca).username == "kafkaform"
    for port in (7071, 7072):
        jmx = monitoring_auth.exporter_access(s, port, ca)
        assert jmx == monitoring_auth.Access("http", "jmx", passwords(s)[2], None)
    assert monitoring_auth.exporter_access(s, 9308, ca) == monitoring_auth.Access("http")


# --- rendered files --------------------------------------------------------------------------


def test_plaintext_prometheus_config_has_no_security(tmp_path):
    cluster = cluster_of(with_monitor("debian12"))
    text = monitoring.prometheus_config(cluster, cluster.node(MON))
    assert "scheme" not in text and "basic_auth" not in text and "tls_config" not in text
    assert all(job.auth is None for job in monitoring.scrape_jobs(cluster, cluster.node(MON)))


def test_secured_prometheus_config_scrapes_with_tls_and_password_files(secured, tmp_path):
    cluster = cluster_of(with_monitor("debian12", **secured))
    node = cluster.node(MON)
    text = monitoring.prometheus_config(cluster, node)
    jobs = {job.name: job.auth for job in monitoring.scrape_jobs(cluster, node)}
    web = monitoring.ScrapeAuth(
        "https", "prometheus", "/etc/prometheus/scrape.password", "/etc/prometheus/tls/ca.crt"
    )
    jmx = monitoring.ScrapeAuth("http", "jmx", "/etc/prometheus/jmx.password", None)
    assert jobs == {
        "node": web,
        "kafka": jmx,
        "zookeeper": jmx,
        "kafka-lag": None,
        "prometheus": web,
        "alertmanager": web,
    }
    alerting = text.split("scrape_configs:")[0]
    assert (
        '      scheme: https\n      tls_config:\n        ca_file: "/etc/prometheus/tls/ca.crt"\n'
        '      basic_auth:\n        username: "prometheus"\n'
        '        password_file: "/etc/prometheus/scrape.password"\n'
    ) in alerting
    assert not any(p in text for p in passwords(node.settings))
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    (tmp_path / "rules").mkdir()
    for name, rules in monitoring.render_rules(node.settings).items():
        (tmp_path / "rules" / name).write_text(rules)
    (tmp_path / "prometheus.yml").write_text(text)
    proc = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout + proc.stderr


def test_flags_of_servers_and_exporters():
    flags = render(
        "prometheus/default.j2",
        listen="10.0.0.1:9090",
        web_config="/etc/prometheus/web.yml",
        retention_time="15d",
        retention_size="",
    )
    assert (
        'ARGS="--web.listen-address=10.0.0.1:9090 --web.config.file=/etc/prometheus/web.yml '
        in (flags)
    )
    plain = render(
        "alertmanager/default.j2", listen=":9093", web_config=None, cluster_port=9094, peers=[]
    )
    assert 'ARGS="--web.listen-address=:9093 --cluster.listen-address="' in plain


def test_node_exporter_flags_per_security_level(secured):
    from deploys.tasks.node_exporter import node_exporter_flags

    plain = cluster_of(with_monitor("debian12")).node(H1)
    assert node_exporter_flags(plain) == ["--web.listen-address=:9100"]
    node = cluster_of(
        with_monitor("debian12", node_exporter_listen_address="10.0.0.11", **secured)
    ).node(H1)
    assert node_exporter_flags(node) == [
        "--web.listen-address=10.0.0.11:9100",
        "--web.config.file=/etc/node_exporter/web.yml",
    ]


def test_jmx_agent_listen_address():
    from deploys.tasks.jmx_exporter import JmxAgent

    assert JmxAgent("a.jar", None).argument(7071, "r.yml") == "a.jar=7071:r.yml"
    assert (
        JmxAgent("a.jar", None, "10.0.0.1").argument(7071, "r.yml") == "a.jar=10.0.0.1:7071:r.yml"
    )
    assert JmxAgent("a.jar", None, "::1").argument(7071, "r.yml") == "a.jar=[::1]:7071:r.yml"


def test_relp_over_tls_both_ends_check_names_of_the_clusters_ca(secured):
    cluster = cluster_of(with_monitor("debian12", **secured))
    tls = monitoring.relp_tls(cluster.node(H1).settings, "/etc/rsyslog.d")
    assert tls == monitoring.RelpTls(
        "/etc/rsyslog.d/tls/ca.crt", "/etc/rsyslog.d/tls/host.crt", "/etc/rsyslog.d/tls/host.key"
    )
    sinks = monitoring.relp_sinks(cluster, secured=True)
    assert [(s.id, s.address, s.names) for s in sinks] == [
        ("_fake_monitor", "10.0.0.10", ("@fake/monitor", "10.0.0.10"))
    ]
    ship = render(
        "rsyslog/ship.conf.j2",
        sinks=sinks,
        port=2514,
        queue_dir="/q",
        max_disk="2g",
        files=[],
        units=["kafka"],
        load_imjournal=True,
        tls=tls,
    )
    assert (
        '           tls="on" tls.caCert="/etc/rsyslog.d/tls/ca.crt"'
        ' tls.myCert="/etc/rsyslog.d/tls/host.crt" tls.myPrivKey="/etc/rsyslog.d/tls/host.key"\n'
        '           tls.authMode="name" tls.permittedPeer=["@fake/monitor", "10.0.0.10"]\n'
    ) in ship
    peers = monitoring.relp_senders(cluster)
    assert peers[:2] == ["@fake/kafka-1", "10.0.0.11"] and "10.0.0.10" in peers
    sink = render(
        "rsyslog/sink.conf.j2", port=2514, address="10.0.0.10", sink_dir="/l", tls=tls, peers=peers
    )
    assert 'input(type="imrelp" port="2514" address="10.0.0.10" ruleset="kafkaform_sink"\n' in sink
    assert f'tls.authMode="name" tls.permittedPeer={json.dumps(peers)})' in sink
    assert monitoring.relp_tls({"security": "plaintext"}, "/etc/rsyslog.d") is None


def test_lag_exporter_reads_its_client_properties_without_echoing_them():
    text = "# managed\n\nsecurity.protocol=SASL_SSL\nsasl.password = s3cret=x\n!note\n"
    assert lag_exporter.client_properties(text) == {
        "security.protocol": "SASL_SSL",
        "sasl.password": "s3cret=x",
    }
    with pytest.raises(ValueError) as error:
        lag_exporter.client_properties("sasl.password s3cret\n")
    assert "s3cret" not in str(error.value) and "line 1" in str(error.value)
    args = lag_exporter.parse_args(
        ["--bootstrap-servers", "b:9095", "--client-config", "/etc/c", "--listen-address", "::"]
    )
    assert (args.client_config, args.listen_address) == ("/etc/c", "::")
    assert lag_exporter.parse_args(["--bootstrap-servers", "b"]).listen_address == "0.0.0.0"


# --- the deploy on @fake hosts ---------------------------------------------------------------


@pytest.fixture
def recorded(monkeypatch) -> dict:
    """dest and (host, dest) -> (text, mode, user, group) of every put_text and put_secret of
    a deploy (the last host's for dest alone)."""
    from pyinfra import host

    written: dict[str, tuple] = {}
    put_text, put_secret = host_files.put_text, host_files.put_secret

    def text(name, dest, text, mode, user=None, group=None):
        written[dest] = written[(host.name, dest)] = (text, mode, user, group)
        return put_text(name, dest, text, mode, user, group)

    def secret(name, dest, text, mode="600", user="root", group="root"):
        written[dest] = written[(host.name, dest)] = (text, mode, user, group, "secret")
        return put_secret(name, dest, text, mode, user, group)

    monkeypatch.setattr(host_files, "put_text", text)
    for module in ("monitoring", "node_exporter", "tls_files", "service"):
        monkeypatch.setattr(f"deploys.tasks.{module}.put_secret", secret)
    monkeypatch.setattr("deploys.tasks.tls_files.put_text", text)
    return written


def test_secured_deploy_files_modes_owners_and_no_password_in_commands(secured, recorded):
    hosts = with_monitor("debian12", **secured)
    run = run_deploy(hosts)
    settings = cluster_of(hosts).node(MON).settings
    secret_files = {
        "/etc/prometheus/web.yml": ("640", "root", "prometheus"),
        "/etc/prometheus/scrape.password": ("640", "root", "prometheus"),
        "/etc/prometheus/jmx.password": ("640", "root", "prometheus"),
        "/etc/prometheus/tls/host.key": ("640", "root", "prometheus"),
        "/etc/node_exporter/web.yml": ("640", "root", "prometheus"),
        "/etc/node_exporter/tls/host.key": ("640", "root", "prometheus"),
        "/etc/kafka-lag-exporter/client.properties": ("640", "root", "kafka-lag-exporter"),
        "/etc/kafka-lag-exporter/tls/host.key": ("640", "root", "kafka-lag-exporter"),
    }
    for dest, owner in secret_files.items():
        assert recorded[dest][1:] == (*owner, "secret"), dest
    assert recorded["/etc/prometheus/scrape.password"][0] == monitoring_auth.password(
        settings, "prometheus"
    )
    assert recorded["/etc/prometheus/tls/ca.crt"][1:] == ("644", "root", "prometheus")
    assert recorded["/etc/rsyslog.d/tls/host.key"][1:] == ("640", "root", "root", "secret")
    jmx_rules = recorded["/etc/kafka/jmx-exporter.yml"]
    # The agent's salt and hash: never shown, not even by --diff.
    assert "passwordHash:" in jmx_rules[0] and jmx_rules[1:] == ("640", "root", "kafka", "secret")
    assert "passwordHash:" in recorded["/etc/zookeeper/jmx-exporter.yml"][0]
    mon_ops = run.ops(MON)
    assert (
        "Monitoring host | Prometheus and Alertmanager users and TLS (web.yml)"
        " (secret: content not shown)" in mon_ops
    )
    # The files they name exist before promtool checks the configuration.
    assert mon_ops.index(
        "Monitoring host | Prometheus's password as jmx (secret: content not shown)"
    ) < mon_ops.index(
        "Monitoring host | Check the Prometheus configuration and rules with promtool, "
        "then put it in place"
    )
    assert "Monitoring host | Restart kafka-lag-exporter on new TLS files" in mon_ops
    assert not any("gossip" in op for op in mon_ops)  # one Alertmanager: no gossip
    assert "Log shipping | Restart rsyslog on new TLS files" in run.ops(H1)
    everything = "\n".join(
        run.executed(h) + "\n".join(run.ops(h)) for h in (H1, MON, "@fake/kafka-2")
    )
    for password in [*passwords(settings), "BEGIN PRIVATE KEY"]:
        assert password not in everything


def test_plaintext_deploy_writes_no_security_files(recorded):
    run = run_deploy(with_monitor("debian12"))
    dests = [dest for dest in recorded if isinstance(dest, str)]
    assert not [dest for dest in dests if "/tls/" in dest or dest.endswith(".password")]
    assert "/etc/node_exporter/web.yml" not in recorded
    assert "httpServer" not in recorded["/etc/kafka/jmx-exporter.yml"][0]
    assert not any("secret" in op for op in run.ops(MON))


def test_el_node_exporter_web_config_belongs_to_its_own_user(secured, recorded):
    run_deploy(with_monitor("rocky9", monitor_distro="debian12", **secured))
    web = recorded[(H1, "/etc/node_exporter/web.yml")]
    assert web[1:] == ("640", "root", "node_exporter", "secret")
    assert recorded[(MON, "/etc/node_exporter/web.yml")][3] == "prometheus"  # Debian's package


def test_listen_addresses_are_ip_addresses_or_unset():
    from kafkaform.validate import check

    hosts = [
        (
            "k1",
            {
                "ssh_hostname": "10.0.0.1",
                "kafkaid": 1,
                "zookeeper": True,
                "zkid": 1,
                "node_exporter_listen_address": "eth0",
                "jmx_exporter_listen_address": "10.0.0.1",
            },
        ),
        ("m", {"ssh_hostname": "10.0.0.9", "monitoring": True, "log_sink_listen_address": 5}),
    ]
    problems = [str(p) for p in check(hosts)]
    assert (
        "k1: node_exporter_listen_address: 'eth0' is not an IP address (unset: every address)"
        in (problems)
    )
    assert any(p.startswith("m: log_sink_listen_address: ") for p in problems), problems
    assert not any("jmx_exporter_listen_address" in p for p in problems)
    fine = [(n, {**d, "node_exporter_listen_address": "::1"}) for n, d in hosts[:1]]
    assert not [p for p in check(fine) if "listen_address" in str(p)]


def test_alertmanagers_of_a_secured_cluster_gossip_over_mutual_tls(secured):
    hosts = with_monitor("debian12", **secured)
    second = dict(hosts[-1][1], ssh_hostname="10.0.0.20")
    run = run_deploy([*hosts, ("@fake/monitor-2", second)])
    config = json.loads(monitoring_auth.cluster_tls_config("/t").split("\n", 1)[1])
    assert config["tls_server_config"]["client_auth_type"] == "RequireAndVerifyClientCert"
    assert config["tls_client_config"] == {
        "cert_file": "/t/host.crt",
        "key_file": "/t/host.key",
        "ca_file": "/t/ca.crt",
    }
    ops = run.ops(MON)
    assert "Monitoring host | Alertmanager gossip TLS (cluster-tls.yml)" in ops
    assert "Monitoring host | Restart prometheus-alertmanager on new TLS files" in ops
    text = render(
        "alertmanager/default.j2",
        listen=":9093",
        web_config="/w",
        cluster_port=9094,
        peers=["10.0.0.20:9094"],
        cluster_tls="/etc/prometheus/cluster-tls.yml",
    )
    assert "--cluster.peer=10.0.0.20:9094 --cluster.tls-config=/etc/prometheus/cluster-tls.yml" in (
        text
    )


def test_lag_exporter_clients_get_the_client_properties(monkeypatch):
    import confluent_kafka
    import confluent_kafka.admin

    made: list[dict] = []
    monkeypatch.setattr(confluent_kafka.admin, "AdminClient", lambda config: made.append(config))
    monkeypatch.setattr(confluent_kafka, "Consumer", lambda config: made.append(config))
    client = {"security.protocol": "SASL_SSL", "sasl.username": "kafkaform-monitor"}
    reader = lag_exporter.connect("b1:9095,b2:9095", 5, client)
    reader.consumer("group-a")
    admin, watermarks, group = made
    assert admin == {"bootstrap.servers": "b1:9095,b2:9095", **client}
    for consumer in (watermarks, group):
        assert consumer["security.protocol"] == "SASL_SSL"
        assert consumer["sasl.username"] == "kafkaform-monitor"
    assert group["group.id"] == "group-a"


def test_a_second_secured_deploy_rewrites_no_secret_and_no_tls_file(secured, recorded):
    from tests.unit.fakes import host_paths

    hosts = with_monitor("debian12", **secured)
    run_deploy(hosts)
    # The monitoring host now has what the first run wrote (the bcrypt hashes were kept).
    files = {
        dest: (entry[0], entry[1], entry[2] or "root", entry[3] or "root")
        for (host, dest), entry in (k for k in recorded.items() if isinstance(k[0], tuple))
        if host == MON
    }
    data = hosts[-1][1]
    data["fake_responses"] = {**host_paths(files=files), **data["fake_responses"]}
    again = run_deploy(hosts).ops(MON)
    written = [op for op in again if "Restart" not in op]  # restarts run only _if changed
    assert not [op for op in written if "secret" in op or "TLS" in op or "web.yml" in op]
    assert "Log shipping | Restart rsyslog on new TLS files" in again
