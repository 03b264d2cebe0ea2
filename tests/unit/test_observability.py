"""Offline: exporter rule files, log shipping config, dashboards, and the deploy plans of the
observability steps on @fake hosts (Debian and EL)."""

from __future__ import annotations

import json

import pytest
from pyinfra.api.exceptions import PyinfraError

from kafkaform import dashboards, monitoring
from kafkaform.cluster import Cluster, resolve_settings
from kafkaform.settings import DEFAULTS, JMX_EXPORTER_SHA256
from kafkaform.templating import TEMPLATES, render
from kafkaform.validate import check
from tests.unit.deployrun import run_deploy
from tests.unit.fakes import fake_hosts, host_files, responses

H1 = "@fake/kafka-1"
MON = "@fake/monitor"
JAR = "/opt/jmx-exporter/jmx_prometheus_javaagent-1.0.1.jar"
STAGE = "/var/lib/kafkaform/candidates"
PLACE_PROMETHEUS = (
    "Monitoring host | Check the Prometheus configuration and rules with promtool, "
    "then put it in place"
)


def with_monitor(distro: str, nodes: int = 3, monitor_distro: str | None = None, **data) -> list:
    hosts = fake_hosts(distro, nodes, **data)
    monitor = dict(hosts[0][1])
    for key in ("kafkaid", "zookeeper", "zkid"):
        monitor.pop(key, None)
    monitor.update(
        ssh_hostname="10.0.0.10",
        monitoring=True,
        fake_responses=responses(monitor_distro or distro),
    )
    return [*hosts, (MON, monitor)]


# --- deploy plans ----------------------------------------------------------------------------


def test_debian_plan_agent_exporters_logs_and_monitoring_host():
    run = run_deploy(with_monitor("debian12"))
    ops, sent = run.ops(H1), run.executed(H1)
    # The agent is in place before the services that load it start.
    jar_step = ops.index(
        "JMX exporter agent | Download and verify jmx_prometheus_javaagent-1.0.1.jar"
    )
    assert jar_step < ops.index("ZooKeeper | Start and enable zookeeper")
    assert f"echo '{JMX_EXPORTER_SHA256['1.0.1']}  {JAR}.download' | sha256sum -c" in sent
    assert "curl -sSLf --retry 3 -o" in sent
    assert (
        "https://repo1.maven.org/maven2/io/prometheus/jmx/jmx_prometheus_javaagent/1.0.1/" in sent
    )
    # Then node_exporter and log shipping on every host, the monitoring host last.
    # (in the host's one package transaction, with Java and the base packages)
    assert "ca-certificates prometheus-node-exporter rsyslog rsyslog-relp logrotate" in sent
    assert "/var/lib/kafkaform/candidates/rsyslog/60-kafkaform-ship.conf" in sent
    assert "50-kafkaform-sink.conf" not in sent
    assert not any(op.startswith("Monitoring host") for op in ops)
    mon = run.ops(MON)
    assert "Monitoring host | Candidate for /etc/prometheus/prometheus.yml" in mon
    assert PLACE_PROMETHEUS in mon
    assert "/var/lib/kafkaform/candidates/rsyslog/50-kafkaform-sink.conf" in run.executed(MON)
    # No JVM on a host that only monitors: no agent, no ZooKeeper, no broker.
    assert not any(op.startswith(("JMX exporter", "ZooKeeper", "Kafka broker")) for op in mon)
    assert "prometheus-alertmanager python3-confluent-kafka" in run.executed(MON)
    assert f"promtool check config {STAGE}/prometheus/prometheus.yml" in run.executed(MON)
    assert f"amtool check-config {STAGE}/alertmanager/alertmanager.yml" in run.executed(MON)


def test_units_load_the_agent_with_their_rules(monkeypatch):
    from deploys.tasks import host_files

    written: dict[str, tuple] = {}  # dest -> (text, mode, user, group)
    original = host_files.put_text

    def recording(name, dest, text, mode, user=None, group=None):
        written[dest] = (text, mode, user, group)
        return original(name, dest, text, mode, user, group)

    monkeypatch.setattr(host_files, "put_text", recording)
    run_deploy(fake_hosts("debian12", 1))
    kafka = written["/etc/systemd/system/kafka.service"][0]
    zookeeper = written["/etc/systemd/system/zookeeper.service"][0]
    assert f" -javaagent:{JAR}=7071:/etc/kafka/jmx-exporter.yml " in kafka
    assert f" -javaagent:{JAR}=7072:/etc/zookeeper/jmx-exporter.yml " in zookeeper
    # No remote JMX port: metrics leave the JVM only through the agent's HTTP endpoint.
    assert "jmxremote" not in kafka + zookeeper
    _, mode, _, group = written["/etc/kafka/jmx-exporter.yml"]
    assert group == "kafka" and mode == "640"


def test_agent_argument_and_rule_files_render():
    from deploys.tasks.jmx_exporter import JmxAgent

    agent = JmxAgent(JAR, None)
    assert agent.argument(7071, "/etc/kafka/jmx-exporter.yml") == (
        f"{JAR}=7071:/etc/kafka/jmx-exporter.yml"
    )
    kafka = render("jmx/kafka.yml.j2", broker_id=1, topic_metrics=False)
    assert "includeObjectNames:" in kafka and "topic=" not in kafka.split("rules:")[1]
    with_topics = render("jmx/kafka.yml.j2", broker_id=1, topic_metrics=True)
    assert "kafka_server_brokertopicmetrics_topic_$1_total" in with_topics
    zk = render("jmx/zookeeper.yml.j2", zkid=2)
    assert zk.count("name: zookeeper_server_serving") == 4  # leader, follower, observer, standalone


def live_files(files: dict[str, str], mode: str = "-rw-r--r--", group: str = "root") -> dict:
    """fake_responses: the host's ``files`` (path -> text) as the facts read them."""
    bits = "".join("0" if c == "-" else "1" for c in mode[1:])
    octal = "".join(str(int(bits[i : i + 3], 2)) for i in (0, 3, 6))
    return host_files(files, mode=octal, group=group)


def monitor_with_live(files: dict[str, str], **kwargs) -> tuple[list, dict]:
    hosts = with_monitor("debian12")
    data = hosts[-1][1]
    data["fake_responses"] = {**live_files(files, **kwargs), **data["fake_responses"]}
    return hosts, data


def prometheus_files(hosts: list) -> dict[str, str]:
    cluster = Cluster.from_hosts(hosts)
    node = cluster.node(MON)
    files = {"/etc/prometheus/prometheus.yml": monitoring.prometheus_config(cluster, node)}
    for name, text in monitoring.render_rules(node.settings).items():
        files[f"{monitoring.RULES_DIR}/{name}"] = text
    return files


def test_configs_are_placed_only_after_their_checker_passed():
    run = run_deploy(with_monitor("debian12"))
    sent = run.executed(MON)
    for checker, live in (
        ("promtool check config", "/etc/prometheus/prometheus.yml"),
        ("amtool check-config", "/etc/prometheus/alertmanager.yml"),
        ("rsyslogd -N1", "/etc/rsyslog.d/50-kafkaform-sink.conf"),
    ):
        check_at = sent.index(checker)
        # Installed beside the live file, then renamed over it: never written in place.
        assert sent.index(f"mv -f {live}.kafkaform-new {live}") > check_at
        assert sent.index(f"{live}.kafkaform-new") > check_at
    assert "systemctl try-reload-or-restart prometheus.service" in sent
    assert "systemctl try-restart rsyslog.service" in sent
    # The Alertmanager candidate holds receivers' secrets: root's staging dir, mode 640.
    assert "chmod 700 /var/lib/kafkaform/candidates/alertmanager" in sent
    assert "install -D -m 640 -o root -g prometheus" in sent


def test_a_host_whose_live_configs_match_gets_no_check_and_no_reload():
    hosts, _ = monitor_with_live({})
    hosts, _ = monitor_with_live(prometheus_files(hosts))
    run = run_deploy(hosts)
    assert PLACE_PROMETHEUS not in run.ops(MON)
    assert "promtool" not in run.executed(MON)
    assert "Monitoring host | Reload prometheus on a new configuration" not in run.ops(MON)


def test_a_live_file_that_differs_is_checked_and_placed_even_if_no_candidate_changed():
    # As after a run that staged the candidates and stopped before placing them.
    hosts, _ = monitor_with_live({})
    files = prometheus_files(hosts)
    files[f"{monitoring.RULES_DIR}/kafka.rules.yml"] = "groups: []\n"
    hosts, _ = monitor_with_live(files)
    run = run_deploy(hosts)
    assert PLACE_PROMETHEUS in run.ops(MON)
    assert f"promtool check config {STAGE}/prometheus/prometheus.yml" in run.executed(MON)


def test_a_live_file_with_the_wrong_mode_is_placed_again():
    hosts, _ = monitor_with_live({})
    s = Cluster.from_hosts(hosts).node(MON).settings
    text = render(
        "alertmanager/alertmanager.yml.j2",
        route=s["alertmanager_route"],
        receivers=s["alertmanager_receivers"],
    )
    place = (
        "Monitoring host | Check the Alertmanager configuration with amtool, then put it in place"
    )
    live = {"/etc/prometheus/alertmanager.yml": text}
    hosts, _ = monitor_with_live(live, mode="-rw-r-----", group="prometheus")
    assert place not in run_deploy(hosts).ops(MON)
    hosts, _ = monitor_with_live(live, mode="-rw-r--r--", group="prometheus")  # world-readable
    assert place in run_deploy(hosts).ops(MON)


def test_el_hosts_get_node_exporter_from_the_release_tarball():
    run = run_deploy(fake_hosts("rocky9", 3))
    ops, sent = run.ops(H1), run.executed(H1)
    assert "node_exporter | Download and verify node_exporter-1.8.2.linux-amd64.tar.gz" in ops
    assert f"echo '{'1' * 64}  /var/cache/kafkaform/node_exporter-1.8.2.linux-amd64.tar.gz" in sent
    assert (
        "https://github.com/prometheus/node_exporter/releases/download/v1.8.2/"
        "node_exporter-1.8.2.linux-amd64.tar.gz" in sent
    )
    assert "node_exporter | systemd unit prometheus-node-exporter.service" in ops
    assert "User node_exporter (no login)" in "\n".join(ops)
    assert "apt-get" not in sent


def test_el_rsyslog_does_not_load_imjournal_twice():
    hosts = with_monitor("centos7", 3, monitor_distro="debian12")
    run = run_deploy(hosts)
    (transaction,) = [c for c in run.commands[H1] if c.startswith("yum install -y")]
    assert "rsyslog rsyslog-relp logrotate" in transaction


def test_monitoring_on_el_is_refused_with_the_reason():
    with pytest.raises(PyinfraError, match="monitoring: True needs a Debian or Ubuntu host"):
        run_deploy(with_monitor("rocky9"))


def test_no_monitoring_host_means_no_shipping():
    run = run_deploy(fake_hosts("debian12", 3))
    ops = run.ops(H1)
    assert "Log shipping | rsyslog shipping to the log sink" not in ops
    assert any("prometheus-node-exporter" in op for op in ops)


# --- rendered configuration ----------------------------------------------------------------


def lab_like_cluster(monitors: int = 1) -> Cluster:
    hosts = [
        (
            f"kafka-{i}",
            {"ssh_hostname": f"10.0.0.{10 + i}", "kafkaid": i, "zookeeper": True, "zkid": i},
        )
        for i in range(1, 4)
    ]
    hosts += [
        (f"mon{i}", {"ssh_hostname": f"10.0.0.{i}", "monitoring": True})
        for i in range(1, monitors + 1)
    ]
    return Cluster.from_hosts(hosts)


def ship_conf(node_name: str, load_imjournal: bool = True, monitors: int = 1) -> str:
    cluster = lab_like_cluster(monitors)
    node = cluster.node(node_name)
    return render(
        "rsyslog/ship.conf.j2",
        sinks=[{"id": n.name, "address": n.address} for n in cluster.monitoring],
        port=2514,
        queue_dir="/var/spool/rsyslog-kafkaform",
        max_disk="2g",
        files=monitoring.log_files(node),
        units=monitoring.journal_units(node),
        load_imjournal=load_imjournal,
        tls=None,
    )


def test_shipping_reads_the_broker_and_zookeeper_logs_and_our_journal():
    text = ship_conf("kafka-2")
    for path, source in (
        ("/var/log/kafka/server.log", "kafka-server"),
        ("/var/log/kafka/controller.log", "kafka-controller"),
        ("/var/log/kafka/state-change.log", "kafka-state-change"),
        ("/var/log/zookeeper/zookeeper.log", "zookeeper"),
    ):
        assert f'File="{path}" Tag="{source}"' in text
    for unit in ("kafka", "zookeeper", "prometheus-node-exporter"):
        assert f'$!_SYSTEMD_UNIT == "{unit}.service"' in text
    # Nothing lost while the sink is away: an acknowledged protocol, a saved disk queue,
    # and retries forever.
    assert 'type="omrelp"' in text
    assert 'queue.filename="kafkaform_to_mon1"' in text
    assert 'queue.saveOnShutdown="on"' in text
    assert 'action.resumeRetryCount="-1"' in text
    assert 'module(load="imjournal"' in text and "    stop\n" in text


def test_el_keeps_its_own_imjournal_and_local_rules():
    text = ship_conf("kafka-1", load_imjournal=False)
    assert 'module(load="imjournal"' not in text
    assert "    stop\n" not in text


def test_each_sink_gets_its_own_queue():
    text = ship_conf("kafka-1", monitors=2)
    assert text.count('type="omrelp"') == 2
    assert (
        'queue.filename="kafkaform_to_mon1"' in text
        and 'queue.filename="kafkaform_to_mon2"' in text
    )


def test_monitoring_only_host_ships_its_journal_and_loads_no_imfile():
    text = ship_conf("mon1")
    assert "imfile" not in text
    assert '"prometheus.service"' in text and '"kafka-lag-exporter.service"' in text


def test_sink_writes_one_file_per_host_and_source():
    text = render(
        "rsyslog/sink.conf.j2", port=2514, address=None, sink_dir="/var/log/kafkaform", tls=None
    )
    assert 'input(type="imrelp" port="2514" ruleset="kafkaform_sink")' in text
    assert (
        "/var/log/kafkaform/%HOSTNAME:::secpath-replace%/%programname:::secpath-replace%.log"
        in text
    )
    rotate = render("rsyslog/logrotate-sink.j2", sink_dir="/var/log/kafkaform", keep_days=14)
    assert "/var/log/kafkaform/*/*.log {" in rotate and "rotate 14" in rotate


# --- validation ------------------------------------------------------------------------------


def test_observability_settings_are_validated():
    hosts = [
        (
            "k1",
            {
                "kafkaid": 1,
                "zookeeper": True,
                "zkid": 1,
                "monitoring": "yes",
                "alert_for": {"broker_down": "1 minute", "brokr_down": "1m"},
                "prometheus_scrape_interval": "15",
                "node_exporter_port": 9092,
            },
        )
    ]
    problems = [str(p) for p in check(hosts)]
    assert "k1: monitoring: must be True or False, got 'yes'" in problems
    assert "k1: alert_for['brokr_down']: unknown key (did you mean 'broker_down'?)" in problems
    assert (
        "k1: alert_for['broker_down']: '1 minute' is not a duration like '30s' or '5m'" in problems
    )
    assert "k1: prometheus_scrape_interval: '15' is not a duration like '30s' or '5m'" in problems
    assert "k1: kafka_port, node_exporter_port: all use port 9092" in problems


def test_defaults_validate_with_one_or_two_monitoring_hosts():
    for monitors in (1, 2):
        cluster = lab_like_cluster(monitors)
        assert check([(n.name, dict(n.data)) for n in cluster.nodes]) == []
    assert set(resolve_settings({})["alert_for"]) == set(DEFAULTS["alert_for"])


# --- dashboards --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(dashboards.DASHBOARDS))
def test_shipped_dashboards_are_the_generated_ones(key):
    path = TEMPLATES / "grafana" / f"{key}.json"
    assert path.read_text() == dashboards.rendered(key), "run: python -m kafkaform.dashboards"
    board = json.loads(path.read_text())
    assert board["uid"] == f"kafkaform-{key}"
    assert all(t["expr"] for p in board["panels"] for t in p["targets"])


def test_metric_names_in_promql():
    expr = (
        "sum by (host, request) (rate(kafka_network_requestmetrics_requests_total"
        '{cluster="$cluster", host=~"$host"}[5m])) / on (host) group_left up{job="kafka"}'
        " or vector(0)"
    )
    assert dashboards.metric_names(expr) == {"kafka_network_requestmetrics_requests_total", "up"}
    assert dashboards.metric_names(
        "min_over_time((jvm_memory_used_bytes / jvm_memory_max_bytes)[10m:]) > 0.9"
    ) == {"jvm_memory_used_bytes", "jvm_memory_max_bytes"}
    assert dashboards.metric_names('node_load1{a="x{y}"} and bool 1') == {"node_load1"}


def test_every_dashboard_has_cluster_brokers_zookeeper_hosts():
    titles = {dashboards.build(k)["title"] for k in dashboards.DASHBOARDS}
    assert titles == {"Kafka cluster", "Kafka brokers", "ZooKeeper", "Kafka hosts"}
