"""Observability on the lab: three brokers and a monitoring host, deployed by the real CLI.

Prometheus is asked over its HTTP API from this machine; logs are counted on the hosts.
"""

from __future__ import annotations

import json
import re
import shlex
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, ElectionType, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafkaform import dashboards, monitoring, verify
from kafkaform.candidates import Candidate, place_script, rsyslog_check, staging_dir
from kafkaform.cluster import Cluster
from tests.integration.conftest import (
    changed_operations,
    deploy,
    failing_deploy,
    fresh_lab,
    kafkaform,
    on_node,
)

MONITOR = "monitor"
SINK = "/var/log/kafkaform"


def emit(**fields: object) -> None:
    """Measurements as JSON lines (shown with pytest -s)."""
    print(json.dumps(fields), flush=True)


@pytest.fixture(scope="module")
def cluster(lab_box) -> Cluster:
    cluster = fresh_lab(3, monitoring=True, box=lab_box.catalog)
    started = time.monotonic()
    result = deploy()
    emit(bench="deploy_cold_with_monitoring", seconds=round(time.monotonic() - started, 1))
    assert result["results"]["totals"]["error"] == 0
    # The deploy's last step may have restarted Prometheus a moment ago.
    wait_for("Prometheus to answer", lambda: prometheus_ready(cluster), timeout=60, interval=1)
    return cluster


def prometheus_ready(cluster: Cluster) -> bool:
    node = cluster.node(MONITOR)
    url = f"http://{node.address}:{node.settings['prometheus_port']}/-/ready"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def api(cluster: Cluster, path: str, **params: str) -> Any:
    node = cluster.node(MONITOR)
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    url = f"http://{node.address}:{node.settings['prometheus_port']}/api/v1/{path}{query}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def query(cluster: Cluster, promql: str) -> list[dict]:
    return api(cluster, "query", query=promql)["result"]


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f}s waiting for {what}; last: {value}")
        time.sleep(interval)


def firing(cluster: Cluster) -> set[tuple[str, str]]:
    return {
        (a["labels"]["alertname"], a["labels"].get("host", ""))
        for a in api(cluster, "alerts")["alerts"]
        if a["state"] == "firing"
    }


def test_every_scrape_target_is_up(cluster):
    expected = {
        (job.name, target.host, target.role)
        for job in monitoring.scrape_jobs(cluster, cluster.node(MONITOR))
        for target in job.targets
    }
    assert len(expected) == 4 + 3 + 3 + 1 + 1 + 1  # node, kafka, zookeeper, lag, prom, am

    def all_up():
        targets = api(cluster, "targets")["activeTargets"]
        seen = {(t["labels"]["job"], t["labels"]["host"], t["labels"]["role"]) for t in targets}
        down = [(t["scrapeUrl"], t["lastError"]) for t in targets if t["health"] != "up"]
        return seen == expected and not down

    wait_for("every target up", all_up, timeout=90)


def test_alert_rules_are_loaded(cluster):
    groups = api(cluster, "rules", type="alert")["groups"]
    loaded = {rule["name"] for group in groups for rule in group["rules"]}
    rules = "".join(monitoring.render_rules(cluster.node(MONITOR).settings).values())
    assert loaded == set(re.findall(r"- alert: (\w+)", rules))


def test_consumer_lag_per_group_and_partition(cluster):
    servers = verify.bootstrap(cluster)
    verify.create_topic(servers, "observed", partitions=3, replication=3, min_isr=2)
    verify.topic_layout(servers, "observed")
    producer = Producer({"bootstrap.servers": servers, "acks": "all"})
    for partition in range(3):
        for n in range(10):
            producer.produce("observed", f"m{n}".encode(), partition=partition)
    assert producer.flush(30) == 0
    # A group that read 4, 10 and 0 messages of the three partitions.
    reader = Consumer(
        {"bootstrap.servers": servers, "group.id": "observed-readers", "enable.auto.commit": False}
    )
    offsets = [TopicPartition("observed", p, o) for p, o in ((0, 4), (1, 10), (2, 0))]
    reader.commit(offsets=offsets, asynchronous=False)
    reader.close()

    def lag():
        rows = query(cluster, 'kafka_consumergroup_lag{consumergroup="observed-readers"}')
        return {r["metric"]["partition"]: r["value"][1] for r in rows} == {
            "0": "6",
            "1": "0",
            "2": "10",
        } and rows

    rows = wait_for("lag per partition in Prometheus", lag, timeout=60)
    assert {r["metric"]["topic"] for r in rows} == {"observed"}
    assert {r["metric"]["host"] for r in rows} == {MONITOR}


def rule_expressions(text: str) -> list[str]:
    """The expr of every rule in a rendered rule file (one line or a folded block)."""
    exprs, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^(\s+)expr: (.*)$", line)
        if not match:
            continue
        if match.group(2).strip() != ">":
            exprs.append(match.group(2))
            continue
        block = []
        for follow in lines[i + 1 :]:
            if len(follow) - len(follow.lstrip()) <= len(match.group(1)):
                break
            block.append(follow.strip())
        exprs.append(" ".join(block))
    return exprs


def test_dashboards_and_alerts_use_metrics_our_exporters_produce(cluster):
    panels = [
        expr
        for key in dashboards.DASHBOARDS
        for expr in dashboards.queries(json.loads(dashboards.rendered(key)))
    ]
    rules = [
        expr
        for text in monitoring.render_rules(cluster.node(MONITOR).settings).values()
        for expr in rule_expressions(text)
    ]
    assert len(rules) >= 14
    names = set().union(*(dashboards.metric_names(e) for e in panels + rules))
    assert len(names) > 40
    missing = [n for n in sorted(names) if not query(cluster, f'count({{__name__="{n}"}})')]
    assert missing == [], f"named by a dashboard or alert but not exported: {missing}"
    # Every dashboard query is valid PromQL, with the variables Grafana would fill in.
    for expr in panels:
        query(cluster, expr.replace("$cluster", "kafka").replace("$host", ".*"))


def sink_count(pattern: str, source: str = "kafka-server", host: str = "kafka-2") -> int:
    out = on_node(MONITOR, f"grep -c -- {pattern} {SINK}/{host}/{source}.log || true").stdout
    return int(out.strip() or 0)


def local_count(pattern: str) -> int:
    out = on_node("kafka-2", f"grep -c -- {pattern} /var/log/kafka/server.log || true").stdout
    return int(out.strip() or 0)


def topics_on_broker_2(cluster: Cluster, names: list[str]) -> None:
    """Topics whose only replica is broker 2: broker 2 logs their creation."""
    admin = AdminClient({"bootstrap.servers": verify.bootstrap(cluster)})
    futures = admin.create_topics([NewTopic(n, 1, replica_assignment=[[2]]) for n in names])
    for future in futures.values():
        future.result(60)


def test_broker_log_line_reaches_the_sink(cluster):
    name = f"sink-{uuid.uuid4().hex[:10]}"
    topics_on_broker_2(cluster, [name])
    wait_for("the broker's own log lines", lambda: local_count(name), timeout=30)

    def all_arrived():
        logged = local_count(name)  # broker 2 may still be logging about the new topic
        return sink_count(name) == logged and logged

    assert wait_for("the lines at the sink", all_arrived, timeout=60) >= 1


def test_lines_logged_while_the_sink_is_down_all_arrive(cluster):
    marker = f"outage-{uuid.uuid4().hex[:10]}"
    # The socket too: a journal line through it would start the sink again.
    on_node(MONITOR, "systemctl stop syslog.socket rsyslog.service")
    try:
        topics_on_broker_2(cluster, [f"{marker}-{i}" for i in range(20)])

        def settled():
            first = local_count(marker)
            time.sleep(3)
            return first if first >= 20 and local_count(marker) == first else 0

        logged = wait_for("broker 2 to log the new topics", settled, timeout=60)
        time.sleep(5)  # the sender's retries meet a closed port meanwhile
        assert sink_count(marker) == 0, "the sink was stopped: nothing can have arrived"
    finally:
        on_node(MONITOR, "systemctl start rsyslog.service")
    started = time.monotonic()
    wait_for(f"{logged} lines at the sink", lambda: sink_count(marker) == logged, timeout=120)
    emit(bench="sink_outage", lines=logged, delivered_after_s=round(time.monotonic() - started, 1))
    assert sink_count(marker) == logged == local_count(marker)


def test_broker_crash_fires_alerts_that_resolve_after_restart(cluster):
    crashed = time.monotonic()
    kafkaform("lab", "kill", "kafka-2")
    seen: dict[str, float] = {}

    def fired():
        now = firing(cluster)
        for alert in ("KafkaBrokerDown", "KafkaUnderReplicatedPartitions"):
            if alert not in seen and any(name == alert for name, _ in now):
                seen[alert] = round(time.monotonic() - crashed, 1)
        return len(seen) == 2

    try:
        wait_for("broker-down and under-replicated alerts", fired, timeout=240)
        assert ("KafkaBrokerDown", "kafka-2") in firing(cluster)
    finally:
        kafkaform("lab", "start", "kafka-2")
    emit(bench="crash_to_alert", **{f"{k}_s": v for k, v in seen.items()})
    started = time.monotonic()

    def resolved():
        now = {name for name, _ in firing(cluster)}
        return not now & {"KafkaBrokerDown", "KafkaUnderReplicatedPartitions"}

    wait_for("the alerts to resolve", resolved, timeout=300, interval=3)
    emit(bench="restart_to_resolved", seconds=round(time.monotonic() - started, 1))


def broker_ids(servers: str) -> set[int]:
    try:
        return set(AdminClient({"bootstrap.servers": servers}).list_topics(timeout=5).brokers)
    except Exception:  # no broker answers yet
        return set()


def leaders(servers: str, topic: str) -> dict[int, int]:
    metadata = AdminClient({"bootstrap.servers": servers}).list_topics(topic=topic, timeout=10)
    return {p: m.leader for p, m in metadata.topics[topic].partitions.items()}


def exporter_lag(cluster: Cluster, group: str) -> dict[int, int]:
    rows = query(cluster, f'kafka_consumergroup_lag{{consumergroup="{group}"}}')
    return {int(r["metric"]["partition"]): int(r["value"][1]) for r in rows}


def exporter_up(cluster: Cluster) -> bool:
    return [r["value"][1] for r in query(cluster, "kafka_lag_exporter_up")] == ["1"]


def test_consumer_lag_is_correct_within_a_minute_after_a_broker_host_crash(cluster):
    servers = verify.bootstrap(cluster)
    wait_for("all three brokers", lambda: broker_ids(servers) == {1, 2, 3}, timeout=180)
    topic, group = f"failover-{uuid.uuid4().hex[:8]}", "failover-readers"
    # Broker 2 is the preferred leader of partitions 0 and 1.
    assignment = [[2, 1, 3], [2, 3, 1], [1, 2, 3], [3, 1, 2]]
    admin = AdminClient({"bootstrap.servers": servers})
    new = NewTopic(
        topic, len(assignment), replica_assignment=assignment, config={"min.insync.replicas": "2"}
    )
    admin.create_topics([new])[topic].result(60)
    # A topic just created may not be in every broker's metadata yet: no leaders at first.
    wait_for(
        "broker 2 to lead partitions 0 and 1",
        lambda: [leaders(servers, topic).get(p) for p in (0, 1)] == [2, 2],
        30,
    )

    producer = Producer({"bootstrap.servers": servers, "acks": "all"})

    def produce(count: int) -> None:
        for partition in range(len(assignment)):
            for n in range(count):
                producer.produce(topic, f"m{n}".encode(), partition=partition)
        assert producer.flush(60) == 0

    produce(20)
    committed = {0: 5, 1: 20, 2: 0, 3: 12}
    reader = Consumer(
        {"bootstrap.servers": servers, "group.id": group, "enable.auto.commit": False}
    )
    reader.commit(
        offsets=[TopicPartition(topic, p, o) for p, o in committed.items()], asynchronous=False
    )
    reader.close()
    before = {p: 20 - o for p, o in committed.items()}
    wait_for("the lag before the crash", lambda: exporter_lag(cluster, group) == before, 90)

    kafkaform("lab", "kill", "kafka-2")
    try:
        wait_for("broker 2 to leave", lambda: 2 not in broker_ids(servers), timeout=60)
        # Written while broker 2 is away: an exporter still serving old offsets is caught.
        wait_for("new leaders", lambda: 2 not in leaders(servers, topic).values(), 60)
        produce(10)
    finally:
        kafkaform("lab", "start", "kafka-2")
    wait_for("broker 2 back in the cluster", lambda: 2 in broker_ids(servers), timeout=180)
    back = time.monotonic()
    after = {p: 30 - o for p, o in committed.items()}

    def correct() -> bool:
        return exporter_up(cluster) and exporter_lag(cluster, group) == after

    wait_for("the right lag after the broker came back", correct, timeout=60, interval=1)
    emit(bench="lag_correct_after_broker_back", seconds=round(time.monotonic() - back, 1))

    # Leadership moving back to broker 2 is the exporter's second failover.
    wait_for(
        "broker 2 in sync again",
        lambda: all(
            2 in m.isrs
            for m in admin.list_topics(topic=topic, timeout=10).topics[topic].partitions.values()
        ),
        timeout=120,
    )
    elections = admin.elect_leaders(
        ElectionType.PREFERRED, [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    )
    elections.result(60)
    wait_for("broker 2 leading again", lambda: leaders(servers, topic)[0] == 2, timeout=60)
    moved = time.monotonic()
    produce(1)
    again = {p: 31 - o for p, o in committed.items()}

    def correct_again() -> bool:
        return exporter_up(cluster) and exporter_lag(cluster, group) == again

    wait_for("the right lag after leadership moved back", correct_again, timeout=60, interval=1)
    emit(bench="lag_correct_after_leaders_back", seconds=round(time.monotonic() - moved, 1))


def live_state(node: str, path: str, unit: str) -> tuple[str, str]:
    """The live file's checksum and the daemon's main pid: neither may move on a refusal."""
    out = on_node(node, f"sha256sum {path} && systemctl show -p MainPID --value {unit}").stdout
    return out.split()[0], out.split()[-1]


BAD_ROUTE_INVENTORY = """
from kafkaform.lab.plan import inventory_group_data, inventory_hosts
from kafkaform.lab.state import load_state

_state = load_state()
_data = inventory_group_data(_state)
_data["alertmanager_route"] = {"receiver": "nobody-by-that-name"}  # no such receiver
lab = (inventory_hosts(_state), _data)
"""


def test_a_bad_alertmanager_config_stops_the_run_and_never_replaces_the_live_one(cluster, tmp_path):
    live = "/etc/prometheus/alertmanager.yml"
    before = live_state(MONITOR, live, monitoring.ALERTMANAGER_UNIT)
    inventory = tmp_path / "bad_route.py"
    inventory.write_text(BAD_ROUTE_INVENTORY)
    out = failing_deploy(str(inventory))
    assert (
        f"{MONITOR}: amtool rejected the Alertmanager configuration (candidate alertmanager.yml"
        in out
    )
    assert "nobody-by-that-name" in out  # amtool's own words
    assert live_state(MONITOR, live, monitoring.ALERTMANAGER_UNIT) == before
    assert on_node(MONITOR, f"ls {live}.kafkaform-new", check=False).returncode != 0
    # The plain run puts the good candidate back and finds the live file already right.
    result = deploy()
    assert result["results"]["totals"]["error"] == 0
    assert changed_operations(result) == [f"Monitoring host | Candidate for {live} on {MONITOR}"]
    assert live_state(MONITOR, live, monitoring.ALERTMANAGER_UNIT) == before


def test_rsyslogd_refuses_a_bad_candidate_on_a_real_host(cluster):
    live = "/etc/rsyslog.d/60-kafkaform-ship.conf"
    stage = f"/tmp/kafkaform-test-{uuid.uuid4().hex[:8]}"
    bad = Candidate(
        "60-kafkaform-ship.conf", live, 'action(type="omrelp" target="10.0.0.1" port=)\n'
    )
    script = place_script(
        MONITOR,
        "the rsyslog configuration",
        stage,
        [bad],
        rsyslog_check(stage, [bad.name]),
        "rsyslogd -N1",
        activate="systemctl try-restart rsyslog.service",
    )
    before = live_state(MONITOR, live, "rsyslog")
    on_node(MONITOR, f"mkdir -p {stage} && printf %s {shlex.quote(bad.text)} > {stage}/{bad.name}")
    try:
        refused = on_node(MONITOR, f"sh -c {shlex.quote(script)}", check=False)
    finally:
        on_node(MONITOR, f"rm -rf {stage}")
    assert refused.returncode != 0
    assert f"{MONITOR}: rsyslogd -N1 rejected the rsyslog configuration" in refused.stderr
    assert "error" in refused.stderr.split("unchanged:", 1)[1].lower()  # rsyslogd's own words
    assert live_state(MONITOR, live, "rsyslog") == before
    # The same check passes on the candidates the deploy staged.
    staged = staging_dir("rsyslog")
    names = ["60-kafkaform-ship.conf", "50-kafkaform-sink.conf"]
    assert on_node(MONITOR, f"sh -c {shlex.quote(rsyslog_check(staged, names))}").returncode == 0


def test_a_run_interrupted_after_staging_is_finished_by_the_next_plain_run(cluster):
    # As if a run staged new candidates and stopped before placing them: the live files are
    # stale, the candidates already right (nothing about them changes in the next run).
    config, rule = "/etc/prometheus/prometheus.yml", "/etc/prometheus/rules/kafka.rules.yml"
    wanted = on_node(MONITOR, f"sha256sum {config} {rule}").stdout
    loaded_at = api(cluster, "status/runtimeinfo")["lastConfigTime"]
    on_node(MONITOR, f"echo '# stale' >> {config} && echo 'groups: []' > {rule}")
    result = deploy()
    assert result["results"]["totals"]["error"] == 0
    assert changed_operations(result) == [
        "Monitoring host | Check the Prometheus configuration and rules with promtool, "
        f"then put it in place on {MONITOR}"
    ]
    assert on_node(MONITOR, f"sha256sum {config} {rule}").stdout == wanted
    # ... and Prometheus reloaded them.
    runtime = api(cluster, "status/runtimeinfo")
    assert runtime["reloadConfigSuccess"] and runtime["lastConfigTime"] > loaded_at


def test_second_deploy_changes_nothing(cluster):
    started = time.monotonic()
    result = deploy()
    emit(bench="deploy_noop_with_monitoring", seconds=round(time.monotonic() - started, 1))
    assert result["results"]["totals"]["error"] == 0
    assert changed_operations(result) == []
